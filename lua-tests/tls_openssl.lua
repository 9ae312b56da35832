-- Interop with the OpenSSL command line tools: our client against `openssl s_server`, and
-- `openssl s_client` against our Copas server. Skipped when openssl is not installed.
local t = require("t")
local copas = require("copas")
local socket = require("socket")
local ssl = require("ssl")
local tls = require("tlsutil")

if not tls.have("openssl") then
  io.stderr:write("skipping tls_openssl.lua: openssl is not installed\n")
  t.test("skipped: openssl is not installed", function() end)
  t.run()
end

-- `openssl s_server -www` for one connection on an ephemeral port: the process and port.
-- `cert` names a test certificate, or is a path without ".pem" / ".key".
local function s_server(cert, extra)
  local base = cert:find("/", 1, true) and cert or tls.path(cert)
  local command = ("openssl s_server -accept 127.0.0.1:0 -www -naccept 1 -cert %s -key %s %s 2>/dev/null")
    :format(base .. ".pem", base .. ".key", extra or "")
  local proc = assert(io.popen(command))
  for _ = 1, 20 do
    local line = proc:read("*l")
    if not line then break end
    local port = line:match("^ACCEPT .*:(%d+)$")
    if port then return proc, tonumber(port) end
  end
  error("s_server did not print its port")
end

t.test("blocking ssl.wrap client against openssl s_server", function()
  local proc, port = s_server("localhost")
  local c = assert(socket.connect("127.0.0.1", port))
  local conn = assert(ssl.wrap(c, tls.client()))
  conn:settimeout(10)
  conn:sni("localhost")
  local ok, err = conn:dohandshake()
  local page = ok and conn:send("GET / HTTP/1.0\r\n\r\n") and conn:receive("*a")
  conn:close()
  proc:close()
  t.eq(ok, true, err)
  t.ok(page and page:find("^HTTP/1.0 200 ok"), "s_server's status page")
  t.ok(page:find("Ciphers supported in s_server binary", 1, true), "page body")
end)

t.test("copas client against openssl s_server, and refused when the name is wrong", function()
  local page, refused
  copas.addthread(function()
    local proc, port = s_server("localhost", "-alpn http/1.1")
    local c = copas.wrap(socket.tcp(), tls.client({ alpn = { "http/1.1" } }))
    c:settimeout(10)
    local ok = c:connect("localhost", port)
    if ok then
      t.eq(c:getalpn(), "http/1.1")
      c:send("GET / HTTP/1.0\r\n\r\n")
      page = c:receive("*a")
    end
    c:close()
    proc:close()

  end)
  copas.loop()
  -- The wrapped connect raises on a refused certificate: a thread of its own, whose error
  -- handler takes the error (pcall cannot span a yield on Lua 5.1).
  local proc, port = s_server("wronghost")
  local c = copas.wrap(socket.tcp(), tls.client())
  copas.addthread(function()
    copas.seterrorhandler(function(err) refused = tostring(err) end)
    c:settimeout(10)
    c:connect("localhost", port)
  end)
  copas.loop()
  c:close()
  proc:close()
  t.ok(page and page:find("^HTTP/1.0 200 ok"), "status page: " .. tostring(page))
  t.ok(refused and refused:find("certificate verify failed: Hostname mismatch", 1, true),
    tostring(refused))
end)

-- A blocking client's handshake with an s_server using `cert`, verifying against `cafile`:
-- true, or false and the message.
local function handshake_with(cert, cafile, name)
  local proc, port = s_server(cert)
  local c = assert(socket.connect("127.0.0.1", port))
  local conn = assert(ssl.wrap(c, tls.client({ cafile = cafile })))
  conn:settimeout(10)
  conn:sni(name or "localhost")
  local ok, err = conn:dohandshake()
  conn:close()
  proc:close()
  return ok, err
end

t.test("a self-signed certificate is trusted when it is the cafile, as OpenSSL trusts it", function()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. dir))
  local base = dir .. "/self"
  -- What `openssl req -x509` makes: a CA certificate (CA:TRUE) naming the host in its CN only.
  local made = os.execute(("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost "
    .. "-days 2 -keyout %s.key -out %s.pem >/dev/null 2>&1"):format(base, base))
  t.ok(made == true or made == 0, "openssl req failed")
  t.eq(handshake_with(base, base .. ".pem"), true)
  local ok, err = handshake_with(base, base .. ".pem", "otherhost")
  t.eq(ok, false)
  t.eq(err, "certificate verify failed: Hostname mismatch")
  ok, err = handshake_with(base, tls.path("ca.pem"))
  t.eq(ok, false)
  t.eq(err, "certificate verify failed: self-signed certificate")
  os.execute("rm -rf " .. dir)
end)

t.test("verification failures read like OpenSSL's", function()
  local cases = {
    { "wronghost", "Hostname mismatch" },
    { "expired", "certificate has expired" },
    { "selfsigned", "self-signed certificate" },
  }
  for _, case in ipairs(cases) do
    local ok, err = handshake_with(case[1], tls.path("ca.pem"))
    t.eq(ok, false, case[1])
    t.eq(err, "certificate verify failed: " .. case[2])
  end
  -- Our CA's localhost certificate against an unrelated CA: the issuer is unknown.
  local ok, err = handshake_with("localhost", tls.path("selfsigned.pem"))
  t.eq(ok, false)
  t.eq(err, "certificate verify failed: unable to get local issuer certificate")
end)

-- Runs `openssl s_client` against a Copas TLS server handling one connection with
-- `handler`; returns what s_client printed.
local function s_client_against(params, handler, input, extra)
  local srv = assert(socket.bind("127.0.0.1", 0))
  local _, port = srv:getsockname()
  local finished = false
  copas.addserver(srv, function(skt)
    copas.removeserver(srv)
    copas.handler(handler, params)(skt)
    finished = true
  end, 10)
  local command = ("printf '%s' | openssl s_client -connect 127.0.0.1:%d -CAfile %s -verify_return_error -quiet %s 2>&1")
    :format(input, port, tls.path("ca.pem"), extra or "")
  local proc = assert(io.popen(command))
  -- Against hangs: stop serving if s_client never got through.
  copas.addthread(function()
    for _ = 1, 100 do
      if finished then return end
      copas.sleep(0.1)
    end
    copas.removeserver(srv)
  end)
  copas.loop()
  local out = proc:read("*a")
  proc:close()
  return out
end

t.test("openssl s_client against a copas.handler server", function()
  local line
  local out = s_client_against(tls.server(), function(skt)
    line = skt:receive()
    skt:send("reply " .. tostring(line) .. "\n")
    skt:close()
  end, "hello\\n", "-verify_hostname localhost")
  t.eq(line, "hello")
  t.ok(out:find("reply hello", 1, true), out)
end)

t.test("openssl s_client with TLS 1.2 and ALPN", function()
  local protocol, alpn
  local out = s_client_against(tls.server(nil, { alpn = { "h2", "http/1.1" } }), function(skt)
    skt:receive()
    protocol, alpn = skt.socket:info("protocol"), skt:getalpn()
    skt:send("done\n")
    skt:close()
  end, "x\\n", "-tls1_2 -alpn http/1.1")
  t.ok(out:find("done", 1, true), out)
  t.eq(protocol, "TLSv1.2")
  t.eq(alpn, "http/1.1")
end)

t.run()
