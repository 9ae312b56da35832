-----------------------------------------------------------------------------
-- socket.smtp: SMTP client (LuaSocket 3.x API): smtp.send and smtp.message.
--
-- The connection comes from `create` (socket.tcp by default), so copas.smtp runs
-- the same code over Copas sockets without blocking the loop. Replies, commands,
-- header blocks, MIME boundaries and dot-stuffing come from socket.tp.core in
-- Rust; this file drives the dialogue and assembles messages.
--
-- Differences from LuaSocket, on purpose: no step raises and catches errors (Lua
-- 5.1 cannot yield across pcall), failures close the session and return nil,
-- message; smtp.message's source is a plain state machine, not a coroutine, so a
-- body source may itself wait on Copas sockets; header values with line breaks
-- other than folding are refused; headers come out sorted by name; and the data
-- ends with ".\r\n" right after a message that already ends with a line break, so
-- the server stores exactly the bytes of the source.
-----------------------------------------------------------------------------
local socket = require("socket")
local tp = require("socket.tp")
local ltn12 = require("ltn12")
local headers = require("socket.headers")
local mime = require("mime")
local core = require("socket.tp.core")

local error, ipairs, pairs, setmetatable, tostring, type =
  error, ipairs, pairs, setmetatable, tostring, type
local find, lower = string.find, string.lower
local sort = table.sort
local date, getenv = os.date, os.getenv

local function argerror(n, fname, message)
  error("bad argument #" .. n .. " to '" .. fname .. "' (" .. message .. ")", 3)
end

-----------------------------------------------------------------------------
-- Messages
-----------------------------------------------------------------------------
local function lower_headers(h)
  local out = {}
  for name, value in pairs(h or out) do
    out[lower(name)] = value
  end
  return out
end

-- The header block of `h` (lower-case names), names spelled as socket.headers
-- spells them, in sorted order so a message is reproducible.
local function header_block(h)
  local names = {}
  for name in pairs(h) do names[#names + 1] = name end
  sort(names)
  local fields = {}
  for i, name in ipairs(names) do
    local value = h[name]
    if type(value) ~= "string" and type(value) ~= "number" then
      return nil, "invalid header value for '" .. name .. "'"
    end
    fields[i] = { headers.canonic[name] or name, tostring(value) }
  end
  return core.headers(fields)
end

-- What a message is made of, in order: strings, body sources (functions) and
-- parts (tables, whose own items are expanded when reached).
local function items_of(mesgt)
  if type(mesgt) ~= "table" then return nil, "invalid message part" end
  local body = mesgt.body
  local h = lower_headers(mesgt.headers)
  if type(body) == "table" then
    local bd = core.boundary()
    h["content-type"] = (h["content-type"] or "multipart/mixed") .. '; boundary="' .. bd .. '"'
    local block, err = header_block(h)
    if not block then return nil, err end
    local items = { block }
    if body.preamble then
      items[#items + 1] = tostring(body.preamble)
      items[#items + 1] = "\r\n"
    end
    for _, part in ipairs(body) do
      items[#items + 1] = "\r\n--" .. bd .. "\r\n"
      items[#items + 1] = part
    end
    items[#items + 1] = "\r\n--" .. bd .. "--\r\n\r\n"
    if body.epilogue then
      items[#items + 1] = tostring(body.epilogue)
      items[#items + 1] = "\r\n"
    end
    return items
  end
  h["content-type"] = h["content-type"] or 'text/plain; charset="iso-8859-1"'
  local block, err = header_block(h)
  if not block then return nil, err end
  local kind = type(body)
  if body == nil then return { block } end
  if kind == "string" or kind == "number" then return { block, tostring(body) } end
  if kind == "function" then return { block, body } end
  return nil, "invalid message body (" .. kind .. ")"
end

-- An ltn12 source walking the items depth first.
local function message_source(mesgt)
  local stack, failed = {}, nil
  local function enter(part)
    local items, err = items_of(part)
    if items then
      stack[#stack + 1] = { items = items, i = 1 }
    else
      failed = err
    end
  end
  enter(mesgt)
  return function()
    while not failed do
      local frame = stack[#stack]
      if not frame then return nil end
      local item = frame.items[frame.i]
      local kind = type(item)
      if item == nil then
        stack[#stack] = nil
      elseif kind == "string" then
        frame.i = frame.i + 1
        if item ~= "" then return item end
      elseif kind == "function" then
        local chunk, err = item()
        if err then
          failed = err
        elseif chunk == nil then
          frame.i = frame.i + 1
        elseif chunk ~= "" then
          return chunk
        end
      else
        frame.i = frame.i + 1
        enter(item)
      end
    end
    return nil, failed
  end
end

-----------------------------------------------------------------------------
-- The module, over sockets made by `default_create`, constants from `settings`
-----------------------------------------------------------------------------
local function build(default_create, settings)
  local _M = {}
  settings = settings or _M

  local metat = { __index = {} }
  local m = metat.__index

  local function fail(self, err)
    self:close()
    return nil, err
  end

  -- Sends `cmd arg` and checks the reply: code, reply, or failure.
  function m:exchange(cmd, arg, ok)
    local sent, err = self.tp:command(cmd, arg)
    if not sent then return fail(self, err) end
    local code, reply = self.tp:check(ok)
    if not code then return fail(self, reply) end
    return code, reply
  end

  -- The server's extensions (the EHLO reply); HELO for servers that refuse EHLO.
  function m:greet(domain)
    local code, reply = self.tp:check("2..")
    if not code then return fail(self, reply) end
    domain = domain or settings.DOMAIN
    local sent, err = self.tp:command("EHLO", domain)
    if not sent then return fail(self, err) end
    code, reply = self.tp:check("2..")
    if code then return reply end
    if not find(reply, "^5%d%d") then return fail(self, reply) end
    code, reply = self:exchange("HELO", domain, "2..")
    if not code then return nil, reply end
    return ""
  end

  function m:mail(from)
    return self:exchange("MAIL", "FROM:" .. from, "2..")
  end

  function m:rcpt(to)
    return self:exchange("RCPT", "TO:" .. to, "2..")
  end

  -- DATA, the dot-stuffed source, the terminator.
  function m:data(src, step)
    local code, err = self:exchange("DATA", nil, "3..")
    if not code then return nil, err end
    local stuffer = core.stuffer()
    local out = socket.sink("keep-open", self.tp:getcontrol())
    local function sink(chunk, e)
      if chunk then
        chunk = stuffer:push(chunk)
        if chunk == "" then return 1 end
      end
      return out(chunk, e)
    end
    local ok
    ok, err = ltn12.pump.all(src, sink, step or ltn12.pump.step)
    if not ok then return fail(self, err) end
    ok, err = self.tp:send(stuffer:terminator())
    if not ok then return fail(self, err) end
    code, err = self.tp:check("2..")
    if not code then return fail(self, err) end
    return code, err
  end

  function m:quit()
    return self:exchange("QUIT", nil, "2..")
  end

  function m:close()
    if self.tp then self.tp:close() end
    self.tp = nil
    return 1
  end

  function m:login(user, password)
    local code, err = self:exchange("AUTH", "LOGIN", "3..")
    if not code then return nil, err end
    for _, secret in ipairs({ user, password }) do
      local ok
      ok, err = self.tp:send((mime.b64(secret)) .. "\r\n")
      if not ok then return fail(self, err) end
      code, err = self.tp:check(secret == password and "2.." or "3..")
      if not code then return fail(self, err) end
    end
    return code, err
  end

  function m:plain(user, password)
    return self:exchange("AUTH", "PLAIN " .. (mime.b64("\0" .. user .. "\0" .. password)), "2..")
  end

  function m:auth(user, password, ext)
    if not user or not password then return 1 end
    if find(ext, "AUTH[^\n]+LOGIN") then return self:login(user, password) end
    if find(ext, "AUTH[^\n]+PLAIN") then return self:plain(user, password) end
    return fail(self, "authentication not supported")
  end

  function m:send(mailt)
    local ok, err = self:mail(mailt.from)
    if not ok then return nil, err end
    local rcpt = mailt.rcpt
    if type(rcpt) ~= "table" then rcpt = { rcpt } end
    for _, to in ipairs(rcpt) do
      ok, err = self:rcpt(to)
      if not ok then return nil, err end
    end
    return self:data(mailt.source, mailt.step)
  end

  function _M.open(server, port, create)
    local control, err = tp.connect(server or settings.SERVER, port or settings.PORT,
      settings.TIMEOUT, create or default_create)
    if not control then return nil, err end
    return setmetatable({ tp = control }, metat)
  end

  function _M.message(mesgt)
    if type(mesgt) ~= "table" then argerror(1, "message", "table expected, got " .. type(mesgt)) end
    local h = lower_headers(mesgt.headers)
    h["date"] = h["date"] or (date("!%a, %d %b %Y %H:%M:%S ") .. (mesgt.zone or settings.ZONE))
    h["x-mailer"] = h["x-mailer"] or socket._VERSION
    h["mime-version"] = "1.0"
    local top = {}
    for k, v in pairs(mesgt) do top[k] = v end
    top.headers = h
    return message_source(top)
  end

  function _M.send(mailt)
    if type(mailt) ~= "table" then argerror(1, "send", "table expected, got " .. type(mailt)) end
    if type(mailt.from) ~= "string" then argerror(1, "send", "field 'from' must be a string") end
    local rcpt = mailt.rcpt
    if type(rcpt) == "table" then
      for _, to in ipairs(rcpt) do
        if type(to) ~= "string" then argerror(1, "send", "field 'rcpt' must hold strings") end
      end
    elseif type(rcpt) ~= "string" then
      argerror(1, "send", "field 'rcpt' must be a string or a table")
    end
    if type(mailt.source) ~= "function" and type(mailt.source) ~= "table" then
      argerror(1, "send", "field 'source' must be an ltn12 source")
    end
    local s, err = _M.open(mailt.server, mailt.port, mailt.create)
    if not s then return nil, err end
    local ext
    ext, err = s:greet(mailt.domain)
    if not ext then return nil, err end
    local ok
    ok, err = s:auth(mailt.user, mailt.password, ext)
    if ok then ok, err = s:send(mailt) end
    if ok then ok, err = s:quit() end
    if not ok then return nil, err end
    return s:close()
  end

  return _M
end

local smtp = build(function() return socket.tcp() end)
smtp.TIMEOUT = 60
smtp.SERVER = "localhost"
smtp.PORT = 25
smtp.DOMAIN = getenv("SERVER_NAME") or "localhost"
smtp.ZONE = "-0000"

-- For copas.smtp: the same module over other sockets, sharing this one's constants.
function smtp.__variant(create)
  return build(create, smtp)
end

socket.smtp = smtp
return smtp
