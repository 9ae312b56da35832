-- copas.semaphore: counting, FIFO service, timeouts, limits and destroy.
local t = require("t")
local copas = require("copas")
local semaphore = require("copas.semaphore")

local harness = require("copas_run")
local run = harness.run

t.test("module and constructor checks", function()
  t.eq(copas.semaphore, semaphore)
  t.err("bad argument #1 to 'new'", semaphore.new)
  t.err("bad argument #1 to 'new'", semaphore.new, 0)
  t.err("bad argument #2 to 'new'", semaphore.new, 2, 3)
  t.err("bad argument #2 to 'new'", semaphore.new, 2, -1)
  t.err("bad argument #3 to 'new'", semaphore.new, 2, 0, -1)
  local sema = semaphore.new(5, 2)
  t.eq(sema:get_count(), 2)
  t.eq(sema:get_wait(), 0)
  t.err("bad argument #1 to 'take'", sema.take, sema, 0)
  t.err("bad argument #1 to 'take'", sema.take, sema, "x")
  t.err("bad argument #2 to 'take'", sema.take, sema, 1, -1)
  t.err("bad argument #1 to 'give'", sema.give, sema, -1)
  t.err("bad argument #1 to 'give'", sema.give, sema, math.huge)
  t.err("bad argument #1 to 'give'", sema.give, sema, 0 / 0)
end)

t.test("take and give without waiting, outside the loop too", function()
  local sema = semaphore.new(5, 3)
  t.eq(sema:take(2), true)
  t.eq(sema:get_count(), 1)
  t.nilmsg("timeout", sema:take(2, 0))
  t.eq(sema:give(), true)
  t.eq(sema:give(0), true)
  t.eq(sema:get_count(), 2)
  t.err("not called from a Copas thread", sema.take, sema, 3, 1)
end)

t.test("give beyond max caps the count and says 'too many'", function()
  local sema = semaphore.new(3, 2)
  t.nilmsg("too many", sema:give(2))
  t.eq(sema:get_count(), 3)
  t.nilmsg("too many", sema:take(4))
  t.eq(sema:get_count(), 3)
end)

t.test("take times out with nil, 'timeout'", function()
  local sema = semaphore.new(5, 0, 0.05)
  local results = {}
  run(function()
    local start = copas.gettime()
    results.default = { sema:take() }
    results.waited = copas.gettime() - start
    results.zero = { sema:take(1, 0) }
    results.explicit = { sema:take(2, 0.01) }
  end)
  t.eq(results.default, { nil, "timeout" })
  t.ok(results.waited >= 0.04, "waited " .. results.waited)
  t.eq(results.zero, { nil, "timeout" })
  t.eq(results.explicit, { nil, "timeout" })
  t.eq(sema:get_wait(), 0, "timed-out waiters leave the queue")
end)

t.test("waiters are served first in, first out", function()
  local sema = semaphore.new(10, 0, math.huge)
  local order = {}
  run(function()
    for i = 1, 4 do
      copas.addthread(function()
        t.eq(sema:take(), true)
        order[#order + 1] = i
      end)
    end
    copas.pause(0)
    t.eq(sema:get_wait(), 4)
    for _ = 1, 4 do
      sema:give(1)
      copas.pause(0)
    end
  end)
  t.eq(order, { 1, 2, 3, 4 })
end)

t.test("a large request at the head is not overtaken by smaller ones", function()
  local sema = semaphore.new(10, 0, math.huge)
  local order = {}
  run(function()
    copas.addthread(function() sema:take(3); order[#order + 1] = "big" end)
    copas.addthread(function() sema:take(1); order[#order + 1] = "small" end)
    copas.pause(0)
    sema:give(2)
    copas.pause(0)
    t.eq(order, {}, "nobody served with 2 available")
    t.eq(sema:get_wait(), 2)
    sema:give(2)
    copas.pause(0)
    t.eq(sema:get_count(), 0)
  end)
  t.eq(order, { "big", "small" })
end)

t.test("a thread arriving later cannot take what was given to a waiter", function()
  local sema = semaphore.new(10, 0, math.huge)
  local got = {}
  run(function()
    copas.addthread(function() got.waiter = sema:take(1) end)
    copas.pause(0)
    sema:give(1)
    got.late = { sema:take(1, 0) }
  end)
  t.eq(got.waiter, true)
  t.eq(got.late, { nil, "timeout" })
end)

t.test("a head that times out lets smaller requests behind it through", function()
  local sema = semaphore.new(10, 2, math.huge)
  local results = {}
  run(function()
    copas.addthread(function() results.big = { sema:take(5, 0.05) } end)
    copas.addthread(function() results.small = { sema:take(1) } end)
  end)
  t.eq(results.big, { nil, "timeout" })
  t.eq(results.small, { true })
  t.eq(sema:get_count(), 1)
end)

t.test("give(get_wait()) releases every waiter and leaves 0", function()
  local sema = semaphore.new(10, 1, math.huge)
  local served = 0
  run(function()
    for _, n in ipairs({ 2, 3 }) do
      copas.addthread(function() sema:take(n); served = served + 1 end)
    end
    copas.pause(0)
    t.eq(sema:get_wait(), 4)
    t.eq(sema:give(sema:get_wait()), true)
  end)
  t.eq(served, 2)
  t.eq(sema:get_count(), 0)
end)

t.test("release_all serves waiters beyond max", function()
  local sema = semaphore.new(2, 0, math.huge)
  local served = 0
  run(function()
    for _ = 1, 3 do
      copas.addthread(function() sema:take(2); served = served + 1 end)
    end
    copas.pause(0)
    t.eq(sema:get_wait(), 6)
    t.eq(sema:release_all(), true)
  end)
  t.eq(served, 3)
  t.eq(sema:get_count(), 0)
  t.eq(sema:get_wait(), 0)
end)

t.test("stray copas.wakeup calls do not end a wait", function()
  local sema = semaphore.new(1, 0, math.huge)
  local result
  run(function()
    local co = copas.addthread(function() result = { sema:take() } end)
    copas.pause(0)
    copas.wakeup(co)
    copas.pause(0)
    copas.pause(0)
    t.eq(result, nil, "still waiting after a stray wakeup")
    sema:give()
  end)
  t.eq(result, { true })
end)

t.test("destroy releases waiters with nil, 'destroyed'", function()
  local sema = semaphore.new(5, 0, math.huge)
  local results = {}
  run(function()
    for i = 1, 2 do
      copas.addthread(function() results[i] = { sema:take() } end)
    end
    copas.pause(0)
    t.eq(sema:destroy(), true)
  end)
  t.eq(results, { { nil, "destroyed" }, { nil, "destroyed" } })
  t.nilmsg("destroyed", sema:take(1, 0))
  t.nilmsg("destroyed", sema:give())
  t.nilmsg("destroyed", sema:get_count())
  t.nilmsg("destroyed", sema:get_wait())
  t.nilmsg("destroyed", sema:release_all())
  t.nilmsg("destroyed", sema:destroy())
end)

t.test("a taker removed with copas.removethread is skipped", function()
  local s = semaphore.new(10, 0, math.huge)
  local got
  run(function()
    local removed = copas.addthread(function() s:take(2) end)
    copas.pause(0)
    copas.removethread(removed)
    s:give(2)
    got = s:get_count()
  end)
  t.eq(got, 2, "the resources stay in the semaphore")
end)

t.run()
