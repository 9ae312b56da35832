-- A Copas line-echo server on 127.0.0.1:PORT that returns once C connections closed.
-- usage: echo_server.lua PORT C
local copas = require("copas")
local socket = require("socket")
local port, C = tonumber(arg[1]), tonumber(arg[2])
local server = assert(socket.bind("127.0.0.1", port, 1024))
local closed = 0
copas.addserver(server, function(skt)
  skt:setoption("tcp-nodelay", true)
  while true do
    local line = copas.receive(skt, "*l")
    if not line or not copas.send(skt, line .. "\n") then break end
  end
  closed = closed + 1
  if closed == C then copas.removeserver(server) end
end)
copas.loop()
