-----------------------------------------------------------------------------
-- ssl.https: LuaSec's https module on copas-rs's HTTP client.
--
-- `request(url [, body])` and `request(reqt)` take LuaSocket's http.request arguments
-- plus LuaSec's TLS parameters (protocol, options, verify, cafile, ...) in the request
-- table, and return what LuaSec's returns. The client is copas.http's: inside a Copas
-- thread a request yields to the loop while it waits; elsewhere it blocks.
--
-- Unlike LuaSec, whose default is `verify = "none"`, the server's certificate chain and
-- host name are verified unless the request says `verify = "none"` (docs/tls.md).
--
--   local body, code, headers, status = require("ssl.https").request("https://localhost/")
-----------------------------------------------------------------------------
local socket = require("socket")
local ltn12 = require("ltn12")
local url = require("socket.url")
local ssl = require("ssl")

local type, pairs, setmetatable, concat = type, pairs, setmetatable, table.concat

local M = {
  _VERSION = "1.3.2",
  _COPYRIGHT = "ssl.https of copas-rs, with the API of LuaSec 1.3.2",
  PORT = 443,
  TIMEOUT = 60,
}

-- LuaSec's defaults, applied where the request gives none (verification is ours).
local DEFAULTS = {
  protocol = "any",
  options = { "all", "no_sslv2", "no_sslv3", "no_tlsv1" },
}

-- Any URL is fetched over TLS, on M.PORT unless it names a port, as with LuaSec.
local function tls_url(u)
  local parsed = url.parse(u, { port = M.PORT })
  parsed.scheme = "https"
  return url.build(parsed)
end

function M.request(u, body)
  local reqt, chunks = u, nil
  if type(u) == "string" then
    chunks = {}
    reqt = { url = tls_url(u), method = body and "POST" or "GET", sink = ltn12.sink.table(chunks) }
    if body then
      reqt.source = ltn12.source.string(body)
      reqt.headers = {
        ["content-length"] = #body,
        ["content-type"] = "application/x-www-form-urlencoded",
      }
    end
  else
    reqt.url = tls_url(reqt.url)
  end
  if require("socket.http").PROXY or reqt.proxy then
    return nil, "proxy not supported"
  elseif reqt.redirect then
    return nil, "redirect not supported"
  elseif reqt.create then
    return nil, "create function not permitted"
  end
  for key, value in pairs(DEFAULTS) do
    if reqt[key] == nil then reqt[key] = value end
  end
  if reqt.timeout == nil then reqt.timeout = M.TIMEOUT end
  local result, code, headers, status = require("copas.http").request(reqt)
  if result and chunks then
    return concat(chunks), code, headers, status
  end
  return result, code, headers, status
end

-- A LuaSocket `create` function whose connections speak TLS with `params` (LuaSec's
-- https.tcp): connect() connects, wraps, sends the host as SNI and handshakes; every
-- other method goes to the TLS connection.
function M.tcp(params)
  local tls = { mode = "client" }
  for key, value in pairs(DEFAULTS) do tls[key] = value end
  for key, value in pairs(params or {}) do tls[key] = value end
  tls.mode = "client"
  return function()
    local conn = { sock = socket.try(socket.tcp()) }
    function conn.settimeout(self)
      return self.sock:settimeout(M.TIMEOUT)
    end
    function conn.connect(self, host, port)
      socket.try(self.sock:connect(host, port))
      self.sock = socket.try(ssl.wrap(self.sock, tls))
      self.sock:sni(host)
      self.sock:settimeout(M.TIMEOUT)
      socket.try(self.sock:dohandshake())
      return 1
    end
    return setmetatable(conn, {
      __index = function(self, name)
        local method = self.sock[name]
        if type(method) ~= "function" then return method end
        return function(_, ...) return method(self.sock, ...) end
      end,
    })
  end
end

return M
