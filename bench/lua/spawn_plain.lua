-- The floor of spawn.lua in plain Lua, no Copas: N coroutines made from one function
-- and kept in a table (as copas.addthread keeps its threads), each resumed until it
-- yields once (its copas.sleep(0)), then resumed to its end. Prints spawn.lua's report.
-- Times are CPU seconds (os.clock): plain Lua has no wall clock finer than a second,
-- and nothing here waits.
-- usage: spawn_plain.lua [N=100000]
local N = tonumber(arg[1]) or 100000
local create, resume, yield = coroutine.create, coroutine.resume, coroutine.yield

local rss_kib = dofile((arg[0]:match("^(.*/)") or "./") .. "rss.lua")

local function parked() yield() end

collectgarbage("collect")
local heap_before, rss_before = collectgarbage("count"), rss_kib()
local started = os.clock()
local threads = {}
for i = 1, N do threads[i] = create(parked) end
local spawned = os.clock()
local heap_parked, rss_parked = collectgarbage("count"), rss_kib()
for i = 1, N do resume(threads[i]) end
for i = 1, N do resume(threads[i]); threads[i] = nil end
local finished = os.clock()
print(string.format(
  '{"threads":%d,"spawn_per_s":%.1f,"total_per_s":%.1f,"heap_kib_per_thread":%.3f,"rss_kib_per_thread":%s}',
  N, N / (spawned - started), N / (finished - started), (heap_parked - heap_before) / N,
  rss_before and string.format("%.3f", (rss_parked - rss_before) / N) or "null"))
