-- The `ssl` module outside Copas: blocking and non-blocking use of ssl.wrap connections,
-- contexts, argument checks and configuration errors.
local t = require("t")
local socket = require("socket")
local ssl = require("ssl")
local tls = require("tlsutil")

-- A TLS echo server in a runner process (a blocking client needs a peer that runs on its
-- own). It answers "lines" with two lines at once, "partial" with a line sent in two
-- parts 0.5 s apart, and exits on "shutdown" or after 20 s.
local SERVER = [[
local copas = require("copas")
local socket = require("socket")
local dir = os.getenv("COPAS_TEST_CERTS")
local params = { mode = "server", protocol = "any",
  certificate = dir .. "/localhost.pem", key = dir .. "/localhost.key" }
local srv = assert(socket.bind("127.0.0.1", 0))
local _, port = srv:getsockname()
local stop = false
copas.addserver(srv, copas.handler(function(skt)
  while true do
    local line = skt:receive()
    if not line then break end
    if line == "shutdown" then stop = true break end
    if line == "lines" then
      skt:send("a\nb\n")
    elseif line == "partial" then
      skt:send("part")
      copas.sleep(0.5)
      skt:send("ial\n")
    else
      skt:send("echo " .. line .. "\n")
    end
  end
  skt:close()
  if stop then copas.removeserver(srv) end
end, params))
copas.addthread(function()
  local waited = 0
  while not stop and waited < 20 do copas.sleep(0.1) waited = waited + 0.1 end
  copas.removeserver(srv)
end)
io.stdout:write(port, "\n")
io.stdout:flush()
copas.loop()
]]

local function start_server()
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(SERVER)
  f:close()
  local runner = assert(os.getenv("COPAS_RUNNER"), "COPAS_RUNNER is not set")
  local proc = assert(io.popen(runner .. " " .. script))
  local port = tonumber(proc:read("*l"))
  return proc, port, script
end

local proc, port, script = start_server()

local function stop_server()
  local c = socket.tcp()
  c:settimeout(5)
  if c:connect("127.0.0.1", port) then
    local conn = ssl.wrap(c, tls.client())
    conn:settimeout(5)
    if conn:dohandshake() then conn:send("shutdown\n") end
    conn:close()
  end
  proc:close()
  os.remove(script)
end

local function connect(params)
  local c = assert(socket.connect("127.0.0.1", port))
  local conn = assert(ssl.wrap(c, params or tls.client()))
  conn:settimeout(5)
  return conn, c
end

t.test("blocking handshake, send and receive", function()
  local conn, tcp = connect()
  t.eq(tostring(conn):match("^SSL connection: "), "SSL connection: ")
  t.eq(tcp:getfd(), -1, "the TCP object gave its descriptor away")
  t.ok(conn:getfd() >= 0)
  t.eq(conn:dohandshake(), true)
  t.eq(conn:send("hello\n"), 6)
  t.eq(conn:receive(), "echo hello")
  local received, sent, age = conn:getstats()
  t.eq({ received, sent }, { 11, 6 }, "plaintext bytes consumed and sent")
  t.ok(age >= 0)
  t.eq(conn:setstats(0, 0), 1)
  t.eq(conn:send("xxhello again\nyy", 3, -3), 14)
  t.eq(conn:receive("*l"), "echo hello again")
  t.eq(conn:dirty(), false)
  t.eq(conn:want(), "nothing")
  conn:send("lines\n")
  t.eq(conn:receive(), "a")
  t.eq(conn:dirty(), true, "the second line is buffered")
  t.eq(conn:receive(), "b")
  t.eq(conn:dirty(), false)
  conn:close()
  t.eq(conn:getfd(), -1)
  t.nilmsg("closed", conn:receive())
end)

t.test("receive without an explicit handshake does it first", function()
  local conn = connect()
  conn:send("implicit\n")
  t.eq(conn:receive(), "echo implicit")
  conn:close()
end)

t.test("a timeout returns 'timeout' and the partial data; timeout 0 returns 'wantread'", function()
  local conn = connect()
  assert(conn:dohandshake())
  conn:send("partial\n")
  conn:settimeout(0.1)
  local data, err, part = conn:receive()
  t.eq({ data, err, part }, { nil, "timeout", "part" })
  conn:settimeout(0)
  local deadline = socket.gettime() + 5
  local got
  repeat
    local d, e, p = conn:receive("*l", part)
    if d then got = d break end
    t.eq(e, "wantread")
    part = p
    socket.select({ conn }, nil, 0.5)
  until socket.gettime() > deadline
  t.eq(got, "partial")
  t.eq(conn:want(), "nothing")
  conn:close()
end)

t.test("a context from ssl.newcontext is reused by several connections", function()
  local ctx = assert(ssl.newcontext(tls.client()))
  t.eq(tostring(ctx):match("^SSL context: "), "SSL context: ")
  for i = 1, 3 do
    local conn = connect(ctx)
    assert(conn:dohandshake())
    conn:send("n" .. i .. "\n")
    t.eq(conn:receive(), "echo n" .. i)
    conn:close()
  end
end)

t.test("the peer's IP address is verified when no name was given", function()
  -- The localhost certificate names 127.0.0.1; a wrong sni name is refused.
  local conn = connect()
  conn:sni("example.invalid")
  local ok, err = conn:dohandshake()
  t.eq(ok, false)
  t.ok(err:find("certificate verify failed: Hostname mismatch", 1, true), err)
  conn:close()
  conn = connect()
  conn:sni("localhost")
  t.eq(conn:dohandshake(), true)
  conn:close()
end)

t.test("non-blocking handshake on both sides returns false, 'wantread'", function()
  local srv = assert(socket.bind("127.0.0.1", 0))
  local _, lport = srv:getsockname()
  local c = assert(socket.connect("127.0.0.1", lport))
  local s = assert(srv:accept())
  srv:close()
  local client = assert(ssl.wrap(c, tls.client()))
  local server = assert(ssl.wrap(s, tls.server()))
  client:settimeout(0)
  server:settimeout(0)
  local ok, err = server:dohandshake()
  t.eq({ ok, err }, { false, "wantread" })
  t.eq(server:want(), "read")
  local done_c, done_s = false, false
  for _ = 1, 200 do
    done_c = done_c or client:dohandshake()
    done_s = done_s or server:dohandshake()
    if done_c and done_s then break end
    socket.select({ client, server }, nil, 0.1)
  end
  t.ok(done_c and done_s, "both handshakes finished")
  t.eq(client:send("ping\n"), 5)
  local line
  for _ = 1, 100 do
    line = server:receive()
    if line then break end
    socket.select({ server }, nil, 0.1)
  end
  t.eq(line, "ping")
  client:close()
  server:close()
end)

t.test("STARTTLS: a record that arrived with the last plain line is not lost", function()
  local srv = assert(socket.bind("127.0.0.1", 0))
  local _, lport = srv:getsockname()
  local c = assert(socket.connect("127.0.0.1", lport))
  local s = assert(srv:accept())
  srv:close()
  t.eq(c:send("STARTTLS\n"), 9)
  local client = assert(ssl.wrap(c, tls.client()))
  client:settimeout(0)
  -- The ClientHello goes out right behind the line, before the server wraps.
  t.eq({ client:dohandshake() }, { false, "wantread" })
  s:settimeout(5)
  t.eq(s:receive("*l"), "STARTTLS")
  t.eq(s:dirty(), true, "the ClientHello came with the line")
  local server = assert(ssl.wrap(s, tls.server()))
  server:settimeout(0)
  local done_c, done_s = false, false
  for _ = 1, 200 do
    done_s = done_s or server:dohandshake()
    done_c = done_c or client:dohandshake()
    if done_c and done_s then break end
    socket.select({ client, server }, nil, 0.1)
  end
  t.ok(done_c and done_s, "both handshakes finished")
  client:close()
  server:close()
end)

-- A server handshake with a peer that `behave`s on a plain TCP connection: LuaSec's
-- (OpenSSL's) messages, which programs test for (a plain HTTP request is redirected to
-- https by looking for "http request").
local function server_handshake_with(behave, params)
  local srv = assert(socket.bind("127.0.0.1", 0))
  local _, port = srv:getsockname()
  local peer = assert(socket.connect("127.0.0.1", port))
  behave(peer)
  srv:settimeout(5)
  local accepted = assert(srv:accept())
  srv:close()
  local conn = assert(ssl.wrap(accepted, params or tls.server()))
  conn:settimeout(5)
  local ok, err = conn:dohandshake()
  conn:close()
  peer:close()
  return ok, err
end

t.test("a TLS server's handshake says 'http request' to plain HTTP, as LuaSec does", function()
  local get = function(peer) peer:send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n") end
  t.eq({ server_handshake_with(get) }, { false, "http request" })
  local alpn = tls.server(nil, { alpn = function() return nil end })
  t.eq({ server_handshake_with(get, alpn) }, { false, "http request" })
  local connect = function(peer) peer:send("CONNECT example.org:443 HTTP/1.1\r\n\r\n") end
  t.eq({ server_handshake_with(connect) }, { false, "https proxy request" })
end)

t.test("a peer that closes before the handshake: 'unexpected eof while reading'", function()
  local close = function(peer) peer:shutdown("send") end
  t.eq({ server_handshake_with(close) }, { false, "unexpected eof while reading" })
end)

t.test("argument errors are raised, configuration errors returned", function()
  t.err("bad argument #1 to '[%w.?]*' %(table expected, got string%)", ssl.newcontext, "x")
  t.err("bad argument #1 to '[%w.?]*' %(tcp{client} expected%)", ssl.wrap, {}, tls.client())
  t.err("bad argument #2 to '[%w.?]*' %(SSL context", ssl.wrap, socket.tcp(), 42)
  t.nilmsg("protocol 'sslv3' is not supported (use 'any', 'tlsv1_2' or 'tlsv1_3')",
    ssl.newcontext({ mode = "client", protocol = "sslv3" }))
  t.nilmsg("a server needs a certificate and a key", ssl.newcontext({ mode = "server" }))
  local _, msg = ssl.newcontext({ mode = "client", verify = "bogus" })
  t.ok(msg:find("invalid verify option 'bogus'", 1, true), msg)
  _, msg = ssl.newcontext(tls.server(nil, { key = tls.path("missing.key") }))
  t.ok(msg:find("missing.key", 1, true), msg)
  _, msg = ssl.newcontext({ mode = "client", alpn = function() end })
  t.ok(msg:find("an 'alpn' callback is for servers", 1, true), msg)
  local conn = connect()
  t.err("bad argument #1 to .*SSL:Connection expected", conn.receive, nil)
  t.err("invalid receive pattern", conn.receive, conn, "*x")
  t.err("bad argument #2 to .*string expected", conn.send, conn, {})
  conn:close()
end)

t.test("options and ciphers LuaSec users write are accepted", function()
  local ctx, err = ssl.newcontext(tls.client({
    options = { "all", "no_sslv3", "no_compression" },
    ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:!aNULL",
    verify = { "peer", "fail_if_no_peer_cert" },
    curve = "X25519:prime256v1",
  }))
  t.ok(ctx, err)
end)

t.test("ssl.loadcertificate reads a PEM certificate", function()
  local f = assert(io.open(tls.path("localhost.pem")))
  local pem = f:read("*a")
  f:close()
  local cert = assert(ssl.loadcertificate(pem))
  t.eq(cert:subject()[1].value, "localhost")
  t.eq(cert:pem(), pem)
  t.eq(ssl.loadcertificate("junk"), nil)
end)

t.run(stop_server)
