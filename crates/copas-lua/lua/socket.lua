-----------------------------------------------------------------------------
-- socket: LuaSocket 3.x's helper layer over socket.core
--
-- The module is the socket.core table itself, extended with connect4,
-- connect6, bind, try, choose and the LTN12 socket sources and sinks.
-----------------------------------------------------------------------------
local socket = require("socket.core")

local error, ipairs, setmetatable, tonumber, tostring, type =
  error, ipairs, setmetatable, tonumber, tostring, type
local min = math.min
local format, find, gsub = string.format, string.find, string.gsub

function socket.connect4(address, port, laddress, lport)
  return socket.connect(address, port, laddress, lport, "inet")
end

function socket.connect6(address, port, laddress, lport)
  return socket.connect(address, port, laddress, lport, "inet6")
end

-- A listening server socket on the first address of `host` that takes it,
-- with reuseaddr set; "*" is every IPv4 address.
function socket.bind(host, port, backlog)
  if host == "*" then host = "0.0.0.0" end
  local addresses, err = socket.dns.getaddrinfo(host)
  if not addresses then return nil, err end
  err = "no info on address"
  for _, alt in ipairs(addresses) do
    local sock
    if alt.family == "inet" then
      sock, err = socket.tcp4()
    else
      sock, err = socket.tcp6()
    end
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

socket.try = socket.newtry()

-- A function that dispatches on its first argument, a key of `table`; a
-- non-string first argument selects "default" and is passed on.
function socket.choose(table)
  return function(name, opt1, opt2)
    if type(name) ~= "string" then
      name, opt1, opt2 = "default", name, opt1
    end
    local f = table[name or "nil"]
    if not f then error("unknown key (" .. tostring(name) .. ")", 2) end
    return f(opt1, opt2)
  end
end

-----------------------------------------------------------------------------
-- LTN12 sources and sinks over stream sockets
-----------------------------------------------------------------------------
local sourcet, sinkt = {}, {}
socket.sourcet = sourcet
socket.sinkt = sinkt

socket.BLOCKSIZE = 2048

-- Sources and sinks keep getfd/dirty so they can be passed to socket.select.
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

-- Chunked transfer coding; the end of the data sends the last, empty chunk and
-- leaves the socket open (an HTTP exchange goes on over it, as socket.http's does).
sinkt["http-chunked"] = function(sock)
  return selectable(sock, function(_, chunk)
    if not chunk then return sock:send("0\r\n\r\n") end
    return sock:send(format("%X\r\n", #chunk) .. chunk .. "\r\n")
  end)
end

sinkt["default"] = sinkt["keep-open"]

socket.sink = socket.choose(sinkt)

sourcet["by-length"] = function(sock, length)
  return selectable(sock, function()
    if length <= 0 then return nil end
    local chunk, err = sock:receive(min(socket.BLOCKSIZE, length))
    if err then return nil, err end
    length = length - #chunk
    return chunk
  end)
end

sourcet["until-closed"] = function(sock)
  local done = false
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

-- Header lines up to the blank line, continuation lines folded in; repeated
-- fields are joined with ", " (the trailer of a chunked body).
local function receive_trailer(sock, headers)
  headers = headers or {}
  local line, err = sock:receive()
  if err then return nil, err end
  while line ~= "" do
    local _, _, name, value = find(line, "^(.-):%s*(.*)")
    if not (name and value) then return nil, "malformed reponse headers" end
    name = name:lower()
    line, err = sock:receive()
    if err then return nil, err end
    while find(line, "^%s") do
      value = value .. line
      line, err = sock:receive()
      if err then return nil, err end
    end
    if headers[name] then
      headers[name] = headers[name] .. ", " .. value
    else
      headers[name] = value
    end
  end
  return headers
end

-- Removes the chunked transfer coding; a trailer is merged into `headers` when
-- one is given.
sourcet["http-chunked"] = function(sock, headers)
  local done = false
  return selectable(sock, function()
    if done then return nil end
    local line, err = sock:receive()
    if err then return nil, err end
    local size = tonumber((gsub(line, ";.*", "")), 16)
    if not size then return nil, "invalid chunk size" end
    if size > 0 then
      local chunk, receive_err = sock:receive(size)
      if chunk then sock:receive() end
      return chunk, receive_err
    end
    done = true
    local trailer
    trailer, err = receive_trailer(sock, type(headers) == "table" and headers or nil)
    if not trailer then return nil, err end
    return nil
  end)
end

sourcet["default"] = sourcet["until-closed"]

socket.source = socket.choose(sourcet)

return socket
