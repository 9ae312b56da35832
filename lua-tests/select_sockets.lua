-- socket.select over real loopback TCP sockets: pending connections, data,
-- writability, closed sockets, buffered (dirty) input, and the results'
-- double indexing.
local t = require("t")
local socket = require("socket")

local function pack(...) return { n = select("#", ...), ... } end

-- A listening server on an ephemeral loopback port, a client connected to it
-- and the accepted peer, every socket with a timeout against hangs.
local function connected_pair()
  local server = assert(socket.bind("127.0.0.1", 0))
  server:settimeout(5)
  local _, port = server:getsockname()
  local client = assert(socket.connect("127.0.0.1", port))
  client:settimeout(5)
  local peer = assert(server:accept())
  peer:settimeout(5)
  return server, client, peer
end

local function close_all(...)
  for i = 1, select("#", ...) do
    local s = select(i, ...)
    if s then s:close() end
  end
end

t.test("a pending connection makes the server readable", function()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  t.eq(pack(socket.select({ server }, nil, 0)), { n = 3, {}, {}, "timeout" })
  local client = assert(socket.connect("127.0.0.1", port))
  local r, w, err = socket.select({ server }, nil, 5)
  t.eq(err, nil)
  t.ok(r[1] == server)
  t.eq(r[server], 1)
  t.eq(w, {})
  server:settimeout(5)
  local peer = assert(server:accept())
  close_all(server, client, peer)
end)

t.test("data makes the receiver readable; connected sockets are writable", function()
  local server, client, peer = connected_pair()
  t.eq(pack(socket.select({ peer, client }, nil, 0)), { n = 3, {}, {}, "timeout" })
  assert(client:send("ping\n"))
  local r, w, err = socket.select({ peer, client }, { client }, 5)
  t.eq(err, nil)
  t.eq(#r, 1)
  t.ok(r[1] == peer)
  t.eq(r[peer], 1)
  t.eq(r[client], nil)
  t.ok(w[1] == client)
  t.eq(w[client], 1)
  t.eq(peer:receive(), "ping")
  close_all(server, client, peer)
end)

t.test("several ready sockets, each with its index", function()
  local server, client, peer = connected_pair()
  assert(client:send("a\n"))
  assert(peer:send("b\n"))
  local r = socket.select({ client, peer, server }, nil, 5)
  -- Both may not be reported by the first wait; wait again for the late one.
  for _ = 1, 50 do
    if #r == 2 then break end
    socket.sleep(0.01)
    r = socket.select({ client, peer, server }, nil, 5)
  end
  t.eq(#r, 2)
  for i, s in ipairs(r) do t.eq(r[s], i) end
  t.ok(r[client] and r[peer])
  t.eq(r[server], nil)
  close_all(server, client, peer)
end)

t.test("the peer closing makes the socket readable", function()
  local server, client, peer = connected_pair()
  client:close()
  local r = socket.select({ peer }, nil, 5)
  t.ok(r[1] == peer)
  -- _DEBUG is true: a fourth value, the elapsed time, follows (as in LuaSocket debug builds).
  local got = pack(peer:receive())
  t.eq({ n = got.n, got[1], got[2], got[3] }, { n = 4, nil, "closed", "" })
  t.eq(type(got[4]), "number")
  close_all(server, peer)
end)

t.test("closed sockets are ignored", function()
  local server, client, peer = connected_pair()
  assert(client:send("x\n"))
  peer:close()
  t.eq(pack(socket.select({ peer }, { peer }, 0)), { n = 3, {}, {}, "timeout" })
  close_all(server, client)
end)

t.test("buffered input makes a socket dirty and readable without waiting", function()
  local server, client, peer = connected_pair()
  assert(client:send("one\ntwo\n"))
  t.eq(peer:receive(), "one")
  -- "two" may already sit in peer's buffer; select must then report it at once.
  if peer:dirty() then
    local r, _, err = socket.select({ peer }, nil, 0)
    t.eq(err, nil)
    t.ok(r[1] == peer)
  end
  t.eq(peer:receive(), "two")
  close_all(server, client, peer)
end)

t.test("the same socket for reading and writing", function()
  local server, client, peer = connected_pair()
  assert(client:send("x"))
  local r, w = socket.select({ peer }, { peer }, 5)
  t.ok(r[1] == peer)
  t.ok(w[1] == peer)
  close_all(server, client, peer)
end)

t.test("sinks and sources of sockets can be selected", function()
  local server, client, peer = connected_pair()
  assert(client:send("data"))
  local source = socket.source("until-closed", peer)
  local sink = socket.sink("keep-open", client)
  local r, w = socket.select({ source }, { sink }, 5)
  t.ok(r[1] == source)
  t.ok(w[1] == sink)
  close_all(server, client, peer)
end)

t.run()
