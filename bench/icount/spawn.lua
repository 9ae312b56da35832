-- N threads added, each sleeping once, then run: instructions per spawned thread.
-- usage: spawn.lua N
local copas = require("copas")
local N = tonumber(arg[1])
local function body() copas.sleep(0) end
for _ = 1, N do copas.addthread(body) end
copas.loop()
-- Out without closing the state: freeing the dead threads at exit is not spawning.
os.exit(0)
