-- copas.queue: FIFO items (nil too), waiting pops, workers, stop/finish/destroy.
local t = require("t")
local copas = require("copas")
local queue = require("copas.queue")

local harness = require("copas_run")
local run = harness.run

t.test("module, names and argument checks", function()
  t.eq(copas.queue, queue)
  t.ok(queue.new().name:match("^copas_queue_%d+$"))
  t.eq(queue.new({ name = "jobs" }).name, "jobs")
  t.err("bad argument #1 to 'new'", queue.new, "jobs")
  t.err("options.name", queue.new, { name = 1 })
  local q = queue.new()
  t.err("bad argument #1 to 'pop'", q.pop, q, -1)
  t.err("bad argument #1 to 'add_worker'", q.add_worker, q, "f")
  t.err("bad argument #1 to 'finish'", q.finish, q, "x")
end)

t.test("items come out in order, nil included; get_size counts them", function()
  local q = queue.new()
  t.eq(q:get_size(), 0)
  t.eq(q:push("a"), true)
  t.eq(q:push(nil), true)
  t.eq(q:push(false), true)
  t.eq(q:get_size(), 3)
  t.eq({ q:pop(0) }, { "a" })
  local item, err = q:pop(0)
  t.eq(item, nil)
  t.eq(err, nil, "a nil item, not an error")
  t.eq(q:pop(0), false)
  t.eq(q:get_size(), 0)
  t.nilmsg("timeout", q:pop(0))
end)

t.test("pop waits for a push, or times out with nil, 'timeout'", function()
  local q = queue.new()
  local results = {}
  run(function()
    copas.addthread(function() results.waited = { q:pop(math.huge) } end)
    copas.pause(0.01)
    q:push("late")
    local start = copas.gettime()
    results.timeout = { q:pop(0.05) }
    results.elapsed = copas.gettime() - start
  end)
  t.eq(results.waited, { "late" })
  t.eq(results.timeout, { nil, "timeout" })
  t.ok(results.elapsed >= 0.04, "waited " .. results.elapsed)
end)

t.test("waiting pops are served in arrival order", function()
  local q = queue.new()
  local got = {}
  run(function()
    for i = 1, 3 do
      copas.addthread(function()
        local item = q:pop(math.huge)
        got[#got + 1] = i .. ":" .. item
      end)
    end
    copas.pause(0)
    for _, item in ipairs({ "x", "y", "z" }) do q:push(item) end
  end)
  t.eq(got, { "1:x", "2:y", "3:z" })
end)

t.test("workers process every item; finish returns once they are done", function()
  local q = queue.new({ name = "jobs" })
  local processed, names = {}, {}
  local results = {}
  run(function()
    for i = 1, 2 do
      local co = q:add_worker(function(item)
        names[copas.getthreadname()] = true
        copas.pause(0.005)
        processed[#processed + 1] = item
      end)
      t.eq(type(co), "thread")
    end
    results.workers = #q:get_workers()
    for i = 1, 6 do q:push(i) end
    results.finish = { q:finish(5) }
    results.count_at_finish = #processed
    results.push_after = { q:push(7) }
  end)
  t.eq(results.workers, 2)
  t.eq(results.finish, { true })
  t.eq(results.count_at_finish, 6, "finish waited for the last item to be processed")
  table.sort(processed)
  t.eq(processed, { 1, 2, 3, 4, 5, 6 })
  t.eq(names, { ["jobs:worker_1"] = true, ["jobs:worker_2"] = true })
  t.eq(results.push_after, { nil, "destroyed" })
  t.nilmsg("destroyed", q:get_workers())
end)

t.test("stop refuses pushes and lets a consumer drain the queue", function()
  local q = queue.new()
  local results = {}
  run(function()
    q:push(1)
    q:push(2)
    t.eq(q:stop(), true)
    results.push = { q:push(3) }
    results.pops = { q:pop(0), q:pop(0) }
    results.after = { q:pop(0) }
  end)
  t.eq(results.push, { nil, "stopping" })
  t.eq(results.pops, { 1, 2 })
  t.eq(results.after, { nil, "destroyed" }, "destroyed once drained")
  local empty = queue.new()
  t.eq(empty:stop(), true)
  t.nilmsg("destroyed", empty:get_size())
end)

t.test("finish times out and destroys, unless told not to", function()
  local slow = queue.new()
  local kept = queue.new()
  local results = {}
  local release = false
  run(function()
    for _, q in ipairs({ slow, kept }) do
      q:add_worker(function()
        while not release do copas.pause(0.01) end
      end)
      q:push(1)
      q:push(2)
    end
    results.slow = { slow:finish(0.01) }
    results.kept = { kept:finish(0.01, true) }
    results.kept_size = kept:get_size()
    release = true
    results.kept_again = { kept:finish(5) }
  end)
  t.eq(results.slow, { nil, "timeout" })
  t.nilmsg("destroyed", slow:get_size())
  t.eq(results.kept, { nil, "timeout" })
  t.eq(results.kept_size, 1)
  t.eq(results.kept_again, { true })
  t.nilmsg("destroyed", kept:finish())
end)

t.test("destroy releases waiting pops and ends workers", function()
  local q = queue.new()
  local results = {}
  local worker
  run(function()
    worker = q:add_worker(function() end)
    copas.addthread(function() results.pop = { q:pop(math.huge) } end)
    copas.pause(0)
    t.eq(q:destroy(), true)
    results.destroy_again = { q:destroy() }
    copas.pause(0)
  end)
  t.eq(coroutine.status(worker), "dead")
  t.eq(results.pop, { nil, "destroyed" })
  t.eq(results.destroy_again, { nil, "destroyed" })
  t.nilmsg("destroyed", q:push(1))
  t.nilmsg("destroyed", q:pop(0))
  t.nilmsg("destroyed", q:stop())
  t.nilmsg("destroyed", q:add_worker(function() end))
end)

t.test("destroy abandons the items left", function()
  local q = queue.new()
  q:push(1)
  q:push(2)
  t.eq(q:destroy(), true)
  t.nilmsg("destroyed", q:get_size())
  t.nilmsg("destroyed", q:pop(0))
end)

t.test("a failing worker goes to the error handler and leaves the queue", function()
  local q = queue.new({ name = "fragile" })
  local results = {}
  run(function()
    q:add_worker(function(item)
      if item == "bad" then error("worker choked") end
    end)
    q:push("good")
    q:push("bad")
    copas.pause(0.01)
    results.workers = #q:get_workers()
    results.size = q:get_size()
    results.finish = { q:finish(5) }
  end, true)
  t.eq(#harness.errors, 1)
  t.ok(harness.errors[1]:find("worker choked"), harness.errors[1])
  t.eq(results.workers, 0)
  t.eq(results.size, 0)
  t.eq(results.finish, { true })
end)

t.run()
