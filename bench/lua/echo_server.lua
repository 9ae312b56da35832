-- Line echo server for the load generator: one Copas handler per connection.
-- usage: echo_server.lua [PORT=0] [CLOSE_AFTER]; prints "LISTENING <port>" once bound.
-- With CLOSE_AFTER, the loop ends once that many connections have closed (for
-- bench/icount, which counts the instructions of a fixed number of echoes).
local copas = require("copas")
local socket = require("socket")

local server = assert(socket.bind("127.0.0.1", tonumber(arg[1]) or 0, 4096))
local _, port = server:getsockname()
local close_after = tonumber(arg[2])
local closed = 0

-- The handler gets the raw socket (non-blocking): copas.receive/copas.send are what
-- make it wait inside the loop instead of spinning on "timeout".
local function echo(client)
  -- Without it, a burst of lines echoed one send at a time meets the client's delayed
  -- ACK (Nagle) and stalls ~40 ms per burst.
  client:setoption("tcp-nodelay", true)
  while true do
    local line = copas.receive(client, "*l")
    if not line then break end -- closed or reset by the peer
    if not copas.send(client, line .. "\n") then break end
  end
  closed = closed + 1
  if closed == close_after then copas.removeserver(server) end
end

copas.addserver(server, echo)
io.write("LISTENING ", port, "\n")
io.flush()
copas.loop()
