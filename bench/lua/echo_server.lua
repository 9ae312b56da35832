-- Line echo server for the load generator: one Copas handler per connection.
-- usage: echo_server.lua [PORT=0]; prints "LISTENING <port>" once bound.
local copas = require("copas")
local socket = require("socket")

local server = assert(socket.bind("127.0.0.1", tonumber(arg[1]) or 0, 4096))
local _, port = server:getsockname()

local function echo(client)
  while true do
    local line, err = client:receive("*l")
    if not line then
      if err == "closed" then return end
    else
      client:send(line .. "\n")
    end
  end
end

copas.addserver(server, echo)
io.write("LISTENING ", port, "\n")
io.flush()
copas.loop()
