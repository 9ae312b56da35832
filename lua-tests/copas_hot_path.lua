-- copas.receive and copas.send where they wait in C (Lua 5.2 to 5.4: a yield with a
-- continuation) and where copas.lua loops around the core (5.1, LuaJIT): the same
-- behaviour either way, and the task bookkeeping of core.resume.
local t = require("t")
local copas = require("copas")
local socket = require("socket")

local loopback = require("loopback")
local server, client = loopback.server, loopback.client

-- Where C functions can yield with a continuation (lua_yieldk: Lua 5.2 and later).
local CONTINUATIONS = _VERSION ~= "Lua 5.1" and rawget(_G, "jit") == nil

t.test("copas.receive and copas.send are the core's C functions where Lua has continuations", function()
  local core = require("copas.core")
  local wrapped = copas.wrap(socket.tcp())
  local in_c = {
    receive = copas.receive == core.receive,
    send = copas.send == core.send_data,
    wrapper_receive = wrapped.receive == core.wrapped_receive,
    wrapper_send = wrapped.send == core.wrapped_send,
  }
  wrapped:close()
  local expected = CONTINUATIONS
  t.eq(in_c, { receive = expected, send = expected, wrapper_receive = expected, wrapper_send = expected })
end)

-- Plain Lua 5.1 cannot yield across pcall (programs use coxpcall there).
local PCALL_YIELDS = _VERSION ~= "Lua 5.1" or rawget(_G, "jit") ~= nil
local NESTED_YIELDS = _VERSION == "Lua 5.1" and rawget(_G, "jit") == nil

-- An echo server answering each line upper-cased; `run(port)` is the client thread.
local function with_echo(run)
  local srv, port = server()
  copas.addserver(srv, function(skt)
    while true do
      local line = copas.receive(skt)
      if not line then break end
      copas.send(skt, line:upper() .. "\n")
    end
  end)
  copas.addthread(function()
    run(port)
    copas.removeserver(srv)
  end)
  copas.loop()
end

t.test("receive and send wait inside pcall in a task", function()
  if not PCALL_YIELDS then return end -- plain Lua 5.1 cannot yield across pcall
  local results = {}
  with_echo(function(port)
    local c = socket.tcp()
    assert(copas.connect(c, "127.0.0.1", port))
    for i = 1, 3 do
      local ok, sent = pcall(copas.send, c, "line " .. i .. "\n")
      local ok2, line = pcall(copas.receive, c)
      results[#results + 1] = { ok, sent, ok2, line }
    end
    c:close()
  end)
  t.eq(results, {
    { true, 7, true, "LINE 1" }, { true, 7, true, "LINE 2" }, { true, 7, true, "LINE 3" },
  })
end)

t.test("a wait from a coroutine nested in a task raises Copas's error at the caller", function()
  if NESTED_YIELDS then return end -- plain Lua 5.1 passes nested yields on (copas_nested.lua)
  local errors = {}
  with_echo(function(port)
    local c = socket.tcp()
    assert(copas.connect(c, "127.0.0.1", port))
    -- (Not tail calls: those leave no caller position on 5.1, 5.2 and LuaJIT.)
    for _, op in ipairs({ function() local r = copas.receive(c); return r end,
                          function() local r = copas.send(c, "x\n"); return r end }) do
      local ok, err = coroutine.resume(coroutine.create(op))
      errors[#errors + 1] = { ok, err }
    end
    c:close()
  end)
  for _, e in ipairs(errors) do
    t.eq(e[1], false)
    t.ok(tostring(e[2]):find("^[^\n]*copas_hot_path%.lua:%d+: cannot yield to Copas from a coroutine created inside a Copas thread"),
      tostring(e[2]))
  end
end)

t.test("outside any task receive and send block as LuaSocket's do", function()
  local srv, port = server()
  local c = assert(socket.connect("127.0.0.1", port))
  local peer = srv:accept()
  t.eq(copas.send(peer, "hello\n"), 6)
  t.eq(copas.receive(c), "hello")
  peer:send("c")
  t.eq(copas.receive(c, 3, "ab"), "abc")
  c:close(); peer:close(); srv:close()
end)

t.test("a task yielding by itself is reported, with the others unharmed", function()
  local reported, got
  copas.addthread(function()
    copas.seterrorhandler(function(msg) reported = msg end)
    coroutine.yield("stray")
  end)
  with_echo(function(port)
    local c = socket.tcp()
    assert(copas.connect(c, "127.0.0.1", port))
    copas.send(c, "still\n")
    got = copas.receive(c)
    c:close()
  end)
  t.ok(tostring(reported):find("coroutine.yield was called without a resume first", 1, true),
    tostring(reported))
  t.eq(got, "STILL")
end)

t.test("with debug logging on, waits are logged and data still flows", function()
  local log = {}
  copas.debug.start(function(...) log[#log + 1] = table.concat({ ... }) end)
  local got
  with_echo(function(port)
    local c = socket.tcp()
    assert(copas.connect(c, "127.0.0.1", port))
    copas.send(c, "logged\n")
    got = copas.receive(c)
    c:close()
  end)
  copas.debug.stop()
  t.eq(got, "LOGGED")
  local yields = 0
  for _, line in ipairs(log) do
    if line:find("^yielding") then yields = yields + 1 end
  end
  t.ok(yields > 0, "logged " .. #log .. " lines")
end)

t.test("copas.sleep: arguments checked at the caller, nested and outside-task calls", function()
  local order, errors = {}, {}
  copas.addthread(function()
    for i = 1, 3 do order[#order + 1] = "a" .. i; copas.sleep() end
  end)
  copas.addthread(function()
    for i = 1, 3 do order[#order + 1] = "b" .. i; copas.sleep(0) end
    local ok, err = pcall(copas.sleep, {})
    errors[#errors + 1] = err
    ok, err = pcall(function() local r = copas.sleep("1"); return r end)
    errors[#errors + 1] = err
    if not NESTED_YIELDS then
      ok, err = coroutine.resume(coroutine.create(function() local r = copas.sleep(0); return r end))
      errors[#errors + 1] = err
    end
    local woken = false
    local sleeper = copas.addthread(function() copas.sleep(-1); woken = true end)
    copas.sleep(0.01)
    t.eq(woken, false)
    copas.wakeup(sleeper)
    copas.sleep(0)
    t.eq(woken, true)
  end)
  copas.loop()
  t.eq(order, { "a1", "b1", "a2", "b2", "a3", "b3" })
  t.ok(tostring(errors[1]):find("bad argument #1 to 'sleep' (number expected, got table)", 1, true),
    tostring(errors[1]))
  t.ok(tostring(errors[2]):find("^[^\n]*copas_hot_path%.lua:%d+: bad argument #1 to 'sleep' %(number expected, got string%)"),
    tostring(errors[2]))
  if not NESTED_YIELDS then
    t.ok(tostring(errors[3]):find("^[^\n]*copas_hot_path%.lua:%d+: cannot yield to Copas from a coroutine created inside a Copas thread"),
      tostring(errors[3]))
  end
  -- Outside any task it blocks (socket.sleep) and returns nothing.
  t.eq(select("#", copas.sleep(0.01)), 0)
end)

t.test("a task completing operations back to back yields after its turn (64)", function()
  -- The server's handler reads 200 buffered lines without waiting; a ticker counts
  -- how often it runs meanwhile.
  local srv, port = server()
  local reads, ticks = 0, 0
  local reading = true
  copas.addserver(srv, function(skt)
    copas.sleep(0.05) -- let all lines arrive
    for _ = 1, 200 do
      if copas.receive(skt) then reads = reads + 1 end
    end
    reading = false
  end)
  copas.addthread(function()
    local c = client(port)
    c:send(string.rep("x\n", 200))
    while reading do ticks = ticks + 1; copas.sleep(0) end
    c:close()
    copas.removeserver(srv)
  end)
  copas.loop()
  t.eq(reads, 200)
  -- 200 reads are three full turns and part of a fourth; the ticker runs between them
  -- (and during the server's sleep).
  t.ok(ticks >= 3, "the ticker ran " .. ticks .. " times")
end)

t.test("tasks the core ends itself: gone from every table, the next task unharmed", function()
  -- Tasks that finish with nothing more for copas.lua are ended by core.run; one that
  -- removes itself and then waits is ended when it yields, and the flag stays with it.
  local plain, with_args, after = {}, nil, nil
  for i = 1, 50 do
    plain[i] = copas.addthread(function() copas.sleep(0) end)
  end
  with_args = copas.addthread(function(a, b, ...)
    after = { a, b, select("#", ...) }
  end, "a", nil, nil)
  local removed_ran_on = false
  local self_removing = copas.addthread(function()
    copas.removethread(coroutine.running())
    copas.sleep(0)
    removed_ran_on = true
  end)
  local next_ran = 0
  copas.addthread(function()
    for _ = 1, 3 do copas.sleep(0); next_ran = next_ran + 1 end
  end)
  copas.loop()
  t.eq(after, { "a", nil, 1 })
  t.eq(removed_ran_on, false)
  t.eq(next_ran, 3)
  for i = 1, 50 do
    t.eq(copas._alive(plain[i]), false)
    t.eq(copas.wakeup(plain[i]), nil)
  end
  t.eq(copas._alive(with_args), false)
  t.eq(copas._alive(self_removing), false)
  t.eq(copas.finished(), true)
  t.eq(copas.metrics().threads.ready, 0)
end)

t.test("addthread checks its handler at the caller", function()
  for _, bad in ipairs({ { n = 0 }, { n = 1, 42 }, { n = 1, "f" } }) do
    local ok, err = pcall(copas.addthread, (table.unpack or unpack)(bad, 1, bad.n))
    t.eq(ok, false)
    t.ok(err:find("bad argument #1 to 'addthread' %(function expected, got "), err)
  end
  local line = debug.getinfo(1, "l").currentline + 1
  local ok, err = pcall(function() local co = copas.addthread(nil); return co end)
  t.eq(ok, false)
  t.ok(err:find(":" .. line .. ": bad argument #1 to 'addthread' %(function expected, got nil%)"),
    err)
end)

t.test("a coroutine is a task's only while it is: collected forever-paused tasks, reused memory", function()
  -- Tasks paused forever and dropped are collected; coroutines made afterwards may take
  -- their memory. None of those is taken for a task, and new tasks are known as theirs.
  for _ = 1, 200 do
    copas.addthread(function() copas.pauseforever() end)
  end
  copas.step(0)
  collectgarbage()
  collectgarbage()
  local plain, tasks = {}, {}
  for i = 1, 200 do
    plain[i] = coroutine.create(function() end)
    tasks[i] = copas.addthread(function() copas.sleep(0) end)
  end
  for i = 1, 200 do
    t.eq(copas._alive(plain[i]), false)
    t.eq(copas.wakeup(plain[i]), nil)
    t.eq(copas._alive(tasks[i]), true)
  end
  copas.removethread(plain[1]) -- not a task: nothing happens
  copas.loop()
  for i = 1, 200 do t.eq(copas._alive(tasks[i]), false) end
  t.eq(copas.finished(), true)
end)

t.test("a wrapper's receive and send: the socket's operations, timeout 0 is a partial receive", function()
  local srv, port = server()
  local results = {}
  copas.addserver(srv, function(skt)
    local w = copas.wrap(skt)
    local line = w:receive("*l")
    w:send("got " .. line .. "\n", 1, 4) -- "got "
    w:send("got " .. line .. "\n", 5)
    w:send("tail")
    copas.sleep(0.05)
    w:close()
  end)
  copas.addthread(function()
    local w = copas.wrap(socket.tcp())
    assert(w:connect("127.0.0.1", port))
    results.sent = { w:send("hello\n") }
    results.line = { w:receive("*l", "> ") }
    -- A receive timeout of 0 makes the wrapper's receive Copas's receivepartial.
    w:settimeouts(nil, nil, 0)
    copas.sleep(0.02)
    results.partial = { w:receive(100) }
    w:close()
    copas.removeserver(srv)
  end)
  copas.loop()
  t.eq(results.sent, { 6 })
  t.eq(results.line, { "> got hello" })
  t.eq(results.partial, { nil, "timeout", "tail" })
  -- Not called on a wrapper: the error the Lua method raises.
  local w = copas.wrap(socket.tcp())
  local ok, err = pcall(w.receive, nil)
  t.eq(ok, false)
  t.ok(err:find("attempt to index"), err)
  ok, err = pcall(w.send, 42, "x")
  t.eq(ok, false)
  t.ok(err:find("attempt to index"), err)
  w:close()
end)


t.test("copas.settimeouts on our socket: nil keeps a limit, a negative number removes it", function()
  local srv, port = server()
  local results = {}
  copas.addserver(srv, function(skt)
    copas.receive(skt) -- "go"
    copas.sleep(0.6)
    copas.send(skt, "late\n")
    copas.receive(skt) -- until the client closes
  end)
  copas.addthread(function()
    local c = socket.tcp()
    assert(copas.connect(c, "127.0.0.1", port))
    copas.settimeouts(c, nil, nil, 0.05)
    copas.send(c, "go\n")
    results.limited = { copas.receive(c) }
    copas.settimeouts(c, nil, nil, nil)
    results.kept = { copas.receive(c) }
    results.timeouts = { copas.gettimeouts(c) }
    copas.settimeouts(c, nil, -1, -1)
    results.unlimited = { copas.receive(c) }
    results.none = { copas.gettimeouts(c) }
    c:close()
    copas.removeserver(srv)
  end)
  copas.loop()
  t.eq(results.limited, { nil, "timeout", "" })
  t.eq(results.kept, { nil, "timeout", "" })
  t.eq(results.timeouts, { nil, nil, 0.05 })
  t.eq(results.unlimited, { "late" })
  t.eq(results.none, {})
end)

t.test("TCP and Unix stream sockets taking turns in one loop", function()
  local ok_unix, unix = pcall(require, "socket.unix")
  if not ok_unix then return end
  local path = os.tmpname()
  os.remove(path)
  local usrv = assert(unix.stream())
  assert(usrv:bind(path))
  assert(usrv:listen(8))
  local tsrv, port = server()
  local function echo(skt)
    while true do
      local line = copas.receive(skt)
      if not line then break end
      copas.send(skt, line:upper() .. "\n")
    end
  end
  copas.addserver(usrv, echo)
  copas.addserver(tsrv, echo)
  local replies = {}
  copas.addthread(function()
    local u, c = unix.stream(), socket.tcp()
    assert(copas.connect(u, path))
    assert(copas.connect(c, "127.0.0.1", port))
    copas.settimeouts(u, nil, 5, 5)
    for i = 1, 3 do
      copas.send(c, "tcp " .. i .. "\n")
      copas.send(u, "unix " .. i .. "\n")
      replies[#replies + 1] = copas.receive(u)
      replies[#replies + 1] = copas.receive(c)
    end
    u:close()
    c:close()
    copas.removeserver(usrv)
    copas.removeserver(tsrv)
  end)
  copas.loop()
  os.remove(path)
  t.eq(replies, { "UNIX 1", "TCP 1", "UNIX 2", "TCP 2", "UNIX 3", "TCP 3" })
end)

t.test("a table with a socket's metatable is not taken for the socket", function()
  -- The hot path knows our objects by their class metatables: a table carrying one
  -- goes to copas.lua, which calls its methods, as it would on the real stack.
  local errors = {}
  with_echo(function(port)
    local c = socket.tcp()
    assert(copas.connect(c, "127.0.0.1", port))
    local fake = setmetatable({}, getmetatable(c))
    local ok, err = pcall(copas.send, fake, "x\n")
    errors[#errors + 1] = not ok and tostring(err)
    ok, err = pcall(copas.receive, fake)
    errors[#errors + 1] = not ok and tostring(err)
    copas.send(c, "still here\n")
    errors[#errors + 1] = copas.receive(c)
    c:close()
  end)
  t.ok(errors[1] and errors[1]:find("tcp{client} expected", 1, true), errors[1])
  t.ok(errors[2] and errors[2]:find("tcp{client} expected", 1, true), errors[2])
  t.eq(errors[3], "STILL HERE")
end)

t.test("copas.receive and copas.send return data, nil, nil as Copas does, also at a turn's end", function()
  -- Copas returns what LuaSocket's methods return: three values on success (two for
  -- connect). Seventy sends, then seventy receives, each run past a turn's 64
  -- operations.
  local counts, lines, connected = {}, {}, nil
  with_echo(function(port)
    local c = socket.tcp()
    assert(copas.connect(c, "127.0.0.1", port))
    local other = socket.tcp()
    connected = select("#", copas.connect(other, "127.0.0.1", port))
    other:close()
    for i = 1, 70 do counts[#counts + 1] = select("#", copas.send(c, "line " .. i .. "\n")) end
    for i = 1, 70 do
      local packed = table.pack and table.pack(copas.receive(c)) or { n = select("#", copas.receive(c)) }
      counts[#counts + 1] = packed.n
      lines[i] = packed[1]
    end
    c:close()
  end)
  t.eq(connected, 2)
  t.eq(#counts, 140)
  for i = 1, 140 do t.eq(counts[i], 3, "results of operation " .. i) end
  if table.pack then t.eq(lines[70], "LINE 70") end
end)

t.run()
