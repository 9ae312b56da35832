-- ssl.https (LuaSec's https module) against nginx with TLS: the simple and generic
-- forms, LuaSec's refusals, a 5 MiB body byte-exact, redirects, a refused unknown CA and
-- the verify = "none" opt-out, blocking and inside a Copas thread.
-- Skips when nginx or the test certificates are missing.
local t = require("t")
local nginx = require("nginx")
local ltn12 = require("ltn12")
local copas = require("copas")
local https = require("ssl.https")
local harness = require("copas_run")

local certs = os.getenv("COPAS_TEST_CERTS")
local BIG = string.rep("0123456789abcdef", 5 * 65536) -- 5 MiB

local tls, why
if not certs then
  why = "COPAS_TEST_CERTS is not set (run through cargo xtask test-lua)"
else
  tls, why = nginx.start({
    files = { ["hello.txt"] = "hello, https\n", ["big.bin"] = BIG },
    tls = { cert = certs .. "/localhost.pem", key = certs .. "/localhost.key" },
    server = "location = /moved { return 302 /hello.txt; }",
  })
end
local CA = certs and (certs .. "/ca.pem")

local function test(name, f)
  t.test(name, function()
    if not tls then return nginx.skip(why) end
    f()
  end)
end

test("module fields as LuaSec's", function()
  t.eq(https.PORT, 443)
  t.eq(https.TIMEOUT, 60)
  t.eq(https._VERSION, "1.3.2")
  t.eq(type(https.tcp), "function")
end)

test("generic form with the test CA: code, headers, status and body", function()
  local parts = {}
  local ok, code, headers, status = https.request({
    url = tls.url("/hello.txt", "localhost"), cafile = CA, sink = ltn12.sink.table(parts),
  })
  t.eq(ok, 1)
  t.eq(code, 200)
  t.eq(headers["content-length"], "13")
  t.ok(status:find("^HTTP/1.1 200"), status)
  t.eq(table.concat(parts), "hello, https\n")
end)

test("a 5 MiB body, byte-exact, and a redirect followed", function()
  local parts = {}
  local ok, code = https.request({
    url = tls.url("/big.bin", "localhost"), cafile = CA, sink = ltn12.sink.table(parts),
  })
  t.eq({ ok, code }, { 1, 200 })
  t.ok(table.concat(parts) == BIG, "the body differs")
  parts = {}
  ok, code = https.request({
    url = tls.url("/moved", "localhost"), cafile = CA, sink = ltn12.sink.table(parts),
  })
  t.eq({ ok, code, table.concat(parts) }, { 1, 200, "hello, https\n" })
end)

test("the default verification refuses an unknown CA; verify = 'none' opts out", function()
  local ok, err = https.request(tls.url("/hello.txt", "localhost"))
  t.eq(ok, nil)
  t.ok(tostring(err):find("certificate verify failed: unable to get local issuer certificate",
    1, true), tostring(err))
  local body, code = https.request({ url = tls.url("/hello.txt", "localhost"), verify = "none",
    sink = ltn12.sink.null() })
  t.eq({ body, code }, { 1, 200 })
end)

test("LuaSec's refusals", function()
  local u = tls.url("/hello.txt", "localhost")
  t.eq({ https.request({ url = u, proxy = "http://127.0.0.1:1" }) }, { nil, "proxy not supported" })
  t.eq({ https.request({ url = u, redirect = true }) }, { nil, "redirect not supported" })
  t.eq({ https.request({ url = u, create = function() end }) },
    { nil, "create function not permitted" })
end)

test("a request inside a Copas thread lets the other threads run", function()
  local body, code, ticks = nil, nil, 0
  harness.run(function()
    local done = false
    copas.addthread(function()
      while not done do ticks = ticks + 1; copas.pause(0.001) end
    end)
    body, code = https.request({ url = tls.url("/big.bin", "localhost"), cafile = CA,
      sink = ltn12.sink.null() })
    done = true
  end)
  t.eq({ body, code }, { 1, 200 })
  t.ok(ticks > 0, "the other thread never ran while the request waited")
end)

test("tcp(params) makes a create function for socket.http", function()
  local http = require("socket.http")
  local parts = {}
  local ok, code = http.request({
    url = "http://localhost:" .. tls.port .. "/hello.txt",
    create = https.tcp({ cafile = CA }),
    sink = ltn12.sink.table(parts),
  })
  t.eq({ ok, code, table.concat(parts) }, { 1, 200, "hello, https\n" })
end)

t.run(function()
  if tls then tls.stop() end
end)
