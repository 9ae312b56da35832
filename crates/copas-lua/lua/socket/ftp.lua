-----------------------------------------------------------------------------
-- socket.ftp: FTP client (LuaSocket 3.x API): ftp.get, ftp.put, ftp.command.
--
-- Both the control and the data connection come from `create` (socket.tcp by
-- default), so copas.ftp, which passes Copas-wrapped sockets, runs the same code
-- without blocking the loop. Replies, commands and the PASV/EPSV/PORT/EPRT forms
-- are parsed and written by socket.tp.core in Rust; this file drives the dialogue.
--
-- Unlike LuaSocket, no step raises and catches errors (Lua 5.1 cannot yield
-- across pcall); every method closes the session when it fails and returns
-- nil, message, which the high-level functions pass on.
-----------------------------------------------------------------------------
local socket = require("socket")
local url = require("socket.url")
local tp = require("socket.tp")
local ltn12 = require("ltn12")
local core = require("socket.tp.core")

local error, pairs, setmetatable, tostring, type = error, pairs, setmetatable, tostring, type
local concat = table.concat
local find, gsub, match = string.find, string.gsub, string.match

local function plain_accept(server)
  return server:accept()
end

-- A module table whose functions make their sockets with `default_create` and
-- accept active-mode data connections with `accept(server, timeout)`. Constants
-- (TIMEOUT, PORT, USER, PASSWORD) are read from `settings`.
local function build(default_create, accept, settings)
  local _M = {}
  settings = settings or _M

  local metat = { __index = {} }
  local m = metat.__index

  -- Closes the session (as LuaSocket's try finalizer does) and reports `err`.
  local function fail(self, err)
    self:close()
    return nil, err
  end

  function _M.open(server, port, create)
    create = create or default_create
    local control, err = tp.connect(server, port or settings.PORT, settings.TIMEOUT, create)
    if not control then return nil, err end
    return setmetatable({ tp = control, create = create }, metat)
  end

  function m:portconnect()
    self.server:settimeout(settings.TIMEOUT)
    local data, err = accept(self.server, settings.TIMEOUT)
    if not data then return fail(self, err) end
    self.data = data
    data:settimeout(settings.TIMEOUT)
    return 1
  end

  function m:pasvconnect()
    local data, err = self.create()
    if not data then return fail(self, err) end
    self.data = data
    data:settimeout(settings.TIMEOUT)
    local ok
    ok, err = data:connect(self.pasvt.address, self.pasvt.port)
    if not ok then return fail(self, err) end
    return 1
  end

  -- Sends `cmd arg` and checks the reply against `ok`; code, reply or failure.
  function m:exchange(cmd, arg, ok)
    local sent, err = self.tp:command(cmd, arg)
    if not sent then return fail(self, err) end
    local code, reply = self.tp:check(ok)
    if not code then return fail(self, reply) end
    return code, reply
  end

  function m:login(user, password)
    local code, err = self:exchange("user", user or settings.USER, { "2..", 331 })
    if not code then return nil, err end
    if code == 331 then
      code, err = self:exchange("pass", password or settings.PASSWORD, "2..")
      if not code then return nil, err end
    end
    return 1
  end

  local function forget_server(self)
    if self.server then
      self.server:close()
      self.server = nil
    end
  end

  function m:pasv()
    local code, reply = self:exchange("pasv", nil, "2..")
    if not code then return nil, reply end
    local address, port = core.pasv(reply)
    if not address then return fail(self, port) end
    self.pasvt = { address = address, port = port }
    forget_server(self)
    return address, port
  end

  -- EPSV gives only a port; the address is the control connection's peer.
  local function use_epsv(self, reply)
    local port, err = core.epsv(reply)
    if not port then return fail(self, err) end
    local address = self.tp:getpeername()
    if not address then return fail(self, "closed") end
    self.pasvt = { address = address, port = port }
    forget_server(self)
    return address, port
  end

  function m:epsv()
    local code, reply = self:exchange("epsv", nil, "229")
    if not code then return nil, reply end
    return use_epsv(self, reply)
  end

  -- Listens on the control connection's local address unless told where.
  local function listen(self, address, port)
    self.pasvt = nil
    if address then return address, port end
    local err
    address, err = self.tp:getsockname()
    if not address then return fail(self, err) end
    local server
    server, err = socket.bind(address, 0)
    if not server then return fail(self, err) end
    self.server = server
    return server:getsockname()
  end

  function m:port(address, port)
    local err
    address, port = listen(self, address, port)
    if not address then return nil, port end
    local arg
    arg, err = core.port(address, port)
    if not arg then return fail(self, err) end
    local code
    code, err = self:exchange("port", arg, "2..")
    if not code then return nil, err end
    return 1
  end

  function m:eprt(_, address, port)
    local err
    address, port = listen(self, address, port)
    if not address then return nil, port end
    local arg
    arg, err = core.eprt(address, port)
    if not arg then return fail(self, err) end
    local code
    code, err = self:exchange("eprt", arg, "2..")
    if not code then return nil, err end
    return 1
  end

  local function argument_of(t)
    local argument = t.argument or url.unescape((gsub(t.path or "", "^[/\\]", "")))
    if argument == "" then return nil end
    return argument
  end

  -- Sends sendt.source with `command` (STOR by default); the number of bytes sent.
  function m:send(sendt)
    if not (self.pasvt or self.server) then return fail(self, "need port or pasv first") end
    if self.pasvt then
      local ok, err = self:pasvconnect()
      if not ok then return nil, err end
    end
    local code, err = self:exchange(sendt.command or "stor", argument_of(sendt), { "2..", "1.." })
    if not code then return nil, err end
    if not self.pasvt then
      local ok
      ok, err = self:portconnect()
      if not ok then return nil, err end
    end
    local sent = 0
    local data_sink = socket.sink("close-when-done", self.data)
    local function sink(chunk, e)
      if chunk then sent = sent + #chunk end
      return data_sink(chunk, e)
    end
    local ok
    ok, err = ltn12.pump.all(sendt.source, sink, sendt.step or ltn12.pump.step)
    if not ok then return fail(self, err) end
    self.data:close()
    self.data = nil
    if code < 200 then
      code, err = self.tp:check("2..")
      if not code then return fail(self, err) end
    end
    return sent
  end

  -- Receives with `command` (RETR by default) into recvt.sink.
  function m:receive(recvt)
    if not (self.pasvt or self.server) then return fail(self, "need port or pasv first") end
    if self.pasvt then
      local ok, err = self:pasvconnect()
      if not ok then return nil, err end
    end
    local code, reply = self:exchange(recvt.command or "retr", argument_of(recvt), { "1..", "2.." })
    if not code then return nil, reply end
    if code >= 200 then
      -- Done without a transfer: the reply is the answer (as LuaSocket 3.1 does).
      if self.data then self.data:close() end
      self.data = nil
      recvt.sink(reply)
      return 1
    end
    local err
    if not self.pasvt then
      local ok
      ok, err = self:portconnect()
      if not ok then return nil, err end
    end
    local source = socket.source("until-closed", self.data)
    local ok
    ok, err = ltn12.pump.all(source, recvt.sink, recvt.step or ltn12.pump.step)
    if not ok then return fail(self, err) end
    self.data:close()
    self.data = nil
    code, err = self.tp:check("2..")
    if not code then return fail(self, err) end
    return 1
  end

  function m:cwd(dir)
    local code, err = self:exchange("cwd", dir, 250)
    if not code then return nil, err end
    return 1
  end

  function m:type(kind)
    local code, err = self:exchange("type", kind, 200)
    if not code then return nil, err end
    return 1
  end

  function m:greet()
    local code, err = self.tp:check({ "1..", "2.." })
    if not code then return fail(self, err) end
    if code < 200 then
      code, err = self.tp:check("2..")
      if not code then return fail(self, err) end
    end
    return 1
  end

  function m:quit()
    local code, err = self:exchange("quit", nil, "2..")
    if not code then return nil, err end
    return 1
  end

  function m:close()
    if self.data then self.data:close() end
    self.data = nil
    forget_server(self)
    if self.tp then self.tp:close() end
    self.tp = nil
    return 1
  end

  -- Chooses the data connection: EPSV, then PASV for servers that answer EPSV
  -- with anything but a usable 229; PORT when passive is false.
  function m:datachannel(passive)
    if passive == false then return self:port() end
    local sent, err = self.tp:command("epsv")
    if not sent then return fail(self, err) end
    local code, reply = self.tp:check("229")
    if code and core.epsv(reply) then return use_epsv(self, reply) end
    -- A reply starts with its code; anything else is a socket error.
    if not code and not find(reply, "^%d%d%d") then return fail(self, reply) end
    return self:pasv()
  end

  -----------------------------------------------------------------------------
  -- High level API
  -----------------------------------------------------------------------------
  local default = { path = "/", scheme = "ftp" }

  -- The `;type=a|i` parameter of an FTP URL.
  local function url_type(params)
    if not params then return nil end
    local kind = match(params, "^type=(.)$")
    if kind ~= "a" and kind ~= "i" then
      return nil, "invalid type '" .. tostring(kind or params) .. "'"
    end
    return kind
  end

  local function genericform(u)
    local t, err = url.parse(u, default)
    if not t then return nil, err end
    if t.scheme ~= "ftp" then return nil, "wrong scheme '" .. tostring(t.scheme) .. "'" end
    if not t.host then return nil, "missing hostname" end
    if t.params then
      t.type, err = url_type(t.params)
      if not t.type then return nil, err end
    end
    return t
  end
  _M.genericform = genericform

  -- The request table with the fields of t.url under those of t.
  local function override(t)
    if not t.url then return t end
    local u, err = url.parse(t.url)
    if not u then return nil, err end
    if u.params and t.type == nil then
      local kind
      kind, err = url_type(u.params)
      if not kind then return nil, err end
      u.type = kind
    end
    for k, v in pairs(t) do u[k] = v end
    return u
  end

  -- Opens, greets, logs in, sets the type and runs `work(f, t)`, then quits.
  local function session(t, work)
    local err
    t, err = override(t)
    if not t then return nil, err end
    if not t.host then return nil, "missing hostname" end
    local f
    f, err = _M.open(t.host, t.port, t.create)
    if not f then return nil, err end
    local ok
    ok, err = f:greet()
    if ok then ok, err = f:login(t.user, t.password) end
    if ok and t.type then ok, err = f:type(t.type) end
    if not ok then return nil, err end
    local result
    result, err = work(f, t)
    if not result then return nil, err end
    ok, err = f:quit()
    if not ok then return nil, err end
    f:close()
    return result
  end

  local function transfer(method)
    return function(f, t)
      local ok, err = f:datachannel(t.passive)
      if not ok then return nil, err end
      return f[method](f, t)
    end
  end

  local function check_request(fname, t, field)
    if type(t) ~= "table" then
      error("bad argument #1 to '" .. fname .. "' (string or table expected, got " .. type(t) .. ")", 3)
    end
    if field and type(t[field]) ~= "function" and type(t[field]) ~= "table" then
      error("bad argument #1 to '" .. fname .. "' (field '" .. field .. "' must be an ltn12 " .. field .. ")", 3)
    end
  end

  function _M.put(putt, body)
    if type(putt) == "string" then
      if type(body) ~= "string" then
        error("bad argument #2 to 'put' (string expected, got " .. type(body) .. ")", 2)
      end
      local t, err = genericform(putt)
      if not t then return nil, err end
      t.source = ltn12.source.string(body)
      return session(t, transfer("send"))
    end
    check_request("put", putt, "source")
    return session(putt, transfer("send"))
  end

  function _M.get(gett)
    if type(gett) == "string" then
      local t, err = genericform(gett)
      if not t then return nil, err end
      local chunks = {}
      t.sink = ltn12.sink.table(chunks)
      local ok
      ok, err = session(t, transfer("receive"))
      if not ok then return nil, err end
      return concat(chunks)
    end
    check_request("get", gett, "sink")
    return session(gett, transfer("receive"))
  end

  -- One command (or a list of them, with lists of arguments and checks) after login.
  function _M.command(cmdt)
    check_request("command", cmdt)
    return session(cmdt, function(f, t)
      if not t.command then return nil, "missing command" end
      local commands, arguments, checks = t.command, t.argument, t.check
      if type(commands) ~= "table" then
        commands, arguments, checks = { commands }, { arguments }, { checks }
      end
      arguments, checks = arguments or {}, checks or {}
      for i = 1, #commands do
        local sent, err = f.tp:command(commands[i], arguments[i])
        if not sent then return fail(f, err) end
        if checks[i] then
          local code, reply = f.tp:check(checks[i])
          if not code then return fail(f, reply) end
        end
      end
      return 1
    end)
  end

  return _M
end

local ftp = build(function() return socket.tcp() end, plain_accept)
ftp.TIMEOUT = 60
ftp.PORT = 21
ftp.USER = "ftp"
ftp.PASSWORD = "anonymous@anonymous.org"

-- For copas.ftp: the same module over other sockets, sharing this one's constants.
function ftp.__variant(create, accept)
  return build(create, accept, ftp)
end

socket.ftp = ftp
return ftp
