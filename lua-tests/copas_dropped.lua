-- Sockets a Copas program drops without closing them. Nothing of Copas keeps them
-- reachable, so the collector closes their descriptors, and Copas runs a full
-- collection now and then while it waits with nothing to do (as Copas does on about
-- one in ten of its idle steps): a server reading up to the close of such a peer ends
-- without the program collecting anything itself (upstream's largetransfer test).
local t = require("t")
local copas = require("copas")
local socket = require("socket")
local tls = require("tlsutil")
local harness = require("copas_run")

local loopback = require("loopback")
local server = loopback.server

local BODY = ("x"):rep(1024 * 1024)

-- Starts a server whose handler reads `*a` once; returns the port and a table that
-- gets `done`, the data and the error.
local function reader(params)
  local srv, port = server()
  local got = {}
  copas.addserver(srv, copas.handler(function(skt)
    local data, err, part = skt:receive("*a")
    got.data, got.err, got.done = data or part, err, true
    copas.removeserver(srv)
  end, params))
  return port, got
end

-- A client thread that connects, names its socket, sends BODY (more than the socket
-- buffers take at once, so the send waits) and drops the socket. `weak` gets the
-- wrapper and the socket under it.
local function drop_client(port, params, weak)
  copas.addthread(function()
    local raw = socket.tcp()
    local skt = copas.wrap(raw, params)
    weak[#weak + 1], weak[#weak + 2] = raw, skt
    copas.setsocketname("dropped client", skt)
    skt:settimeout(30)
    assert(skt:connect("localhost", port))
    local last = 0
    repeat
      last = assert(skt:send(BODY, last + 1))
    until last == #BODY
  end)
end

t.test("a dropped client is closed by Copas's collection while idle", function()
  local port, got = reader()
  drop_client(port, nil, setmetatable({}, { __mode = "v" }))
  copas.addthread(function()
    -- ~10 quiet steps a second, each collecting with a chance of 1 in 10: 300 of them
    -- all missing is a chance of 2e-14.
    for _ = 1, 300 do
      if got.done then return end
      copas.pause(0.1)
    end
    copas.cancelall()
  end)
  copas.loop()
  t.ok(got.done, "the server never saw the close")
  t.eq(got.err, nil)
  t.eq(got.data == BODY, true, "all data arrived")
end)

-- Both directions of references: the finished thread, the socket name, the timeouts,
-- the wait of the send; then two full collections must take them all.
-- Over TLS the client has unread data when it is closed (the server's session
-- tickets), so its close may reset the connection and the server may lose the end of
-- the data: only plain TCP checks that all of it arrived.
local function nothing_keeps(server_params, client_params)
  local weak = setmetatable({}, { __mode = "v" })
  local port, got = reader(server_params)
  drop_client(port, client_params, weak)
  harness.run(function()
    for _ = 1, 400 do
      if got.done then break end
      collectgarbage()
      collectgarbage()
      copas.pause(0.01)
    end
  end)
  collectgarbage()
  collectgarbage()
  t.ok(got.done, "the server never saw the close")
  if not client_params then t.eq(got.data == BODY, true, "all data arrived") end
  t.eq(next(weak), nil, "a dropped socket is still reachable")
end

t.test("nothing of Copas keeps a dropped TCP client reachable", function()
  nothing_keeps(nil, nil)
end)

t.test("nothing of Copas keeps a dropped TLS client reachable", function()
  nothing_keeps(tls.server(), tls.client())
end)

t.run()
