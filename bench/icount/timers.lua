-- K threads each sleep R times for 2 ms: instructions per timer wakeup.
-- usage: timers.lua K R
local copas = require("copas")
local K, R = tonumber(arg[1]), tonumber(arg[2])
for i = 1, K do
  copas.addthread(function()
    copas.sleep(0.001 * (i % 10))
    for _ = 1, R do copas.sleep(0.002) end
  end)
end
copas.loop()
