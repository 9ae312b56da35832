-- The echo server of the Copas manual, its code unmodified (both handler forms), with a
-- client in a Copas thread.
local t = require("t")

-- Verbatim from the manual (shared/seeds/copas-manual.txt), run as its own chunk with
-- globals, as a program written for Copas would be.
local MANUAL_HANDLER = [[
function echoHandler(skt)
  while true do
    local data = copas.receive(skt)
    if data == "quit" then
      break
    end
    copas.send(skt, data)
  end
end
]]

local MANUAL_WRAPPED_HANDLER = [[
function echoHandler(skt)
  skt = copas.wrap(skt)
  while true do
    local data = skt:receive()
    if data == "quit" then
      break
    end
    skt:send(data)
  end
end
]]

local function run_manual(handler_source)
  copas = require("copas")
  socket = require("socket")
  host, port = "127.0.0.1", 0
  server = socket.bind(host, port)
  local load_chunk = loadstring or load
  assert(load_chunk(handler_source))()
  copas.addserver(server, echoHandler)
  local _, bound_port = server:getsockname()

  local replies = {}
  copas.addthread(function()
    local c = copas.wrap(socket.tcp())
    assert(c:connect("127.0.0.1", bound_port))
    for _, word in ipairs({ "alpha", "beta" }) do
      c:send(word .. "\n")
      -- The manual's handler sends the line back without its end of line.
      replies[#replies + 1] = c:receive(#word)
    end
    c:send("quit\n")
    local _, err = c:receive()
    replies[#replies + 1] = err
    c:close()
    copas.removeserver(server)
  end)
  copas.loop()
  return replies
end

t.test("the manual's echo handler", function()
  t.eq(run_manual(MANUAL_HANDLER), { "alpha", "beta", "closed" })
end)

t.test("the manual's wrapped echo handler", function()
  t.eq(run_manual(MANUAL_WRAPPED_HANDLER), { "alpha", "beta", "closed" })
end)

t.run()
