-- The Lua half of socket.core's namespace functions (see socket_core/mod.rs).
--
-- Called with the socket.core table and the table of Rust primitives; adds
-- select, skip, sleep, gettime, newtry, protect, dns.* and __unload (`connect` is the
-- TCP constructor's, in tcp.rs, where LuaSocket has it too).
-- Argument errors use LuaSocket's wording and, like errors raised by C
-- functions, carry no position prefix.
local core, native = ...

local error, getmetatable, ipairs, pcall, select, setmetatable, tonumber, tostring, type =
  error, getmetatable, ipairs, pcall, select, setmetatable, tonumber, tostring, type
local floor, huge = math.floor, math.huge
local format = string.format
-- Lua 5.3+ has an integer subtype, and luaL_checkinteger refuses fractions there.
local tointeger = math.tointeger
-- Lua 5.1 and LuaJIT name every value by its type; later versions honour __name.
local uses_metatable_names = _VERSION ~= "Lua 5.1"

-----------------------------------------------------------------------------
-- Argument checks, as lauxlib words them
-----------------------------------------------------------------------------
local function typename(value)
  if uses_metatable_names then
    local meta = getmetatable(value)
    if type(meta) == "table" and type(meta.__name) == "string" then return meta.__name end
  end
  return type(value)
end

local function argerror(fname, n, message)
  error(format("bad argument #%d to '%s' (%s)", n, fname, message), 0)
end

local function typeerror(fname, n, expected, ...)
  local got = n > select("#", ...) and "no value" or typename((select(n, ...)))
  argerror(fname, n, expected .. " expected, got " .. got)
end

local function isnone(n, ...)
  return n > select("#", ...) or (select(n, ...)) == nil
end

-- What lua_tonumber accepts: numbers and numeric strings.
local function asnumber(value)
  if type(value) == "number" then return value end
  if type(value) == "string" then return tonumber(value) end
  return nil
end

local function checknumber(fname, n, ...)
  local number = asnumber((select(n, ...)))
  if number == nil then typeerror(fname, n, "number", ...) end
  return number
end

local function optnumber(fname, n, default, ...)
  if isnone(n, ...) then return default end
  return checknumber(fname, n, ...)
end

local function checkinteger(fname, n, ...)
  local number = checknumber(fname, n, ...)
  if tointeger then
    local integer = tointeger(number)
    if integer == nil then argerror(fname, n, "number has no integer representation") end
    return integer
  end
  if number >= 0 then return floor(number) end
  return -floor(-number)
end

local function checkstring(fname, n, ...)
  local value = (select(n, ...))
  if type(value) == "string" then return value end
  if type(value) == "number" then return tostring(value) end
  typeerror(fname, n, "string", ...)
end

local function optstring(fname, n, default, ...)
  if isnone(n, ...) then return default end
  return checkstring(fname, n, ...)
end

local function checkoption(fname, n, default, options, ...)
  local name = optstring(fname, n, default, ...)
  if not options[name] then argerror(fname, n, format("invalid option '%s'", name)) end
  return name
end

-----------------------------------------------------------------------------
-- Time
-----------------------------------------------------------------------------
core.gettime = native.gettime

function core.sleep(...)
  native.sleep(checknumber("sleep", 1, ...))
end

-----------------------------------------------------------------------------
-- skip and __unload
-----------------------------------------------------------------------------
function core.skip(...)
  local count = select("#", ...)
  local drop = checkinteger("skip", 1, ...)
  -- A negative count keeps every argument, the count included, as LuaSocket does for -1.
  if drop < 0 then return ... end
  if drop >= count - 1 then return end
  return select(drop + 2, ...)
end

-- LuaSocket's hook for unloading its C library; there is nothing to release.
function core.__unload() end

-----------------------------------------------------------------------------
-- Exceptions: try raises a wrapped error that only protect unwraps
-----------------------------------------------------------------------------
-- Wrapped errors are recognised by identity, not by a metatable that any
-- table could imitate.
local wrapped = setmetatable({}, { __mode = "k" })
local exception_meta = {
  __metatable = false,
  -- An exception nobody protected still prints its message.
  __tostring = function(exception) return tostring(exception[1]) end,
}

local function nothing() end

function core.newtry(finalizer)
  if finalizer == nil then finalizer = nothing end
  return function(...)
    if (...) then return ... end
    finalizer()
    local exception = setmetatable({ (select(2, ...)) }, exception_meta)
    wrapped[exception] = true
    error(exception, 0)
  end
end

local function finish(ok, ...)
  if ok then return ... end
  local err = ...
  if wrapped[err] then return nil, err[1] end
  error(err, 0)
end

-- A Lua pcall rather than a C one: on Lua 5.2+ and LuaJIT the protected
-- function may yield (a Copas task waiting on a socket inside protect).
function core.protect(func)
  return function(...)
    return finish(pcall(func, ...))
  end
end

-----------------------------------------------------------------------------
-- select
-----------------------------------------------------------------------------
-- The descriptor of anything with a getfd method, or nil for values that have
-- none, a negative one or a non-numeric one (closed sockets report -1). LuaSocket
-- looks the method up with lua_gettable, so a value that cannot be indexed (a
-- number, a boolean, a function...) raises the error indexing it would.
local function getfd(object)
  local kind = type(object)
  if kind ~= "table" and getmetatable(object) == nil then
    error("attempt to index a " .. kind .. " value", 0)
  end
  local method = object.getfd
  if method == nil then return nil end
  local fd = asnumber(method(object))
  if fd == nil or not (fd >= 0) or fd == huge then return nil end
  return floor(fd)
end

local function isdirty(object)
  local method = object.dirty
  if method == nil then return false end
  return method(object) and true or false
end

-- Walks list[1], list[2]... up to the first nil, noting each socket's
-- descriptor and which object it belongs to. With `dirty`, sockets with
-- buffered input go there instead: they are readable now, whatever their
-- descriptor says.
local function collect(list, n, fds, owners, dirty)
  if list == nil then return end
  if type(list) ~= "table" then argerror("select", n, "table expected, got " .. typename(list)) end
  local i = 1
  while true do
    local object = list[i]
    if object == nil then break end
    local fd = getfd(object)
    if fd then
      owners[fd] = object
      if dirty and isdirty(object) then
        dirty[#dirty + 1] = object
      else
        fds[#fds + 1] = fd
      end
    end
    i = i + 1
  end
end

-- Both views LuaSocket gives: t[i] = socket and t[socket] = i.
local function indexed(list)
  local result = {}
  for i, object in ipairs(list) do
    result[i] = object
    result[object] = i
  end
  return result
end

function core.select(...)
  local recvt, sendt = ...
  local timeout = optnumber("select", 3, -1, ...)
  local read_fds, write_fds, owners, readable = {}, {}, {}, {}
  collect(recvt, 1, read_fds, owners, readable)
  collect(sendt, 2, write_fds, owners)
  if #readable > 0 then timeout = 0 end
  local read_ready, write_ready = native.poll(read_fds, write_fds, timeout)
  if read_ready == nil then
    if write_ready == "timeout" then
      if #readable == 0 then return {}, {}, "timeout" end
      read_ready, write_ready = {}, {}
    else
      error("select failed", 0)
    end
  end
  for _, fd in ipairs(read_ready) do readable[#readable + 1] = owners[fd] end
  local writable = {}
  for _, fd in ipairs(write_ready) do writable[#writable + 1] = owners[fd] end
  return indexed(readable), indexed(writable)
end

-----------------------------------------------------------------------------
-- dns
-----------------------------------------------------------------------------
local dns = {}
core.dns = dns

function dns.toip(...)
  return native.toip(checkstring("toip", 1, ...))
end

function dns.tohostname(...)
  return native.tohostname(checkstring("tohostname", 1, ...))
end

function dns.gethostname()
  return native.gethostname()
end

function dns.getaddrinfo(...)
  return native.getaddrinfo(checkstring("getaddrinfo", 1, ...))
end

function dns.getnameinfo(...)
  local host = optstring("getnameinfo", 1, nil, ...)
  local service = optstring("getnameinfo", 2, nil, ...)
  if host == nil and service == nil then error("host and serv cannot be both nil", 0) end
  return native.getnameinfo(host, service)
end

