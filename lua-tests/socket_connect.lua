-- socket.bind, socket.connect, connect4 and connect6 on loopback: addresses,
-- ports, local binding, families, options and LuaSocket's errors.
local t = require("t")
local socket = require("socket")

local function pack(...) return { n = select("#", ...), ... } end

-- Whether this machine has an IPv6 loopback to test against.
local function has_ipv6()
  local s = socket.tcp6 and socket.tcp6()
  if not s then return false end
  local ok = s:bind("::1", 0)
  s:close()
  return ok ~= nil
end

local function accept(server)
  server:settimeout(5)
  local peer = assert(server:accept())
  peer:settimeout(5)
  return peer
end

t.test("bind returns a listening server with reuseaddr set", function()
  local server = assert(socket.bind("127.0.0.1", 0))
  t.ok(tostring(server):find("^tcp{server}"), tostring(server))
  t.eq(server:getoption("reuseaddr"), true)
  local address, port = server:getsockname()
  t.eq(address, "127.0.0.1")
  t.ok(port > 0)
  server:close()
end)

t.test("bind to * is every IPv4 address", function()
  local server = assert(socket.bind("*", 0))
  t.eq((server:getsockname()), "0.0.0.0")
  server:close()
end)

t.test("bind to localhost, with a backlog, and a numeric-string port", function()
  local server = assert(socket.bind("localhost", "0", 5))
  local address = server:getsockname()
  t.ok(address == "127.0.0.1" or address == "::1", address)
  server:close()
end)

t.test("bind to a port in use fails", function()
  local first = assert(socket.bind("127.0.0.1", 0))
  local _, port = first:getsockname()
  t.eq(pack(socket.bind("127.0.0.1", port)), { n = 2, nil, "address already in use" })
  first:close()
end)

t.test("bind resolution errors", function()
  t.eq(pack(socket.bind("", 0)), { n = 2, nil, "host or service not provided, or not known" })
end)

t.test("connect and exchange data", function()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  local client = assert(socket.connect("127.0.0.1", port))
  t.ok(tostring(client):find("^tcp{client}"), tostring(client))
  local peer = accept(server)
  client:settimeout(5)
  assert(client:send("hello\n"))
  t.eq(peer:receive(), "hello")
  assert(peer:send("back\n"))
  t.eq(client:receive(), "back")
  local peer_address, peer_port = client:getpeername()
  t.eq(peer_address, "127.0.0.1")
  t.eq(peer_port, port)
  client:close(); peer:close(); server:close()
end)

t.test("connect with a string port and to localhost", function()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  local client = assert(socket.connect("localhost", tostring(port)))
  local peer = accept(server)
  client:close(); peer:close(); server:close()
end)

t.test("connect from a chosen local address and port", function()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  local client = assert(socket.connect("127.0.0.1", port, "127.0.0.1", 0))
  t.eq((client:getsockname()), "127.0.0.1")
  local peer = accept(server)
  local _, local_port = client:getsockname()
  t.eq(select(2, peer:getpeername()), local_port)
  client:close(); peer:close(); server:close()

  server = assert(socket.bind("127.0.0.1", 0))
  _, port = server:getsockname()
  client = assert(socket.connect("127.0.0.1", port, "*"))
  peer = accept(server)
  client:close(); peer:close(); server:close()
end)

t.test("connect4", function()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  local client = assert(socket.connect4("127.0.0.1", port))
  t.eq(client:getfamily(), "inet4")
  local peer = accept(server)
  client:close(); peer:close(); server:close()
  -- An IPv6 literal has no IPv4 address.
  local none, err = socket.connect4("::1", port)
  t.eq(none, nil)
  t.eq(type(err), "string")
end)

if has_ipv6() then
  t.test("connect6 and bind on ::1", function()
    local server = assert(socket.bind("::1", 0))
    local address, port = server:getsockname()
    t.eq(address, "::1")
    local client = assert(socket.connect6("::1", port))
    t.eq(client:getfamily(), "inet6")
    local peer = accept(server)
    client:close(); peer:close(); server:close()
    t.eq((socket.connect6("127.0.0.1", port)), nil)
    local unspec = assert(socket.bind("::1", 0))
    local _, unspec_port = unspec:getsockname()
    client = assert(socket.connect("::1", unspec_port, nil, nil, "inet6"))
    peer = accept(unspec)
    client:close(); peer:close(); unspec:close()
  end)
else
  print("note: no IPv6 loopback; connect6 tests skipped")
end

t.test("connect to a closed port is refused", function()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  server:close()
  t.eq(pack(socket.connect("127.0.0.1", port)), { n = 2, nil, "connection refused" })
end)

t.test("connect resolution errors", function()
  t.eq(pack(socket.connect("", 80)), { n = 2, nil, "host or service not provided, or not known" })
end)

t.test("connect argument errors", function()
  -- The interpreter names the function ('connect', 'socket.core.connect' or '?',
  -- depending on the version and on how it was called), as it does for LuaSocket.
  local fn = "'[^']*'"
  t.err("^bad argument #1 to " .. fn .. " %(string expected, got no value%)$", socket.connect)
  t.err("^bad argument #2 to " .. fn .. " %(string expected, got no value%)$", socket.connect, "127.0.0.1")
  t.err("^bad argument #2 to " .. fn .. " %(string expected, got nil%)$", socket.connect, "127.0.0.1", nil)
  t.err("^bad argument #3 to " .. fn .. " %(string expected, got table%)$",
    socket.connect, "127.0.0.1", 1, {})
  t.err("^bad argument #5 to " .. fn .. " %(invalid option 'unix'%)$",
    socket.connect, "127.0.0.1", 1, nil, nil, "unix")
end)

t.run()
