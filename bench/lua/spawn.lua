-- Spawns N threads that each sleep(0) once; prints threads/s (adding plus running them
-- all) and the memory per sleeping thread while all N are parked in copas.sleep: Lua
-- heap growth, and resident set growth (which also counts memory outside the Lua heap).
-- usage: spawn.lua [N=100000]
local copas = require("copas")
local gettime = copas.gettime or require("socket").gettime

local N = tonumber(arg[1]) or 100000

local rss_kib = dofile((arg[0]:match("^(.*/)") or "./") .. "rss.lua")

local function parked() copas.sleep(0) end

collectgarbage("collect")
local heap_before, rss_before = collectgarbage("count"), rss_kib()
local started = gettime()
for _ = 1, N do copas.addthread(parked) end
local spawned = gettime()
local heap_parked, rss_parked = collectgarbage("count"), rss_kib()
copas.loop()
local finished = gettime()
print(string.format(
  '{"threads":%d,"spawn_per_s":%.1f,"total_per_s":%.1f,"heap_kib_per_thread":%.3f,"rss_kib_per_thread":%s}',
  N, N / (spawned - started), N / (finished - started), (heap_parked - heap_before) / N,
  rss_before and string.format("%.3f", (rss_parked - rss_before) / N) or "null"))
