-- What a target resolves to: one JSON line with the Lua, Copas and LuaSocket versions
-- and whether the optional modules the http and TLS scenarios need load.
local copas = require("copas")
local socket = require("socket")
local has_http = pcall(require, "copas.http")
local has_ssl = pcall(require, "ssl")
print(string.format('{"lua":"%s","copas":"%s","socket":"%s","http":%s,"ssl":%s}',
  jit and jit.version or _VERSION, copas._VERSION or "?", socket._VERSION or "?",
  tostring(has_http), tostring(has_ssl)))
