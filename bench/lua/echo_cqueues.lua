-- Line echo server on cqueues, written the way a cqueues user writes one: a
-- coroutine per connection reading lines and writing each back.
-- usage: echo_cqueues.lua [PORT=0]; prints "LISTENING <port>" once bound.
local cqueues = require("cqueues")
local socket = require("cqueues.socket")

local loop = cqueues.new()
local server = assert(socket.listen({
  host = "127.0.0.1",
  port = tonumber(arg[1]) or 0,
  backlog = 4096,
  reuseaddr = true,
  nodelay = true,
}))
assert(server:listen())
local _, _, port = server:localname()

loop:wrap(function()
  for client in server:clients() do
    loop:wrap(function()
      -- Binary, and the output flushed at each line: a reply leaves when written.
      client:setmode("b", "bl")
      for line in client:lines("*l") do
        client:write(line, "\n")
      end
      client:close()
    end)
  end
end)

io.write("LISTENING ", port, "\n")
io.flush()
assert(loop:loop())
