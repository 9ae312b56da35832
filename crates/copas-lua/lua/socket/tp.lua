-----------------------------------------------------------------------------
-- socket.tp: the reply/command layer shared by FTP and SMTP (LuaSocket 3.x API).
--
-- A tp object wraps one connected control socket; replies are assembled and
-- commands formatted (refusing CR/LF in arguments) by socket.tp.core in Rust. The
-- socket may be any object with LuaSocket's methods: a plain socket blocks, a
-- Copas-wrapped one yields inside a Copas thread. Errors are `nil, message`.
-----------------------------------------------------------------------------
local socket = require("socket")
local ltn12 = require("ltn12")
local core = require("socket.tp.core")

local ipairs, setmetatable, tostring, type = ipairs, setmetatable, tostring, type
local find = string.find

local _M = { TIMEOUT = 60 }

-- code, reply text (every line, joined with "\n") or nil, message.
local function get_reply(c)
  local parser = core.reply()
  while true do
    local line, err = c:receive()
    if not line then return nil, err end
    local code, text = parser:push(line)
    if code then return code, text end
    if code == nil then return nil, text end
  end
end

local metat = { __index = {} }
local methods = metat.__index

function methods:getpeername() return self.c:getpeername() end
function methods:getsockname() return self.c:getsockname() end

-- `ok` is a pattern the code must match ("2.."), a number, a list of those, or a
-- function given (code, reply) that returns the results itself.
function methods:check(ok)
  local code, reply = get_reply(self.c)
  if not code then return nil, reply end
  if type(ok) == "function" then return ok(code, reply) end
  local scode = tostring(code)
  local wanted = type(ok) == "table" and ok or { ok }
  for _, v in ipairs(wanted) do
    if find(scode, "^" .. tostring(v) .. "$") then return code, reply end
  end
  return nil, reply
end

function methods:command(cmd, arg)
  if type(cmd) ~= "string" then return nil, "invalid command '" .. tostring(cmd) .. "'" end
  if arg ~= nil then arg = tostring(arg) end
  local line, err = core.command(cmd, arg)
  if not line then return nil, err end
  return self.c:send(line)
end

function methods:sink(snk, pat)
  local chunk, err = self.c:receive(pat)
  return snk(chunk, err)
end

function methods:send(data) return self.c:send(data) end
function methods:receive(pat) return self.c:receive(pat) end
function methods:getfd() return self.c:getfd() end
function methods:dirty() return self.c:dirty() end
function methods:getcontrol() return self.c end

function methods:source(source, step)
  local sink = socket.sink("keep-open", self.c)
  return ltn12.pump.all(source, sink, step or ltn12.pump.step)
end

function methods:close()
  self.c:close()
  return 1
end

-- A tp object on a new connection to host:port; `create` makes the socket.
function _M.connect(host, port, timeout, create)
  local c, err = (create or socket.tcp)()
  if not c then return nil, err end
  c:settimeout(timeout or _M.TIMEOUT)
  local ok
  ok, err = c:connect(host, port)
  if not ok then
    c:close()
    return nil, err
  end
  return setmetatable({ c = c }, metat)
end

return _M
