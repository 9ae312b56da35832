-- The socket namespace without the network: constants, time, skip, the
-- try/protect exceptions (also inside yielding coroutines), choose, and the
-- LTN12 sources and sinks over scripted stand-in sockets.
local t = require("t")
local socket = require("socket")

local unpack = table.unpack or unpack
local lua51 = _VERSION == "Lua 5.1" and not rawget(_G, "jit")

local function pack(...) return { n = select("#", ...), ... } end

-- ltn12.pump.all, written out so these tests depend on the socket module alone:
-- returns 1 when the source ended, or nil and the first error.
local function pump_all(source, sink)
  for _ = 1, 1000 do
    local chunk, src_err = source()
    local ok, sink_err = sink(chunk, src_err)
    if not chunk or not ok then
      local err = src_err or sink_err
      if err then return nil, err end
      return 1
    end
  end
  error("pump did not finish")
end

-- An ltn12 table sink.
local function collector(out)
  return function(chunk)
    if chunk then out[#out + 1] = chunk end
    return 1
  end
end

-----------------------------------------------------------------------------
-- constants and module shape
-----------------------------------------------------------------------------
t.test("socket is the socket.core table", function()
  t.ok(require("socket.core") == socket)
end)

t.test("_VERSION", function()
  t.eq(socket._VERSION, "LuaSocket 3.1.0")
end)

t.test("_DEBUG", function()
  t.eq(socket._DEBUG, true)
end)

t.test("_SETSIZE is a large number", function()
  t.eq(type(socket._SETSIZE), "number")
  t.ok(socket._SETSIZE >= 1024, "no smaller than FD_SETSIZE")
end)

t.test("_SOCKETINVALID", function()
  t.eq(socket._SOCKETINVALID, -1)
end)

t.test("every namespace function exists", function()
  for _, name in ipairs({ "bind", "connect", "connect4", "connect6", "gettime", "newtry",
      "protect", "select", "sink", "skip", "sleep", "source", "try", "choose", "__unload" }) do
    t.eq(type(socket[name]), "function", name)
  end
  for _, name in ipairs({ "toip", "tohostname", "gethostname", "getaddrinfo", "getnameinfo" }) do
    t.eq(type(socket.dns[name]), "function", "dns." .. name)
  end
  t.eq(type(socket.sinkt), "table")
  t.eq(type(socket.sourcet), "table")
  t.eq(socket.BLOCKSIZE, 2048)
  t.eq(socket.__unload(), nil)
end)

-----------------------------------------------------------------------------
-- time
-----------------------------------------------------------------------------
t.test("gettime is UNIX time with fractions", function()
  local now = socket.gettime()
  t.ok(math.abs(now - os.time()) < 5, "close to os.time()")
  local fractional = false
  for _ = 1, 1000 do
    if socket.gettime() % 1 ~= 0 then fractional = true break end
  end
  t.ok(fractional, "sub-second resolution")
  t.ok(socket.gettime() >= now, "does not go back")
end)

t.test("sleep waits", function()
  local start = socket.gettime()
  t.eq(pack(socket.sleep(0.05)).n, 0)
  t.ok(socket.gettime() - start >= 0.04, "slept")
end)

t.test("sleep with negative, zero and numeric-string times", function()
  socket.sleep(-1)
  socket.sleep(0)
  socket.sleep("0.001")
  socket.sleep(-math.huge)
end)

t.test("sleep argument errors", function()
  t.err("^bad argument #1 to 'sleep' %(number expected, got no value%)$", socket.sleep)
  t.err("^bad argument #1 to 'sleep' %(number expected, got string%)$", socket.sleep, "soon")
  t.err("^bad argument #1 to 'sleep' %(number expected, got nil%)$", socket.sleep, nil)
end)

-----------------------------------------------------------------------------
-- skip
-----------------------------------------------------------------------------
t.test("skip drops leading arguments", function()
  t.eq(pack(socket.skip(0, "a", "b")), { n = 2, "a", "b" })
  t.eq(pack(socket.skip(1, "a", "b", "c")), { n = 2, "b", "c" })
  t.eq(pack(socket.skip(2, "a", "b")), { n = 0 })
  t.eq(pack(socket.skip(5, "a")), { n = 0 })
  t.eq(pack(socket.skip(1, nil, nil, 3)), { n = 2, nil, 3 })
  t.eq(pack(socket.skip("1", "a", "b")), { n = 1, "b" })
  local code, sep = socket.skip(2, string.find("250-ok", "^(%d%d%d)(.?)"))
  t.eq(code, "250")
  t.eq(sep, "-")
end)

t.test("skip argument errors", function()
  t.err("^bad argument #1 to 'skip' %(number expected, got no value%)$", socket.skip)
  t.err("^bad argument #1 to 'skip' %(number expected, got table%)$", socket.skip, {})
  if math.type then
    t.err("^bad argument #1 to 'skip' %(number has no integer representation%)$",
      socket.skip, 1.5, "a")
  end
end)

-----------------------------------------------------------------------------
-- newtry / protect / try
-----------------------------------------------------------------------------
t.test("try returns all its arguments on success", function()
  t.eq(pack(socket.try(1, 2, nil, 4)), { n = 4, 1, 2, nil, 4 })
  t.eq(pack(socket.try("x")), { n = 1, "x" })
end)

t.test("protect turns try failures into nil, message", function()
  local f = socket.protect(function(fail)
    socket.try(not fail, "failed on purpose")
    return "fine", 2
  end)
  t.eq(pack(f(false)), { n = 2, "fine", 2 })
  t.eq(pack(f(true)), { n = 2, nil, "failed on purpose" })
end)

t.test("protect passes arguments and all results", function()
  local f = socket.protect(function(...) return select("#", ...), ... end)
  t.eq(pack(f(nil, "b", nil)), { n = 4, 3, nil, "b", nil })
end)

t.test("try with false or no arguments", function()
  local f = socket.protect(function(...) return socket.try(...) end)
  t.eq(pack(f(false, "was false")), { n = 2, nil, "was false" })
  t.eq(pack(f()), { n = 2, nil, nil })
  t.eq(pack(f(nil, 42)), { n = 2, nil, 42 })
end)

t.test("errors that are not try errors propagate", function()
  local f = socket.protect(function() error("plain error") end)
  t.err("plain error", f)
  local g = socket.protect(function() error({ code = 7 }) end)
  local ok, e = pcall(g)
  t.eq(ok, false)
  t.eq(e.code, 7)
  local h = socket.protect(function() local x = nil; return x.field end)
  t.err("attempt to index", h)
end)

t.test("a table imitating an exception is not unwrapped", function()
  local fake = setmetatable({ "not from try" }, { __metatable = false })
  local f = socket.protect(function() error(fake) end)
  local ok, e = pcall(f)
  t.eq(ok, false)
  t.ok(e == fake)
end)

t.test("an unprotected try raises a table that prints its message", function()
  local ok, e = pcall(socket.try, nil, "unprotected")
  t.eq(ok, false)
  t.eq(type(e), "table")
  t.eq(getmetatable(e), false)
  t.eq(e[1], "unprotected")
  t.eq(tostring(e), "unprotected")
end)

t.test("newtry calls the finalizer before raising", function()
  local log = {}
  local try = socket.newtry(function(...)
    log[#log + 1] = select("#", ...)
  end)
  t.eq(pack(try(1, 2)), { n = 2, 1, 2 })
  t.eq(#log, 0)
  local f = socket.protect(function() try(nil, "closing") end)
  t.eq(pack(f()), { n = 2, nil, "closing" })
  t.eq(log, { 0 })
end)

t.test("newtry without a finalizer", function()
  local try = socket.newtry()
  t.eq(pack(socket.protect(function() return try(nil, "x") end)()), { n = 2, nil, "x" })
  local try_nil = socket.newtry(nil)
  t.eq(pack(socket.protect(function() return try_nil(false, "y") end)()), { n = 2, nil, "y" })
end)

t.test("an error in the finalizer propagates", function()
  local try = socket.newtry(function() error("finalizer broke") end)
  local f = socket.protect(function() try(nil, "x") end)
  t.err("finalizer broke", f)
end)

t.test("nested protect: inner catches, outer sees a normal return", function()
  local inner = socket.protect(function() socket.try(nil, "inner") end)
  local outer = socket.protect(function()
    local v, e = inner()
    return v, e, "outer ran"
  end)
  t.eq(pack(outer()), { n = 3, nil, "inner", "outer ran" })
end)

t.test("the documented connect-style example", function()
  local closed = false
  local conn = { close = function() closed = true end }
  local foo = socket.protect(function()
    local c = socket.try(conn)
    local try = socket.newtry(function() c:close() end)
    try(nil, "closed by peer")
    return "unreachable"
  end)
  t.eq(pack(foo()), { n = 2, nil, "closed by peer" })
  t.ok(closed, "finalizer closed the connection")
end)

if lua51 then
  print("note: PUC Lua 5.1's pcall cannot yield; protect-with-yield tests skipped")
else
  t.test("a protected function may yield (Copas tasks)", function()
    local f = socket.protect(function(a)
      local b = coroutine.yield(a + 1)
      local c = coroutine.yield(b * 2)
      socket.try(c ~= "fail", "failed after yields")
      return "done", c
    end)
    local co = coroutine.create(f)
    t.eq(pack(coroutine.resume(co, 1)), { n = 2, true, 2 })
    t.eq(pack(coroutine.resume(co, 5)), { n = 2, true, 10 })
    t.eq(pack(coroutine.resume(co, "ok")), { n = 3, true, "done", "ok" })

    co = coroutine.create(f)
    coroutine.resume(co, 1)
    coroutine.resume(co, 1)
    t.eq(pack(coroutine.resume(co, "fail")), { n = 3, true, nil, "failed after yields" })
  end)

  t.test("newtry's finalizer runs inside the coroutine after a yield", function()
    local finalized = 0
    local f = socket.protect(function()
      local try = socket.newtry(function() finalized = finalized + 1 end)
      try(coroutine.yield("waiting"))
    end)
    local co = coroutine.wrap(f)
    t.eq(co(), "waiting")
    t.eq(pack(co(nil, "timeout")), { n = 2, nil, "timeout" })
    t.eq(finalized, 1)
  end)

  t.test("a plain error after a yield propagates out of the coroutine", function()
    local co = coroutine.create(socket.protect(function()
      coroutine.yield()
      error("after yield")
    end))
    coroutine.resume(co)
    local ok, e = coroutine.resume(co)
    t.eq(ok, false)
    t.ok(tostring(e):find("after yield"))
  end)
end

-----------------------------------------------------------------------------
-- choose
-----------------------------------------------------------------------------
t.test("choose dispatches on a name, with a default", function()
  local f = socket.choose({
    a = function(x, y) return "a", x, y end,
    default = function(x, y) return "default", x, y end,
  })
  t.eq(pack(f("a", 1, 2)), { n = 3, "a", 1, 2 })
  t.eq(pack(f(1, 2)), { n = 3, "default", 1, 2 })
  t.eq(pack(f()), { n = 3, "default", nil, nil })
  t.err("unknown key %(b%)", f, "b")
end)

t.test("sink and source reject unknown modes", function()
  t.err("unknown key %(bogus%)", socket.sink, "bogus", {})
  t.err("unknown key %(bogus%)", socket.source, "bogus", {})
end)

-----------------------------------------------------------------------------
-- sources and sinks, over scripted stand-in sockets
-----------------------------------------------------------------------------
-- A stream socket that sends into `sent` and receives from a script of
-- results, as the tcp object's receive returns them.
local function fake_socket(script)
  local s = { sent = {}, closed = false, receives = {}, script = script or {} }
  function s:send(data) self.sent[#self.sent + 1] = data; return #data end
  function s:receive(pattern)
    self.receives[#self.receives + 1] = pattern or "line"
    local step = table.remove(self.script, 1)
    if not step then return nil, "closed", "" end
    return unpack(step, 1, 3)
  end
  function s:close() self.closed = true; return 1 end
  function s:getfd() return 42 end
  function s:dirty() return true end
  return s
end

t.test("keep-open sink (also the default)", function()
  for _, mode in ipairs({ "keep-open", "default" }) do
    local s = fake_socket()
    local sink = socket.sink(mode, s)
    t.eq(sink("abc"), 3)
    t.eq(sink(nil), 1)
    t.eq(s.sent, { "abc" })
    t.eq(s.closed, false)
  end
  local s = fake_socket()
  local sink = socket.sink(s)
  sink("x")
  t.eq(s.sent, { "x" })
end)

t.test("close-when-done sink", function()
  local s = fake_socket()
  local chunks = { "hello", " world" }
  local function source() return table.remove(chunks, 1) end
  local ok, err = pump_all(source, socket.sink("close-when-done", s))
  t.eq(ok, 1)
  t.eq(err, nil)
  t.eq(table.concat(s.sent), "hello world")
  t.eq(s.closed, true)
end)

t.test("http-chunked sink", function()
  local s = fake_socket()
  local sink = socket.sink("http-chunked", s)
  sink("hello")
  sink(string.rep("x", 26))
  sink(nil)
  t.eq(s.sent, { "5\r\nhello\r\n", "1A\r\n" .. string.rep("x", 26) .. "\r\n", "0\r\n\r\n" })
  t.eq(s.closed, false)
end)

t.test("sinks and sources are selectable", function()
  local s = fake_socket()
  local sink = socket.sink("keep-open", s)
  t.eq(sink:getfd(), 42)
  t.eq(sink:dirty(), true)
  local source = socket.source("until-closed", s)
  t.eq(source.getfd(), 42)
  t.eq(source.dirty(), true)
end)

t.test("by-length source", function()
  local s = fake_socket({ { "abcd" }, { "ef" } })
  socket.BLOCKSIZE = 4
  local out = {}
  local ok, err = pcall(pump_all, socket.source("by-length", s, 6), collector(out))
  socket.BLOCKSIZE = 2048
  t.ok(ok, err)
  t.eq(table.concat(out), "abcdef")
  t.eq(s.receives, { 4, 2 })
end)

t.test("by-length source passes errors on", function()
  local s = fake_socket({ { nil, "timeout", "ab" } })
  local source = socket.source("by-length", s, 10)
  t.eq(pack(source()), { n = 2, nil, "timeout" })
end)

t.test("until-closed source (also the default)", function()
  local s = fake_socket({ { "one" }, { nil, "closed", "two" } })
  local source = socket.source("until-closed", s)
  t.eq(source(), "one")
  t.eq(source(), "two")
  t.eq(s.closed, true)
  t.eq(pack(source()), { n = 1, nil })
  t.eq(s.receives, { 2048, 2048 })

  local d = fake_socket({ { nil, "timeout", "" } })
  t.eq(pack(socket.source(d)()), { n = 2, nil, "timeout" })
end)

t.test("http-chunked source", function()
  local s = fake_socket({
    { "5;ext=1" }, { "hello" }, { "" },
    { "1a" }, { string.rep("y", 26) }, { "" },
    { "0" }, { "X-Check: one" }, { " two" }, { "X-Check: three" }, { "" },
  })
  local headers = {}
  local out = {}
  local ok, err = pump_all(socket.source("http-chunked", s, headers), collector(out))
  t.eq(err, nil)
  t.eq(ok, 1)
  t.eq(table.concat(out), "hello" .. string.rep("y", 26))
  t.eq(headers["x-check"], "one two, three")
  t.eq(s.receives[2], 5)
end)

t.test("http-chunked source errors", function()
  local s = fake_socket({ { "zz" } })
  t.eq(pack(socket.source("http-chunked", s)()), { n = 2, nil, "invalid chunk size" })
  local c = fake_socket({ { nil, "closed", "" } })
  t.eq(pack(socket.source("http-chunked", c)()), { n = 2, nil, "closed" })
end)

t.run()
