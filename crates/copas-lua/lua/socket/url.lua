-- socket.url: URL parsing, building and resolution (LuaSocket 3.x API).
--
-- The parts, named as LuaSocket names them:
--   <scheme>://<authority>/<path>;<params>?<query>#<fragment>
--   <authority> = <userinfo>@<host>:<port>,  <userinfo> = <user>:<password>
-- The leading "/" belongs to the path. A host in brackets is an IPv6 address; the
-- brackets are not part of `host`.

local socket = require("socket")

local byte, char, find, format, gsub, match, sub =
  string.byte, string.char, string.find, string.format, string.gsub, string.match, string.sub
local concat, insert, remove = table.concat, table.insert, table.remove
local pairs, tonumber, tostring, type = pairs, tonumber, tostring, type

local M = { _VERSION = "URL 1.0.3" }
socket.url = M

-- Every byte but letters, digits and "_" as %xx, lower-case hex.
function M.escape(s)
  return (gsub(s, "[^A-Za-z0-9_]", function(c)
    return format("%%%02x", byte(c))
  end))
end

-- Every %xx back to its byte.
function M.unescape(s)
  return (gsub(s, "%%(%x%x)", function(hex)
    return char(tonumber(hex, 16))
  end))
end

-- Characters a path segment may hold as they are (RFC 2396 pchar); anything else
-- is escaped as %XX, upper-case hex.
local segment_safe = "[^A-Za-z0-9%-_%.!~%*'%(%):@&=%+%$,]"

local function protect_segment(s)
  return (gsub(s, segment_safe, function(c)
    return format("%%%02X", byte(c))
  end))
end

-- Cuts the part that `pattern` captures off `rest`; the part is nil when absent.
local function cut(rest, pattern)
  local s, e, part = find(rest, pattern)
  if not s then return nil, rest end
  return part, sub(rest, 1, s - 1) .. sub(rest, e + 1)
end

-- The table of the parts of `url`, starting from a copy of `default`. An empty or
-- missing url gives nil, "invalid url".
function M.parse(url, default)
  local parsed = {}
  for k, v in pairs(default or parsed) do parsed[k] = v end
  if not url or url == "" then return nil, "invalid url" end
  local rest = url
  local part
  part, rest = cut(rest, "^([%w][%w%+%-%.]*):")
  parsed.scheme = part or parsed.scheme
  -- The authority runs to the first "/", as in LuaSocket 3.1, whose answers for a
  -- "?" or "#" inside userinfo (user:pa?ss@host) programs and its tests rely on; but
  -- a "?" or "#" with no "@" after it ends it, so http://host?q has host "host".
  part, rest = cut(rest, "^//([^/]*)")
  if part then
    local stop = find(part, "[?#]")
    if stop and not find(part, "@", stop + 1, true) then
      rest = sub(part, stop) .. rest
      part = sub(part, 1, stop - 1)
    end
  end
  parsed.authority = part or parsed.authority
  part, rest = cut(rest, "#(.*)$")
  parsed.fragment = part or parsed.fragment
  part, rest = cut(rest, "%?(.*)$")
  parsed.query = part or parsed.query
  part, rest = cut(rest, ";(.*)$")
  parsed.params = part or parsed.params
  if rest ~= "" then parsed.path = rest end

  local authority = parsed.authority
  if not authority then return parsed end
  part, authority = cut(authority, "^([^@]*)@")
  parsed.userinfo = part or parsed.userinfo
  -- The port follows the last colon, unless that colon is inside [IPv6] brackets.
  part, authority = cut(authority, ":([^:%]]*)$")
  parsed.port = part or parsed.port
  if authority ~= "" then
    parsed.host = match(authority, "^%[(.+)%]$") or authority
  end

  local userinfo = parsed.userinfo
  if not userinfo then return parsed end
  part, userinfo = cut(userinfo, ":([^:]*)$")
  parsed.password = part or parsed.password
  parsed.user = userinfo
  return parsed
end

-- The authority of a parsed table: from host, port, user, password and userinfo
-- when it has a host, else its `authority` field.
local function authority_of(parsed)
  local host = parsed.host
  if not host then return parsed.authority end
  if find(host, ":", 1, true) then host = "[" .. host .. "]" end
  if parsed.port then host = host .. ":" .. tostring(parsed.port) end
  local userinfo = parsed.userinfo
  if parsed.user then
    userinfo = parsed.user
    if parsed.password then userinfo = userinfo .. ":" .. parsed.password end
  end
  if userinfo then return userinfo .. "@" .. host end
  return host
end

-- The URL string of a parsed table (the inverse of parse).
function M.build(parsed)
  local parts = {}
  if parsed.scheme then insert(parts, parsed.scheme .. ":") end
  local authority = authority_of(parsed)
  if authority then insert(parts, "//" .. authority) end
  insert(parts, parsed.path or "")
  if parsed.params then insert(parts, ";" .. parsed.params) end
  if parsed.query then insert(parts, "?" .. parsed.query) end
  if parsed.fragment then insert(parts, "#" .. parsed.fragment) end
  return concat(parts)
end

-- RFC 3986 5.2.4: resolves "." and ".." segments.
local function remove_dot_segments(path)
  local output = {}
  local input = path
  while input ~= "" do
    if sub(input, 1, 3) == "../" then
      input = sub(input, 4)
    elseif sub(input, 1, 2) == "./" then
      input = sub(input, 3)
    elseif sub(input, 1, 3) == "/./" then
      input = sub(input, 3)
    elseif input == "/." then
      input = "/"
    elseif sub(input, 1, 4) == "/../" then
      input = sub(input, 4)
      remove(output)
    elseif input == "/.." then
      input = "/"
      remove(output)
    elseif input == "." or input == ".." then
      input = ""
    else
      local segment = match(input, "^/?[^/]*")
      insert(output, segment)
      input = sub(input, #segment + 1)
    end
  end
  return concat(output)
end

-- The relative path appended to the directory of the base path. LuaSocket 3.1 takes
-- the directory from the path without its params, and a base without a directory
-- gives "/".
local function merge(base_path, relative_path)
  return (match(base_path or "", "^(.*/)") or "/") .. relative_path
end

-- The absolute URL that `relative_url` refers to from `base_url` (a string or a
-- parsed table). The answers are LuaSocket 3.1's, which programs rely on, where they
-- differ from RFC 3986 section 5.2: an empty reference gives the base with its
-- fragment; ";x" keeps the base's path and replaces its params; dot segments are
-- removed from the whole result, params, query and fragment included.
function M.absolute(base_url, relative_url)
  local base, base_authority
  if type(base_url) == "table" then
    base = base_url
    base_authority = authority_of(base)
  else
    base = M.parse(base_url)
    if not base then return relative_url end
    base_authority = base.authority
  end
  local relative = M.parse(relative_url)
  if relative and relative.scheme then return remove_dot_segments(relative_url) end
  local target
  if not relative then
    target = {
      scheme = base.scheme, authority = base_authority, path = base.path, params = base.params,
      query = base.query, fragment = base.fragment,
    }
  elseif relative.authority then
    target = relative
    target.scheme = base.scheme
  else
    target = relative
    target.scheme, target.authority = base.scheme, base_authority
    local path = relative.path
    if path then
      if sub(path, 1, 1) ~= "/" then path = merge(base.path, path) end
      target.path = remove_dot_segments(path)
    elseif not relative.params then
      target.path, target.params = base.path, base.params
      target.query = relative.query or base.query
    else
      target.path = base.path
    end
  end
  return remove_dot_segments(M.build(target))
end

-- The unescaped segments of a path, with is_absolute = 1 if it starts with "/" and
-- is_directory = 1 if it ends with one.
function M.parse_path(path)
  local parsed = {}
  path = path or ""
  for segment in string.gmatch(path, "[^/]+") do
    insert(parsed, M.unescape(segment))
  end
  if sub(path, 1, 1) == "/" then parsed.is_absolute = 1 end
  if sub(path, -1) == "/" then parsed.is_directory = 1 end
  return parsed
end

-- The path of a table of segments (the inverse of parse_path), escaping what
-- segments may not hold unless `unsafe` is true.
function M.build_path(parsed, unsafe)
  local segments = {}
  for i = 1, #parsed do
    segments[i] = unsafe and parsed[i] or protect_segment(parsed[i])
  end
  local path = concat(segments, "/")
  if #parsed > 0 and parsed.is_directory then path = path .. "/" end
  if parsed.is_absolute then path = "/" .. path end
  return path
end

return M
