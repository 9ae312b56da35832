-- copas.timer: one-shot and recurring runs, arming, cancelling and error handling.
local t = require("t")
local copas = require("copas")
local timer = require("copas.timer")

local harness = require("copas_run")
local run = harness.run

t.test("module and option checks", function()
  t.eq(copas.timer, timer)
  local cb = function() end
  t.err("table expected", timer.new)
  t.err("options.delay", timer.new, { callback = cb })
  t.err("options.delay", timer.new, { delay = -1, callback = cb })
  t.err("options.callback", timer.new, { delay = 1 })
  t.err("options.errorhandler", timer.new, { delay = 1, callback = cb, errorhandler = 1 })
  t.err("options.initial_delay", timer.new, { delay = 1, callback = cb, initial_delay = "x" })
  t.err("options.name", timer.new, { delay = 1, callback = cb, name = 5 })
end)

t.test("a one-shot timer runs once, in its own named thread, with its params", function()
  local calls = {}
  local tm
  run(function()
    local start = copas.gettime()
    tm = timer.new {
      name = "one-shot", delay = 0.05, params = "p",
      callback = function(timer_obj, params)
        calls[#calls + 1] = {
          timer_obj = timer_obj, params = params, elapsed = copas.gettime() - start,
          thread = copas.getthreadname(),
        }
      end,
    }
    t.eq(tm.name, "one-shot")
    t.eq(#calls, 0, "not before the delay")
  end)
  t.eq(#calls, 1)
  t.eq(calls[1].timer_obj, tm)
  t.eq(calls[1].params, "p")
  t.eq(calls[1].thread, "one-shot")
  t.ok(calls[1].elapsed >= 0.04, "ran after " .. calls[1].elapsed)
  t.nilmsg("not armed", tm:cancel())
end)

t.test("timers get default names copas_timer_<n>", function()
  local tm = timer.new { delay = 0, callback = function() end }
  t.ok(tm.name:match("^copas_timer_%d+$"), tm.name)
  run(function() end)
end)

t.test("a recurring timer runs until cancelled, initial_delay 0 runs at once", function()
  local runs = 0
  run(function()
    timer.new {
      delay = 0.01, recurring = true, initial_delay = 0,
      callback = function(tm)
        runs = runs + 1
        if runs == 5 then tm:cancel() end
      end,
    }
    copas.pause(0)
    t.eq(runs, 1, "the first run came without a delay")
  end)
  t.eq(runs, 5)
end)

t.test("cancel before expiry: no run, and the timer thread ends at once", function()
  local ran = false
  run(function()
    local tm = timer.new { delay = 60, callback = function() ran = true end }
    local co = tm.co
    copas.pause(0)
    t.eq(tm:cancel(), tm, "cancel returns the timer")
    copas.pause(0)
    t.eq(coroutine.status(co), "dead", "the cancelled timer's thread has ended")
    t.nilmsg("not armed", tm:cancel())
  end)
  t.eq(ran, false)
end)

t.test("arm after cancel runs again; arm returns the timer", function()
  local runs = 0
  run(function()
    local tm = timer.new { delay = 60, callback = function() runs = runs + 1 end }
    tm:cancel()
    t.eq(tm:arm(0.01), tm)
  end)
  t.eq(runs, 1)
end)

t.test("a one-shot timer can re-arm itself from its callback", function()
  local runs = 0
  run(function()
    timer.new {
      delay = 0.01,
      callback = function(tm)
        runs = runs + 1
        if runs < 3 then tm:arm() end
      end,
    }
  end)
  t.eq(runs, 3)
end)

t.test("arming an armed timer returns nil, 'already armed' and changes nothing", function()
  local runs = 0
  local again
  run(function()
    local tm = timer.new { delay = 0.01, callback = function() runs = runs + 1 end }
    again = { tm:arm(60) }
  end)
  t.eq(again, { nil, "already armed" })
  t.eq(runs, 1, "the first arming's delay held")
end)

t.test("a recurring timer cannot re-arm itself from its callback", function()
  local results = {}
  run(function()
    timer.new {
      delay = 0.01, recurring = true,
      callback = function(tm)
        results[#results + 1] = { tm:arm(1) }
        if #results == 2 then tm:cancel() end
      end,
    }
  end)
  t.eq(results, { { nil, "already armed" }, { nil, "already armed" } })
end)

t.test("cancel during a callback lets it finish and prevents further runs", function()
  local events = {}
  local release = false
  run(function()
    local tm = timer.new {
      delay = 0, recurring = true,
      callback = function()
        events[#events + 1] = "start"
        while not release do copas.pause(0.01) end
        events[#events + 1] = "end"
      end,
    }
    while #events == 0 do copas.pause(0) end
    t.eq(tm:cancel(), tm)
    copas.pause(0.02)
    release = true
  end)
  t.eq(events, { "start", "end" })
end)

t.test("an error goes to the timer's errorhandler; a one-shot timer is done", function()
  local handled = {}
  local tm
  run(function()
    tm = timer.new {
      delay = 0, name = "failing",
      callback = function() error("boom") end,
      errorhandler = function(err, co)
        handled[#handled + 1] = { err = tostring(err), thread = copas.getthreadname(co) }
      end,
    }
  end)
  t.eq(#handled, 1)
  t.ok(handled[1].err:find("boom"), handled[1].err)
  t.eq(handled[1].thread, "failing")
  t.eq(harness.errors, {}, "the default handler was not used")
  t.nilmsg("not armed", tm:cancel())
end)

t.test("a recurring timer carries on after an error", function()
  local runs, handled = 0, 0
  run(function()
    timer.new {
      delay = 0.01, recurring = true,
      callback = function(tm)
        runs = runs + 1
        if runs == 3 then tm:cancel() end
        if runs < 3 then error("tick " .. runs) end
      end,
      errorhandler = function() handled = handled + 1 end,
    }
  end)
  t.eq(runs, 3)
  t.eq(handled, 2)
end)

t.test("without an errorhandler, errors go to the Copas error handler", function()
  run(function()
    timer.new { delay = 0, callback = function() error("unhandled boom") end }
  end, true)
  t.eq(#harness.errors, 1)
  t.ok(harness.errors[1]:find("unhandled boom"), harness.errors[1])
end)

t.test("arm checks its argument", function()
  local tm = timer.new { delay = 60, callback = function() end }
  t.err("initial_delay", tm.arm, tm, -1)
  tm:cancel()
  run(function() end)
end)

t.run()
