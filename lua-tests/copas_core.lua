-- The copas dispatcher without sockets: threads, sleeps, wakeups, alarms, errors, exit.
local t = require("t")
local copas = require("copas")

local function capture_print(f)
  local lines = {}
  local saved = print
  print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    lines[#lines + 1] = table.concat(parts, "\t")
  end
  local ok, err = pcall(f)
  print = saved
  assert(ok, err)
  return lines
end

t.test("addthread schedules, returns the coroutine, passes arguments", function()
  local got
  local co = copas.addthread(function(a, b) got = { a, b } end, 1, "two")
  t.eq(type(co), "thread")
  t.eq(got, nil, "not run before the loop")
  copas.loop()
  t.eq(got, { 1, "two" })
end)

t.test("sleeps wake in deadline order", function()
  local log = {}
  -- Each deadline counts from the thread's first run, so the gaps between them must
  -- dwarf the time it takes to start the next thread, even under valgrind.
  copas.addthread(function() copas.sleep(0.3); log[#log + 1] = "c" end)
  copas.addthread(function() copas.sleep(0.1); log[#log + 1] = "a" end)
  copas.addthread(function() copas.sleep(0.2); log[#log + 1] = "b" end)
  copas.addthread(function() copas.sleep(0); log[#log + 1] = "0" end)
  copas.loop()
  t.eq(table.concat(log), "0abc")
end)

t.test("sleep(0) lets the others run in turn", function()
  local log = {}
  for _, name in ipairs({ "x", "y" }) do
    copas.addthread(function()
      for i = 1, 3 do log[#log + 1] = name .. i; copas.sleep(0) end
    end)
  end
  copas.loop()
  t.eq(table.concat(log, " "), "x1 y1 x2 y2 x3 y3")
end)

t.test("sleep(-1) waits for wakeup; pause and pauseforever report elapsed time", function()
  local log = {}
  local sleeper = copas.addthread(function()
    copas.sleep(-1)
    log[#log + 1] = "woken"
    local slept = copas.pauseforever()
    log[#log + 1] = slept >= 0.02 and "long" or ("short " .. slept)
  end)
  copas.addthread(function()
    log[#log + 1] = "waker"
    copas.wakeup(sleeper)
    local paused = copas.pause(0.03)
    t.ok(paused >= 0.025, "pause returns the time paused")
    copas.wakeup(sleeper)
  end)
  copas.loop()
  t.eq(log, { "waker", "woken", "long" })
end)

t.test("a thread paused forever is collected once nothing references it", function()
  local before = copas.status().inactive
  local weak = setmetatable({}, { __mode = "k" })
  weak[copas.addthread(function() copas.pauseforever() end)] = true
  copas.loop()
  t.ok(next(weak), "still there while referenced")
  collectgarbage()
  collectgarbage()
  t.eq(next(weak), nil, "collected after the loop")
  copas.step(0)
  t.ok(copas.status().inactive <= before, "its task is dropped at the next step")
end)

t.test("a thread woken from pauseforever runs on, even when nothing else references it", function()
  local log = {}
  local holder = {}
  holder.co = copas.addthread(function()
    copas.pauseforever()
    log[#log + 1] = "woken"
    copas.sleep(0.02)
    log[#log + 1] = "slept"
  end)
  copas.addthread(function()
    copas.sleep(0)
    copas.wakeup(holder.co)
    holder.co = nil
    collectgarbage()
    collectgarbage()
    copas.sleep(0.01)
    collectgarbage()
    collectgarbage()
  end)
  copas.loop()
  t.eq(log, { "woken", "slept" })
end)

t.test("threads paused forever and woken over and over, with collections between, all go on", function()
  -- Enough rounds for LuaJIT to compile the pause, whose compiled code must still keep
  -- the thread's finalizer anchored.
  local THREADS, ROUNDS = 100, 60
  local rounds = {}
  local sleepers = {}
  for i = 1, THREADS do
    rounds[i] = 0
    sleepers[i] = copas.addthread(function()
      for _ = 1, ROUNDS do
        copas.pauseforever()
        rounds[i] = rounds[i] + 1
      end
    end)
  end
  copas.addthread(function()
    for _ = 1, ROUNDS do
      copas.sleep(0)
      for i = 1, THREADS do copas.wakeup(sleepers[i]) end
      collectgarbage()
    end
  end)
  copas.loop()
  local short = 0
  for i = 1, THREADS do
    if rounds[i] ~= ROUNDS then short = short + 1 end
  end
  t.eq(short, 0, "threads that stopped short")
end)

t.test("wakeup of dead or unknown threads does nothing; of non-threads is an error", function()
  local co = copas.addthread(function() end)
  copas.loop()
  copas.wakeup(co)
  copas.wakeup(coroutine.create(function() end))
  t.err("bad argument #1 to 'wakeup'", copas.wakeup, "nope")
end)

t.test("errors go to the thread's handler, the others continue", function()
  local seen, other_done
  copas.addthread(function()
    copas.seterrorhandler(function(msg, co, skt)
      seen = { msg = msg, co_type = type(co), skt = skt }
    end)
    copas.sleep(0.01)
    error("boom", 0)
  end)
  copas.addthread(function() copas.sleep(0.02); other_done = true end)
  copas.loop()
  t.eq(seen, { msg = "boom", co_type = "thread" })
  t.ok(other_done)
end)

t.test("the default error handler prints a traceback naming the thread", function()
  local lines = capture_print(function()
    copas.addnamedthread("failing-thread", function() error("kaput") end)
    copas.loop()
  end)
  local out = table.concat(lines, "\n")
  t.ok(out:find("kaput", 1, true), out)
  t.ok(out:find("failing-thread", 1, true), out)
  t.ok(out:find("traceback", 1, true), out)
end)

t.test("error values that are not strings reach the handler unchanged", function()
  local seen
  local obj = { code = 42 }
  copas.addthread(function()
    copas.seterrorhandler(function(msg) seen = msg end)
    error(obj)
  end)
  copas.loop()
  t.ok(seen == obj)
end)

t.test("a plain coroutine.yield in a Copas thread is reported as an error", function()
  local seen
  copas.addthread(function()
    copas.seterrorhandler(function(msg) seen = msg end)
    coroutine.yield()
  end)
  copas.loop()
  t.ok(seen and seen:find("user-code cannot yield to Copas", 1, true), tostring(seen))
end)

t.test("Copas calls from a coroutine nested in a Copas thread raise a clear error", function()
  local ok, err
  copas.addthread(function()
    local inner = coroutine.create(function() copas.sleep(0.01) end)
    ok, err = coroutine.resume(inner)
  end)
  copas.loop()
  if _VERSION == "Lua 5.1" and rawget(_G, "jit") == nil then
    -- Plain 5.1 yields from nested coroutines, for coxpcall (see copas_nested.lua).
    t.eq(ok, true)
    return
  end
  t.eq(ok, false)
  t.ok(tostring(err):find("coroutine created inside a Copas thread", 1, true), tostring(err))
end)

t.test("removethread stops a sleeping thread and the running one", function()
  local log = {}
  local victim = copas.addthread(function() copas.sleep(0.02); log[#log + 1] = "victim ran" end)
  copas.addthread(function() copas.removethread(victim) end)
  local selfremover
  selfremover = copas.addthread(function()
    copas.removethread(selfremover)
    copas.sleep(0.01)
    log[#log + 1] = "self ran"
  end)
  copas.loop()
  t.eq(log, {})
  t.err("bad argument #1 to 'removethread'", copas.removethread, 12)
end)

t.test("exit, exiting and waitforexit", function()
  local log = {}
  copas.addthread(function()
    copas.waitforexit()
    log[#log + 1] = "exit seen " .. tostring(copas.exiting())
  end)
  copas.addthread(function()
    copas.sleep(0.01)
    log[#log + 1] = "exiting " .. tostring(copas.exiting())
    copas.exit()
  end)
  copas.loop()
  t.eq(log, { "exiting false", "exit seen true" })
end)

t.test("the loop exits when all threads are done, even with waitforexit threads", function()
  local done
  copas.addthread(function() copas.waitforexit(); done = true end)
  copas.loop()
  t.ok(done)
  t.ok(copas.finished())
end)

t.test("loop(initializer) runs it as a thread; copas() is loop()", function()
  local name, running
  copas.loop(function()
    name = copas.getthreadname()
    running = copas.running
  end)
  t.eq(name, "copas_initializer")
  t.eq(running, true)
  t.eq(copas.running, false)
  local called
  copas(function() called = true end)
  t.ok(called)
end)

t.test("step and finished", function()
  t.ok(copas.finished())
  local ran = 0
  copas.addthread(function() ran = ran + 1; copas.sleep(0); ran = ran + 1 end)
  t.eq(copas.finished(), false)
  t.eq(copas.step(0), true)
  t.eq(ran, 1)
  copas.step(0)
  t.eq(ran, 2)
  t.ok(copas.finished())
  t.eq(copas.step(0), false)
  t.err("bad argument #1 to 'step'", copas.step, "soon")
end)

t.test("copas.timeout fires its callback in copas_core_timer, and can be cancelled", function()
  local fired, cancelled_fired, thread
  copas.addthread(function()
    local me = coroutine.running()
    copas.timeout(0.01, function(co)
      fired = (co == me)
      thread = copas.getthreadname(coroutine.running())
      copas.wakeup(co)
    end)
    copas.pauseforever()
  end)
  copas.addthread(function()
    copas.timeout(0.01, function() cancelled_fired = true end)
    copas.timeout(0)
    copas.sleep(0.03)
  end)
  copas.loop()
  t.eq(fired, true)
  t.eq(thread, "copas_core_timer")
  t.eq(cancelled_fired, nil)
  t.err("timout value must be greater than or equal to 0", function()
    local e
    copas.addthread(function() local ok, err = pcall(copas.timeout, -1, print); e = err end)
    copas.loop()
    error(e)
  end)
end)

t.test("an error in a copas.timeout callback is reported as the copas_core_timer thread's", function()
  local lines = capture_print(function()
    copas.addnamedthread("sleeper", function()
      copas.timeout(0.01, function() error("oops in alarm") end)
      copas.pause(0.05)
    end)
    copas.loop()
  end)
  local out = table.concat(lines, "\n")
  t.ok(out:find("oops in alarm", 1, true), out)
  t.ok(out:find("coroutine: copas_core_timer", 1, true), out)
  t.ok(out:find("stack traceback:.*copas_core%.lua"), "the traceback shows the callback: " .. out)
end)

t.test("status counts threads by state", function()
  local status
  copas.addthread(function() copas.sleep(1) end)
  local sleeper = copas.addthread(function() copas.pauseforever() end)
  copas.addthread(function()
    copas.sleep(0)
    status = copas.status()
    copas.removethread(sleeper)
    copas.removethread(coroutine.running())
  end)
  copas.step(0)
  copas.step(0)
  t.eq(status.timer, 1)
  t.eq(status.inactive, 1)
  t.eq(status.read, 0)
  t.eq(status.write, 0)
  copas.cancelall()
  t.ok(copas.finished())
end)

t.test("thread names", function()
  local co = copas.addnamedthread("worker", function() end)
  t.eq(copas.getthreadname(co), "worker")
  copas.setthreadname("renamed", co)
  t.eq(copas.getthreadname(co), "renamed")
  -- old argument order still works
  local co2 = copas.addnamedthread(function() end, "flipped")
  t.eq(copas.getthreadname(co2), "flipped")
  copas.loop()
end)

t.test("bad arguments", function()
  t.err("bad argument #1 to 'addthread' %(function expected, got nil%)", copas.addthread)
  t.err("bad argument #1 to 'addthread' %(function expected, got number%)", copas.addthread, 5)
  t.err("bad argument #1 to 'sleep' %(number expected, got string%)", copas.sleep, "x")
  t.err("bad argument #2 to 'addserver'", copas.addserver, {}, 5)
  t.err("Expected the handler to be a function", copas.seterrorhandler, 5)
end)

t.test("sleep outside a Copas thread blocks like socket.sleep", function()
  local start = copas.gettime()
  copas.sleep(0.01)
  t.ok(copas.gettime() - start >= 0.009)
end)

t.test("many threads: 10,000 sleepers all wake", function()
  local woken = 0
  for i = 1, 10000 do
    copas.addthread(function() copas.sleep((i % 10) / 1000); woken = woken + 1 end)
  end
  copas.loop()
  t.eq(woken, 10000)
end)

-- copas.sleep yields from C with no copas.yield in between: the results, errors and
-- the yield inside pcall behave as a Lua-side yield did.
t.test("sleep returns nothing, inside pcall too, and the thread goes on", function()
  local log = {}
  copas.addthread(function()
    log[#log + 1] = select("#", copas.sleep(0))
    if _VERSION ~= "Lua 5.1" or jit then
      local ok, n = pcall(function() return select("#", copas.sleep(0.001)) end)
      log[#log + 1] = tostring(ok) .. n
    end
    log[#log + 1] = "end"
  end)
  copas.loop()
  t.eq(log[1], 0)
  t.eq(log[#log], "end")
  if _VERSION ~= "Lua 5.1" or jit then t.eq(log[2], "true0") end
end)

t.test("addserver ignores a third argument that is not a number", function()
  local socket = require("socket")
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  local got
  copas.addserver(server, function(skt) got = copas.receive(skt) end, "my_TCP_server")
  t.eq(copas.gettimeouts(server), nil, "no timeout was set")
  copas.addthread(function()
    local client = socket.tcp()
    assert(copas.connect(client, "127.0.0.1", port))
    copas.send(client, "hi\n")
    for _ = 1, 500 do
      if got then break end
      copas.sleep(0.01)
    end
    client:close()
    copas.removeserver(server)
  end)
  copas.loop()
  t.eq(got, "hi")
end)

-- Copas 4.0 to 4.5 additions a 4.x program may use (docs/CONFORMANCE.md's table).
t.test("Copas 4.x additions: server names, submodules, stats, error handler helpers", function()
  local socket = require("socket")
  local server = assert(socket.bind("127.0.0.1", 0))
  copas.addserver(server, function() end, nil, "named server")
  t.eq(copas.getsocketname(server), "named server")
  copas.removeserver(server)
  for _, name in ipairs({ "timer", "lock", "queue", "semaphore", "future", "http" }) do
    t.eq(type(copas[name]), "table", "copas." .. name .. " without require")
  end
  t.eq(type(copas.debug.start), "function")
  t.eq(type(copas.debug.stop), "function")
  t.eq(type(copas.gettraceback("message", coroutine.create(function() end))), "string")
  local previous = copas.geterrorhandler()
  t.eq(type(previous), "function")
  copas.status(true)
  local after = false
  -- An error handler that raises itself does not stop the loop (Copas 4.1).
  copas.seterrorhandler(function() error("the handler fails too") end, true)
  copas.addthread(function() error("first") end)
  copas.addthread(function() copas.pause(0.01); after = true end)
  copas.loop()
  copas.seterrorhandler(previous, true)
  t.ok(after, "a thread after the failing handler did not run")
  local stats = copas.status()
  t.ok(stats.steps and stats.steps > 0 and stats.duration_max and stats.time_tot, "status(true) keeps stats")
  copas.status(false)
end)

t.test("removethread leaves server and connection handler threads alone", function()
  local socket = require("socket")
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  local handler_co, got
  copas.addserver(server, function(skt)
    handler_co = coroutine.running()
    copas.sleep(0.01)
    got = copas.receive(skt)
  end)
  copas.addthread(function()
    local client = socket.tcp()
    assert(copas.connect(client, "127.0.0.1", port))
    while not handler_co do copas.sleep(0) end
    copas.removethread(handler_co)
    copas.send(client, "still here\n")
    copas.sleep(0.05)
    client:close()
    copas.removeserver(server)
  end)
  copas.loop()
  t.eq(got, "still here")
end)

t.test("copas loads and runs timers when the program hides socket from require", function()
  -- arg[-1] is the interpreter running this file; LUA_CPATH reaches the child too.
  local hide = "local plain = require; require = function(name) "
    .. "if name == 'socket' then error('socket is hidden') end return plain(name) end; "
  local script = "local copas = require('copas'); local runs = 0; copas.loop(function() "
    .. "copas.timer.new { delay = 0.01, recurring = true, callback = function(tm) "
    .. "runs = runs + 1; if runs == 3 then tm:cancel() end end } end); io.write(runs)"
  local pipe = assert(io.popen("'" .. arg[-1] .. "' -e \"" .. hide .. script .. "\" 2>&1"))
  local out = pipe:read("*a")
  pipe:close()
  t.eq(out, "3")
end)

t.test("with _G._TEST set, the timeout registers Copas exports for its tests exist, empty", function()
  local runner = os.getenv("COPAS_RUNNER") or "target/debug/copas"
  local script = "local copas = require('copas'); local ops = copas._operation_register; "
    .. "io.write(type(copas._socket_register), ' ', type(ops), ' ', type(copas._timeout_flags), "
    .. "' ', tostring(ops and next(ops)))"
  local function run(prelude)
    local pipe = assert(io.popen("'" .. runner .. "' -e \"" .. prelude .. script .. "\""))
    local out = pipe:read("*a")
    pipe:close()
    return out
  end
  t.eq(run("_TEST = true; "), "table table table nil")
  t.eq(run(""), "nil nil nil nil")
end)

t.run()
