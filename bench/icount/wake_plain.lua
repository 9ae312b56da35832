-- The floor of a timer wakeup in plain Lua: N resumes of one coroutine that yields in
-- a loop (no timer, no Copas). usage: wake_plain.lua N
local N = tonumber(arg[1])
local co = coroutine.wrap(function() while true do coroutine.yield() end end)
for _ = 1, N do co() end
