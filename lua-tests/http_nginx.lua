-- socket.http and copas.http against a real nginx on loopback: simple and generic
-- forms, HEAD, redirects, chunked responses, a 5 MiB file byte for byte, uploads with
-- Content-Length and chunked, and connection reuse (counted in nginx's access log).
local t = require("t")
local nginx = require("nginx")
local ltn12 = require("ltn12")
local copas = require("copas")
local http = require("socket.http")
local chttp = require("copas.http")

-- A 5 MiB body whose every 264-byte block is numbered, so a lost, doubled or
-- reordered block shows.
local function big_body()
  local bytes = {}
  for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
  local block = table.concat(bytes)
  local parts = {}
  local size = 0
  local i = 0
  while size < 5 * 1024 * 1024 do
    i = i + 1
    parts[i] = string.format("%08d", i) .. block
    size = size + 264
  end
  return table.concat(parts)
end

local BIG = big_body()
local FILTERED = string.rep("xxAAAyy ", 20000)

local srv, why = nginx.start({
  files = {
    ["hello.txt"] = "hello, world\n",
    ["big.bin"] = BIG,
    ["chunked/text.txt"] = FILTERED,
    ["empty.txt"] = "",
  },
  server = [[
    location = /r1 { return 301 /r2; }
    location = /r2 { return 302 /hello.txt; }
    location = /loop { return 302 /loop; }
    location = /post { return 200 "posted"; }
    location = /status204 { return 204; }
    location /chunked/ { sub_filter 'AAA' 'BBBB'; sub_filter_once off; sub_filter_types *; }
    location /dav/ {
      dav_methods PUT DELETE;
      create_full_put_path on;
      client_max_body_size 64m;
    }
  ]],
})

local harness = require("copas_run")

-- Both modules, inside Copas for copas.http.
local function both(name, f)
  t.test("socket.http: " .. name, function()
    if not srv then return nginx.skip(why) end
    f(http)
  end)
  t.test("copas.http: " .. name, function()
    if not srv then return nginx.skip(why) end
    harness.run(function() f(chttp) end)
  end)
end

both("simple form GET returns body, code, headers, status", function(h)
  local body, code, headers, status = h.request(srv.url("/hello.txt"))
  t.eq(body, "hello, world\n")
  t.eq(code, 200)
  t.eq(headers["content-length"], "13")
  t.eq(status, "HTTP/1.1 200 OK")
  t.eq(type(headers.server), "string")
end)

both("generic form GET with a sink and custom headers", function(h)
  local parts = {}
  local ok, code, headers = h.request({
    url = srv.url("/hello.txt"),
    sink = ltn12.sink.table(parts),
    headers = { ["X-Test"] = "1" },
  })
  t.eq(ok, 1)
  t.eq(code, 200)
  t.eq(table.concat(parts), "hello, world\n")
  t.eq(headers["content-type"], "text/plain")
end)

both("a host name is resolved (in Copas: off the loop)", function(h)
  local body, code = h.request(srv.url("/hello.txt", "localhost"))
  t.eq({ body, code }, { "hello, world\n", 200 })
end)

both("404 is a response, not an error", function(h)
  local body, code = h.request(srv.url("/missing"))
  t.eq(code, 404)
  t.ok(body:find("404"))
end)

both("HEAD has headers and no body", function(h)
  local called = 0
  local ok, code, headers = h.request({
    url = srv.url("/big.bin"),
    method = "HEAD",
    sink = function() called = called + 1 return 1 end,
  })
  t.eq(ok, 1)
  t.eq(code, 200)
  t.eq(headers["content-length"], tostring(#BIG))
  t.eq(called, 0)
end)

both("204 and an empty file", function(h)
  local body, code = h.request(srv.url("/status204"))
  t.eq({ body, code }, { "", 204 })
  body, code = h.request(srv.url("/empty.txt"))
  t.eq({ body, code }, { "", 200 })
end)

both("301 then 302 are followed", function(h)
  local body, code, headers = h.request(srv.url("/r1"))
  t.eq(code, 200)
  t.eq(body, "hello, world\n")
  t.ok(headers.location, "location hint of the redirect")
end)

both("maxredirects and redirect = false stop early", function(h)
  local parts = {}
  local ok, code, headers = h.request({ url = srv.url("/r1"), maxredirects = 1, sink = ltn12.sink.table(parts) })
  t.eq({ ok, code }, { 1, 302 })
  t.ok(headers.location:find("/hello.txt$"))
  ok, code, headers = h.request({ url = srv.url("/r1"), redirect = false })
  t.eq({ ok, code }, { 1, 301 })
  t.ok(headers.location:find("/r2$"))
  local _, loop_code = h.request(srv.url("/loop"))
  t.eq(loop_code, 302)
end)

both("chunked response from nginx (sub_filter)", function(h)
  local body, code, headers = h.request(srv.url("/chunked/text.txt"))
  t.eq(code, 200)
  t.eq(headers["transfer-encoding"], "chunked")
  t.eq(headers["content-length"], nil)
  t.ok(body == (FILTERED:gsub("AAA", "BBBB")), "filtered body differs")
end)

both("5 MiB file byte for byte", function(h)
  local body, code = h.request(srv.url("/big.bin"))
  t.eq(code, 200)
  t.eq(#body, #BIG)
  t.ok(body == BIG, "body differs")
end)

both("PUT with Content-Length and chunked, read back exactly", function(h)
  local name = h == http and "s" or "c"
  local ok, code = h.request({
    url = srv.url("/dav/" .. name .. "-length.bin"),
    method = "PUT",
    source = ltn12.source.string(BIG),
    headers = { ["content-length"] = #BIG },
  })
  t.eq({ ok, code }, { 1, 201 })
  local pieces, n = {}, 0
  for i = 1, #BIG, 100000 do
    n = n + 1
    pieces[n] = BIG:sub(i, i + 99999)
  end
  local i = 0
  ok, code = h.request({
    url = srv.url("/dav/" .. name .. "-chunked.bin"),
    method = "PUT",
    source = function()
      i = i + 1
      return pieces[i]
    end,
  })
  t.eq({ ok, code }, { 1, 201 })
  t.ok(h.request(srv.url("/dav/" .. name .. "-length.bin")) == BIG, "length upload differs")
  t.ok(h.request(srv.url("/dav/" .. name .. "-chunked.bin")) == BIG, "chunked upload differs")
end)

both("simple form POST", function(h)
  local body, code = h.request(srv.url("/post"), "a=1&b=2")
  t.eq({ body, code }, { "posted", 200 })
end)

both("keep-alive: sequential requests share one connection", function(h)
  h.closeidle()
  local tag = h == http and "s" or "c"
  for i = 1, 5 do
    local body, code = h.request(srv.url("/hello.txt?ka=" .. tag .. i))
    t.eq({ body, code }, { "hello, world\n", 200 })
  end
  t.eq(h.idlecount(), 1)
  local connections = {}
  local seen = 0
  local pattern = "^(%d+) %d+ GET /hello.txt%?ka=" .. tag .. "%d "
  for _, line in ipairs(srv.log(pattern, 5)) do
    local conn = line:match(pattern)
    if conn then
      seen = seen + 1
      connections[conn] = true
    end
  end
  t.eq(seen, 5)
  local count = 0
  for _ in pairs(connections) do count = count + 1 end
  t.eq(count, 1, "connections used")
  h.closeidle()
  t.eq(h.idlecount(), 0)
end)

both("Connection: close from the caller is honoured", function(h)
  h.closeidle()
  local body = h.request({ url = srv.url("/hello.txt"), headers = { connection = "close" }, sink = ltn12.sink.null() })
  t.eq(body, 1)
  t.eq(h.idlecount(), 0)
end)

both("errors: refused connection, bad scheme, bad URL", function(h)
  local s = require("socket").bind("127.0.0.1", 0)
  local _, port = s:getsockname()
  s:close()
  t.nilmsg("connection refused", h.request("http://127.0.0.1:" .. port .. "/"))
  t.nilmsg("unsupported scheme 'ftp'", h.request("ftp://127.0.0.1/"))
  local v, msg = h.request("not a url")
  t.eq(v, nil)
  t.ok(msg:find("invalid url"), msg)
end)

t.test("copas.http outside a Copas thread blocks like socket.http", function()
  if not srv then return nginx.skip(why) end
  local body, code = chttp.request(srv.url("/hello.txt"))
  t.eq({ body, code }, { "hello, world\n", 200 })
  chttp.closeidle()
end)

t.test("argument errors are raised", function()
  t.err("bad argument #1 to 'request' %(string or table expected, got nil%)", http.request)
  t.err("bad argument #2 to 'request' %(string expected, got table%)", http.request, "http://x/", {})
  t.err("field 'sink': function expected, got string", http.request, { url = "http://x/", sink = "no" })
  t.err("field 'url' missing", chttp.request, {})
  t.err("'foo' is not a valid timeout option", chttp.request, { url = "http://x/", timeout = { foo = 1 } })
end)

t.test("module constants", function()
  t.eq(http.TIMEOUT, 60)
  t.eq(http.PORT, 80)
  t.ok(http.USERAGENT:find("^LuaSocket"))
  t.eq(chttp.SSLPORT, 443)
  t.ok(copas.http == chttp)
end)

t.test("stop nginx", function()
  if srv then srv.stop() end
end)

t.run()
