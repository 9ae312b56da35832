-- socket.unix: stream and datagram sockets on temp-dir paths and abstract names,
-- blocking, with select and under Copas; LuaSocket 3.1's classes and messages.
local t = require("t")
local socket = require("socket")
local unix = require("socket.unix")
local copas = require("copas")

-- A fresh path in the temp dir (os.tmpname makes the name unique; the file goes).
local function temp_path()
  local path = os.tmpname()
  os.remove(path)
  return path
end

local function stream_server(path)
  local srv = assert(unix.stream())
  assert(srv:bind(path))
  assert(srv:listen(2048))
  return srv
end

t.test("module shape: stream, dgram, their aliases, and calling the module", function()
  t.eq(type(unix.stream), "function")
  t.eq(unix.tcp, unix.stream)
  t.eq(unix.udp, unix.dgram)
  local s = unix()
  t.ok(tostring(s):find("^unixstream{master}: 0x%x+$"), tostring(s))
  t.eq(s.class, "unixstream{master}")
  s:close()
  local d = unix.dgram()
  t.ok(tostring(d):find("^unixdgram{unconnected}: 0x%x+$"), tostring(d))
  d:close()
  t.ok(debug.getregistry()["unixstream{client}"] ~= nil)
end)

t.test("stream echo, blocking: classes, patterns, prefix, names, stats", function()
  local path = temp_path()
  local srv = stream_server(path)
  t.ok(tostring(srv):find("^unixstream{server}"))
  t.eq(srv:getsockname(), path)
  local c = unix.stream()
  t.eq(c:connect(path), 1)
  t.ok(tostring(c):find("^unixstream{client}"))
  t.eq(c:getpeername(), path)
  local a = assert(srv:accept())
  t.ok(tostring(a):find("^unixstream{client}"))
  a:settimeout(5)
  c:send("one\r\ntwo three\n")
  t.eq(a:receive(), "one")
  t.eq(a:receive(3), "two")
  t.eq(a:receive("*l", ">"), "> three")
  t.eq(a:send("back\n"), 5)
  t.eq(c:receive(), "back")
  local received, sent = a:getstats()
  t.eq({ received, sent }, { 15, 5 })
  t.eq(a:setstats(1, 2), 1)
  received, sent = a:getstats()
  t.eq({ received, sent }, { 1, 2 })
  t.eq(a:dirty(), false)
  t.ok(a:getfd() >= 0)
  c:send("tail")
  c:shutdown("send")
  t.eq(a:receive("*a"), "tail")
  local data, err = a:receive("*a")
  t.eq({ data, err }, { nil, "closed" })
  a:close(); c:close(); srv:close()
  os.remove(path)
end)

t.test("stream receive timeout gives the partial data", function()
  local path = temp_path()
  local srv = stream_server(path)
  local c = unix.stream()
  assert(c:connect(path))
  local a = srv:accept()
  c:send("no end")
  a:settimeout(0.05)
  local data, err, partial = a:receive()
  t.eq({ data, err, partial }, { nil, "timeout", "no end" })
  a:close(); c:close(); srv:close()
  os.remove(path)
end)

t.test("select sees a unix server and client", function()
  local path = temp_path()
  local srv = stream_server(path)
  local c = unix.stream()
  assert(c:connect(path))
  local r = socket.select({ srv }, nil, 5)
  t.eq(r[1], srv)
  local a = srv:accept()
  c:send("x\n")
  r = socket.select({ a }, nil, 5)
  t.eq(r[1], a)
  t.eq(a:receive(), "x")
  a:close(); c:close(); srv:close()
  os.remove(path)
end)

t.test("abstract names (Linux)", function()
  local name = "\0copas-rs-test-" .. tostring(os.time()) .. tostring({}):sub(-8)
  local srv = stream_server(name)
  t.eq(srv:getsockname(), name)
  local c = unix.stream()
  t.eq(c:connect(name), 1)
  local a = srv:accept()
  c:send("abstract\n")
  t.eq(a:receive(), "abstract")
  a:close(); c:close(); srv:close()
end)

t.test("errors: LuaSocket's messages and class checks", function()
  local missing = temp_path()
  local c = unix.stream()
  t.nilmsg("No such file or directory", c:connect(missing))
  t.ok(tostring(c):find("^unixstream{master}"), "stays a master")
  t.nilmsg("path too long", unix.stream():connect(("p"):rep(200)))
  t.nilmsg("path too long", unix.stream():bind(("p"):rep(108)))
  local path = temp_path()
  local srv = stream_server(path)
  t.nilmsg("address already in use", unix.stream():bind(path))
  t.err("unixstream{master} expected", function() srv:connect(path) end)
  t.err("unixstream{client} expected", function() srv:receive() end)
  t.err("unixstream{server} expected", function() c:accept() end)
  t.err("unixstream{any} expected", function() unix.stream().close(socket.tcp()) end)
  t.err("unsupported option `tcp%-nodelay'", function() srv:setoption("tcp-nodelay", true) end)
  t.eq(srv:setoption("reuseaddr", true), 1)
  srv:close()
  os.remove(path)
  local d = unix.dgram()
  t.err("unixdgram{connected} expected", function() d:send("x") end)
  t.nilmsg("No such file or directory", d:sendto("x", missing))
  d:close()
end)

t.test("dgram echo, blocking: sendto/receivefrom, connect/send/receive", function()
  local server_path, client_path = temp_path(), temp_path()
  local srv = unix.dgram()
  t.eq(srv:bind(server_path), 1)
  t.eq(srv:getsockname(), server_path)
  srv:settimeout(5)
  local c = unix.dgram()
  assert(c:bind(client_path))
  c:settimeout(5)
  t.eq(c:sendto("ping", server_path), 4)
  local data, from = srv:receivefrom()
  t.eq({ data, from }, { "ping", client_path })
  t.eq(srv:sendto("pong", from), 4)
  t.eq(c:receive(), "pong")
  t.eq(c:connect(server_path), 1)
  t.ok(tostring(c):find("^unixdgram{connected}"))
  t.eq(c:send(""), 0)
  t.eq(srv:receive(), "")
  t.eq(c:send("abcdef"), 6)
  t.eq(srv:receive(3), "abc")
  t.eq({ srv:gettimeout() }, { 5, -1 })
  srv:settimeout(0.05)
  t.eq({ srv:receive() }, { nil, "timeout" })
  srv:close(); c:close()
  os.remove(server_path); os.remove(client_path)
end)

t.test("copas: stream echo through addserver, wrap, connect, receive, send", function()
  local path = temp_path()
  local srv = stream_server(path)
  copas.addserver(srv, function(skt)
    skt = copas.wrap(skt)
    while true do
      local line = skt:receive()
      if not line then break end
      skt:send(line .. "\n")
    end
  end)
  local replies = {}
  copas.addthread(function()
    local c = copas.wrap(unix.stream())
    assert(c:connect(path))
    for i = 1, 5 do
      c:send("line " .. i .. "\n")
      replies[#replies + 1] = c:receive()
    end
    c:close()
    copas.removeserver(srv)
  end)
  copas.loop()
  t.eq(replies, { "line 1", "line 2", "line 3", "line 4", "line 5" })
  os.remove(path)
end)

t.test("copas: a failed connect leaves a master that can connect again", function()
  local path = temp_path()
  local first, second
  copas.addthread(function()
    local c = unix.stream()
    first = { copas.connect(c, path) }
    first[3] = tostring(c):match("^[^:]*")
    local srv = stream_server(path)
    second = { copas.connect(c, path) }
    c:close()
    srv:close()
  end)
  copas.loop()
  t.eq(first, { nil, "No such file or directory", "unixstream{master}" })
  t.eq(second, { 1 })
  os.remove(path)
end)

t.test("copas: TLS over a unix stream (copas.handler server, wrapped client)", function()
  local tls = require("tlsutil")
  if not tls.dir then
    print("skipped: COPAS_TEST_CERTS is not set")
    return
  end
  local path = temp_path()
  local srv = stream_server(path)
  copas.addserver(srv, copas.handler(function(skt)
    local line = skt:receive()
    if line then skt:send(line:upper() .. "\n") end
    skt:close()
  end, tls.server()))
  local reply, failure
  copas.addthread(function()
    copas.seterrorhandler(function(e) failure = tostring(e) end)
    local c = copas.wrap(unix.stream(), { wrap = tls.client(), sni = { names = "localhost" } })
    local ok, err = c:connect(path)
    if not ok then
      failure = err
    else
      c:send("secret\n")
      reply = c:receive()
      c:close()
    end
    copas.removeserver(srv)
  end)
  copas.loop()
  t.eq({ reply, failure }, { "SECRET", nil })
  os.remove(path)
end)

t.test("copas: connects beyond a full listen backlog wait for room", function()
  local path = temp_path()
  local srv = assert(unix.stream())
  assert(srv:bind(path))
  assert(srv:listen(1))
  local clients, ok = 20, 0
  copas.addserver(srv, function(skt)
    local line = copas.receive(skt)
    if line then copas.send(skt, line .. "\n") end
  end)
  local done = 0
  for i = 1, clients do
    copas.addthread(function()
      local c = unix.stream()
      copas.settimeouts(c, 30, 30, 30)
      local connected = copas.connect(c, path)
      if connected then
        copas.send(c, "n" .. i .. "\n")
        if copas.receive(c) == "n" .. i then ok = ok + 1 end
      end
      c:close()
      done = done + 1
      if done == clients then copas.removeserver(srv) end
    end)
  end
  copas.loop()
  t.eq(ok, clients)
  os.remove(path)
end)

t.test("copas: 1,000 concurrent unix connections", function()
  local path = temp_path()
  local srv = stream_server(path)
  local clients, served, done = 1000, 0, 0
  copas.addserver(srv, function(skt)
    local line = copas.receive(skt)
    if line then
      copas.send(skt, line .. "\n")
      served = served + 1
    end
  end)
  local open, ok = 0, 0
  for i = 1, clients do
    copas.addthread(function()
      local c = unix.stream()
      local connected, err = copas.connect(c, path)
      assert(connected, err)
      open = open + 1
      -- Every client connects before any sends: all are open at once.
      while open < clients do copas.pause(0.01) end
      copas.send(c, "client " .. i .. "\n")
      if copas.receive(c) == "client " .. i then ok = ok + 1 end
      c:close()
      done = done + 1
      if done == clients then copas.removeserver(srv) end
    end)
  end
  copas.loop()
  t.eq({ ok, served }, { clients, clients })
  os.remove(path)
end)

t.test("copas: dgram echo (driven through the object's own methods)", function()
  local server_path, client_path = temp_path(), temp_path()
  local srv = unix.dgram()
  assert(srv:bind(server_path))
  local got, reply
  copas.addthread(function()
    local ws = copas.wrap(srv)
    local data, from = ws:receivefrom()
    got = data
    ws:sendto(data:upper(), from)
  end)
  copas.addthread(function()
    local c = unix.dgram()
    assert(c:bind(client_path))
    assert(c:connect(server_path))
    local wc = copas.wrap(c)
    wc:send("hello")
    reply = wc:receive()
    c:close()
  end)
  copas.loop()
  t.eq({ got, reply }, { "hello", "HELLO" })
  srv:close()
  os.remove(server_path); os.remove(client_path)
end)

t.run()
