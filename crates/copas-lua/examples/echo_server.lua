-- The Copas program the embedding examples run: a line-echo server on an ephemeral
-- loopback port. A client that sends "stop" closes the server; Copas is finished once
-- the open connections end. The chunk returns the port.
local copas = require("copas")
local socket = require("socket")

local server = assert(socket.bind("127.0.0.1", 0))
local _, port = server:getsockname()
copas.addserver(server, function(conn)
  conn = copas.wrap(conn) -- waits by yielding to the loop, not by blocking it
  while true do
    local line = conn:receive("*l")
    if not line then return end
    if line == "stop" then
      copas.removeserver(server)
      return
    end
    conn:send(line .. "\n")
  end
end)
return tonumber(port)
