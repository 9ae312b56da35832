-- copas.limit: at most `max` tasks of a set at a time, started in order; wait().
local t = require("t")
local copas = require("copas")
local limit = require("copas.limit")

local harness = require("copas_run")
local run = harness.run

t.test("module and argument checks", function()
  t.eq(copas.limit, limit)
  t.err("bad argument #1 to 'new'", limit.new)
  t.err("bad argument #1 to 'new'", limit.new, 0)
  t.err("bad argument #1 to 'new'", limit.new, "3")
  local set = limit.new(2)
  t.err("bad argument #1 to 'addthread'", set.addthread, set, "f")
end)

t.test("never more than max at once, all tasks run, started in order", function()
  local set = limit.new(3)
  local active, most, started, finished = 0, 0, {}, 0
  local waited = false
  run(function()
    for i = 1, 10 do
      local co = set:addthread(function(n, pause)
        active = active + 1
        if active > most then most = active end
        started[#started + 1] = n
        copas.pause(pause)
        active = active - 1
        finished = finished + 1
      end, i, (i % 3) * 0.005)
      t.eq(type(co), "thread")
    end
    set:wait()
    waited = finished
  end)
  t.eq(most, 3)
  t.eq(finished, 10)
  t.eq(waited, 10, "wait returned after the last task")
  t.eq(started, { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 })
end)

t.test("wait returns at once on an empty set, and on one that ran empty", function()
  local set = limit.new(1)
  local log = {}
  run(function()
    set:wait()
    log[#log + 1] = "empty"
    set:addthread(function() copas.pause(0.01) end)
    set:wait()
    log[#log + 1] = "drained"
    set:wait()
    log[#log + 1] = "again"
  end)
  t.eq(log, { "empty", "drained", "again" })
end)

t.test("several threads can wait on one set", function()
  local set = limit.new(2)
  local released = 0
  run(function()
    for _ = 1, 4 do set:addthread(copas.pause, 0.01) end
    for _ = 1, 3 do
      copas.addthread(function() set:wait(); released = released + 1 end)
    end
  end)
  t.eq(released, 3)
end)

t.test("a failing task frees its slot and reaches the error handler", function()
  local set = limit.new(1)
  local ran = {}
  run(function()
    set:addthread(function() error("task blew up") end)
    set:addthread(function() ran[#ran + 1] = "second" end)
    set:addthread(function() copas.pause(0); error("later blow-up") end)
    set:addthread(function() ran[#ran + 1] = "fourth" end)
    set:wait()
  end, true)
  t.eq(ran, { "second", "fourth" })
  t.eq(#harness.errors, 2)
  t.ok(harness.errors[1]:find("task blew up"), harness.errors[1])
  t.ok(harness.errors[2]:find("later blow%-up"), harness.errors[2])
end)

t.test("math.huge puts no limit on a set", function()
  local set = limit.new(math.huge)
  local active, most = 0, 0
  run(function()
    for _ = 1, 20 do
      set:addthread(function()
        active = active + 1
        if active > most then most = active end
        copas.pause(0.01)
        active = active - 1
      end)
    end
    set:wait()
  end)
  t.eq(most, 20)
end)

t.test("wait outside a Copas thread is an error while tasks are pending", function()
  local set = limit.new(1)
  set:wait()
  set:addthread(function() end)
  t.err("not called from a Copas thread", set.wait, set)
  run(function() end)
  set:wait()
end)

t.run()
