-- copas.http against small servers written here, for what nginx will not do on
-- demand: echoing request bodies (Content-Length and chunked), chunked responses with
-- extensions and trailers sent in small pieces, interim 100 responses, a keep-alive
-- connection closed under the client (retry only when it is safe), and malformed
-- responses, which must give nil, message and never hang.
local t = require("t")
local copas = require("copas")
local socket = require("socket")
local ltn12 = require("ltn12")
local http = require("copas.http")
local harness = require("copas_run")

-- Starts a server; `respond(skt, req, conn)` answers one parsed request and returns
-- true to keep the connection. conn.id numbers connections, conn.n requests on it.
local function serve(respond)
  local srv = assert(socket.bind("127.0.0.1", 0))
  local _, port = srv:getsockname()
  local connections = 0
  copas.addserver(srv, function(raw)
    local skt = copas.wrap(raw)
    skt:settimeout(5)
    connections = connections + 1
    local conn = { id = connections, n = 0 }
    while true do
      local line = skt:receive("*l")
      if not line then return end
      local req = { headers = {} }
      req.method, req.uri = line:match("^(%S+) (%S+) HTTP/1%.1$")
      while true do
        local h = skt:receive("*l")
        if not h or h == "" then break end
        local name, value = h:match("^([^:]+):%s*(.*)$")
        req.headers[name:lower()] = value
      end
      local body = {}
      if req.headers["content-length"] then
        body[1] = skt:receive(tonumber(req.headers["content-length"]))
      elseif req.headers["transfer-encoding"] == "chunked" then
        for _ = 1, 100000 do
          local size = tonumber(skt:receive("*l"), 16)
          if not size or size == 0 then
            skt:receive("*l")
            break
          end
          body[#body + 1] = skt:receive(size)
          skt:receive("*l")
        end
      end
      req.body = table.concat(body)
      conn.n = conn.n + 1
      if not respond(skt, req, conn) then return end
    end
  end)
  return "http://127.0.0.1:" .. port, srv
end

local function reply(skt, body, extra)
  skt:send("HTTP/1.1 200 OK\r\nContent-Length: " .. #body .. "\r\n" .. (extra or "") .. "\r\n" .. body)
  return true
end

t.test("POST simple form: body, content-type and length arrive", function()
  harness.run(function()
    local base, srv = serve(function(skt, req)
      return reply(skt, req.method .. "|" .. req.headers["content-type"] .. "|" ..
        req.headers["content-length"] .. "|" .. req.body)
    end)
    local body, code = http.request(base .. "/form", "a=1&b=2")
    http.closeidle()
    copas.removeserver(srv)
    t.eq(code, 200)
    t.eq(body, "POST|application/x-www-form-urlencoded|7|a=1&b=2")
  end)
end)

t.test("POST with a source and no length goes chunked", function()
  harness.run(function()
    local base, srv = serve(function(skt, req)
      return reply(skt, tostring(req.headers["transfer-encoding"]) .. "|" .. req.body)
    end)
    local pieces = { "one ", "", "two ", string.rep("x", 70000) }
    local i = 0
    local out = {}
    local ok, code = http.request({
      url = base .. "/upload",
      method = "POST",
      source = function()
        i = i + 1
        return pieces[i]
      end,
      sink = ltn12.sink.table(out),
    })
    http.closeidle()
    copas.removeserver(srv)
    t.eq({ ok, code }, { 1, 200 })
    t.ok(table.concat(out) == "chunked|one two " .. string.rep("x", 70000), "echoed body differs")
  end)
end)

t.test("repeated header fields are joined with ', ', names lowercased", function()
  harness.run(function()
    local base, srv = serve(function(skt)
      return reply(skt, "ok", "X-Dup: a\r\nSet-Cookie: s=1\r\nx-dup: b\r\nX-DUP: c\r\n")
    end)
    local body, code, headers = http.request(base .. "/dup")
    http.closeidle()
    copas.removeserver(srv)
    t.eq({ body, code }, { "ok", 200 })
    t.eq(headers["x-dup"], "a, b, c")
    t.eq(headers["set-cookie"], "s=1")
    t.eq(headers["content-length"], "2")
  end)
end)

t.test("chunked response with extensions and trailers, sent in small pieces", function()
  harness.run(function()
    local base, srv = serve(function(skt)
      local raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n" ..
        "5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nX-Checksum: 42\r\n\r\n"
      for i = 1, #raw, 3 do
        skt:send(raw:sub(i, i + 2))
        copas.pause(0.001)
      end
      return true
    end)
    local body, code, headers = http.request(base .. "/c")
    http.closeidle()
    copas.removeserver(srv)
    t.eq(body, "hello, world")
    t.eq(code, 200)
    t.eq(headers["x-checksum"], "42")
    t.eq(headers["x-a"], "1")
  end)
end)

t.test("100 Continue is skipped; HTTP/1.0 body runs until close", function()
  harness.run(function()
    local base, srv = serve(function(skt, req)
      if req.uri == "/continue" then
        skt:send("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return true
      end
      skt:send("HTTP/1.0 200 OK\r\nX: y\r\n\r\nuntil the end")
      return false
    end)
    local body, code, _, status = http.request(base .. "/continue")
    t.eq({ body, code, status }, { "ok", 200, "HTTP/1.1 200 OK" })
    body, code, _, status = http.request(base .. "/old")
    t.eq({ body, code, status }, { "until the end", 200, "HTTP/1.0 200 OK" })
    http.closeidle()
    copas.removeserver(srv)
  end)
end)

t.test("stale keep-alive connection: GET is retried on a new one, POST is not", function()
  harness.run(function()
    -- The first request on a connection is answered and the connection kept; the
    -- next one is read and the connection closed without an answer.
    local base, srv = serve(function(skt, req, conn)
      if conn.n > 1 then return false end
      return reply(skt, req.method .. " on " .. conn.id)
    end)
    http.closeidle()
    t.eq(http.request(base .. "/a"), "GET on 1")
    t.eq(http.idlecount(), 1)
    t.eq(http.request(base .. "/b"), "GET on 2")
    t.nilmsg("closed", http.request(base .. "/c", "x=1"))
    http.closeidle()
    copas.removeserver(srv)
    http.closeidle()
  end)
end)

t.test("an idle connection the server closed or wrote on is not reused, even for a POST", function()
  harness.run(function()
    -- Each answer says the connection stays, and then the server closes it (/close)
    -- or sends bytes nobody asked for (/junk): a POST, which is never sent twice,
    -- only succeeds when the client sees that before choosing the connection.
    -- The server acts 0.05 s after answering, before the client's next request
    -- 0.1 s later (one loop runs both: the timers keep that order).
    local base, srv = serve(function(skt, req, conn)
      reply(skt, req.method .. " on " .. conn.id)
      if req.uri == "/keep" then return true end
      copas.pause(0.05)
      if req.uri == "/junk" then
        skt:send("junk")
        return true
      end
      return false
    end)
    http.closeidle()
    t.eq(http.request(base .. "/close"), "GET on 1")
    t.eq(http.idlecount(), 1)
    copas.pause(0.1)
    t.eq(http.request(base .. "/junk", "x=1"), "POST on 2")
    copas.pause(0.1)
    t.eq(http.request(base .. "/keep", "x=1"), "POST on 3")
    t.eq(http.request(base .. "/keep", "x=1"), "POST on 3")
    http.closeidle()
    copas.removeserver(srv)
  end)
end)

t.test("a reused connection takes each request's timeout", function()
  harness.run(function()
    -- /slow answers after 0.6 s: within the second request's timeout, beyond the
    -- first one's, which the pooled connection was made with.
    local base, srv = serve(function(skt, req, conn)
      if req.uri == "/slow" then copas.pause(0.6) end
      return reply(skt, "on " .. conn.id)
    end)
    http.closeidle()
    t.eq(http.request({ url = base .. "/fast", timeout = 0.3 }), 1)
    t.eq(http.idlecount(), 1)
    local parts = {}
    local ok, code = http.request({ url = base .. "/slow", timeout = 5, sink = ltn12.sink.table(parts) })
    t.eq({ ok, code, table.concat(parts) }, { 1, 200, "on 1" })
    http.closeidle()
    copas.removeserver(srv)
  end)
end)

t.test("a wrong request field is reported in a fixed order, inherited ones too", function()
  t.err("field 'url': string expected, got number", http.request, { url = 1, timeout = "x", method = 2 })
  t.err("field 'method': string expected, got number", http.request,
    setmetatable({ url = "http://127.0.0.1/" }, { __index = { method = 5 } }))
  t.err("field 'timeout': number or table expected, got string", http.request,
    { url = "http://127.0.0.1/", timeout = "x", [1] = true })
end)

t.test("redirects between servers, relative and absolute", function()
  harness.run(function()
    local target, srv2 = serve(function(skt, req) return reply(skt, "at " .. req.uri) end)
    local base, srv1 = serve(function(skt, req)
      if req.uri == "/dir/abs" then
        skt:send("HTTP/1.1 307 Temporary\r\nLocation: " .. target .. "/there\r\nContent-Length: 0\r\n\r\n")
      else
        skt:send("HTTP/1.1 303 See Other\r\nLocation: abs\r\nContent-Length: 0\r\n\r\n")
      end
      return true
    end)
    local body, code, headers = http.request(base .. "/dir/start")
    http.closeidle()
    copas.removeserver(srv1)
    copas.removeserver(srv2)
    t.eq(code, 200)
    t.eq(body, "at /there")
    t.eq(headers.location, target .. "/there")
  end)
end)

t.test("proxy gets the absolute URL; user:password becomes Basic authorization", function()
  harness.run(function()
    local base, srv = serve(function(skt, req)
      return reply(skt, req.uri .. "|" .. req.headers.host .. "|" .. tostring(req.headers.authorization))
    end)
    local parts = {}
    local ok, code = http.request({
      url = "http://example.invalid:8080/x?y=1", proxy = base, sink = ltn12.sink.table(parts),
    })
    t.eq({ ok, code }, { 1, 200 })
    t.eq(table.concat(parts), "http://example.invalid:8080/x?y=1|example.invalid:8080|nil")
    local body = http.request((base:gsub("//", "//user:p%%40ss@")) .. "/auth")
    t.eq(body, "/auth|" .. base:match("//(.*)$") .. "|Basic dXNlcjpwQHNz")
    http.closeidle()
    copas.removeserver(srv)
  end)
end)

t.test("a header value with CR LF is refused before anything is sent", function()
  local v, msg = http.request({ url = "http://127.0.0.1/", headers = { ["x-a"] = "1\r\nX-Evil: 2" } })
  t.eq(v, nil)
  t.ok(msg:find("invalid request header value"), msg)
end)

local MALFORMED = {
  { "bad status line", "HTTX/1.1 200 OK\r\n\r\n", "malformed status line: 'HTTX/1.1 200 OK'" },
  { "status code not a number", "HTTP/1.1 2x0 OK\r\n\r\n", "malformed status line: 'HTTP/1.1 2x0 OK'" },
  { "binary garbage", "\0\1\2\255\254 garbage\r\n\r\n", "^malformed status line" },
  { "oversized headers", "HTTP/1.1 200 OK\r\nX-Big: " .. string.rep("a", 100000) .. "\r\n\r\n",
    "response headers too large (more than 65536 bytes)" },
  { "too many headers", "HTTP/1.1 200 OK\r\n" .. string.rep("X-H: v\r\n", 200) .. "\r\n",
    "too many response headers (more than 100)" },
  { "truncated chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
    "connection closed before the end of the response (chunked body, 3 bytes received, last chunk missing)" },
  { "bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
    "invalid chunk size: 'zz'" },
  { "chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n",
    "malformed chunked body: missing CRLF after chunk data" },
  { "content-length larger than the body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc",
    "connection closed before the end of the response (content-length 100, received 3)" },
  { "negative content-length", "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nabc",
    "invalid content-length: '-5'" },
  { "conflicting content-lengths", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "invalid content-length: conflicting values" },
  { "nothing at all", "", "closed" },
  { "head cut short", "HTTP/1.1 200 OK\r\nX-A: 1", "connection closed before the end of the response (in the response head)" },
}

t.test("malformed responses give nil, message", function()
  harness.run(function()
    local base, srv = serve(function(skt, req)
      local case = MALFORMED[tonumber(req.uri:match("%d+"))]
      skt:send(case[2])
      return false
    end)
    for i, case in ipairs(MALFORMED) do
      local v, msg = http.request(base .. "/" .. i)
      t.eq(v, nil, case[1])
      if case[3]:sub(1, 1) == "^" then
        t.ok(msg:find(case[3]), case[1] .. ": " .. tostring(msg))
      else
        t.eq(msg, case[3], case[1])
      end
    end
    http.closeidle()
    copas.removeserver(srv)
  end)
end)

t.test("a response that stops without closing ends in a timeout", function()
  harness.run(function()
    local finished = false
    local base, srv = serve(function(skt)
      skt:send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
      for _ = 1, 200 do
        if finished then break end
        copas.pause(0.05)
      end
      return false
    end)
    t.nilmsg("timeout", http.request({ url = base .. "/", timeout = 0.3 }))
    finished = true
    http.closeidle()
    copas.removeserver(srv)
  end)
end)

t.test("a timeout bounds each wait for the body, not the whole transfer", function()
  -- 40 pieces 25 ms apart take about 1 s, twice the timeout; no wait is longer than
  -- 25 ms. Both a Content-Length body and one that runs until close.
  local piece = ("p"):rep(100)
  harness.run(function()
    local base, srv = serve(function(skt, req)
      if req.uri == "/length" then
        skt:send("HTTP/1.1 200 OK\r\nContent-Length: " .. 40 * #piece .. "\r\n\r\n")
      else
        skt:send("HTTP/1.0 200 OK\r\n\r\n")
      end
      for _ = 1, 40 do
        copas.pause(0.025)
        skt:send(piece)
      end
      return false
    end)
    for _, path in ipairs({ "/length", "/close" }) do
      local chunks = {}
      local ok, code = http.request({ url = base .. path, timeout = 0.5, sink = ltn12.sink.table(chunks) })
      t.eq({ ok, code }, { 1, 200 }, path)
      local body = table.concat(chunks)
      t.ok(body == piece:rep(40), path .. ": " .. #body .. " bytes")
    end
    http.closeidle()
    copas.removeserver(srv)
  end)
end)

t.run()
