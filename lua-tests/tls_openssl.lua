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
local function s_server(cert, extra)
  local command = ("openssl s_server -accept 127.0.0.1:0 -www -naccept 1 -cert %s -key %s %s 2>/dev/null")
    :format(tls.path(cert .. ".pem"), tls.path(cert .. ".key"), extra or "")
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
  t.ok(refused and refused:find("certificate verify failed: hostname mismatch", 1, true),
    tostring(refused))
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
