-- The server of `cargo xtask soak` and lua-tests/soak_short.lua: a Copas line echo
-- server on 127.0.0.1. It prints its port on the first line of stdout and serves until
-- killed. Each connection gets TIMEOUT seconds (arg 1, default 2) per receive or send,
-- so slow or silent clients are dropped.
local copas = require("copas")
local socket = require("socket")

local TIMEOUT = tonumber((...)) or 2

local server = assert(socket.bind("127.0.0.1", 0, 1024))
local _, port = server:getsockname()
io.stdout:write(port, "\n")
io.stdout:flush()

copas.addserver(server, copas.handler(function(skt)
  skt:settimeout(TIMEOUT)
  while true do
    local line = skt:receive("*l")
    if not line then return end
    if not skt:send(line .. "\n") then return end
  end
end), TIMEOUT, "soak")
copas.loop()
