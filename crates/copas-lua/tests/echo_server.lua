-- Line echo on copas for the many-connections test: binds an ephemeral port on
-- 127.0.0.1, prints it, and serves until killed.
local copas = require("copas")
local socket = require("socket")

local server = assert(socket.bind("127.0.0.1", 0, 4096))
local _, port = server:getsockname()
io.stdout:write(port, "\n")
io.stdout:flush()

copas.addserver(server, function(skt)
  while true do
    local line = copas.receive(skt)
    if not line then return end
    copas.send(skt, line .. "\n")
  end
end)

copas.loop()
