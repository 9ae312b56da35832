-- TCP options: every LuaSocket option name, read back after being set, and the
-- errors for unknown names and malformed values.
local t = require("t")
local socket = require("socket")

local function listening()
  local server = assert(socket.tcp4())
  assert(server:bind("127.0.0.1", 0))
  assert(server:listen(8))
  return server
end

t.test("boolean options round-trip", function()
  local s = socket.tcp4()
  for _, name in ipairs({ "keepalive", "reuseaddr", "reuseport", "tcp-nodelay" }) do
    t.eq(s:setoption(name, true), 1, name)
    t.eq(s:getoption(name), true, name)
    t.eq(s:setoption(name, false), 1, name)
    t.eq(s:getoption(name), false, name)
  end
  s:close()
end)

t.test("integer options round-trip", function()
  local s = socket.tcp4()
  for name, value in pairs({ ["tcp-keepidle"] = 33, ["tcp-keepcnt"] = 4, ["tcp-keepintvl"] = 7 }) do
    t.eq(s:setoption(name, value), 1, name)
    t.eq(s:getoption(name), value, name)
  end
  t.eq(s:setoption("tcp-keepidle", "12"), 1, "numeric strings")
  t.eq(s:getoption("tcp-keepidle"), 12)
  t.eq(s:setoption("tcp-fastopen-connect", 1), 1)
  t.eq(s:getoption("tcp-fastopen-connect"), 1)
  s:close()
end)

t.test("buffer sizes (Linux doubles what it is given)", function()
  local s = socket.tcp4()
  t.eq(s:setoption("recv-buffer-size", 65536), 1)
  t.eq(s:setoption("send-buffer-size", 65536), 1)
  t.ok(s:getoption("recv-buffer-size") >= 65536)
  t.ok(s:getoption("send-buffer-size") >= 65536)
  s:close()
end)

t.test("listening-socket options", function()
  local server = listening()
  t.eq(server:setoption("tcp-fastopen", 5), 1)
  t.eq(server:getoption("tcp-fastopen"), 5)
  t.eq(server:setoption("tcp-defer-accept", 3), 1)
  t.ok(server:getoption("tcp-defer-accept") > 0)
  server:close()
end)

t.test("ipv6-v6only", function()
  local s = socket.tcp6()
  t.eq(s:getoption("ipv6-v6only"), true)
  t.eq(s:setoption("ipv6-v6only", false), 1)
  t.eq(s:getoption("ipv6-v6only"), false)
  s:close()
  local v4 = socket.tcp4()
  t.nilmsg("setsockopt failed", v4:setoption("ipv6-v6only", true))
  v4:close()
end)

t.test("linger", function()
  local s = socket.tcp4()
  t.eq(s:getoption("linger"), { on = false, timeout = 0 })
  t.eq(s:setoption("linger", { on = true, timeout = 5 }), 1)
  t.eq(s:getoption("linger"), { on = true, timeout = 5 })
  t.err("bad argument #2 to 'setoption' %(table expected, got number%)", function()
    local r = s:setoption("linger", 5) return r
  end)
  t.err("boolean 'on' field expected", function()
    local r = s:setoption("linger", { timeout = 1 }) return r
  end)
  t.err("number 'timeout' field expected", function()
    local r = s:setoption("linger", { on = true }) return r
  end)
  s:close()
end)

t.test("error is read-only and clears", function()
  local s = socket.tcp4()
  t.eq(select("#", s:getoption("error")), 1)
  t.eq(s:getoption("error"), nil)
  t.err("unsupported option `error'", function() local r = s:setoption("error", 1) return r end)
  s:close()
end)

t.test("error reports a failed non-blocking connect", function()
  local server = listening()
  local _, port = server:getsockname()
  server:close()
  local s = socket.tcp4()
  s:settimeout(0)
  local ok, err = s:connect("127.0.0.1", port)
  if err == "timeout" then
    local found
    local limit = os.clock() + 2
    repeat found = s:getoption("error") until found or os.clock() > limit
    t.eq(found, "connection refused")
  else
    t.eq({ ok, err }, { nil, "connection refused" })
  end
  s:close()
end)

t.test("bindtodevice", function()
  local s = socket.tcp4()
  t.eq(s:getoption("bindtodevice"), "")
  local ok, err = s:setoption("bindtodevice", "lo")
  if ok then
    t.eq(s:getoption("bindtodevice"), "lo")
  else
    t.eq(err, "setsockopt failed", "needs CAP_NET_RAW")
  end
  s:close()
end)

t.test("unknown and foreign options raise", function()
  local s = socket.tcp4()
  t.err("bad argument #1 to 'setoption' %(unsupported option `broadcast'%)", function()
    local r = s:setoption("broadcast", true) return r
  end)
  t.err("bad argument #1 to 'getoption' %(unsupported option `nope'%)", function()
    local r = s:getoption("nope") return r
  end)
  t.err("bad argument #2 to '%?' %(unsupported option `ip%-multicast%-ttl'%)", s.getoption, s, "ip-multicast-ttl")
  t.err("bad argument #1 to 'getoption' %(string expected, got no value%)", function()
    local r = s:getoption() return r
  end)
  s:close()
end)

t.test("malformed values raise", function()
  local s = socket.tcp4()
  t.err("bad argument #2 to 'setoption' %(boolean expected, got number%)", function()
    local r = s:setoption("keepalive", 1) return r
  end)
  t.err("boolean expected, got no value", function() local r = s:setoption("tcp-nodelay") return r end)
  t.err("number expected, got string", function() local r = s:setoption("tcp-keepidle", "x") return r end)
  t.err("string expected, got table", function() local r = s:setoption("bindtodevice", {}) return r end)
  s:close()
end)

t.test("options need a descriptor", function()
  local s = socket.tcp()
  t.nilmsg("setsockopt failed", s:setoption("reuseaddr", true))
  t.nilmsg("getsockopt failed", s:getoption("reuseaddr"))
  local closed = socket.tcp4()
  closed:close()
  t.nilmsg("getsockopt failed", closed:getoption("keepalive"))
end)

t.test("server and client objects have options too", function()
  local server = listening()
  t.eq(server:getoption("reuseaddr"), false)
  local _, port = server:getsockname()
  local client = assert(socket.connect("127.0.0.1", port))
  t.eq(client:setoption("tcp-nodelay", true), 1)
  t.eq(client:getoption("tcp-nodelay"), true)
  client:close(); server:close()
end)

t.run()
