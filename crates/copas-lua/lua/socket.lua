-- socket: LuaSocket's `socket` namespace on top of `socket.core` (which is this very
-- table, extended here, as in LuaSocket).
local core = require("socket.core")
local socket = core

local error, type, tostring, select, pcall = error, type, tostring, select, pcall
local setmetatable, getmetatable = setmetatable, getmetatable
local math_min = math.min

-------------------------------------------------------------------------------
-- Exceptions: try/newtry/protect
-------------------------------------------------------------------------------
-- Errors raised by a `try` function carry their message in a table with this
-- metatable, so `protect` can tell them from other errors.
local try_error = { __tostring = function(self) return tostring(self[1]) end }

function socket.newtry(finalizer)
  if finalizer ~= nil and type(finalizer) ~= "function" then
    error(("bad argument #1 to 'newtry' (function expected, got %s)"):format(type(finalizer)), 2)
  end
  return function(...)
    if (...) then return ... end
    if finalizer then finalizer() end
    error(setmetatable({ (select(2, ...)) }, try_error), 0)
  end
end

local function protected(ok, ...)
  if ok then return ... end
  local err = ...
  if type(err) == "table" and getmetatable(err) == try_error then
    return nil, err[1]
  end
  error(err, 0)
end

function socket.protect(f)
  if type(f) ~= "function" then
    error(("bad argument #1 to 'protect' (function expected, got %s)"):format(type(f)), 2)
  end
  return function(...)
    return protected(pcall(f, ...))
  end
end

socket.try = socket.newtry()

function socket.skip(d, ...)
  if type(d) ~= "number" then
    error(("bad argument #1 to 'skip' (number expected, got %s)"):format(type(d)), 2)
  end
  if d < 0 then d = 0 end
  return select(math.floor(d) + 1, ...)
end

-------------------------------------------------------------------------------
-- Connecting and binding
-------------------------------------------------------------------------------
local constructors = { inet = core.tcp4, inet6 = core.tcp6 }

function socket.connect(address, port, laddress, lport, family)
  if type(address) ~= "string" and type(address) ~= "number" then
    error(("bad argument #1 to 'connect' (string expected, got %s)"):format(type(address)), 2)
  end
  local create = core.tcp
  if family ~= nil then
    create = constructors[family]
    if not create then
      error("bad argument #5 to 'connect' (invalid family)", 2)
    end
  end
  local sock, err = create()
  if not sock then return nil, err end
  if laddress then
    local ok, e = sock:bind(laddress, lport or 0)
    if not ok then sock:close(); return nil, e end
  end
  local ok, e = sock:connect(address, port)
  if not ok then sock:close(); return nil, e end
  return sock
end

function socket.connect4(address, port, laddress, lport)
  return socket.connect(address, port, laddress, lport, "inet")
end

function socket.connect6(address, port, laddress, lport)
  return socket.connect(address, port, laddress, lport, "inet6")
end

function socket.bind(host, port, backlog)
  if host == "*" then host = "0.0.0.0" end
  local addresses, err = socket.dns.getaddrinfo(host)
  if not addresses then return nil, err end
  err = "no info on address"
  for _, alt in ipairs(addresses) do
    local sock
    sock, err = constructors[alt.family]()
    if not sock then return nil, err end
    sock:setoption("reuseaddr", true)
    local ok
    ok, err = sock:bind(alt.addr, port)
    if ok then
      ok, err = sock:listen(backlog)
      if ok then return sock end
    end
    sock:close()
  end
  return nil, err
end

function socket.choose(table)
  return function(name, opt1, opt2)
    if type(name) ~= "string" then
      name, opt1, opt2 = "default", name, opt1
    end
    local f = table[name or "nil"]
    if not f then error("unknown key (" .. tostring(name) .. ")", 3) end
    return f(opt1, opt2)
  end
end

-------------------------------------------------------------------------------
-- LTN12 sources and sinks on sockets
-------------------------------------------------------------------------------
socket.BLOCKSIZE = 2048
local sourcet, sinkt = {}, {}
socket.sourcet, socket.sinkt = sourcet, sinkt

local function selectable(sock, call)
  return setmetatable({
    getfd = function() return sock:getfd() end,
    dirty = function() return sock:dirty() end,
  }, { __call = call })
end

sinkt["close-when-done"] = function(sock)
  return selectable(sock, function(_, chunk)
    if not chunk then
      sock:close()
      return 1
    end
    return sock:send(chunk)
  end)
end

sinkt["keep-open"] = function(sock)
  return selectable(sock, function(_, chunk)
    if chunk then return sock:send(chunk) end
    return 1
  end)
end

sinkt["default"] = sinkt["keep-open"]
socket.sink = socket.choose(sinkt)

sourcet["by-length"] = function(sock, length)
  return selectable(sock, function()
    if length <= 0 then return nil end
    local chunk, err = sock:receive(math_min(socket.BLOCKSIZE, length))
    if err then return nil, err end
    length = length - #chunk
    return chunk
  end)
end

sourcet["until-closed"] = function(sock)
  local done
  return selectable(sock, function()
    if done then return nil end
    local chunk, err, partial = sock:receive(socket.BLOCKSIZE)
    if not err then return chunk end
    if err == "closed" then
      sock:close()
      done = true
      return partial
    end
    return nil, err
  end)
end

sourcet["default"] = sourcet["until-closed"]
socket.source = socket.choose(sourcet)

return socket
