-- K threads loop copas.sleep(INTERVAL) for T seconds; prints one JSON line with
-- wakeups/s and lateness (how much longer than asked each sleep took).
-- usage: timers.lua [K=1000] [T=5] [INTERVAL=0.01]
local copas = require("copas")
local gettime = copas.gettime or require("socket").gettime

local K = tonumber(arg[1]) or 1000
local T = tonumber(arg[2]) or 5
local INTERVAL = tonumber(arg[3]) or 0.01

local wakeups, late_sum, late_max = 0, 0, 0
local started

local function sleeper(i)
  -- Stagger the first sleep so wakeups spread over one interval.
  copas.sleep(INTERVAL * (i - 1) / K)
  while true do
    local before = gettime()
    copas.sleep(INTERVAL)
    local now = gettime()
    local late = now - before - INTERVAL
    if late < 0 then late = 0 end
    wakeups = wakeups + 1
    late_sum = late_sum + late
    if late > late_max then late_max = late end
    if now - started >= T then return end
  end
end

started = gettime()
for i = 1, K do copas.addthread(sleeper, i) end
copas.loop()
local elapsed = gettime() - started
print(string.format(
  '{"scenario":"timers-%d","threads":%d,"wakeups":%d,"wakeups_per_s":%.1f,"late_mean_ms":%.3f,"late_max_ms":%.3f}',
  K, K, wakeups, wakeups / elapsed, 1000 * late_sum / math.max(wakeups, 1), 1000 * late_max))
