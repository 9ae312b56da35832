-- HTTPS with socket.http and copas.http against nginx with TLS, using the test
-- certificates from COPAS_TEST_CERTS (made by `cargo xtask test-lua`): verification by
-- default, a CA file, verify = "none", keep-alive over TLS, a large body, and redirects
-- between http and https (https -> http only with redirect = "all" in copas.http).
-- Skips when the `ssl` module, the certificates or nginx are missing.
local t = require("t")
local nginx = require("nginx")
local ltn12 = require("ltn12")
local copas = require("copas")
local http = require("socket.http")
local chttp = require("copas.http")
local harness = require("copas_run")

local certs = os.getenv("COPAS_TEST_CERTS")
local has_ssl, ssl_err = pcall(require, "ssl")

local BIG = string.rep("0123456789abcdef", 65536) -- 1 MiB

local plain, tls, why
if not has_ssl then
  why = "the 'ssl' module is not available: " .. tostring(ssl_err):match("^[^\n]*")
elseif not certs then
  why = "COPAS_TEST_CERTS is not set (run through cargo xtask test-lua)"
else
  local files = { ["hello.txt"] = "hello, tls\n", ["big.bin"] = BIG }
  plain, why = nginx.start({
    files = files,
    server = "location = /to-https { return 302 https://127.0.0.1:$arg_port/hello.txt; }",
  })
  if plain then
    tls, why = nginx.start({
      files = files,
      tls = { cert = certs .. "/localhost.pem", key = certs .. "/localhost.key" },
      server = "location = /to-http { return 302 " .. plain.url("/hello.txt") .. "; }",
    })
  end
end

local CA = certs and (certs .. "/ca.pem")

local function both(name, f)
  t.test("socket.http: " .. name, function()
    if not tls then return nginx.skip(why) end
    f(http)
    http.closeidle()
  end)
  t.test("copas.http: " .. name, function()
    if not tls then return nginx.skip(why) end
    harness.run(function()
      f(chttp)
      chttp.closeidle()
    end)
  end)
end

both("GET over TLS with the test CA (LuaSec-style field)", function(h)
  local parts = {}
  local ok, code, headers, status = h.request({
    url = tls.url("/hello.txt"), cafile = CA, sink = ltn12.sink.table(parts),
  })
  t.eq({ ok, code, status }, { 1, 200, "HTTP/1.1 200 OK" })
  t.eq(table.concat(parts), "hello, tls\n")
  t.eq(headers["content-length"], "11")
end)

both("GET by host name sends SNI and checks the name (Copas-style sslparams)", function(h)
  local parts = {}
  local ok, code = h.request({
    url = tls.url("/hello.txt", "localhost"),
    sslparams = { wrap = { cafile = CA } },
    sink = ltn12.sink.table(parts),
  })
  t.eq({ ok, code }, { 1, 200 })
  t.eq(table.concat(parts), "hello, tls\n")
end)

both("the server is verified by default", function(h)
  local v, msg = h.request(tls.url("/hello.txt"))
  t.eq(v, nil)
  t.ok(tostring(msg):find("certificate verify failed"), msg)
end)

both("verify = 'none' accepts the server", function(h)
  local body, code = h.request({ url = tls.url("/hello.txt"), verify = "none", sink = ltn12.sink.null() })
  t.eq({ body, code }, { 1, 200 })
end)

both("1 MiB over TLS byte for byte, and keep-alive", function(h)
  local tag = h == http and "s" or "c"
  for i = 1, 3 do
    local parts = {}
    local ok, code = h.request({
      url = tls.url("/big.bin?tls=" .. tag .. i), cafile = CA, sink = ltn12.sink.table(parts),
    })
    t.eq({ ok, code }, { 1, 200 })
    t.ok(table.concat(parts) == BIG, "body differs")
  end
  local connections, seen = {}, 0
  local pattern = "^(%d+) %d+ GET /big.bin%?tls=" .. tag .. "%d "
  for _, line in ipairs(tls.log(pattern, 3)) do
    local conn = line:match(pattern)
    if conn then
      seen = seen + 1
      connections[conn] = true
    end
  end
  local count = 0
  for _ in pairs(connections) do count = count + 1 end
  t.eq({ seen, count }, { 3, 1 })
end)

both("different TLS settings do not share pooled connections", function(h)
  h.closeidle()
  t.eq(h.request({ url = tls.url("/hello.txt"), cafile = CA, sink = ltn12.sink.null() }), 1)
  t.eq(h.request({ url = tls.url("/hello.txt"), verify = "none", sink = ltn12.sink.null() }), 1)
  t.eq(h.idlecount(), 2)
  t.eq(h.request({ url = tls.url("/hello.txt"), cafile = CA, sink = ltn12.sink.null() }), 1)
  t.eq(h.idlecount(), 2)
end)

t.test("copas.http: http -> https redirect is followed", function()
  if not tls then return nginx.skip(why) end
  harness.run(function()
    local parts = {}
    local ok, code = chttp.request({
      url = plain.url("/to-https?port=" .. tls.port), cafile = CA, sink = ltn12.sink.table(parts),
    })
    chttp.closeidle()
    t.eq({ ok, code }, { 1, 200 })
    t.eq(table.concat(parts), "hello, tls\n")
  end)
end)

t.test("copas.http: https -> http only with redirect = 'all'", function()
  if not tls then return nginx.skip(why) end
  harness.run(function()
    t.nilmsg("Unallowed insecure redirect https to http",
      chttp.request({ url = tls.url("/to-http"), cafile = CA }))
    local parts = {}
    local ok, code = chttp.request({
      url = tls.url("/to-http"), cafile = CA, redirect = "all", sink = ltn12.sink.table(parts),
    })
    chttp.closeidle()
    t.eq({ ok, code }, { 1, 200 })
    t.eq(table.concat(parts), "hello, tls\n")
  end)
end)

-- Copas 4.1: http.getcreatefunc(params) gives the `create` function requests use, so
-- that a program can get hold of the socket (to change its timeouts, or close a stream).
t.test("copas.http: getcreatefunc gives the socket a request runs on", function()
  if not tls then return nginx.skip(why) end
  harness.run(function()
    local params = { sslparams = { wrap = { cafile = CA } } }
    local base = chttp.getcreatefunc(params)
    local made = {}
    local function create(reqt)
      local sock, err = base(reqt)
      made[#made + 1] = sock
      return sock, err
    end
    local parts = {}
    local ok, code = chttp.request({ url = tls.url("/hello.txt"), create = create, sink = ltn12.sink.table(parts) })
    t.eq({ ok, code }, { 1, 200 })
    t.eq(table.concat(parts), "hello, tls\n")
    t.eq(#made, 1)
    t.ok(tostring(made[1]):find("^SSL.*%(copas wrapped%)$"), tostring(made[1]))
    ok, code = chttp.request({ url = plain.url("/hello.txt"), create = chttp.getcreatefunc(), sink = ltn12.sink.null() })
    t.eq({ ok, code }, { 1, 200 })
    -- After https, the same function refuses plain http unless redirect = "all".
    local refused, err = base({ url = plain.url("/hello.txt") })
    t.eq({ refused, err }, { nil, "Unallowed insecure redirect https to http" })
  end)
end)

t.test("socket.http: https -> http is not followed", function()
  if not tls then return nginx.skip(why) end
  local ok, code, headers = http.request({ url = tls.url("/to-http"), cafile = CA, sink = ltn12.sink.null() })
  http.closeidle()
  t.eq({ ok, code }, { 1, 302 })
  t.eq(headers.location, plain.url("/hello.txt"))
end)

t.test("stop nginx", function()
  if tls then tls.stop() end
  if plain then plain.stop() end
end)

t.run()
