-- copas: the Copas 4.x API on the copas-rs scheduler.
--
-- `copas.core` (Rust) decides when tasks run: the run queue, sleeps, alarms, and
-- readiness waits with deadlines on an edge-triggered epoll set. This file keeps the
-- coroutines, resumes them, and gives every function its Copas 4.x shape.
--
-- A task only parks itself through `park()`, after telling the core what it waits
-- for; a coroutine that yields any other way is reported as Copas reports it.

local core = require("copas.core")
-- Copas runs without LuaSocket (on LuaSystem) when `require "socket"` fails, as a
-- program may make it; our socket.core is part of this very library, so its
-- functions stand in.
local socket
do
  local found, loaded = pcall(require, "socket")
  socket = found and loaded or require("socket.core")
end

local c_spawn, c_remove, c_step, c_sleep = core.spawn, core.remove, core.step, core.sleep
local c_wakeup, c_alarm, c_waitfd, c_timedout = core.wakeup, core.alarm, core.waitfd, core.timedout
local c_idle, c_counts = core.idle, core.counts
local c_resolve, c_resolved = core.resolve, core.resolved
local c_recv, c_send, c_accept, c_recvfrom = core.recv, core.send, core.accept, core.recvfrom
local c_connect = core.connect
local c_flush, c_deferred = core.flush, core.deferred
local c_query, c_answer = core.query, core.answer
local c_metrics, c_monotonic = core.metrics, core.monotonic
local c_signal_watch, c_signal_unwatch, c_signals = core.signal_watch, core.signal_unwatch, core.signals
local c_resume, c_run, c_park, c_spend, c_tracing = core.resume, core.run, core.park, core.spend, core.tracing
local c_cancel, c_task_of = core.cancel, core.task_of

local coroutine_create = coroutine.create
local coroutine_resume = coroutine.resume
local coroutine_yield = coroutine.yield
local coroutine_running = coroutine.running
local coroutine_status = coroutine.status
local gettime = socket.gettime
local unpack = table.unpack or unpack
local select, type, tostring, pcall, xpcall, error = select, type, tostring, pcall, xpcall, error
local setmetatable, getmetatable, pairs, next = setmetatable, getmetatable, pairs, next

local function pack(...) return { n = select("#", ...), ... } end

local UDP_DATAGRAM_MAX = socket._DATAGRAMSIZE or 8192

local copas
do
  local submodules = {
    ftp = true, future = true, http = true, lock = true, queue = true,
    semaphore = true, smtp = true, timer = true, limit = true,
  }
  copas = setmetatable({}, {
    __index = function(self, key)
      if submodules[key] then
        local module = require("copas." .. key)
        rawset(self, key, module)
        return module
      end
    end,
    __call = function(self, ...)
      return self.loop(...)
    end,
  })
end

copas._COPYRIGHT = "Copyright (C) 2026 the copas-rs authors"
copas._DESCRIPTION = "Coroutine Oriented Portable Asynchronous Services, on the copas-rs scheduler"
copas._VERSION = "Copas 4.11.0"
copas._IMPLEMENTATION = "copas-rs 0.1.0"
-- Copas exports its per-thread socket timeout registers when _G._TEST is set, and its
-- tests check that a thread whose receive timed out is gone from them. Socket timeouts
-- here are deadlines in the core, dropped with the wait, and no register exists: the
-- stand-ins are empty for good.
if rawget(_G, "_TEST") then
  copas._socket_register = {}
  copas._operation_register = {}
  copas._timeout_flags = {}
end
copas.autoclose = true
copas.running = false
copas.gettime = gettime

-------------------------------------------------------------------------------
-- Names of threads and sockets
-------------------------------------------------------------------------------
local object_names = setmetatable({}, {
  __mode = "k",
  __index = function(self, key)
    local name = tostring(key)
    if key ~= nil then rawset(self, key, name) end
    return name
  end,
})

-------------------------------------------------------------------------------
-- Tasks
-------------------------------------------------------------------------------
-- Task ids are small integers (slots of the Rust scheduler), so these stay arrays.
-- Entries are cleared when the task ends; nothing here needs to be weak.
-- Tasks in copas.pauseforever are held weakly (see there), in `forever`; lookups in
-- `threads` fall back to it. The id of a coroutine's task is core.task_of(co) (the
-- core keeps them, and checks the answer against `threads`).
local forever = setmetatable({}, { __mode = "v" })     -- task id -> coroutine
local threads = setmetatable(core.threads, { __index = forever }) -- task id -> coroutine
-- task id -> { id = id, done = false } while it is paused forever; `done` is set once
-- the pause is over or the task is forgotten.
local forever_states = {}
-- States of tasks collected while paused forever, for the next step to drop.
local collected = {}
local start_args = core.start_args -- task id -> packed first-resume arguments
local task_socket = {}      -- task id -> socket handed to a handler
local autoclose_socket = {} -- task id -> socket to close when it ends
local fixed = {}            -- task id -> true for server and handler threads (removethread leaves them)
local errhandlers = setmetatable({}, { __mode = "k" })
local alarm_callbacks = {}                             -- task id -> copas.timeout callback
-- task id -> true once any table above (but threads) may hold an entry for it:
-- most tasks never get one, and the core then ends them itself (see core.hooks[4]).
local extras = core.extras
local timeout_errors_raw = setmetatable({}, { __mode = "k" }) -- useSocketTimeoutErrors

-- The task being resumed, written by the core's step loop (core.run): [1] its id and
-- [2] its coroutine, nil between resumes. The core also knows whether it parked,
-- whether removethread() cancelled it (core.cancel), and how many operations it may
-- still complete before it lets the others run (the original does this with a random
-- pause on ~10% of calls).
local current = core.current
local debug_log                -- copas.debug.start()
-- copas.metrics(): connections accepted so far, and those whose handler has ended
-- (the accepted socket -> true until then).
local accepted_total, closed_total = 0, 0
local accepted_open = setmetatable({}, { __mode = "k" })
local watchdog_limit           -- copas.watchdog(): seconds, nil while off

local NESTED = "cannot yield to Copas from a coroutine created inside a Copas thread; "
  .. "call Copas functions from the Copas thread itself"

-- Plain Lua 5.1 cannot yield across pcall, so programs wrap calls in coxpcall's
-- copcall, which runs them in a coroutine of its own and passes its yields on to the
-- Copas thread: there a Copas call from a nested coroutine yields, as upstream's
-- does. Elsewhere pcall yields by itself, and a nested coroutine is a generator whose
-- resumer would swallow the yield, so it is an error.
local NESTED_YIELDS = _VERSION == "Lua 5.1" and rawget(_G, "jit") == nil

-- True when `co` (the running coroutine) runs on behalf of the current task.
local function in_task(co)
  return co ~= nil and (co == current[2] or (NESTED_YIELDS and current[2] ~= nil))
end

-- The id of the calling task; nil outside any task (blocking behaviour applies);
-- an error from a coroutine nested inside a task, whose yield would be swallowed.
local function task_id(level)
  local co = coroutine_running()
  if in_task(co) then return current[1] end
  if current[2] ~= nil then error(NESTED, (level or 2) + 1) end
  return nil
end

local function park()
  if debug_log then
    debug_log("yielding '", object_names[current[2]], "'")
  end
  c_park()
end

-- Called after each operation that completed without waiting: at the end of the
-- task's turn, the core puts it at the end of the run queue, and it parks.
local function spend(id)
  if c_spend(id) then park() end
end

local function register(co)
  local id = c_spawn(co)
  threads[id] = co
  return id
end

local function default_errhandler(msg, co, skt)
  print(copas.gettraceback(msg, co, skt))
end

local function forget(id)
  c_remove(id)
  threads[id] = nil
  if extras[id] then
    extras[id] = nil
    forever[id] = nil
    local paused = forever_states[id]
    if paused then
      paused.done = true
      forever_states[id] = nil
    end
    start_args[id] = nil
    task_socket[id] = nil
    autoclose_socket[id] = nil
    alarm_callbacks[id] = nil
    fixed[id] = nil
  end
end

local function finish(id, co, ok, err)
  local skt, to_close
  if extras[id] then
    skt, to_close = task_socket[id], autoclose_socket[id]
    if skt and accepted_open[skt] then
      accepted_open[skt] = nil
      closed_total = closed_total + 1
    end
  end
  forget(id)
  if ok and coroutine_status(co) ~= "dead" then
    ok, err = false, "coroutine.yield was called without a resume first, user-code cannot yield to Copas"
  end
  if not ok then
    local handled, e = pcall(errhandlers[co] or default_errhandler, err, co, skt)
    if not handled then
      print("Failed executing error handler: " .. tostring(e))
    end
  elseif debug_log then
    debug_log("exiting '", object_names[co], "'")
  end
  -- (A lookup keyed by a coroutine is a slow hash probe; most programs set no handlers.)
  if next(errhandlers) ~= nil then errhandlers[co] = nil end
  if to_close then
    copas.close(to_close)
  end
end

-- The first resume of a task passes its start arguments; also logs when debugging.
local function resume_with_args(id, co)
  if debug_log then debug_log("resuming '", object_names[co], "'") end
  local args = start_args[id]
  if args then
    start_args[id] = nil
    return c_resume(id, co, unpack(args, 1, args.n))
  end
  return c_resume(id, co)
end


-- Copas runs copas.timeout callbacks in its timer thread, "copas_core_timer", and
-- reports their errors from inside it through the default error handler, so the
-- traceback shows the callback. Ours run between steps in a coroutine of that name.
local timer_thread
local timer_idle = false -- false also when a callback yielded: that thread is lost

local function start_timer_thread()
  timer_thread = coroutine_create(function()
    local function report(err)
      pcall(default_errhandler, err, timer_thread)
    end
    while true do
      timer_idle = true
      local callback, co = coroutine_yield()
      timer_idle = false
      xpcall(function() return callback(co) end, report)
    end
  end)
  object_names[timer_thread] = "copas_core_timer"
  coroutine_resume(timer_thread)
end

local function fire_alarm(id)
  local callback = alarm_callbacks[id]
  alarm_callbacks[id] = nil
  local co = threads[id]
  if callback and co then
    if not timer_idle then start_timer_thread() end
    coroutine_resume(timer_thread, callback, co)
  end
end

-------------------------------------------------------------------------------
-- Threads
-------------------------------------------------------------------------------
local function check_function(f, n, fname)
  if type(f) ~= "function" then
    error(("bad argument #%d to '%s' (function expected, got %s)"):format(n, fname, type(f)), 3)
  end
end

function copas.addnamedthread(name, handler, ...)
  if type(name) == "function" and type(handler) == "string" then
    name, handler = handler, name
  end
  if name ~= nil and type(name) ~= "string" then
    error(("bad argument #1 to 'addnamedthread' (string expected, got %s)"):format(type(name)), 2)
  end
  check_function(handler, 2, "addnamedthread")
  local co = coroutine_create(handler)
  local id = register(co)
  if select("#", ...) > 0 then
    start_args[id] = pack(...)
    extras[id] = true
  end
  if name then object_names[co] = name end
  return co
end

-- addnamedthread without a name is the core's (C: spawning is on the hot path of
-- programs that start a thread per request); it calls hooks[7] with the arguments for
-- the first resume, if any.
core.hooks[7] = function(id, ...)
  start_args[id] = pack(...)
  extras[id] = true
end
copas.addthread = core.addthread

function copas.removethread(co)
  if type(co) ~= "thread" then
    error(("bad argument #1 to 'removethread' (coroutine expected, got %s)"):format(type(co)), 2)
  end
  local id = c_task_of(co)
  if not id or fixed[id] then return end
  if co == current[2] then
    c_cancel()
    return
  end
  forget(id)
end

local function check_sleeptime(t, fname)
  if t ~= nil and type(t) ~= "number" then
    error(("bad argument #1 to '%s' (number expected, got %s)"):format(fname, type(t)), 3)
  end
end

-- copas.sleep is the core's (C: a task sleeps and yields there, on every Lua version).
-- It checks its argument and raises the nested-coroutine error itself, and calls
-- hooks[5] outside any task, where it blocks as socket.sleep does, and hooks[6] to log
-- the yield while debugging.
core.hooks[5] = function(sleeptime)
  if sleeptime ~= nil and sleeptime > 0 then socket.sleep(sleeptime) end
end
core.hooks[6] = function()
  debug_log("yielding '", object_names[current[2]], "'")
end
copas.sleep = core.nap

function copas.pause(sleeptime)
  check_sleeptime(sleeptime, "pause")
  local start = gettime()
  local id = task_id(2)
  if sleeptime == nil or sleeptime < 0 then sleeptime = 0 end
  if not id then
    if sleeptime > 0 then socket.sleep(sleeptime) end
  else
    c_sleep(id, sleeptime)
    park()
  end
  return gettime() - start
end

-- An object whose collection calls `on_collect`. Lua 5.1 and LuaJIT finalize only
-- userdata (newproxy); 5.2+ finalize tables.
local newproxy = newproxy
local function finalizer(on_collect)
  if newproxy then
    local proxy = newproxy(true)
    getmetatable(proxy).__gc = on_collect
    return proxy
  end
  return setmetatable({}, { __gc = on_collect })
end

-- Only copas.wakeup(co) ends this wait, so a thread the program no longer references
-- can never go on. Copas then lets the collector take it, with all it references;
-- so do we: while it waits, the task is held only weakly (copas.wakeup holds it
-- strongly again). Should it be collected, the finalizer anchored in this frame hands
-- it to the next step to drop.
function copas.pauseforever()
  local start = gettime()
  local id = task_id(2)
  if not id then
    error("copas.pauseforever called outside a Copas thread: nothing could wake it", 2)
  end
  local co = current[2]
  c_sleep(id, -1)
  threads[id], forever[id] = nil, co
  local state = { id = id, done = false }
  forever_states[id] = state
  extras[id] = true
  -- Only this frame references it, so it lives as long as the coroutine; it is read
  -- after the pause because LuaJIT's compiled code need not keep a dead local alive.
  local anchor = finalizer(function()
    if not state.done then collected[#collected + 1] = state end
  end)
  park()
  state.done = anchor ~= nil
  forever_states[id] = nil
  return gettime() - start
end

-- Internal (used by copas.waiting): true while `co` is a Copas thread that has not
-- ended or been removed, so a resource is never handed to a thread that is gone.
function copas._alive(co)
  return c_task_of(co) ~= nil
end

-- Internal (used by copas.lock, semaphore, queue, future): coroutine.running(), but
-- on plain Lua 5.1 inside coxpcall's coroutine the Copas thread it runs for, as
-- Copas 4.9 takes coxpcall's `running`: a lock taken inside copcall is owned by the
-- thread, and a waiter is woken through it.
function copas._running()
  local co, is_main = coroutine_running()
  if co ~= nil and in_task(co) then return current[2], false end
  return co, is_main
end

function copas.wakeup(co)
  if type(co) ~= "thread" then
    error(("bad argument #1 to 'wakeup' (coroutine expected, got %s)"):format(type(co)), 2)
  end
  local id = c_task_of(co)
  if id and c_wakeup(id) then
    -- Held strongly again from now: whoever woke it may have dropped it already.
    if forever[id] then
      forever[id], threads[id] = nil, co
    end
    return true
  end
  return nil, "not sleeping"
end

-- Sets an alarm for the current task: after `delay` seconds `callback(co)` runs in the
-- copas_core_timer coroutine (not inside the task). 0 or math.huge cancels it.
function copas.timeout(delay, callback)
  if type(delay) ~= "number" then
    error(("bad argument #1 to 'timeout' (number expected, got %s)"):format(type(delay)), 2)
  end
  local id = task_id(2) or c_task_of(coroutine_running())
  if not id then
    error("copas.timeout can only be used inside a Copas thread", 2)
  end
  if delay > 0 and delay ~= math.huge then
    check_function(callback, 2, "timeout")
    c_alarm(id, delay)
    alarm_callbacks[id] = callback
    extras[id] = true
  elseif delay == 0 or delay == math.huge then
    c_alarm(id, nil)
    alarm_callbacks[id] = nil
  else
    error("timout value must be greater than or equal to 0, got: " .. tostring(delay), 2)
  end
  return true
end

-- Drops the tasks whose coroutines were collected while paused forever (unless they
-- were forgotten meanwhile: their ids may belong to new tasks by now).
local function drop_collected()
  while collected[1] do
    local state = table.remove(collected)
    if not state.done then
      local id = state.id
      local to_close = autoclose_socket[id]
      forget(id)
      if to_close then pcall(copas.close, to_close) end
    end
  end
end

-------------------------------------------------------------------------------
-- Error handling
-------------------------------------------------------------------------------
function copas.gettraceback(msg, co, skt)
  local co_str = co == nil and "nil" or copas.getthreadname(co)
  local skt_str = skt == nil and "nil" or copas.getsocketname(skt)
  local msg_str = msg == nil and "" or tostring(msg)
  if msg_str == "" then
    msg_str = ("(coroutine: %s, socket: %s)"):format(co_str, skt_str)
  else
    msg_str = ("%s (coroutine: %s, socket: %s)"):format(msg_str, co_str, skt_str)
  end
  if type(co) == "thread" and debug and debug.traceback then
    return debug.traceback(co, msg_str)
  end
  if debug and debug.traceback then
    return debug.traceback(msg_str, 2)
  end
  return msg_str
end

function copas.seterrorhandler(err, default)
  if err ~= nil and type(err) ~= "function" then
    error("Expected the handler to be a function, or nil", 2)
  end
  if default then
    if err == nil then error("Expected the handler to be a function when setting the default", 2) end
    default_errhandler = err
  else
    errhandlers[coroutine_running() or false] = err
  end
end
copas.setErrorHandler = copas.seterrorhandler

function copas.geterrorhandler(co)
  co = co or coroutine_running()
  return errhandlers[co or false] or default_errhandler
end
copas.getErrorHandler = copas.geterrorhandler

function copas.useSocketTimeoutErrors(bool)
  timeout_errors_raw[coroutine_running() or false] = not not bool
end

local function timeout_error(err)
  return timeout_errors_raw[coroutine_running() or false] and err or "timeout"
end

-------------------------------------------------------------------------------
-- Socket timeouts (per socket; nil means no limit)
-------------------------------------------------------------------------------
local connect_timeouts = setmetatable({}, { __mode = "k" })
local send_timeouts = setmetatable({}, { __mode = "k" })
local receive_timeouts = setmetatable({}, { __mode = "k" })
-- Our stream objects keep their send and receive timeouts too, where the core's
-- copas.receive and copas.send read them with the object.
local c_settimeouts = core.settimeouts

function copas.settimeouts(skt, connect, send, read)
  if connect ~= nil and type(connect) ~= "number" then
    return nil, "connect timeout must be 'nil' or a number"
  end
  if send ~= nil and type(send) ~= "number" then
    return nil, "send timeout must be 'nil' or a number"
  end
  if read ~= nil and type(read) ~= "number" then
    return nil, "read timeout must be 'nil' or a number"
  end
  if connect then connect_timeouts[skt] = connect >= 0 and connect or nil end
  if send then send_timeouts[skt] = send >= 0 and send or nil end
  if read then receive_timeouts[skt] = read >= 0 and read or nil end
  c_settimeouts(skt, send, read)
  return true
end

function copas.settimeout(skt, timeout)
  timeout = timeout or -1
  if type(timeout) ~= "number" then
    return nil, "timeout must be 'nil' or a number"
  end
  return copas.settimeouts(skt, timeout, timeout, timeout)
end

-- copas.gettimeouts(skt): the socket's connect, send and receive timeouts (nil: none).
-- copas.gettimeouts(): the number of alarms set (copas.timeout), as in Copas.
function copas.gettimeouts(skt)
  if skt == nil then
    return c_counts().alarms
  end
  return connect_timeouts[skt], send_timeouts[skt], receive_timeouts[skt]
end

function copas.gettimeout(skt)
  return copas.gettimeouts(skt)
end

-------------------------------------------------------------------------------
-- Socket I/O
-------------------------------------------------------------------------------
local is_timeout_error = { timeout = true, wantread = true, wantwrite = true,
  ["Operation already in progress"] = true }

-- Parks the task until `skt` is ready (mode "r"/"w"). `first` starts the deadline.
-- Returns true if the deadline passed.
local function wait_socket(id, skt, mode, timeout, first)
  local fd = skt:getfd()
  if not c_waitfd(id, fd, mode, timeout, first) then
    return false
  end
  park()
  return c_timedout(id)
end

-- Outside any task: wait with socket.select, the way a blocking LuaSocket call would.
local function wait_blocking(skt, mode, deadline)
  local remaining = deadline and (deadline - gettime()) or nil
  if remaining and remaining <= 0 then return true end
  local r, w
  if mode == "w" then w = { skt } else r = { skt } end
  local _, _, err = socket.select(r, w, remaining)
  return err == "timeout"
end

local function deadline_of(timeout)
  return timeout and (gettime() + timeout) or nil
end

-- The loop behind receive/receivepartial/send/connect: `attempt(skt, a, state, b)`
-- returns done, err, extra, finished; when err is a timeout-kind error the task
-- waits and retries with `extra` as the new state. The receives pass their
-- arguments this way rather than in a closure made per call (copas.http makes
-- one or two such calls a request).
local function io_loop(skt, mode_of, timeout, attempt, a, state, b)
  local id = task_id(3)
  local first = true
  local timed_out = false
  local deadline = (not id) and deadline_of(timeout) or nil
  while true do
    local s, err, extra, done = attempt(skt, a, state, b)
    if s or done or not is_timeout_error[err] then
      if id then spend(id) end
      return s, err, extra
    end
    if timed_out then
      return nil, timeout_error(err), extra
    end
    state = extra
    local mode = mode_of(err)
    if id then
      timed_out = wait_socket(id, skt, mode, timeout, first)
    else
      timed_out = wait_blocking(skt, mode, deadline)
    end
    first = false
  end
end

local function read_mode(err) return err == "wantwrite" and "w" or "r" end
local function write_mode(err) return err == "wantread" and "r" or "w" end

-- Three results: a socket's receive may add a fourth (LuaSocket's elapsed time),
-- which io_loop would take for "finished".
local function receive_attempt(client, pattern, part)
  local s, err, p = client:receive(pattern, part)
  return s, err, p
end

-- As receive_attempt, and finished once more than `known` bytes have arrived.
local function partial_attempt(client, pattern, part, known)
  local s, err, p = client:receive(pattern, part)
  return s, err, p, not s and type(p) == "string" and #p > known
end

local function generic_receive(client, pattern, part)
  return io_loop(client, read_mode, receive_timeouts[client], receive_attempt,
    pattern or "*l", part)
end

-- Returns as soon as any data arrived, even when the pattern is not complete.
function copas.receivepartial(client, pattern, part)
  return io_loop(client, read_mode, receive_timeouts[client], partial_attempt,
    pattern or "*l", part, #(part or ""))
end
copas.receivePartial = copas.receivepartial

local function generic_receivefrom(client, size)
  local port
  local s, err, extra = io_loop(client, read_mode, receive_timeouts[client], function()
    local data, ip_or_err, p = client:receivefrom(size)
    port = p
    return data, ip_or_err
  end)
  return s, err, port or extra
end

local function generic_send(client, data, from, to)
  from = from or 1
  local last = from - 1
  return io_loop(client, write_mode, send_timeouts[client], function()
    local s, err, l = client:send(data, last + 1, to)
    last = l or last
    return s, err, l
  end)
end

-- Our own socket objects (TCP, UDP, TLS) are driven by the core in one Rust call per
-- attempt (copas_core/io.rs); `true` from the core means "not ours": an object of
-- another library, driven through its methods by the general path above.

-- The results of a finished fast-path operation, as Copas returns them.
local function settled(id, a, b, c)
  if a then
    spend(id)
  elseif b == "timeout" then
    b = timeout_error(b)
  end
  return a, b, c
end

-- copas.receive on Lua 5.1 and LuaJIT, where a C function cannot wait and go on;
-- on 5.2, 5.3 and 5.4 the core's copas.receive does all of this in C and calls this one
-- for what it leaves (objects of other libraries, calls outside a task, debugging).
-- After data the core may return `true`: the task's turn is over.
function copas.receive(client, pattern, part)
  local co = coroutine_running()
  if in_task(co) then
    local id = current[1]
    local a, b, c = c_recv(id, client, pattern, part, true)
    while a == false do
      park()
      a, b, c = c_recv(id, client, pattern, part, false)
    end
    if a ~= true then
      if b == true then
        park()
        return a, nil, nil
      end
      return a, b, c
    end
  elseif current[2] ~= nil then
    error(NESTED, 2)
  end
  return generic_receive(client, pattern, part)
end

function copas.receivefrom(client, size)
  size = size or UDP_DATAGRAM_MAX
  local id = task_id(2)
  if id then
    local timeout = receive_timeouts[client]
    local a, b, c = c_recvfrom(id, client, size, timeout, true)
    while a == false do
      park()
      a, b, c = c_recvfrom(id, client, size, timeout, false)
    end
    if a ~= true then return settled(id, a, b, c) end
  end
  return generic_receivefrom(client, size)
end

-- As copas.receive: the core's on 5.2, 5.3 and 5.4.
function copas.send(client, data, from, to)
  local co = coroutine_running()
  if in_task(co) then
    local id = current[1]
    local a, b, c = c_send(id, client, data, from, to, true)
    while a == false do
      park()
      a, b, c = c_send(id, client, data, b + 1, to, false)
    end
    if a ~= true then
      if b == true then
        park()
        return a, nil, nil
      end
      return a, b, c
    end
  elseif current[2] ~= nil then
    error(NESTED, 2)
  end
  return generic_send(client, data, from, to)
end

if core.receive then
  core.hooks[1], core.hooks[2] = copas.receive, copas.send
  copas.receive, copas.send = core.receive, core.send_data
end

function copas.sendto(client, data, ip, port)
  return client:sendto(data, ip, port)
end

local function connect_address(skt, host, port)
  local id = task_id(3)
  if id then
    local timeout = connect_timeouts[skt]
    local a, b = c_connect(id, skt, host, port, timeout, true)
    while a == false do
      park()
      a, b = c_connect(id, skt, host, port, timeout, false)
    end
    if a ~= true then
      -- The socket's own word for a connection still in progress, as a retried
      -- LuaSocket connect gives it (useSocketTimeoutErrors shows it).
      if b == "timeout" then return nil, timeout_error("Operation already in progress") end
      -- Two results, as Copas returns what the socket's connect returned.
      local ok, err = settled(id, a, b)
      return ok, err
    end
  end
  local tried = false
  return io_loop(skt, function() return "w" end, connect_timeouts[skt], function()
    local ret, e = skt:connect(host, port)
    if ret then return ret end
    if e == "already connected" and tried then return 1 end
    tried = true
    return nil, e
  end)
end

local function is_address(host)
  return host:find("^[%d%.]+$") or host:find(":", 1, true) or host == "*"
end

-- Happy Eyeballs (RFC 8305): the addresses of a name are tried in a race, families
-- interleaved (the resolver's first choice first); each attempt starts 250 ms after
-- the one before or as soon as it failed, the first connection wins and the others
-- are closed; the connect timeout covers the whole race. The caller's socket makes
-- the first attempt; a connection made on another socket is moved into it (options
-- set on the socket before connecting then do not carry over).
local ATTEMPT_DELAY = 0.25

local function interleave(addresses)
  local first_v6 = addresses[1]:find(":", 1, true) ~= nil
  local same, other = {}, {}
  for _, address in ipairs(addresses) do
    if (address:find(":", 1, true) ~= nil) == first_v6 then
      same[#same + 1] = address
    else
      other[#other + 1] = address
    end
  end
  local order = {}
  for i = 1, math.max(#same, #other) do
    order[#order + 1] = same[i]
    order[#order + 1] = other[i]
  end
  return order
end

local function race(skt, addresses, port)
  local timeout = connect_timeouts[skt]
  local deadline = timeout and timeout >= 0 and gettime() + timeout or nil
  local me = coroutine_running()
  local attempts = {} -- attempt socket -> its thread
  local winner, last_err, running = nil, nil, 0
  local function attempt(address)
    local s = skt
    if next(attempts) ~= nil or winner ~= nil then
      s = socket.tcp()
      if deadline then copas.settimeouts(s, math.max(deadline - gettime(), 0), nil, nil) end
    end
    running = running + 1
    attempts[s] = copas.addnamedthread("happy_eyeballs", function()
      local ok, err = copas.connect(s, address, port)
      running = running - 1
      attempts[s] = nil
      if ok and not winner then
        winner = s
      else
        if not ok then last_err = err end
        if s ~= skt then s:close() end
      end
      copas.wakeup(me)
    end)
  end
  local next_index = 1
  local next_start = gettime()
  while not winner do
    local now = gettime()
    if next_index <= #addresses and (now >= next_start or running == 0) then
      attempt(addresses[next_index])
      next_index = next_index + 1
      next_start = now + ATTEMPT_DELAY
    elseif running == 0 then
      break
    end
    if deadline and now >= deadline then
      last_err = "timeout"
      break
    end
    local wait = next_index <= #addresses and next_start - now or nil
    if deadline and (not wait or deadline - now < wait) then wait = deadline - now end
    copas.sleep(wait and math.max(wait, 0) or -1)
  end
  for s, co in pairs(attempts) do
    copas.removethread(co)
    if s ~= skt then s:close() end
  end
  if not winner then
    if last_err == "timeout" then return nil, timeout_error("Operation already in progress") end
    return nil, last_err
  end
  if winner ~= skt then
    core.adopt(skt, winner)
    winner:close()
    skt:settimeout(0)
  end
  return 1
end

-- Names are resolved on a worker thread, so a slow DNS server stalls only this thread;
-- a name with several addresses is connected by a Happy Eyeballs race (above).
function copas.connect(skt, host, port)
  skt:settimeout(0)
  local id = type(host) == "string" and not is_address(host) and type(port) == "number" and task_id(2)
  if not id then
    return connect_address(skt, host, port)
  end
  c_resolve(id, host, port)
  park()
  local addresses, err = c_resolved(id)
  if not addresses then return nil, err end
  if #addresses > 1 and tostring(skt):find("^tcp{master}") then
    return race(skt, interleave(addresses), port)
  end
  for i = 1, #addresses do
    local ok
    ok, err = connect_address(skt, addresses[i], port)
    if ok then return ok end
    if err == "timeout" then break end
  end
  return nil, err
end

-- socket.dns inside a Copas thread: the lookup runs on a worker thread while the
-- loop goes on; elsewhere (or with unusual arguments, whose errors the original
-- function raises) it is the blocking original.
do
  local dns = socket.dns
  for _, name in ipairs({ "toip", "tohostname", "getaddrinfo", "getnameinfo" }) do
    local blocking = dns[name]
    dns[name] = function(a, b)
      local co = coroutine_running()
      local id = in_task(co) and current[1]
      local plain = (type(a) == "string" or (a == nil and name == "getnameinfo"))
        and (b == nil or type(b) == "string")
        and (a ~= nil or b ~= nil)
      if not id or not plain then return blocking(a, b) end
      c_query(id, name, a, b)
      park()
      return c_answer(id)
    end
  end
end

-- socket.connect(name, port) inside a Copas thread: resolved off the loop and
-- connected by the Happy Eyeballs race while the loop goes on; the object returned
-- is the blocking one socket.connect gives. Other calls (addresses, a local address
-- or family, outside Copas threads) are the original.
do
  local blocking_connect = socket.connect
  socket.connect = function(address, port, laddress, lport, family)
    local id = in_task(coroutine_running()) and current[1]
    local number = tonumber(port)
    if not id or type(address) ~= "string" or is_address(address) or not number
      or laddress ~= nil or lport ~= nil or family ~= nil then
      return blocking_connect(address, port, laddress, lport, family)
    end
    local skt, err = socket.tcp()
    if not skt then return nil, err end
    local ok
    ok, err = copas.connect(skt, address, number)
    if not ok then
      skt:close()
      return nil, err
    end
    skt:settimeout(-1)
    return skt
  end
end

function copas.flush() end

function copas.close(skt, ...)
  return skt:close(...)
end

-------------------------------------------------------------------------------
-- Wrapped sockets
-------------------------------------------------------------------------------
local function ssl_wrap(skt, params)
  if tostring(skt):sub(1, 3) == "SSL" then return skt end
  if not params then
    error("cannot wrap socket into a secure socket (using 'ssl.wrap()') without parameters/context")
  end
  local ssl = require("ssl")
  local nskt = assert(ssl.wrap(skt, params))
  nskt:settimeout(0)
  copas.settimeouts(nskt, connect_timeouts[skt], send_timeouts[skt], receive_timeouts[skt])
  return nskt
end

local function normalize_sslt(sslt)
  local kind = type(sslt)
  if kind == "nil" then
    return { wrap = false, sni = false }
  elseif kind == "table" then
    if sslt.mode or sslt.protocol then
      return { wrap = sslt, sni = false }
    end
    return { wrap = sslt.wrap or false, sni = sslt.sni or false }
  elseif kind == "userdata" then
    return { wrap = sslt, sni = false }
  end
  error("ssl parameters; did not expect type " .. tostring(sslt), 3)
end

function copas.dohandshake(skt, params)
  local nskt = ssl_wrap(skt, params)
  -- The connection owns the descriptor now: it is what a handler's autoclose must close.
  local id = task_id(2)
  if id and autoclose_socket[id] == skt then autoclose_socket[id] = nskt end
  local ok, err = io_loop(nskt, function(e) return e == "wantwrite" and "w" or "r" end,
    connect_timeouts[nskt], function()
      local success, e = nskt:dohandshake()
      if success then return nskt end
      if not is_timeout_error[e] then
        error("TLS/SSL handshake failed: " .. tostring(e))
      end
      return nil, e
    end)
  if not ok then return nil, err end
  return nskt
end

local tcp_methods, udp_methods = {}, {}
local wrapped_tcp_mt = {
  __index = tcp_methods,
  __tostring = function(self) return tostring(self.socket) .. " (copas wrapped)" end,
}
local wrapped_udp_mt = {
  __index = udp_methods,
  __tostring = function(self) return tostring(self.socket) .. " (copas wrapped)" end,
}

-- Methods that go straight to the socket underneath.
for _, name in ipairs({ "accept", "bind", "dirty", "getfamily", "getfd", "getstats", "gettimeout",
  "listen", "setfd", "setstats", "shutdown", "getoption", "setoption", "getpeername",
  "getsockname", "setpeername", "setsockname" }) do
  local function passthrough(self, ...)
    local target = self.socket
    local method = target[name]
    if not method then return nil, "not implemented by " .. tostring(target) end
    return method(target, ...)
  end
  tcp_methods[name] = passthrough
  udp_methods[name] = passthrough
end

function tcp_methods.send(self, data, from, to) return copas.send(self.socket, data, from, to) end
function tcp_methods.receive(self, pattern, prefix)
  if receive_timeouts[self.socket] == 0 then
    return copas.receivepartial(self.socket, pattern, prefix)
  end
  return copas.receive(self.socket, pattern, prefix)
end
function tcp_methods.receivepartial(self, pattern, prefix) return copas.receivepartial(self.socket, pattern, prefix) end
function tcp_methods.flush(self) return copas.flush(self.socket) end
function tcp_methods.settimeout(self, t) return copas.settimeout(self.socket, t) end
function tcp_methods.settimeouts(self, c, s, r) return copas.settimeouts(self.socket, c, s, r) end
function tcp_methods.gettimeouts(self) return copas.gettimeouts(self.socket) end
function tcp_methods.close(self, ...) return copas.close(self.socket, ...) end
function tcp_methods.connect(self, host, ...)
  local res, err = copas.connect(self.socket, host, ...)
  if res then
    if self.ssl_params.sni then
      self:sni()
    elseif self.ssl_params.wrap and type(host) == "string" and (...) ~= nil then
      -- The name connected to is the one the certificate must be valid for (and the SNI);
      -- without a port the host is a Unix socket's path, which names no host.
      self:sni(host)
    end
    if self.ssl_params.wrap then res, err = self:dohandshake() end
  end
  return res, err
end
function tcp_methods.sni(self, names, strict)
  local params = self.ssl_params
  self.socket = ssl_wrap(self.socket, params.wrap)
  if names == nil and params.sni then
    names, strict = params.sni.names, params.sni.strict
  end
  return self.socket:sni(names, strict)
end
function tcp_methods.dohandshake(self, params)
  local nskt, err = copas.dohandshake(self.socket, params or self.ssl_params.wrap)
  if not nskt then return nskt, err end
  self.socket = nskt
  return self
end
function tcp_methods.getalpn(self, ...)
  local target = self.socket
  if not target.getalpn then return nil, "not a tls socket" end
  return target:getalpn(...)
end
function tcp_methods.getsniname(self, ...)
  local target = self.socket
  if not target.getsniname then return nil, "not a tls socket" end
  return target:getsniname(...)
end

for name, f in pairs(tcp_methods) do udp_methods[name] = udp_methods[name] or f end
-- On Lua 5.2, 5.3 and 5.4 a TCP wrapper's receive and send are the core's (C, no Lua frame
-- between the program and the operation); these stay for what they leave to Lua.
core.hooks[8], core.hooks[9] = tcp_methods.receive, tcp_methods.send
if core.wrapped_receive then
  tcp_methods.receive, tcp_methods.send = core.wrapped_receive, core.wrapped_send
end
function udp_methods.send(self, ...) return self.socket:send(...) end
function udp_methods.sendto(self, ...) return self.socket:sendto(...) end
function udp_methods.receive(self, size) return copas.receive(self.socket, size or UDP_DATAGRAM_MAX) end
function udp_methods.receivefrom(self, size) return copas.receivefrom(self.socket, size or UDP_DATAGRAM_MAX) end
function udp_methods.setpeername(self, ...) return self.socket:setpeername(...) end
function udp_methods.setsockname(self, ...) return self.socket:setsockname(...) end
-- The socket of a UDP server is shared by every exchange: closing a wrapper keeps it open.
function udp_methods.close() return true end

local function is_tcp(skt)
  local name = tostring(skt)
  local prefix = name:sub(1, 3)
  return prefix == "tcp" or prefix == "SSL" or name:sub(1, 10) == "unixstream"
end

local function is_wrapped(skt)
  local mt = getmetatable(skt)
  return mt == wrapped_tcp_mt or mt == wrapped_udp_mt
end

function copas.wrap(skt, sslt)
  if is_wrapped(skt) then return skt end
  skt:settimeout(0)
  if is_tcp(skt) then
    return setmetatable({ socket = skt, ssl_params = normalize_sslt(sslt) }, wrapped_tcp_mt)
  end
  return setmetatable({ socket = skt }, wrapped_udp_mt)
end

function copas.handler(handler, sslparams)
  check_function(handler, 1, "handler")
  return function(skt, ...)
    skt = copas.wrap(skt, sslparams)
    local params = skt.ssl_params
    if params and params.sni then skt:sni(params.sni.names, params.sni.strict) end
    if params and params.wrap then
      local ok, err = skt:dohandshake(params.wrap)
      if not ok then
        -- A failed handshake ends the handler here: it never sees an unencrypted socket.
        return nil, err
      end
    end
    return handler(skt, ...)
  end
end

local function realsocket(skt)
  if is_wrapped(skt) then return skt.socket end
  return skt
end

-------------------------------------------------------------------------------
-- Servers
-------------------------------------------------------------------------------
local servers = {}   -- server socket -> acceptor coroutine
local udp_servers = {} -- UDP server socket -> its handler coroutine
-- copas-rs extension: server socket -> most connections its handlers may hold at once.
local max_connections = setmetatable({}, { __mode = "k" })
-- How long an acceptor at its cap waits before looking again for finished handlers.
local CAP_RECHECK = 0.01
-- How long an acceptor backs off after a failed accept (EMFILE, ENFILE, ENOBUFS...).
local ACCEPT_BACKOFF = 0.05

-- copas.setmaxconnections(server, n): a copas-rs extension. At most `n` handlers of
-- `server` run at once; at the cap the server stops accepting (new clients wait in the
-- kernel's listen backlog) until one of them ends. `nil` removes the cap. Connections
-- accepted before a cap was set are not counted against it.
function copas.setmaxconnections(server, n)
  if n ~= nil and (type(n) ~= "number" or n ~= n or n < 1) then
    error(("bad argument #2 to 'setmaxconnections' (positive number or nil expected, got %s)")
      :format(type(n) == "number" and tostring(n) or type(n)), 2)
  end
  if type(server) ~= "table" and type(server) ~= "userdata" then
    error(("bad argument #1 to 'setmaxconnections' (socket expected, got %s)"):format(type(server)), 2)
  end
  max_connections[realsocket(server)] = n
  return true
end

local function accept_loop(server, handler)
  local count = 0
  local server_name = object_names[server]
  -- Handler coroutines started while a cap was set, until seen finished (forgotten).
  local live, live_count = {}, 0
  while true do
    local cap = max_connections[server]
    if not cap and live_count > 0 then
      live, live_count = {}, 0
    elseif cap and live_count >= cap then
      for co in pairs(live) do
        if not c_task_of(co) then
          live[co] = nil
          live_count = live_count - 1
        end
      end
    end
    local client, err
    if cap and live_count >= cap then
      client = false
      c_sleep(current[1], CAP_RECHECK)
    else
      client, err = c_accept(current[1], server)
      if client == true then
        client, err = server:accept()
      end
    end
    if client == false then
      park()
    elseif client then
      count = count + 1
      object_names[client] = server_name .. ":client_" .. count
      accepted_total = accepted_total + 1
      accepted_open[client] = true
      client:settimeout(0)
      copas.settimeouts(client, connect_timeouts[server], send_timeouts[server], receive_timeouts[server])
      local co = coroutine_create(handler)
      local id = register(co)
      extras[id] = true
      fixed[id] = true
      start_args[id] = { n = 1, client }
      task_socket[id] = client
      object_names[co] = server_name .. ":handler_" .. count
      if copas.autoclose then autoclose_socket[id] = client end
      if cap then
        live[co] = true
        live_count = live_count + 1
      end
    elseif err == "timeout" then
      wait_socket(current[1], server, "r", nil, true)
    elseif err == "closed" then
      return
    else
      -- Out of descriptors or another transient failure: back off instead of spinning
      -- (the listening socket stays readable, an edge-triggered wait would not return).
      c_sleep(current[1], ACCEPT_BACKOFF)
      park()
    end
  end
end


function copas.addserver(server, handler, timeout, name)
  check_function(handler, 2, "addserver")
  server:settimeout(0)
  if name then object_names[server] = name end
  -- Copas ignores a timeout that is not a number (programs pass a name there by
  -- mistake, as its own removeserver test does).
  if type(timeout) == "number" then copas.settimeout(server, timeout) end
  -- A TCP server gets a thread accepting connections (each handled by a thread of its
  -- own); a UDP server's socket goes to one handler thread.
  local tcp = is_tcp(server)
  local co = coroutine_create(tcp and accept_loop or handler)
  local id = register(co)
  extras[id] = true
  fixed[id] = true
  if tcp then
    start_args[id] = { n = 2, server, handler }
    object_names[co] = object_names[server] .. ":acceptor"
    servers[server] = co
  else
    start_args[id] = { n = 1, server }
    task_socket[id] = server
    object_names[co] = object_names[server] .. ":handler"
    udp_servers[server] = co
  end
end

function copas.removeserver(server, keep_open)
  local skt = realsocket(server)
  local co = servers[skt]
  servers[skt] = nil
  udp_servers[skt] = nil
  if co then
    local id = c_task_of(co)
    if id then forget(id) end
  end
  if keep_open then return true end
  return copas.close(server)
end

-------------------------------------------------------------------------------
-- Signals (copas-rs extension)
-------------------------------------------------------------------------------
-- A watched signal wakes the loop through a pipe registered with its reactor; the
-- step that sees it starts the handler as a Copas thread (deliveries between two
-- steps coalesce). A watched signal does not keep the loop running by itself.
local signal_handlers = {} -- signal name ("TERM") -> handler
local signals_armed = false

local function start_signal_handlers(...)
  for i = 1, select("#", ...) do
    local name = select(i, ...)
    local handler = signal_handlers[name]
    if handler then copas.addnamedthread("signal_" .. name, handler, name) end
  end
end

-- copas.signal(name, handler): runs handler(name) as a Copas thread each time the
-- signal ("TERM", "SIGHUP", ...) arrives; handler nil gives the signal its default
-- action back. Returns true, or nil and a message (unknown or uncatchable signal).
function copas.signal(name, handler)
  if type(name) ~= "string" then
    error(("bad argument #1 to 'signal' (string expected, got %s)"):format(type(name)), 2)
  end
  if handler ~= nil then check_function(handler, 2, "signal") end
  if not c_signal_watch then return nil, "signals are not supported on this platform" end
  local canonical, err = (handler and c_signal_watch or c_signal_unwatch)(name)
  if not canonical then return nil, err end
  signal_handlers[canonical] = handler
  if handler then signals_armed = true end
  return true
end

-------------------------------------------------------------------------------
-- Graceful shutdown (copas-rs extension)
-------------------------------------------------------------------------------
local shutting_down = false

-- Ends every thread but the running one, closing the sockets handlers were given.
local function cancel_others()
  for _, tasks in ipairs({ threads, forever }) do
    for id in pairs(tasks) do
      if id ~= current[1] then
        local to_close = autoclose_socket[id]
        autoclose_socket[id] = nil
        forget(id)
        if to_close then pcall(copas.close, to_close) end
      end
    end
  end
end

-- copas.shutdown(grace): closes every server (new connections are refused), tells
-- threads waiting in copas.waitforexit to go (copas.exit), lets the handlers of
-- accepted connections run for up to `grace` seconds (default 10), then ends every
-- thread left, closing their sockets, so that the loop returns.
function copas.shutdown(grace)
  if grace ~= nil and (type(grace) ~= "number" or grace ~= grace or grace < 0) then
    error(("bad argument #1 to 'shutdown' (non-negative number expected, got %s)")
      :format(type(grace) == "number" and tostring(grace) or type(grace)), 2)
  end
  if shutting_down then return true end
  shutting_down = true
  grace = grace or 10
  for server in pairs(servers) do copas.removeserver(server) end
  for server, co in pairs(udp_servers) do
    udp_servers[server] = nil
    local id = c_task_of(co)
    if id then forget(id) end
    pcall(copas.close, server)
  end
  copas.exit()
  copas.addnamedthread("copas_shutdown", function()
    local deadline = gettime() + grace
    while next(task_socket) ~= nil and gettime() < deadline do
      copas.pause(math.min(0.05, math.max(deadline - gettime(), 0)))
    end
    -- Threads the handlers' last data or close woke run before the rest are ended:
    -- the poll of the next step queues them behind this thread, so it takes two
    -- steps until they have run.
    copas.sleep(0)
    copas.sleep(0)
    cancel_others()
    shutting_down = false
  end)
  return true
end

function copas.shuttingdown()
  return shutting_down
end

-------------------------------------------------------------------------------
-- Worker processes (copas-rs extension)
-------------------------------------------------------------------------------
-- copas.workers(n, main): forks n worker processes (default: one per CPU) under a
-- supervisor. Each worker has a scheduler of its own; TCP sockets it binds share their
-- port with its siblings (SO_REUSEPORT), and SIGTERM or SIGINT shut it down
-- gracefully (copas.shutdown(copas.shutdowngrace), unless the program watches them
-- itself). A worker that dies is restarted with back-off; SIGTERM or SIGINT to the
-- supervisor is forwarded to the workers, SIGHUP too. With `main`, a worker runs
-- copas.loop(main) and exits; without, copas.workers returns the worker's index (1..n)
-- in the worker. In the supervisor it returns nil once every worker has ended.
copas.shutdowngrace = 10

function copas.workers(n, main)
  if n ~= nil and (type(n) ~= "number" or n ~= n or n < 1) then
    error(("bad argument #1 to 'workers' (positive number or nil expected, got %s)")
      :format(type(n) == "number" and tostring(n) or type(n)), 2)
  end
  if main ~= nil then check_function(main, 2, "workers") end
  if not core.supervise then error("copas.workers is not supported on this platform", 2) end
  local index = core.supervise(math.floor(n or core.cpus()))
  if not index then return nil end
  copas.worker = index
  for _, name in ipairs({ "TERM", "INT" }) do
    copas.signal(name, function() copas.shutdown(copas.shutdowngrace) end)
  end
  if not main then return index end
  copas.loop(main)
  os.exit(0)
end

-- The process id (for logs of worker processes).
copas.getpid = core.getpid

-------------------------------------------------------------------------------
-- The loop
-------------------------------------------------------------------------------
local stats_enabled, stats = false, nil
local watch_start, watch_end -- the watchdog's halves, defined with copas.watchdog
local alarm_ids = {}

-- core.run's hooks: [3] resumes a task whose first resume passes arguments, or while
-- debugging or the watchdog is on; [4] ends a task that did not park (failed, yielded
-- by itself, or finished with more to clear than the core does) or was removed while
-- it ran.
core.hooks[3] = function(id, co)
  if watchdog_limit then watch_start(co) end
  local ok, err, parked = resume_with_args(id, co)
  if watchdog_limit then watch_end(co) end
  return ok, err, parked
end
core.hooks[4] = function(id, co, ok, err, cancelled)
  if cancelled then
    forget(id)
  else
    finish(id, co, ok, err)
  end
end

function copas.step(timeout)
  if timeout ~= nil and type(timeout) ~= "number" then
    error(("bad argument #1 to 'step' (number expected, got %s)"):format(type(timeout)), 2)
  end
  if current[2] ~= nil then
    error("copas.step cannot be called from inside a Copas thread", 2)
  end
  local step_start = stats_enabled and gettime()
  if collected[1] then drop_collected() end
  local n, nalarms, quiet = c_step(timeout, alarm_ids)
  if signals_armed then start_signal_handlers(c_signals()) end
  -- As Copas: on about one in ten quiet steps, a full collection, so that sockets a
  -- program dropped without closing them are closed by their finalizers (a peer
  -- reading up to the close waits for that), and threads parked on them go.
  if quiet and math.random(100) > 90 then collectgarbage() end
  for i = 1, nalarms do
    fire_alarm(alarm_ids[i])
  end
  -- The core resumes the tasks, calling the hooks above for what it leaves to Lua.
  if n > 0 then c_run() end
  -- Replies a send held back (more requests were buffered) leave by the end of the
  -- batch at the latest, whatever their task does next.
  if next(c_deferred) ~= nil then c_flush() end
  if step_start then
    local duration = gettime() - step_start
    stats = stats or { steps = 0, duration_tot = 0, duration_max = -1, duration_min = math.huge,
      time_start = step_start }
    stats.steps = stats.steps + 1
    stats.duration_tot = stats.duration_tot + duration
    if duration > stats.duration_max then stats.duration_max = duration end
    if duration < stats.duration_min then stats.duration_min = duration end
  end
  return n + nalarms > 0
end

function copas.finished()
  return c_idle()
end

local exiting = false
local exit_waiters = {}

function copas.exit()
  if exiting then return end
  exiting = true
  for co in pairs(exit_waiters) do
    exit_waiters[co] = nil
    copas.wakeup(co)
  end
end

function copas.exiting()
  return exiting
end

function copas.waitforexit()
  local co = coroutine_running()
  while not exiting do
    exit_waiters[co] = true
    copas.pauseforever()
  end
  exit_waiters[co] = nil
end

function copas.loop(initializer, timeout)
  if type(initializer) == "function" then
    copas.addnamedthread("copas_initializer", initializer)
  else
    timeout = initializer or timeout
  end
  exiting = false
  copas.running = true
  while true do
    copas.step(timeout)
    if c_idle() then
      if exiting then break end
      copas.exit()
    end
  end
  copas.running = false
end

function copas.cancelall()
  for _, tasks in ipairs({ threads, forever }) do
    for id in pairs(tasks) do
      local to_close = autoclose_socket[id]
      forget(id)
      if to_close then pcall(copas.close, to_close) end
    end
  end
  for server in pairs(servers) do
    servers[server] = nil
    pcall(copas.close, server)
  end
  copas.exit()
end

function copas.status(enable_stats)
  local res = {}
  if enable_stats == true then
    stats_enabled, stats = true, nil
  elseif enable_stats == false then
    stats_enabled, stats = false, nil
  elseif stats_enabled and stats then
    for k, v in pairs(stats) do res[k] = v end
    res.duration_avg = stats.duration_tot / stats.steps
    res.time_end = gettime()
    res.time_tot = res.time_end - stats.time_start
    res.time_avg = res.time_tot / stats.steps
    stats = nil
  end
  local counts = c_counts()
  res.running = not not copas.running
  res.timeout = counts.alarms
  res.timer = counts.sleeping
  res.inactive = counts.suspended
  res.read = counts.reading
  res.write = counts.writing
  res.active = counts.ready
  return res
end

-------------------------------------------------------------------------------
-- Names
-------------------------------------------------------------------------------
function copas.setsocketname(name, skt)
  assert(type(name) == "string", "expected arg #1 to be a string")
  skt = assert(realsocket(skt), "expected arg #2 to be a socket")
  object_names[skt] = name
end

function copas.getsocketname(skt)
  skt = assert(realsocket(skt), "expected arg #1 to be a socket")
  return object_names[skt]
end

function copas.setthreadname(name, co)
  assert(type(name) == "string", "expected arg #1 to be a string")
  co = co or coroutine_running()
  assert(type(co) == "thread", "expected arg #2 to be a coroutine or nil")
  object_names[co] = name
end

function copas.getthreadname(co)
  co = co or coroutine_running()
  assert(type(co) == "thread", "expected arg #1 to be a coroutine or nil")
  return object_names[co]
end

-------------------------------------------------------------------------------
-- Debugging
-------------------------------------------------------------------------------
copas.debug = {}

-- Logs every resume, yield and exit of a thread through `logger` (default print).
-- (Copas's second argument, logging its internal timer thread, has nothing to log
-- here: there is no such thread.)
function copas.debug.start(logger)
  debug_log = logger or print
  c_tracing(true, watchdog_limit ~= nil)
end

function copas.debug.stop()
  debug_log = nil
  c_tracing(false, watchdog_limit ~= nil)
end

-- Wraps a socket (plain or copas-wrapped) in a proxy that prints every method call
-- with its arguments and results. Extremely noisy; for debugging only.
function copas.debug.socket(original)
  if is_wrapped(original) then
    original.socket = copas.debug.socket(original.socket)
    return original
  end
  local call_id = 0
  local function show(label, ...)
    local args = pack(...)
    print(label)
    for i = 1, args.n do
      local v = args[i]
      if type(v) == "string" and #v > 30 then v = v:sub(1, 30) .. "(...truncated)" end
      print("\t" .. i .. ": '" .. tostring(v) .. "' (" .. type(args[i]) .. ")")
    end
  end
  return setmetatable({ __original_socket = original }, {
    __index = function(self, key)
      local value = original[key]
      if type(value) ~= "function" then return value end
      return function(self2, ...)
        call_id = call_id + 1
        local target = self2 == self and original or self2
        show(call_id .. "-calling '" .. tostring(key) .. "' with; ", target, ...)
        local results = pack(value(target, ...))
        show(call_id .. "-results '" .. tostring(key) .. "' returned; ", unpack(results, 1, results.n))
        return unpack(results, 1, results.n)
      end
    end,
    __tostring = function() return tostring(original) end,
  })
end


-------------------------------------------------------------------------------
-- Watchdog (copas-rs extension)
-------------------------------------------------------------------------------
-- A count hook on the resumed coroutine looks at the clock every WATCH_COUNT VM
-- instructions, so a thread spinning in Lua is reported while it still runs; one
-- stuck inside a C call is reported when the call (and the resume) ends.
local WATCH_COUNT = 10000
-- A host may leave the debug library out (mlua's safe mode): no watchdog then.
local debug_library = rawget(_G, "debug")
local debug_sethook = debug_library and debug_library.sethook
local debug_traceback = debug_library and debug_library.traceback
local watchdog_callback
local watched_co, watched_since, watched_reported = nil, 0, false

local function watchdog_report(phase, co, elapsed, traceback)
  local report = {
    phase = phase, thread = co, name = object_names[co], elapsed = elapsed,
    limit = watchdog_limit, traceback = traceback,
  }
  local ok, err = pcall(watchdog_callback, report)
  if not ok then
    io.stderr:write("copas watchdog: callback failed: ", tostring(err), "\n")
  end
end

local function watch_hook()
  if not watchdog_limit then
    -- Switched off while this coroutine kept its hook.
    return debug_sethook()
  end
  -- (A hooked coroutine resumed outside the loop's resumes is not timed.)
  if watched_reported or not watched_co then return end
  local elapsed = c_monotonic() - watched_since
  if elapsed > watchdog_limit then
    watched_reported = true
    local co = watched_co
    watchdog_report("running", co, elapsed, debug_traceback(
      ("thread '%s' has been running for %.3f s (limit %.3f s)")
        :format(object_names[co], elapsed, watchdog_limit), 2))
  end
end

function watch_start(co)
  watched_co, watched_since, watched_reported = co, c_monotonic(), false
  debug_sethook(co, watch_hook, "", WATCH_COUNT)
end

function watch_end(co)
  if watched_co ~= co then return end
  watched_co = nil
  local elapsed = c_monotonic() - watched_since
  if elapsed > watchdog_limit then
    local traceback
    if coroutine_status(co) == "suspended" then
      traceback = debug_traceback(co, ("thread '%s' yielded after %.3f s")
        :format(object_names[co], elapsed))
    end
    watchdog_report("ended", co, elapsed, traceback)
  end
end

local function default_watchdog(report)
  if report.phase == "running" then
    io.stderr:write("copas watchdog: ", report.traceback, "\n")
  else
    io.stderr:write(("copas watchdog: thread '%s' ran for %.3f s in one resume (limit %.3f s)\n")
      :format(report.name, report.elapsed, report.limit))
  end
end

-- LuaJIT runs no hooks inside compiled code, so a loop compiled before or while the
-- watchdog is on would never be seen running: the JIT compiler is off (and its
-- traces flushed) while the watchdog is on, and back on after if it was on before.
local jit = rawget(_G, "jit")
local jit_was_on = false

-- copas.watchdog(limit_s, callback?): reports every resume that runs longer than
-- limit_s seconds, first while it runs (phase "running", with the thread's traceback
-- at that moment), then when it yields or ends (phase "ended", with the total time).
-- The callback gets a table { phase, thread, name, elapsed, limit, traceback };
-- the default writes to stderr. copas.watchdog(nil) (or false, or 0) switches it off.
function copas.watchdog(limit, callback)
  if limit == nil or limit == false or limit == 0 then
    if watchdog_limit and jit_was_on then jit.on() end
    watchdog_limit, jit_was_on = nil, false
    c_tracing(debug_log ~= nil, false)
    return true
  end
  if type(limit) ~= "number" or limit ~= limit or limit < 0 then
    error(("bad argument #1 to 'watchdog' (positive number expected, got %s)")
      :format(type(limit) == "number" and tostring(limit) or type(limit)), 2)
  end
  if callback ~= nil and type(callback) ~= "function" then
    check_function(callback, 2, "watchdog")
  end
  if not (debug_sethook and debug_traceback) then
    return nil, "the watchdog needs the debug library, which this Lua state lacks"
  end
  if jit and not watchdog_limit then
    jit_was_on = jit.status()
    jit.off()
    jit.flush()
  end
  watchdog_limit, watchdog_callback = limit, callback or default_watchdog
  c_tracing(debug_log ~= nil, true)
  return true
end

-------------------------------------------------------------------------------
-- Metrics (copas-rs extension)
-------------------------------------------------------------------------------
local metrics = {}
copas.metrics = setmetatable(metrics, { __call = function() return metrics.get() end })

-- copas.metrics(): a snapshot of the scheduler; see docs/observability.md.
function metrics.get()
  local m = c_metrics()
  local server_count = 0
  for _ in pairs(servers) do server_count = server_count + 1 end
  local running = current[2] and 1 or 0
  return {
    threads = {
      -- The threads of this step's batch not resumed yet wait for their turn: ready.
      running = running, ready = m.ready + math.max(m.running - running, 0), sleeping = m.sleeping,
      reading = m.reading, writing = m.writing, paused = m.paused, resolving = m.blocking,
    },
    servers = server_count,
    connections = { open = accepted_total - closed_total, accepted = accepted_total, closed = closed_total },
    bytes_received = m.bytes_received, bytes_sent = m.bytes_sent,
    steps = m.steps, resumes = m.resumes,
    step_duration = m.step_duration, resume_duration = m.resume_duration,
    timers = m.timers, alarms = m.alarms, dns_in_flight = m.blocking,
    lag = { count = m.lag.count, last = m.lag.last, max = m.lag.max, sum = m.lag.sum,
      mean = m.lag.count > 0 and m.lag.sum / m.lag.count or 0 },
    virtual_clock = m.virtual_clock,
  }
end

local function number_text(v)
  if v ~= v then return "NaN" end
  if v == math.huge then return "+Inf" end
  if v == -math.huge then return "-Inf" end
  if v == math.floor(v) and v > -2^53 and v < 2^53 then return ("%d"):format(v) end
  return ("%.9g"):format(v)
end

-- The same snapshot in Prometheus' text exposition format (version 0.0.4).
function metrics.prometheus()
  local m = metrics.get()
  local out = {}
  local function family(name, kind, help)
    out[#out + 1] = "# HELP " .. name .. " " .. help
    out[#out + 1] = "# TYPE " .. name .. " " .. kind
  end
  local function sample(name, value, labels)
    out[#out + 1] = name .. (labels or "") .. " " .. number_text(value)
  end
  family("copas_threads", "gauge", "Copas threads by state.")
  for _, state in ipairs({ "running", "ready", "sleeping", "reading", "writing", "paused", "resolving" }) do
    sample("copas_threads", m.threads[state], '{state="' .. state .. '"}')
  end
  local simple = {
    { "copas_servers", "gauge", "Servers added with copas.addserver.", m.servers },
    { "copas_connections_open", "gauge", "Accepted connections whose handler has not ended.", m.connections.open },
    { "copas_connections_accepted_total", "counter", "Connections accepted.", m.connections.accepted },
    { "copas_connections_closed_total", "counter", "Accepted connections whose handler ended.", m.connections.closed },
    { "copas_received_bytes_total", "counter", "Bytes received through Copas.", m.bytes_received },
    { "copas_sent_bytes_total", "counter", "Bytes sent through Copas.", m.bytes_sent },
    { "copas_steps_total", "counter", "Steps of the loop.", m.steps },
    { "copas_resumes_total", "counter", "Threads resumed.", m.resumes },
    { "copas_timers", "gauge", "Timers pending (sleeps, deadlines, alarms).", m.timers },
    { "copas_dns_in_flight", "gauge", "Name lookups running on worker threads.", m.dns_in_flight },
    { "copas_loop_lag_seconds", "gauge", "How late the loop last woke for a timer.", m.lag.last },
    { "copas_loop_lag_max_seconds", "gauge", "The largest lateness of the loop for a timer.", m.lag.max },
  }
  for _, entry in ipairs(simple) do
    family(entry[1], entry[2], entry[3])
    sample(entry[1], entry[4])
  end
  for _, d in ipairs({ { "step", m.step_duration, "Work of one step (resumes included, waiting excluded)" },
                       { "resume", m.resume_duration, "One resume of a thread" } }) do
    local name = "copas_" .. d[1] .. "_duration_seconds"
    family(name, "summary", d[3] .. "; quantiles over the last " .. d[2].window .. ".")
    sample(name, d[2].p50, '{quantile="0.5"}')
    sample(name, d[2].p99, '{quantile="0.99"}')
    sample(name .. "_sum", d[2].sum)
    sample(name .. "_count", d[2].count)
    family(name .. "_max", "gauge", d[3] .. "; the longest of the last " .. d[2].window .. ".")
    sample(name .. "_max", d[2].max)
  end
  out[#out + 1] = ""
  return table.concat(out, "\n")
end

-- metrics.serve(host, port): serves metrics.prometheus() over HTTP from a Copas
-- server (any path). Returns the server socket (for copas.removeserver) and its port.
function metrics.serve(host, port)
  local server = assert(socket.bind(host or "127.0.0.1", port or 0))
  local _, bound_port = server:getsockname()
  copas.addserver(server, function(client)
    local request = copas.receive(client, "*l")
    while request do
      local line = copas.receive(client, "*l")
      if not line or line == "" then break end
    end
    if not request then return end
    local body = metrics.prometheus()
    copas.send(client, "HTTP/1.0 200 OK\r\n"
      .. "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
      .. "Content-Length: " .. #body .. "\r\nConnection: close\r\n\r\n" .. body)
  end, nil, "copas_metrics")
  return server, tonumber(bound_port)
end

-------------------------------------------------------------------------------
-- Testing: the virtual clock (copas-rs extension)
-------------------------------------------------------------------------------
local testing = {}
copas.testing = testing

-- testing.virtualclock(on): switches the virtual clock on (true) or off (false);
-- returns whether it was on. copas.gettime, socket.gettime, sleeps, timers, socket
-- timeouts, copas.timeout alarms and locks then run on simulated time, which stands
-- still while threads run and jumps to the next deadline when all of them wait.
function testing.virtualclock(on)
  if on ~= nil and type(on) ~= "boolean" then
    error(("bad argument #1 to 'virtualclock' (boolean expected, got %s)"):format(type(on)), 2)
  end
  return core.virtualclock(on)
end

-- testing.run(main, ...): copas.loop(main) with its arguments under the virtual clock,
-- which is then switched back as it was. Returns the simulated seconds elapsed.
function testing.run(main, ...)
  check_function(main, 1, "run")
  local args = pack(...)
  local was = core.virtualclock(true)
  local start = gettime()
  local ok, err = pcall(copas.loop, function() return main(unpack(args, 1, args.n)) end)
  local elapsed = gettime() - start
  core.virtualclock(was)
  if not ok then error(err, 0) end
  return elapsed
end

return copas
