-- copas.future: results of Copas threads through get(), try() and cancel().
local t = require("t")
local copas = require("copas")
local future = require("copas.future")

local harness = require("copas_run")
local run = harness.run

local function pack(...) return { n = select("#", ...), ... } end

t.test("module, constants and argument checks", function()
  t.eq(copas.future, future)
  t.eq(future.PENDING, false)
  t.eq(future.SUCCESS, true)
  t.eq(future.ERROR, "error")
  t.err("bad argument #1 to 'addthread'", future.addthread, 1)
  t.err("bad argument #1 to 'addnamedthread'", future.addnamedthread, function() end)
  t.err("bad argument #2 to 'addnamedthread'", future.addnamedthread, "name")
  t.err("unknown field 'future%.PNEDING'", function() return future.PNEDING end)
end)

t.test("get waits for the results, like pcall; so does calling the future", function()
  local results = {}
  local f
  run(function()
    f = future.addthread(function(a, b)
      copas.pause(0.01)
      return a + b, nil, "three"
    end, 1, 2)
    t.eq(f.PENDING, false, "constants on the future too")
    results.get = pack(f:get())
    results.call = pack(f())
  end)
  t.eq(results.get, { n = 4, true, 3, nil, "three" })
  t.eq(results.call, { n = 4, true, 3, nil, "three" })
  t.eq(pack(f:get()), { n = 4, true, 3, nil, "three" }, "cached, also outside the loop")
end)

t.test("every waiting thread gets the results", function()
  local got = {}
  run(function()
    local f = future.addthread(function() copas.pause(0.01); return "x" end)
    for i = 1, 3 do
      copas.addthread(function() got[i] = pack(f:get()) end)
    end
  end)
  t.eq(got, { { n = 2, true, "x" }, { n = 2, true, "x" }, { n = 2, true, "x" } })
end)

t.test("a failing task gives false, error, and no call to the error handler", function()
  local result
  run(function()
    local f = future.addthread(function() copas.pause(0); error("task failed") end)
    result = pack(f:get())
  end)
  t.eq(result.n, 2)
  t.eq(result[1], false)
  t.ok(tostring(result[2]):find("task failed"), tostring(result[2]))
  t.eq(harness.errors, {})
end)

t.test("error values that are not strings come back unchanged", function()
  local err_value = { code = 42 }
  local result
  run(function()
    result = pack(future.addthread(function() error(err_value) end):get())
  end)
  t.eq(result[1], false)
  t.ok(rawequal(result[2], err_value))
end)

t.test("try never waits: PENDING, then SUCCESS or ERROR with values", function()
  local states = {}
  run(function()
    local ok_f = future.addthread(function() copas.pause(0.01); return 1, 2 end)
    local bad_f = future.addthread(function() copas.pause(0.01); error("bad", 0) end)
    states.pending = pack(ok_f:try())
    ok_f:get()
    bad_f:get()
    states.success = pack(ok_f:try())
    states.error = pack(bad_f:try())
  end)
  t.eq(states.pending, { n = 1, false })
  t.eq(states.success, { n = 3, true, 1, 2 })
  t.eq(states.error, { n = 2, "error", "bad" })
end)

t.test("cancel removes a pending task and releases its waiters", function()
  local results = {}
  local reached_end = false
  run(function()
    local f = future.addthread(function()
      copas.pause(30)
      reached_end = true
    end)
    copas.addthread(function() results.waiter = pack(f:get()) end)
    copas.pause(0)
    results.cancel = f:cancel()
    results.cancel_again = f:cancel()
    results.try = pack(f:try())
    results.get = pack(f:get())
  end)
  t.eq(results.cancel, true)
  t.eq(results.cancel_again, false)
  t.eq(results.waiter, { n = 2, false, "cancelled" })
  t.eq(results.try, { n = 2, "error", "cancelled" })
  t.eq(results.get, { n = 2, false, "cancelled" })
  t.eq(reached_end, false, "the cancelled task did not go on")
end)

t.test("cancel after completion returns false and keeps the results", function()
  local results = {}
  run(function()
    local f = future.addthread(function() return "done" end)
    results.get = pack(f:get())
    results.cancel = f:cancel()
    results.try = pack(f:try())
  end)
  t.eq(results.get, { n = 2, true, "done" })
  t.eq(results.cancel, false)
  t.eq(results.try, { n = 2, true, "done" })
end)

t.test("addnamedthread names the task's thread", function()
  local result
  run(function()
    result = pack(future.addnamedthread("worker-7", function() return copas.getthreadname() end):get())
  end)
  t.eq(result, { n = 2, true, "worker-7" })
end)

t.test("waiting outside a Copas thread, or in the task itself, is an error", function()
  local f = future.addthread(function() return 1 end)
  t.eq(f:try(), false)
  t.err("not called from a Copas thread", f.get, f)
  local own
  local g
  g = future.addthread(function()
    copas.pause(0)
    own = { pcall(g.get, g) }
  end)
  run(function() end)
  t.eq(pack(f:get()), { n = 2, true, 1 })
  t.eq(own[1], false)
  t.ok(own[2]:find("own thread"), own[2])
end)

t.run()
