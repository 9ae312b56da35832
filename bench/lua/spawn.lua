-- Spawns N threads that each sleep(0) once; prints threads/s and KiB per
-- sleeping thread (Lua heap growth while all N are parked in copas.sleep).
-- usage: spawn.lua [N=100000]
local copas = require("copas")
local gettime = copas.gettime or require("socket").gettime

local N = tonumber(arg[1]) or 100000

local function parked() copas.sleep(0) end

collectgarbage("collect")
local heap_before = collectgarbage("count")
local started = gettime()
for _ = 1, N do copas.addthread(parked) end
local spawned = gettime()
local heap_parked = collectgarbage("count")
copas.loop()
local finished = gettime()
print(string.format(
  '{"scenario":"spawn","threads":%d,"spawn_per_s":%.1f,"total_per_s":%.1f,"kib_per_thread":%.3f}',
  N, N / (spawned - started), N / (finished - started), (heap_parked - heap_before) / N))
