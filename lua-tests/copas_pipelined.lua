-- Pipelined requests: a reply sent while more requests are buffered may be held back
-- to leave with the next one (one syscall for a burst). It must still reach the peer
-- in order, whatever the handler does next: another send, a wait for the peer, a
-- sleep, a close, or nothing at all.
local t = require("t")
local copas = require("copas")

local loopback = require("loopback")
local server, client = loopback.server, loopback.client

-- Runs `handler` for one connection; the client sends `burst` at once and reads `n`
-- lines back, then calls `after` if given. Returns the lines read.
local function exchange(burst, n, handler, after)
  local srv, port = server()
  local got = {}
  copas.addserver(srv, handler)
  copas.addthread(function()
    local c = client(port)
    c:settimeout(5)
    assert(c:send(burst))
    for i = 1, n do
      local line, err = c:receive()
      got[i] = line or err
    end
    c:close()
    copas.removeserver(srv)
    if after then after() end
  end)
  copas.loop()
  return got
end

t.test("replies to a burst arrive complete and in order", function()
  local lines, replies = {}, {}
  for i = 1, 200 do
    lines[i] = "request " .. i
    replies[i] = "reply " .. i
  end
  local got = exchange(table.concat(lines, "\n") .. "\n", 200, function(skt)
    while true do
      local line = copas.receive(skt)
      if not line then return end
      copas.send(skt, (line:gsub("request", "reply")) .. "\n")
    end
  end)
  t.eq(got, replies)
end)

t.test("a held reply leaves by the end of the batch while its task sleeps", function()
  local sleeper
  local got = exchange("a\nb\n", 1, function(skt)
    local line = copas.receive(skt)
    copas.send(skt, line .. "!\n")
    sleeper = coroutine.running()
    copas.sleep(-1) -- until the client has its reply, which must not wait for this
  end, function() copas.wakeup(sleeper) end)
  t.eq(got, { "a!" })
end)

t.test("a held reply is sent before the socket closes", function()
  local got = exchange("a\nb\nc\n", 2, function(skt)
    copas.send(skt, copas.receive(skt) .. "1\n")
    copas.send(skt, copas.receive(skt) .. "2\n")
    skt:close()
  end)
  t.eq(got, { "a1", "b2" })
end)

t.test("a held reply goes out before a direct send on the same socket", function()
  local got = exchange("a\nb\n", 2, function(skt)
    copas.send(skt, copas.receive(skt) .. "1\n")
    skt:send("direct\n")
  end)
  t.eq(got, { "a1", "direct" })
end)

t.test("statistics count held replies as sent", function()
  local sent
  exchange("a\nb\n", 1, function(skt)
    copas.send(skt, copas.receive(skt) .. "\n")
    local _, s = skt:getstats()
    sent = s
  end)
  t.eq(sent, 2)
end)

t.run()
