-----------------------------------------------------------------------------
-- socket.http.client: the HTTP/1.1 client behind `socket.http` and `copas.http`.
--
-- `new("socket")` makes a client whose sockets block (LuaSocket's socket.http);
-- `new("copas")` one whose sockets come from copas.wrap, so a request made inside a
-- Copas task yields to the loop while it waits, and blocks like socket.http outside.
-- Lua does every read and write on the socket object; the byte-level work (URLs,
-- request head, chunk framing, response parsing with size limits) is Rust, in
-- socket.http.core. Idle connections are pooled per scheme, host, port and TLS
-- settings, and reused when the server allows.
--
--   local http = require("socket.http")
--   local body, code, headers, status = http.request("http://127.0.0.1:8080/")
-----------------------------------------------------------------------------

local socket = require("socket")
local ltn12 = require("ltn12")
local mime = require("mime")
local url = require("socket.url")
local canonic = require("socket.headers").canonic
local core = require("socket.http.core")

local type, tostring, tonumber, pairs, ipairs, error, pcall, getmetatable =
  type, tostring, tonumber, pairs, ipairs, error, pcall, getmetatable
local concat, sort, remove = table.concat, table.sort, table.remove
local lower, find, format, min = string.lower, string.find, string.format, math.min

-- Bytes asked of the socket at a time when a body runs on.
local BLOCK = 65536
-- Idle connections kept per pool key, and for how long.
local POOL_MAX = 16
local POOL_IDLE = 30
-- Methods that may be sent again when a reused connection turns out to be closed.
local IDEMPOTENT = { GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true, TRACE = true }
local REDIRECT_CODES = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }
-- TLS parameters that may be given directly in the request table (LuaSec's https and
-- older Copas releases take them there).
local TLS_FIELDS = { "protocol", "options", "verify", "cafile", "capath", "certificate", "key",
  "ciphers", "ciphersuites", "curve", "depth", "alpn" }
-- pcall lets the protected function yield everywhere but on PUC Lua 5.1.
local PCALL_YIELDS = _VERSION ~= "Lua 5.1" or type(_G.jit) == "table"

local function callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and type(mt.__call) == "function"
end

local function check_field(reqt, name, ok, expected)
  if reqt[name] ~= nil and not ok(reqt[name]) then
    error(format("bad argument #1 to 'request' (field '%s': %s expected, got %s)",
      name, expected, type(reqt[name])), 4)
  end
end

local function is_string(v) return type(v) == "string" end
local function is_table(v) return type(v) == "table" end
local function is_number(v) return type(v) == "number" end
local function is_redirect(v) return type(v) == "boolean" or v == "all" end
local function is_maxredirects(v) return v == false or is_number(v) end
local function is_timeout(v) return is_number(v) or is_table(v) end

-- The request fields with a required type, in the order a wrong one is reported.
local FIELDS = {
  { "url", is_string, "string" },
  { "method", is_string, "string" },
  { "headers", is_table, "table" },
  { "sink", callable, "function" },
  { "source", callable, "function" },
  { "step", callable, "function" },
  { "create", callable, "function" },
  { "proxy", is_string, "string" },
  { "sslparams", is_table, "table" },
  { "redirect", is_redirect, "boolean or 'all'" },
  { "maxredirects", is_maxredirects, "number or false" },
  { "timeout", is_timeout, "number or table" },
}
local FIELD_CHECK = {}
for _, field in ipairs(FIELDS) do FIELD_CHECK[field[1]] = field[2] end

local function check_request(reqt)
  -- A plain table is checked by the fields it has (a request sets a few of the
  -- dozen); one with a metatable, whose fields may come from __index, by all.
  local check_all = getmetatable(reqt) ~= nil
  if not check_all then
    for name, value in pairs(reqt) do
      local ok = FIELD_CHECK[name]
      if ok and not ok(value) then
        check_all = true
        break
      end
    end
  end
  if check_all then
    for _, field in ipairs(FIELDS) do check_field(reqt, field[1], field[2], field[3]) end
  end
  if type(reqt.timeout) == "table" then
    for k in pairs(reqt.timeout) do
      if k ~= "connect" and k ~= "send" and k ~= "receive" then
        error("bad argument #1 to 'request' ('" .. tostring(k) ..
          "' is not a valid timeout option. Valid: 'connect', 'send', 'receive')", 3)
      end
    end
  end
end

-- A stable text for a table of parameters, so equal settings give equal pool keys.
local function serialize(v)
  if type(v) ~= "table" then return tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. serialize(v[k]) end
  return "{" .. concat(parts, ",") .. "}"
end

local function is_ip_literal(host)
  return find(host, ":", 1, true) ~= nil or find(host, "^%d+%.%d+%.%d+%.%d+$") ~= nil
end

-- Parsed URLs by text, shared by every client: a program asks for the same few URLs
-- again and again. The tables are only read. Emptied when full.
local parsed_urls, parsed_count = {}, 0
local PARSED_MAX = 256

local function parse_url(text)
  local parsed = parsed_urls[text]
  if parsed then return parsed end
  local err
  parsed, err = core.parse_url(text)
  if not parsed then return nil, err end
  if parsed_count >= PARSED_MAX then parsed_urls, parsed_count = {}, 0 end
  parsed_urls[text] = parsed
  parsed_count = parsed_count + 1
  return parsed
end

local function strip_position(msg)
  if type(msg) ~= "string" then return tostring(msg) end
  return (msg:gsub("^[^:\n]*:%d+: ", ""))
end

local function new(kind)
  local M = {}
  M.PORT = 80
  M.SSLPORT = 443
  M.TIMEOUT = 60
  M.USERAGENT = socket._VERSION
  -- TLS defaults (Copas names); unlike LuaSec and Copas, the server is verified.
  M.SSLPROTOCOL = "any"
  M.SSLOPTIONS = "all"
  M.SSLVERIFY = "peer"
  -- Whether idle connections are kept for reuse.
  M.KEEPALIVE = true

  local copas = kind == "copas" and require("copas") or nil
  -- pool[key] = array of { sock = ..., since = time }, most recently used last.
  local pool = {}

  local function tls_settings(reqt)
    local given = reqt.sslparams or {}
    local wrap = {}
    local source = given.wrap
    if source == nil and (given.mode or given.protocol or given.verify or given.cafile) then
      source = given
    end
    if type(source) == "table" then
      for k, v in pairs(source) do wrap[k] = v end
    end
    for _, k in ipairs(TLS_FIELDS) do
      if wrap[k] == nil and reqt[k] ~= nil then wrap[k] = reqt[k] end
    end
    if wrap.protocol == nil then wrap.protocol = M.SSLPROTOCOL end
    if wrap.options == nil then wrap.options = M.SSLOPTIONS end
    if wrap.verify == nil then wrap.verify = M.SSLVERIFY end
    wrap.mode = "client"
    local sni = type(given.sni) == "table" and given.sni.names or nil
    return wrap, sni
  end

  -- The request as it goes on the wire: where to connect, what to send.
  local function adjust(reqt)
    local u = {}
    if reqt.url then
      local parsed, err = parse_url(reqt.url)
      if not parsed then return nil, err end
      u = parsed
    end
    local scheme = lower(reqt.scheme or u.scheme or "http")
    if scheme ~= "http" and scheme ~= "https" then
      return nil, "unsupported scheme '" .. scheme .. "'"
    end
    local host = reqt.host or u.host
    if type(host) ~= "string" or host == "" then
      return nil, "invalid host '" .. tostring(host) .. "'"
    end
    if find(host, "^%[") then host = host:gsub("^%[(.*)%]$", "%1") end
    local default_port = scheme == "https" and M.SSLPORT or M.PORT
    local port = tonumber(reqt.port) or u.port or default_port
    local authority = u.authority
    if reqt.host or reqt.port or not authority then
      authority = is_ip_literal(host) and find(host, ":", 1, true) and ("[" .. host .. "]") or host
      if port ~= default_port then authority = authority .. ":" .. port end
    end
    local path = u.target or "/"
    if reqt.path then
      path = reqt.path
      if reqt.query then path = path .. "?" .. reqt.query end
    end
    local nreqt = {
      scheme = scheme, host = host, port = port, authority = authority,
      method = reqt.method and string.upper(reqt.method) or "GET",
      url = reqt.url or (scheme .. "://" .. authority .. path),
      source = reqt.source, sink = reqt.sink, step = reqt.step,
      create = reqt.create, timeout = reqt.timeout,
    }
    nreqt.uri = reqt.uri or path
    local proxy = reqt.proxy or M.PROXY
    nreqt.connect_host, nreqt.connect_port = host, port
    if proxy then
      if scheme == "https" then return nil, "https through a proxy is not supported" end
      local p = url.parse(proxy)
      if not p or not p.host then return nil, "invalid proxy '" .. tostring(proxy) .. "'" end
      nreqt.connect_host, nreqt.connect_port = p.host, tonumber(p.port) or 3128
      nreqt.uri = reqt.uri or (scheme .. "://" .. authority .. path)
      nreqt.proxy = proxy
    end
    local settings = "proxy=" .. tostring(proxy)
    if scheme == "https" then
      nreqt.wrap, nreqt.sni = tls_settings(reqt)
      if not nreqt.sni and not is_ip_literal(host) then nreqt.sni = host end
      settings = settings .. ",tls=" .. serialize(nreqt.wrap) .. ",sni=" .. tostring(nreqt.sni)
    end
    nreqt.key = scheme .. "://" .. nreqt.connect_host .. ":" .. nreqt.connect_port .. "|" ..
      authority .. "|" .. settings

    local h = {
      ["user-agent"] = M.USERAGENT,
      ["host"] = authority,
      ["connection"] = M.KEEPALIVE and "keep-alive" or "close",
    }
    local user, password = reqt.user or u.user, reqt.password or u.password
    if user and password then
      h["authorization"] = "Basic " .. mime.b64(user .. ":" .. password)
    end
    for k, v in pairs(reqt.headers or {}) do h[lower(tostring(k))] = tostring(v) end
    if nreqt.source and not h["content-length"] and not h["transfer-encoding"] then
      h["transfer-encoding"] = "chunked"
    end
    nreqt.chunked = nreqt.source ~= nil and not h["content-length"]
      and find(lower(h["transfer-encoding"] or ""), "chunked", 1, true) ~= nil
    nreqt.headers = h
    -- Encoded here, so a request that cannot be sent fails before connecting.
    local names, values = {}, {}
    for k, v in pairs(h) do
      names[#names + 1] = canonic[k] or k
      values[#values + 1] = v
    end
    local head, err = core.head(nreqt.method, nreqt.uri, names, values)
    if not head then return nil, err end
    nreqt.head = head
    nreqt.poolable = M.KEEPALIVE and not reqt.create and not find(lower(h["connection"]), "close", 1, true)
    return nreqt
  end

  local function set_timeouts(sock, timeout)
    timeout = timeout or M.TIMEOUT
    if type(timeout) == "table" then
      if sock.settimeouts then
        return sock:settimeouts(timeout.connect or M.TIMEOUT, timeout.send or M.TIMEOUT,
          timeout.receive or M.TIMEOUT)
      end
      timeout = timeout.receive or M.TIMEOUT
    end
    return sock:settimeout(timeout)
  end

  local function is_tls(sock)
    return tostring(sock):sub(1, 3) == "SSL"
  end

  -- TLS over a connected blocking socket, the LuaSec way.
  local function start_tls(sock, nreqt)
    local tls, err = require("ssl").wrap(sock, nreqt.wrap)
    if not tls then
      sock:close()
      return nil, err
    end
    set_timeouts(tls, nreqt.timeout)
    if nreqt.sni then tls:sni(nreqt.sni) end
    local ok
    ok, err = tls:dohandshake()
    if not ok then
      tls:close()
      return nil, (err == "wantread" or err == "wantwrite") and "timeout" or err
    end
    return tls
  end

  local function connect(nreqt)
    if nreqt.scheme == "https" then
      local found, ssl = pcall(require, "ssl")
      if not found then return nil, "https needs the 'ssl' module: " .. strip_position(ssl) end
    end
    local sock, err
    if nreqt.create then
      sock, err = nreqt.create(nreqt)
    elseif copas and nreqt.scheme == "https" and PCALL_YIELDS then
      sock, err = socket.tcp()
      if sock then
        sock = copas.wrap(sock, { wrap = nreqt.wrap, sni = nreqt.sni and { names = nreqt.sni } or false })
      end
    elseif copas then
      sock, err = socket.tcp()
      if sock then sock = copas.wrap(sock) end
    else
      sock, err = socket.tcp()
    end
    if not sock then return nil, err end
    set_timeouts(sock, nreqt.timeout)
    local ok
    if copas and nreqt.scheme == "https" and not nreqt.create and PCALL_YIELDS then
      -- The wrapped socket's connect does the handshake, and raises when it fails.
      local called
      called, ok, err = pcall(sock.connect, sock, nreqt.connect_host, nreqt.connect_port)
      if not called then ok, err = nil, strip_position(ok) end
    else
      ok, err = sock:connect(nreqt.connect_host, nreqt.connect_port)
    end
    if not ok then
      sock:close()
      return nil, err
    end
    if nreqt.scheme == "https" and not is_tls(sock) then
      if copas and not nreqt.create then
        -- PUC Lua 5.1 cannot pcall Copas's handshake, which raises when it fails, across
        -- a yield. The connection is wrapped without it instead: our ssl module
        -- handshakes on the first send, which returns nil, message when that fails.
        local tls
        tls, err = require("ssl").wrap(sock.socket, nreqt.wrap)
        if not tls then
          sock:close()
          return nil, err
        end
        if nreqt.sni then tls:sni(nreqt.sni) end
        sock = copas.wrap(tls)
        set_timeouts(sock, nreqt.timeout)
      else
        return start_tls(sock, nreqt)
      end
    end
    return sock
  end

  -- A connection that looks alive: nothing is waiting to be read on it (an idle
  -- connection with data or an end-of-file is one the server gave up on). Asked of
  -- the descriptor noted when it went idle: a socket.select would cost a request more
  -- than the rest of its bookkeeping.
  local function looks_alive(entry)
    local sock = entry.sock
    local dirty = sock.dirty
    if dirty and dirty(sock) then return false end
    return core.quiet(entry.fd)
  end

  local function acquire(nreqt, fresh)
    local idle = nreqt.poolable and not fresh and pool[nreqt.key]
    if idle then
      local now = socket.gettime()
      while #idle > 0 do
        local entry = remove(idle)
        if now - entry.since < POOL_IDLE and looks_alive(entry) then
          -- Pooled sockets are ours alone: their timeouts are still the ones noted.
          local timeout = nreqt.timeout or M.TIMEOUT
          if type(timeout) ~= "number" or timeout ~= entry.timeout then
            set_timeouts(entry.sock, timeout)
          end
          return entry.sock, nil, true
        end
        entry.sock:close()
      end
    end
    local sock, err = connect(nreqt)
    return sock, err, false
  end

  local function release(nreqt, sock)
    local fd = sock:getfd()
    if type(fd) ~= "number" or fd < 0 then
      sock:close()
      return
    end
    local idle = pool[nreqt.key]
    if not idle then
      idle = {}
      pool[nreqt.key] = idle
    end
    if #idle >= POOL_MAX then
      remove(idle, 1).sock:close()
    end
    idle[#idle + 1] = { sock = sock, fd = fd, timeout = nreqt.timeout or M.TIMEOUT,
      since = socket.gettime() }
  end

  local function send_all(sock, data)
    local ok, err = sock:send(data)
    if not ok then return nil, err end
    return 1
  end

  -- Sends the request; `state.body_started` tells whether the source was touched.
  local function send_request(sock, nreqt, state)
    local ok, err = send_all(sock, nreqt.head)
    if not ok then return nil, err end
    if not nreqt.source then return 1 end
    state.body_started = true
    local chunked = nreqt.chunked
    local sink = function(chunk)
      if chunk == nil then
        if chunked then return send_all(sock, core.LAST_CHUNK) end
        return 1
      end
      if chunk == "" then return 1 end
      return send_all(sock, chunked and core.chunk(chunk) or chunk)
    end
    return ltn12.pump.all(nreqt.source, sink, nreqt.step or ltn12.pump.step)
  end

  -- Reads what the parser asks for and feeds it. Returns the body bytes found ("" when
  -- none), or nil, message.
  local function pull(sock, parser, state)
    local want = parser:want()
    local data, err, partial
    if want == "line" and state.bulk and sock.receivepartial then
      -- A plain Copas socket hands over whatever has arrived: a whole head (and the
      -- start of the body) in one call instead of one per line. The server sends
      -- nothing beyond this response, as requests are not pipelined.
      data, err, partial = sock:receivepartial(BLOCK)
      if not data and err == "timeout" and partial and partial ~= "" then
        data, err, partial = partial, nil, nil
      end
    elseif want == "line" then
      data, err, partial = sock:receive("*l")
      if data then data = data .. "\r\n" end
    elseif state.partial then
      -- A Copas receive is bounded as a whole by the socket's timeout, so a body that
      -- trickles in would time out however steadily it came. Taking what has arrived
      -- bounds each wait instead, as LuaSocket's blocking receive does and Copas's
      -- small reads amount to.
      data, err, partial = sock:receivepartial(want == "close" and BLOCK or min(want, BLOCK))
      if not data and err == "timeout" and partial and partial ~= "" then
        data, err, partial = partial, nil, nil
      end
    elseif want == "close" then
      data, err, partial = sock:receive(BLOCK)
    else
      data, err, partial = sock:receive(min(want, BLOCK))
    end
    if not data then
      if err ~= "closed" then return nil, err end
      local body = ""
      if partial and partial ~= "" then
        body, err = parser:feed(partial)
        if not body then return nil, err end
      end
      local ok
      ok, err = parser:finish()
      if not ok then return nil, err end
      return body, nil, true
    end
    local body, left = parser:feed(data)
    if not body then return nil, left end
    return body
  end

  -- Body bytes read with the head, and whether the connection ended, go to `state`.
  local function receive_head(sock, parser, state)
    while true do
      local code, status, headers = parser:head()
      if code then return code, status, headers end
      local body, err, closed = pull(sock, parser, state)
      if not body then return nil, err end
      if body ~= "" then state.early = (state.early or "") .. body end
      if closed then
        state.closed = true
        code, status, headers = parser:head()
        if not code then return nil, "closed" end
        return code, status, headers
      end
    end
  end

  local function body_source(sock, parser, state)
    return function()
      local early = state.early
      if early then
        state.early = nil
        return early
      end
      while parser:want() ~= "done" do
        local body, err, closed = pull(sock, parser, state)
        if not body then return nil, err end
        if closed then state.closed = true end
        if body ~= "" then return body end
      end
      return nil
    end
  end

  local function should_redirect(reqt, nreqt, code, headers)
    local location = headers.location
    if not location or location:gsub("%s", "") == "" then return false end
    if reqt.redirect == false or not REDIRECT_CODES[code] then return false end
    if nreqt.source or (nreqt.method ~= "GET" and nreqt.method ~= "HEAD") then return false end
    local max = reqt.maxredirects
    if max == nil then max = 5 end
    return max == false or (reqt.nredirects or 0) < max
  end

  local trequest

  -- The absolute URL to follow, false to answer with this response, or nil, message.
  local function redirect_target(reqt, nreqt, code, headers)
    if not should_redirect(reqt, nreqt, code, headers) then return false end
    local target = core.absolute(nreqt.url, headers.location)
    if not target then return false end
    local next_scheme = lower(target:match("^(%a[%w+.-]*):") or "")
    if nreqt.scheme == "https" and next_scheme == "http" and reqt.redirect ~= "all" then
      if copas then return nil, "Unallowed insecure redirect https to http" end
      return false
    end
    return target
  end

  local function redirect(reqt, nreqt, target)
    local nextreqt = {}
    for k, v in pairs(reqt) do nextreqt[k] = v end
    nextreqt.url = target
    nextreqt.host, nextreqt.port, nextreqt.path, nextreqt.query, nextreqt.uri, nextreqt.scheme =
      nil, nil, nil, nil, nil, nil
    nextreqt.method = nreqt.method
    -- An SNI name given for the first host is not the next host's (as Copas does).
    if type(reqt.sslparams) == "table" and reqt.sslparams.sni then
      local params = {}
      for k, v in pairs(reqt.sslparams) do params[k] = v end
      params.sni = nil
      nextreqt.sslparams = params
    end
    nextreqt.nredirects = (reqt.nredirects or 0) + 1
    return trequest(nextreqt)
  end

  function trequest(reqt)
    local nreqt, err = adjust(reqt)
    if not nreqt then return nil, err end
    local sock, reused, parser, code, status, headers
    local fresh = false
    local state
    while true do
      sock, err, reused = acquire(nreqt, fresh)
      if not sock then return nil, err end
      local plain_copas = copas ~= nil and nreqt.scheme == "http" and sock.receivepartial ~= nil
      state = { bulk = nreqt.scheme == "http", partial = plain_copas }
      local ok, send_err = send_request(sock, nreqt, state)
      if ok then
        parser = core.parser(nreqt.method)
        code, status, headers = receive_head(sock, parser, state)
        if not code then err = status end
      else
        err = send_err
      end
      if code then break end
      sock:close()
      -- A reused connection the server closed while it was idle: send once more on a
      -- new one, if sending twice can do no harm.
      if not reused or err ~= "closed" or state.body_started
        or not IDEMPOTENT[nreqt.method] then
        return nil, err
      end
      fresh = true
    end
    local target
    target, err = redirect_target(reqt, nreqt, code, headers)
    if target == nil then
      sock:close()
      return nil, err
    end
    if target then
      sock:close()
      local result, rcode, rheaders, rstatus = redirect(reqt, nreqt, target)
      if not result then return nil, rcode end
      rheaders = rheaders or {}
      rheaders.location = rheaders.location or headers.location
      return result, rcode, rheaders, rstatus
    end
    if nreqt.method ~= "HEAD" and code ~= 204 and code ~= 304 then
      local ok
      ok, err = ltn12.pump.all(body_source(sock, parser, state), nreqt.sink or ltn12.sink.null(),
        nreqt.step or ltn12.pump.step)
      if not ok then
        sock:close()
        return nil, err
      end
      for name, value in pairs(parser:trailers() or {}) do
        headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
      end
    end
    if nreqt.poolable and not state.closed and parser:keepalive() then
      release(nreqt, sock)
    else
      sock:close()
    end
    return 1, code, headers, status
  end

  local function srequest(u, b)
    local t = {}
    local reqt = { url = u, sink = ltn12.sink.table(t) }
    if b then
      reqt.source = ltn12.source.string(b)
      reqt.headers = {
        ["content-length"] = #b,
        ["content-type"] = "application/x-www-form-urlencoded",
      }
      reqt.method = "POST"
    end
    local ok, code, headers, status = trequest(reqt)
    if not ok then return nil, code end
    return concat(t), code, headers, status
  end

  -- request(url [, body]) -> body, code, headers, status
  -- request(reqt) -> 1, code, headers, status
  -- Failures return nil, message.
  function M.request(reqt, body)
    if type(reqt) == "string" then
      if body ~= nil and type(body) ~= "string" then
        error("bad argument #2 to 'request' (string expected, got " .. type(body) .. ")", 2)
      end
      return srequest(reqt, body)
    elseif type(reqt) == "table" then
      check_request(reqt)
      if not reqt.url and not reqt.host then
        error("bad argument #1 to 'request' (field 'url' missing)", 2)
      end
      return trequest(reqt)
    end
    error("bad argument #1 to 'request' (string or table expected, got " .. type(reqt) .. ")", 2)
  end

  if copas then
    M.SSLSNISTRICT = false

    -- Copas's http.getcreatefunc(params): the `create` function its requests use, for a
    -- program that wants the socket a request runs on (to change its timeouts, or to
    -- close a stream). https gets a Copas-wrapped socket whose connect handshakes; a
    -- redirect from https to plain http is refused unless `params.redirect == "all"`.
    function M.getcreatefunc(params)
      params = params or {}
      local wrap, names = tls_settings(params)
      local given_sni = type(params.sslparams) == "table" and params.sslparams.sni
      local strict = M.SSLSNISTRICT
      if type(given_sni) == "table" and given_sni.strict ~= nil then strict = given_sni.strict end
      local was_https = false
      return function(reqt)
        local scheme = reqt.scheme
        if not scheme and reqt.url then
          local parsed = parse_url(reqt.url)
          scheme = parsed and parsed.scheme
        end
        local sock, err = socket.tcp()
        if not sock then return nil, err end
        if lower(scheme or "http") == "https" then
          was_https = true
          return copas.wrap(sock, { wrap = wrap, sni = { names = names or reqt.host, strict = strict } })
        end
        if was_https and params.redirect ~= "all" then
          sock:close()
          return nil, "Unallowed insecure redirect https to http"
        end
        return copas.wrap(sock)
      end
    end
  end

  -- Closes every idle pooled connection.
  function M.closeidle()
    for key, idle in pairs(pool) do
      for _, entry in ipairs(idle) do entry.sock:close() end
      pool[key] = nil
    end
  end

  -- Idle pooled connections, per pool key (for tests and diagnostics).
  function M.idlecount()
    local n = 0
    for _, idle in pairs(pool) do n = n + #idle end
    return n
  end

  return M
end

return { new = new }
