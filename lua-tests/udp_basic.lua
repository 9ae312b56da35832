-- UDP objects on loopback: classes, sendto/receivefrom, setpeername/send/receive,
-- sizes, timeouts, options, descriptors and argument checks.
local t = require("t")
local socket = require("socket")

local function fd_state(fd)
  local file, _, code = io.open(("/proc/self/fd/%d"):format(fd))
  if file then
    file:close()
    return "open"
  end
  return code == 2 and "closed" or "open"
end

-- An unconnected UDP object bound to loopback, with a timeout, and its port.
local function bound(host)
  local u = assert(socket.udp())
  assert(u:setsockname(host or "127.0.0.1", 0))
  u:settimeout(5)
  local _, port = u:getsockname()
  return u, port
end

t.test("constructors make unconnected objects", function()
  for _, make in ipairs({ socket.udp, socket.udp4, socket.udp6 }) do
    local u = assert(make())
    t.eq(u.class, "udp{unconnected}")
    t.ok(tostring(u):find("^udp{unconnected}: 0x%x+$"), tostring(u))
    u:close()
  end
  t.eq(socket._DATAGRAMSIZE, 8192)
end)

t.test("metatable and groups", function()
  local u = socket.udp()
  local mt = getmetatable(u)
  t.eq(mt.__index.class, "udp{unconnected}")
  t.eq(mt["udp{any}"], true)
  t.eq(mt["select{able}"], true)
  for _, name in ipairs({ "close", "dirty", "getfamily", "getfd", "getpeername", "getsockname",
    "receive", "receivefrom", "send", "sendto", "setfd", "setoption", "getoption",
    "setpeername", "setsockname", "settimeout", "gettimeout" }) do
    t.eq(type(mt.__index[name]), "function", name)
  end
  t.eq(u:dirty(), false)
  u:close()
end)

t.test("sendto and receivefrom", function()
  local server, port = bound()
  local client = socket.udp()
  t.eq(client:getfd(), -1, "no descriptor before the first sendto")
  t.eq(client:sendto("ping", "127.0.0.1", port), 4)
  t.ok(client:getfd() >= 0)
  t.eq(client:getfamily(), "inet4")
  local data, ip, from_port = server:receivefrom()
  t.eq({ data, ip, from_port }, { "ping", "127.0.0.1", (select(2, client:getsockname())) })
  t.eq(math.floor(from_port), from_port)
  t.eq(server:sendto("pong", ip, from_port), 4)
  client:settimeout(5)
  t.eq(client:receive(), "pong")
  server:close(); client:close()
end)

t.test("setpeername connects, '*' disconnects", function()
  local server, port = bound()
  local client = socket.udp()
  t.eq(client:setpeername("127.0.0.1", port), 1)
  t.eq(client.class, "udp{connected}")
  t.ok(tostring(client):find("^udp{connected}: 0x"))
  t.eq({ client:getpeername() }, { "127.0.0.1", port, "inet" })
  t.eq(client:send("hello"), 5)
  t.eq(server:receive(), "hello")
  t.err("calling 'sendto' on bad self %(udp{unconnected} expected%)", function()
    local r = client:sendto("x", "127.0.0.1", port) return r
  end)
  t.err("udp{unconnected} expected", function() local r = client:receivefrom() return r end)
  t.err("udp{unconnected} expected", function() local r = client:setsockname("*", 0) return r end)
  t.eq(client:setpeername("*"), 1)
  t.eq(client.class, "udp{unconnected}")
  t.err("calling 'send' on bad self %(udp{connected} expected%)", function()
    local r = client:send("x") return r
  end)
  t.err("udp{connected} expected", function() local r = client:getpeername() return r end)
  t.eq(client:sendto("again", "127.0.0.1", port), 5)
  t.eq(server:receive(), "again")
  server:close(); client:close()
end)

t.test("receive sizes: default, truncation, empty datagrams", function()
  local server, port = bound()
  local client = socket.udp4()
  local big = string.rep("b", 10000)
  client:sendto(big, "127.0.0.1", port)
  t.eq(#server:receive(), 8192, "default size")
  client:sendto(big, "127.0.0.1", port)
  t.eq(server:receive(20000), big, "larger sizes")
  client:sendto("truncated", "127.0.0.1", port)
  t.eq(server:receive(5), "trunc")
  client:sendto("", "127.0.0.1", port)
  t.eq(server:receive(), "", "an empty datagram is data")
  client:sendto("x", "127.0.0.1", port)
  t.eq(server:receive(0), "")
  client:sendto("2.5", "127.0.0.1", port)
  t.eq(server:receive("2.5"), "2.", "numeric strings, truncated")
  t.err("bad argument #1 to 'receive' %(invalid receive size%)", function()
    local r = server:receive(-1) return r
  end)
  t.err("number expected, got table", function() local r = server:receive({}) return r end)
  server:close(); client:close()
end)

t.test("timeouts", function()
  local server = bound()
  t.eq({ server:gettimeout() }, { 5, -1 })
  server:settimeout(0.05)
  t.nilmsg("timeout", server:receive())
  t.nilmsg("timeout", server:receivefrom())
  server:settimeout(0)
  t.nilmsg("timeout", server:receive())
  server:settimeout(-1)
  server:settimeout(0.05, "t")
  t.nilmsg("timeout", server:receive())
  t.err("invalid timeout mode", function() local r = server:settimeout(1, "z") return r end)
  server:close()
end)

t.test("IPv6 on ::1", function()
  local server, port = bound("::1")
  t.eq(server:getfamily(), "inet6")
  t.eq({ server:getsockname() }, { "::1", port, "inet6" })
  local client = socket.udp6()
  t.eq(client:sendto("six", "::1", port), 3)
  local data, ip = server:receivefrom()
  t.eq({ data, ip }, { "six", "::1" })
  t.nilmsg("host or service not provided, or not known", client:sendto("x", "localhost", port))
  server:close(); client:close()
end)

t.test("getsockname before and after binding", function()
  local u = socket.udp()
  t.nilmsg("Bad file descriptor", u:getsockname())
  local v = socket.udp4()
  t.eq({ v:getsockname() }, { "0.0.0.0", 0, "inet" })
  t.eq(v:setsockname("*", 0), 1)
  t.eq(v:getsockname(), "0.0.0.0")
  u:close(); v:close()
end)

t.test("closed objects", function()
  local u = bound()
  t.eq(u:close(), 1)
  t.eq(u:close(), 1)
  t.eq(u:getfd(), -1)
  t.nilmsg("closed", u:receive())
  t.nilmsg("closed", u:sendto("x", "127.0.0.1", 9))
end)

t.test("a sendto to a closed port does not fail the next receive", function()
  -- Winsock reports the port-unreachable answer as WSAECONNRESET on the next
  -- receive; LuaSocket retries past it there, so a script still sees its timeout.
  local closed = assert(socket.udp())
  assert(closed:setsockname("127.0.0.1", 0))
  local _, port = closed:getsockname()
  closed:close()
  local u = assert(socket.udp())
  assert(u:setsockname("127.0.0.1", 0))
  assert(u:sendto("x", "127.0.0.1", port))
  u:settimeout(0.2)
  t.eq({ u:receivefrom() }, { nil, "timeout" })
  u:close()
end)

t.test("options", function()
  local u = socket.udp4()
  for _, name in ipairs({ "dontroute", "broadcast", "reuseaddr", "reuseport", "ip-multicast-loop" }) do
    t.eq(u:setoption(name, true), 1, name)
    t.eq(u:getoption(name), true, name)
    t.eq(u:setoption(name, false), 1, name)
    t.eq(u:getoption(name), false, name)
  end
  t.eq(u:setoption("ip-multicast-ttl", 3), 1)
  t.eq(u:getoption("ip-multicast-ttl"), 3)
  t.eq(u:setoption("ip-multicast-if", "127.0.0.1"), 1)
  t.eq(u:getoption("ip-multicast-if"), "127.0.0.1")
  t.eq(u:setoption("ip-multicast-if", "*"), 1)
  t.eq(u:getoption("ip-multicast-if"), "0.0.0.0")
  t.err("ip expected", function() local r = u:setoption("ip-multicast-if", "nowhere") return r end)
  t.eq(u:setoption("recv-buffer-size", 32768), 1)
  t.ok(u:getoption("recv-buffer-size") >= 32768)
  t.eq(u:getoption("error"), nil)
  t.eq(u:setoption("ip-add-membership", { multiaddr = "239.1.2.3", interface = "127.0.0.1" }), 1)
  t.eq(u:setoption("ip-drop-membership", { multiaddr = "239.1.2.3", interface = "127.0.0.1" }), 1)
  t.err("string 'multiaddr' field expected", function()
    local r = u:setoption("ip-add-membership", { interface = "*" }) return r
  end)
  t.err("invalid 'multiaddr' ip address", function()
    local r = u:setoption("ip-add-membership", { multiaddr = "x", interface = "*" }) return r
  end)
  t.err("invalid 'interface' ip address", function()
    local r = u:setoption("ip-add-membership", { multiaddr = "239.1.2.3", interface = "y" }) return r
  end)
  t.err("unsupported option `ip%-add%-membership'", function()
    local r = u:getoption("ip-add-membership") return r
  end)
  t.err("unsupported option `tcp%-nodelay'", function() local r = u:setoption("tcp-nodelay", true) return r end)
  t.err("unsupported option `keepalive'", function() local r = u:getoption("keepalive") return r end)
  u:close()
  local v6 = socket.udp6()
  t.eq(v6:setoption("ipv6-unicast-hops", 7), 1)
  t.eq(v6:getoption("ipv6-unicast-hops"), 7)
  t.eq(v6:setoption("ipv6-multicast-hops", 5), 1)
  t.eq(v6:getoption("ipv6-multicast-hops"), 5)
  t.eq(v6:setoption("ipv6-multicast-loop", false), 1)
  t.eq(v6:getoption("ipv6-multicast-loop"), false)
  t.eq(v6:getoption("ipv6-v6only"), true)
  t.err("number 'interface' field expected", function()
    local r = v6:setoption("ipv6-add-membership", { multiaddr = "ff02::1", interface = {} }) return r
  end)
  v6:close()
end)

t.test("setfd(-1) releases without closing; collection closes", function()
  local u = socket.udp4()
  local fd = u:getfd()
  u:setfd(-1)
  t.eq(u:getfd(), -1)
  u:close()
  t.eq(fd_state(fd), "open")
  local other = socket.udp()
  other:setfd(fd)
  t.eq(other:getfd(), fd)
  other = nil
  u = nil
  collectgarbage("collect")
  collectgarbage("collect")
  t.eq(fd_state(fd), "closed")
  local fds = {}
  do
    for i = 1, 50 do fds[i] = socket.udp4():getfd() end
  end
  collectgarbage("collect")
  collectgarbage("collect")
  for _, each in ipairs(fds) do t.eq(fd_state(each), "closed") end
end)

t.test("bad arguments", function()
  local u = socket.udp()
  t.err("bad argument #1 to 'sendto' %(string expected, got no value%)", function()
    local r = u:sendto() return r
  end)
  t.err("bad argument #2 to 'sendto' %(string expected, got no value%)", function()
    local r = u:sendto("x") return r
  end)
  t.err("bad argument #1 to 'setpeername' %(string expected, got nil%)", function()
    local r = u:setpeername(nil, 1) return r
  end)
  t.err("bad argument #2 to 'setpeername' %(string expected, got no value%)", function()
    local r = u:setpeername("127.0.0.1") return r
  end)
  t.err("udp{any} expected", u.receive, socket.tcp())
  t.err("udp{any} expected", u.close, {})
  u:close()
end)

t.run()
