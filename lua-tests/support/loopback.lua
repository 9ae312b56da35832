-- A listening socket on 127.0.0.1 with a free port, and Copas-wrapped clients of it,
-- for the Copas socket tests:
--
--   local server, client = require("loopback").server, require("loopback").client
--   local srv, port = server()
--   local c = client(port)      -- connected (inside a Copas thread: without blocking)
local copas = require("copas")
local socket = require("socket")

local loopback = {}

function loopback.server()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  return s, port
end

function loopback.client(port)
  local c = copas.wrap(socket.tcp())
  assert(c:connect("127.0.0.1", port))
  return c
end

return loopback
