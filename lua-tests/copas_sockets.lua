-- Copas with real sockets on loopback: servers, clients, timeouts, UDP, wrap, errors.
local t = require("t")
local copas = require("copas")
local socket = require("socket")

local loopback = require("loopback")
local server, client = loopback.server, loopback.client

t.test("echo server with several concurrent clients", function()
  local srv, port = server()
  copas.addserver(srv, function(skt)
    while true do
      local line = copas.receive(skt)
      if not line or line == "quit" then break end
      copas.send(skt, line .. "\n")
    end
  end)
  local replies = {}
  local done = 0
  for n = 1, 10 do
    copas.addthread(function()
      local c = client(port)
      for i = 1, 20 do
        c:send(("client %d line %d\n"):format(n, i))
        -- Receive first: `replies[#replies + 1] = c:receive()` would compute the index
        -- before the receive yields, and concurrent threads would share it.
        local reply = c:receive()
        replies[#replies + 1] = reply
      end
      c:send("quit\n")
      c:close()
      done = done + 1
      if done == 10 then copas.removeserver(srv) end
    end)
  end
  copas.loop()
  t.eq(#replies, 200)
  t.eq(done, 10)
end)

-- Runs `serve(skt)` as the handler of a new server and `receive(c)` in a task on
-- a client connected to it; returns what `receive` returned, packed with its count.
local function exchange(serve, receive)
  local srv, port = server()
  local got
  copas.addserver(srv, serve)
  copas.addthread(function()
    local c = socket.tcp()
    assert(copas.connect(c, "127.0.0.1", port))
    got = (function(...) return { n = select("#", ...), ... } end)(receive(c))
    c:close()
    copas.removeserver(srv)
  end)
  copas.loop()
  return got
end

t.test("receive timeout returns nil, 'timeout' and the partial data", function()
  local got = exchange(function(skt)
    copas.send(skt, "partial line without end")
    copas.sleep(0.3)
  end, function(c)
    copas.settimeout(c, 0.05)
    return copas.receive(c, "*l")
  end)
  t.eq(got, { n = 3, nil, "timeout", "partial line without end" })
end)

t.test("receive patterns: *a until close, byte counts, prefix", function()
  local srv, port = server()
  local got = {}
  copas.addserver(srv, function(skt)
    copas.send(skt, "12345line\r\nrest of it")
  end)
  copas.addthread(function()
    local c = client(port)
    got.count = c:receive(5)
    got.line = c:receive("*l")
    got.all = c:receive("*a")
    copas.removeserver(srv)
  end)
  copas.loop()
  t.eq(got, { count = "12345", line = "line", all = "rest of it" })
end)

t.test("copas.receive *a: data before a wait is returned when the peer closes later", function()
  -- Copas would retry with the data as the prefix and get nil, "closed", data when
  -- the close comes in a later read (docs/api-copas.md); ours keeps it buffered.
  local got = exchange(function(skt)
    copas.send(skt, "first part")
    copas.sleep(0.1)
    skt:close()
  end, function(c) return copas.receive(c, "*a") end)
  t.eq(got, { n = 3, "first part" })
end)

t.test("autoclose closes the client socket when the handler ends", function()
  local srv, port = server()
  local result
  copas.addserver(srv, function(skt) copas.send(skt, "bye\n") end)
  copas.addthread(function()
    local c = client(port)
    local line = c:receive()
    local _, err = c:receive()
    result = { line, err }
    copas.removeserver(srv)
  end)
  copas.loop()
  t.eq(result, { "bye", "closed" })
end)

t.test("handler errors reach the error handler with the client socket; the server goes on", function()
  local srv, port = server()
  local seen = {}
  copas.addserver(srv, function(skt)
    copas.seterrorhandler(function(msg, co, s) seen[#seen + 1] = { msg = msg, skt = s } end)
    local line = copas.receive(skt)
    if line == "fail" then error("handler failed", 0) end
    copas.send(skt, "ok\n")
  end)
  local answer
  copas.addthread(function()
    local c1 = client(port)
    c1:send("fail\n")
    c1:receive()
    local c2 = client(port)
    c2:send("fine\n")
    answer = c2:receive()
    copas.removeserver(srv)
  end)
  copas.loop()
  t.eq(answer, "ok")
  t.eq(#seen, 1)
  t.eq(seen[1].msg, "handler failed")
  t.ok(tostring(seen[1].skt):find("^tcp{client}"), tostring(seen[1].skt))
end)

t.test("connect: refused, and by name (resolved off the loop)", function()
  local probe, port = server()
  probe:close()
  local refused, named
  local srv, port2 = server()
  copas.addserver(srv, function(skt) copas.send(skt, "hello\n") end)
  copas.addthread(function()
    refused = { copas.connect(socket.tcp(), "127.0.0.1", port) }
    local c = socket.tcp()
    local ok, err = copas.connect(c, "localhost", port2)
    named = ok and copas.receive(c) or err
    c:close()
    copas.removeserver(srv)
  end)
  copas.loop()
  t.eq(refused, { nil, "connection refused" })
  t.eq(named, "hello")
end)

t.test("receivepartial returns what is there", function()
  local srv, port = server()
  local got
  copas.addserver(srv, function(skt) copas.send(skt, "abc"); copas.sleep(0.2) end)
  copas.addthread(function()
    local c = client(port)
    got = { copas.receivepartial(c.socket, 100) }
    c:close()
    copas.removeserver(srv)
  end)
  copas.loop()
  t.eq(got, { nil, "timeout", "abc" })
end)

t.test("send timeout on a peer that never reads", function()
  local srv, port = server()
  local result
  copas.addserver(srv, function(skt) copas.sleep(1) end)
  copas.addthread(function()
    local c = socket.tcp()
    assert(copas.connect(c, "127.0.0.1", port))
    copas.settimeout(c, 0.1)
    local chunk = string.rep("x", 1024 * 1024)
    local ok, err, last
    for _ = 1, 64 do
      ok, err, last = copas.send(c, chunk)
      if not ok then break end
    end
    result = { ok, err, type(last) }
    c:close()
    copas.removeserver(srv)
  end)
  copas.loop()
  t.eq(result, { nil, "timeout", "number" })
end)

t.test("UDP server and client", function()
  local srv = socket.udp()
  assert(srv:setsockname("127.0.0.1", 0))
  local _, port = srv:getsockname()
  local replies = {}
  copas.addserver(srv, function(s)
    for _ = 1, 3 do
      local data, ip, p = copas.receivefrom(s)
      s:sendto(data:upper(), ip, p)
    end
  end)
  copas.addthread(function()
    local c = copas.wrap(socket.udp())
    c:setpeername("127.0.0.1", port)
    for _, word in ipairs({ "one", "two", "three" }) do
      c:send(word)
      replies[#replies + 1] = c:receive()
    end
  end)
  copas.loop()
  srv:close()
  t.eq(replies, { "ONE", "TWO", "THREE" })
end)

t.test("removeserver closes the server unless asked to keep it open", function()
  local srv = server()
  copas.addserver(srv, function() end)
  t.eq(copas.removeserver(srv, true), true)
  t.ok(srv:getsockname())
  copas.addserver(srv, function() end)
  copas.removeserver(srv)
  t.ok(tostring(srv):find("closed") or not pcall(srv.getsockname, srv) or srv:getfd() == -1)
  copas.loop()
end)

t.test("socket calls outside a Copas thread block like LuaSocket", function()
  local srv, port = server()
  local c = socket.tcp()
  assert(copas.connect(c, "127.0.0.1", port))
  local peer = srv:accept()
  peer:send("outside\n")
  t.eq(copas.receive(c), "outside")
  copas.settimeout(c, 0.05)
  t.eq({ copas.receive(c) }, { nil, "timeout", "" })
  c:close(); peer:close(); srv:close()
end)

-- A peer in another process that answers each line 0.1 s late, so a receive outside
-- Copas finds nothing at first and must wait for it.
local LATE_ECHO = [[
import os, socket, sys, time
sys.path.insert(0, sys.argv[1])
from watchdog_exit import watchdog
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print(os.getpid(), srv.getsockname()[1], flush=True)
watchdog.start()
conn, _ = srv.accept()
f = conn.makefile("rb")
for line in f:
    time.sleep(0.1)
    conn.sendall(line)
]]

t.test("outside a Copas thread, receive and receivepartial wait for late data", function()
  local pyserver = require("pyserver")
  local peer, why = pyserver.start(LATE_ECHO)
  if not peer then
    print("skip: " .. why)
    return
  end
  local c = copas.wrap(socket.tcp())
  c:settimeout(5)
  assert(c:connect("127.0.0.1", peer.port))
  t.eq(c:send("one\n"), 4)
  t.eq(c:receive(), "one")
  t.eq(c:send("two\n"), 4)
  t.eq({ copas.receivepartial(c.socket, 100) }, { nil, "timeout", "two\n" })
  c:close()
  peer:stop()
end)

t.test("a busy reader lets the others run (fairness)", function()
  local srv, port = server()
  local ticks = 0
  local reads = 0
  copas.addserver(srv, function(skt)
    copas.send(skt, string.rep("line\n", 5000))
  end)
  copas.addthread(function()
    local c = client(port)
    for _ = 1, 5000 do
      if c:receive() then reads = reads + 1 end
    end
    copas.removeserver(srv)
  end)
  copas.addthread(function()
    while reads < 5000 do ticks = ticks + 1; copas.sleep(0) end
  end)
  copas.loop()
  t.eq(reads, 5000)
  t.ok(ticks > 10, "the other thread ran " .. ticks .. " times")
end)

t.test("operations on closed sockets return nil, 'closed'", function()
  local srv, port = server()
  copas.addserver(srv, function(skt) copas.sleep(0.05) end)
  local results
  copas.addthread(function()
    local c = socket.tcp()
    assert(copas.connect(c, "127.0.0.1", port))
    c:close()
    local a, b = copas.receive(c)
    local d, e = copas.send(c, "x")
    results = { a, b, d, e }
    copas.removeserver(srv)
  end)
  copas.loop()
  t.eq(results, { nil, "closed", nil, "closed" })
end)

t.test("socket.dns in a Copas thread answers as outside (resolved on a worker thread)", function()
  local inside = {}
  local ticks = 0
  copas.addthread(function()
    inside.toip = { socket.dns.toip("localhost") }
    inside.name = socket.dns.tohostname("127.0.0.1")
    inside.info = socket.dns.getaddrinfo("127.0.0.1")
    inside.service = select(2, socket.dns.getnameinfo(nil, "80"))
    inside.bad = { pcall(socket.dns.toip) }
  end)
  copas.addthread(function()
    while not inside.bad do ticks = ticks + 1; copas.sleep(0) end
  end)
  copas.loop()
  t.eq(inside.toip[1], (socket.dns.toip("localhost")))
  t.eq(inside.toip[2].ip, (select(2, socket.dns.toip("localhost"))).ip)
  t.eq(inside.name, (socket.dns.tohostname("127.0.0.1")))
  t.eq(inside.info, socket.dns.getaddrinfo("127.0.0.1"))
  t.eq(inside.service, "http")
  t.eq(inside.bad[1], false, "bad arguments still raise")
  t.ok(ticks > 0)
end)

t.test("wrapped sockets offer every LuaSocket method", function()
  local tcp = copas.wrap(socket.tcp())
  for _, name in ipairs({ "accept", "bind", "close", "connect", "dirty", "getfamily", "getfd",
    "getoption", "getpeername", "getsockname", "getstats", "gettimeout", "listen", "receive",
    "send", "setfd", "setoption", "setpeername", "setsockname", "setstats", "settimeout",
    "shutdown" }) do
    t.eq(type(tcp[name]), "function", "tcp " .. name)
  end
  local udp = copas.wrap(socket.udp())
  for _, name in ipairs({ "close", "dirty", "getfamily", "getfd", "getoption", "getpeername",
    "getsockname", "gettimeout", "receive", "receivefrom", "send", "sendto", "setfd",
    "setoption", "setpeername", "setsockname", "settimeout" }) do
    t.eq(type(udp[name]), "function", "udp " .. name)
  end
  tcp.socket:close(); udp.socket:close()
end)

-- Several threads may wait in one direction on one socket (Copas 4.11 kept only the
-- last waiter, and the others never resumed): each is served in turn.
t.test("two threads reading one socket each get a line", function()
  local srv, port = server()
  copas.addserver(srv, function(skt)
    copas.pause(0.05)
    copas.send(skt, "one\ntwo\n")
    copas.pause(0.05)
    copas.removeserver(srv)
  end)
  local got = {}
  copas.addthread(function()
    local c = client(port)
    c:settimeout(5)
    for _ = 1, 2 do
      copas.addthread(function()
        local line = c:receive()
        got[#got + 1] = line
      end)
    end
    for _ = 1, 500 do
      if #got == 2 then break end
      copas.pause(0.01)
    end
    c:close()
  end)
  copas.loop()
  table.sort(got)
  t.eq(got, { "one", "two" })
end)

t.test("wakeup says whether it woke a thread", function()
  local sleeper
  copas.addthread(function()
    sleeper = copas.addthread(function() copas.pauseforever() end)
    copas.pause(0)
    t.eq(copas.wakeup(sleeper), true)
    t.eq({ copas.wakeup(sleeper) }, { nil, "not sleeping" })
  end)
  copas.loop()
end)

t.run()
