-- copas.lock: ownership, re-entrance, FIFO hand-over, timeouts and destroy.
local t = require("t")
local copas = require("copas")
local lock = require("copas.lock")

local harness = require("copas_run")
local run = harness.run

t.test("module and argument checks", function()
  t.eq(copas.lock, lock)
  t.err("bad argument #1 to 'new'", lock.new, -1)
  t.err("bad argument #1 to 'new'", lock.new, "10")
  local l = lock.new()
  t.err("bad argument #1 to 'get'", l.get, l, -1)
end)

t.test("get returns the time waited; release returns true", function()
  local l = lock.new()
  local results = {}
  run(function()
    results.get = l:get()
    results.release = l:release()
  end)
  t.eq(type(results.get), "number")
  t.ok(results.get >= 0)
  t.eq(results.release, true)
end)

t.test("a re-entrant lock counts; others wait for the last release", function()
  local l = lock.new(math.huge)
  local events = {}
  run(function()
    t.ok(l:get())
    t.ok(l:get())
    copas.addthread(function()
      t.ok(l:get())
      events[#events + 1] = "other got it"
      l:release()
    end)
    copas.pause(0)
    t.eq(l:release(), true)
    copas.pause(0)
    events[#events + 1] = "released once"
    t.eq(l:release(), true)
    copas.pause(0)
  end)
  t.eq(events, { "released once", "other got it" })
end)

t.test("the owner of a lock that is not re-entrant waits for it until the timeout", function()
  local l = lock.new(math.huge, true)
  local results = {}
  run(function()
    t.ok(l:get())
    results.zero = { l:get(0) }
    results.again = { l:get(0.05) }
    results.release = l:release()
    results.release_again = { l:release() }
  end)
  t.eq(results.zero, { nil, "timeout", 0 })
  t.eq({ results.again[1], results.again[2] }, { nil, "timeout" })
  t.ok(results.again[3] >= 0.04, "waited " .. tostring(results.again[3]))
  t.eq(results.release, true)
  t.eq(results.release_again, { nil, "cannot release a lock not owned" })
end)

t.test("the owner of a lock that is not re-entrant, waiting for it, is told of destroy", function()
  local l = lock.new(math.huge, true)
  local again
  run(function()
    t.ok(l:get())
    copas.addthread(function()
      copas.pause(0.01)
      l:destroy()
    end)
    again = { l:get() }
  end)
  t.eq({ again[1], again[2] }, { nil, "destroyed" })
end)

t.test("get times out with nil, 'timeout', wait time", function()
  local l = lock.new(0.05)
  local results = {}
  run(function()
    t.ok(l:get())
    copas.addthread(function()
      results.zero = { l:get(0) }
      results.default = { l:get() }
      results.explicit = { l:get(0.01) }
    end)
    while not results.explicit do copas.pause(0.01) end
    l:release()
  end)
  t.eq(results.zero, { nil, "timeout", 0 })
  t.eq({ results.default[1], results.default[2] }, { nil, "timeout" })
  t.ok(results.default[3] >= 0.04, "waited " .. tostring(results.default[3]))
  t.eq({ results.explicit[1], results.explicit[2] }, { nil, "timeout" })
end)

t.test("waiters get the lock first in, first out", function()
  local l = lock.new(math.huge)
  local order = {}
  run(function()
    t.ok(l:get())
    for i = 1, 4 do
      copas.addthread(function()
        t.ok(l:get())
        order[#order + 1] = i
        copas.pause(0)
        l:release()
      end)
    end
    copas.pause(0)
    l:release()
  end)
  t.eq(order, { 1, 2, 3, 4 })
end)

t.test("the releasing thread cannot take the lock back ahead of a waiter", function()
  local l = lock.new(math.huge)
  local order = {}
  run(function()
    t.ok(l:get())
    copas.addthread(function()
      t.ok(l:get())
      order[#order + 1] = "waiter"
      l:release()
    end)
    copas.pause(0)
    l:release()
    t.nilmsg("timeout", l:get(0))
    t.ok(l:get())
    order[#order + 1] = "releaser"
    l:release()
  end)
  t.eq(order, { "waiter", "releaser" })
end)

t.test("only the owner can release", function()
  local l = lock.new(math.huge)
  local results = {}
  run(function()
    t.ok(l:get())
    copas.addthread(function() results.other = { l:release() } end)
    copas.pause(0)
    results.owner = l:release()
  end)
  t.eq(results.other, { nil, "cannot release a lock not owned" })
  t.eq(results.owner, true)
  t.eq({ l:release() }, { nil, "cannot release a lock not owned" })
end)

t.test("stray copas.wakeup calls do not hand out the lock", function()
  local l = lock.new(math.huge)
  local got = false
  run(function()
    t.ok(l:get())
    local co = copas.addthread(function() got = l:get() and true end)
    copas.pause(0)
    copas.wakeup(co)
    copas.pause(0)
    copas.pause(0)
    t.eq(got, false, "still waiting after a stray wakeup")
    l:release()
  end)
  t.eq(got, true)
end)

t.test("destroy releases waiters with nil, 'destroyed', wait time", function()
  local l = lock.new(math.huge)
  local results = {}
  run(function()
    t.ok(l:get())
    for i = 1, 2 do
      copas.addthread(function() results[i] = { l:get() } end)
    end
    copas.pause(0)
    t.eq(l:destroy(), true)
  end)
  for i = 1, 2 do
    t.eq({ results[i][1], results[i][2] }, { nil, "destroyed" })
    t.eq(type(results[i][3]), "number")
  end
  t.eq({ l:get() }, { nil, "destroyed", 0 })
  t.nilmsg("destroyed", l:release())
  t.nilmsg("destroyed", l:destroy())
end)

t.test("destroy right after a release: the waiter handed the lock gets nil, 'destroyed'", function()
  local l = lock.new(math.huge)
  local results = {}
  run(function()
    t.ok(l:get())
    for i = 1, 2 do
      copas.addthread(function() results[i] = { l:get() } end)
    end
    copas.pause(0)
    t.eq(l:release(), true)
    t.eq(l:destroy(), true)
  end)
  for i = 1, 2 do
    t.eq({ results[i][1], results[i][2] }, { nil, "destroyed" }, "waiter " .. i)
  end
end)

t.test("get outside a Copas thread works when free and refuses to wait", function()
  local l = lock.new()
  t.ok(l:get())
  t.ok(l:get())
  t.eq(l:release(), true)
  t.eq(l:release(), true)
  local taken
  run(function()
    t.ok(l:get())
    taken = true
  end)
  t.ok(taken)
  t.eq({ l:get(0) }, { nil, "timeout", 0 })
  t.err("not called from a Copas thread", l.get, l, 1)
end)

t.test("a waiter removed with copas.removethread is skipped at hand-over", function()
  local l = lock.new(math.huge)
  local got
  run(function()
    assert(l:get())
    local removed = copas.addthread(function() l:get() end)
    copas.pause(0)
    copas.removethread(removed)
    t.eq(l:release(), true)
    got = { l:get(0) }
    l:release()
  end)
  t.eq(type(got[1]), "number", "the lock is free again, not lost to the removed thread")
end)

t.run()
