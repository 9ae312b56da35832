-- TCP send: LuaSocket's i/j index rules, return values, partial sends on timeout
-- and errors on closed connections.
local t = require("t")
local socket = require("socket")

local function pair()
  local server = assert(socket.tcp())
  assert(server:bind("127.0.0.1", 0))
  assert(server:listen(8))
  local _, port = server:getsockname()
  local client = assert(socket.tcp())
  assert(client:connect("127.0.0.1", port))
  server:settimeout(5)
  local peer = assert(server:accept())
  server:close()
  peer:settimeout(5)
  return client, peer
end

local function pack(...)
  return { n = select("#", ...), ... }
end

-- Sends with the given i, j and returns what send returned and what arrived.
local function send_range(client, peer, data, i, j)
  local last, err = client:send(data, i, j)
  local arrived = ""
  if last and last > 0 then
    peer:settimeout(0.2)
    local got, _, partial = peer:receive("*a")
    arrived = got or partial
  end
  return last, err, arrived
end

t.test("send returns the last index, nil, nil and the elapsed time", function()
  local client, peer = pair()
  local r = pack(client:send("hello"))
  t.eq(r.n, 4)
  t.eq({ r[1], r[2], r[3] }, { 5, nil, nil })
  t.eq(type(r[4]), "number")
  t.eq(peer:receive(5), "hello")
  client:close(); peer:close()
end)

t.test("i and j select a substring like string.sub", function()
  local cases = {
    { 1, -1, 10, "0123456789" },
    { 3, nil, 10, "23456789" },
    { 2, 4, 4, "123" },
    { -3, nil, 10, "789" },
    { -3, -2, 9, "78" },
    { 0, 2, 2, "01" },
    { -100, 1, 1, "0" },
    { 5, 100, 10, "456789" },
    { 4, 2, 3, "" },
    { 20, nil, 19, "" },
    { 1, 0, 0, "" },
    { "2", "3", 3, "12" },
    { 2.9, 3.9, 3, "12" },
  }
  for _, case in ipairs(cases) do
    local client, peer = pair()
    local last, err, arrived = send_range(client, peer, "0123456789", case[1], case[2])
    t.eq({ last, err, arrived }, { case[3], nil, case[4] },
      ("send(data, %s, %s)"):format(tostring(case[1]), tostring(case[2])))
    client:close(); peer:close()
  end
end)

t.test("empty data sends nothing", function()
  local client, peer = pair()
  t.eq(client:send(""), 0)
  client:close(); peer:close()
end)

t.test("a full send buffer gives timeout and the last index sent", function()
  local client, peer = pair()
  client:setoption("send-buffer-size", 4096)
  client:settimeout(0.05)
  local chunk = string.rep("x", 1024 * 1024)
  local last, err, index
  local expected = 0
  for _ = 1, 64 do
    last, err, index = client:send(chunk)
    if not last then break end
    expected = expected + last
  end
  t.eq({ last, err }, { nil, "timeout" })
  t.ok(index >= 0 and index < #chunk, tostring(index))
  expected = expected + #chunk
  -- Send the rest from the byte after the last one sent, draining the peer meanwhile.
  client:settimeout(0)
  peer:settimeout(0)
  local received = 0
  local limit = os.clock() + 10
  while received < expected and os.clock() < limit do
    local data, _, partial = peer:receive(expected - received)
    received = received + #(data or partial)
    if index < #chunk then
      local ok, _, upto = client:send(chunk, index + 1)
      index = ok or upto
    end
  end
  t.eq(index, #chunk)
  t.eq(received, expected)
  client:close(); peer:close()
end)

t.test("sending to a closed peer fails with closed", function()
  local client, peer = pair()
  peer:close()
  client:settimeout(1)
  local last, err, sent
  for _ = 1, 100 do
    last, err, sent = client:send(string.rep("y", 65536))
    if not last then break end
  end
  t.eq({ last, err }, { nil, "closed" })
  t.eq(type(sent), "number")
  client:close()
end)

t.test("closed objects report closed but send nothing for empty ranges", function()
  local client, peer = pair()
  client:close()
  local r = pack(client:send("abc", 2))
  t.eq({ r[1], r[2], r[3] }, { nil, "closed", 1 })
  t.eq(client:send("abc", 3, 2), 2)
  peer:close()
end)

t.test("bad arguments raise", function()
  local client, peer = pair()
  t.err("bad argument #1 to 'send' %(string expected, got no value%)", function()
    local r = client:send() return r
  end)
  t.err("bad argument #1 to 'send' %(string expected, got table%)", function()
    local r = client:send({}) return r
  end)
  t.err("bad argument #2 to 'send' %(number expected, got string%)", function()
    local r = client:send("x", "a") return r
  end)
  t.err("bad argument #3 to 'send' %(number expected, got boolean%)", function()
    local r = client:send("x", 1, true) return r
  end)
  t.eq(client:send(12), 2, "numbers are sent as strings")
  t.eq(peer:receive(2), "12")
  client:close(); peer:close()
end)

t.run()
