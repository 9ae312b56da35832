-- The floor of an echoed line for a coroutine server, in plain Lua: 100 coroutines
-- run the echo handler's loop (receive a line, send it back with "\n"), where
-- receiving is a yield that the driver answers with a line it cuts from a buffer, as
-- a receive makes a new string, and sending is a call that does nothing. No sockets,
-- no Copas. usage: echo_plain.lua ROUNDS (100 lines a round)
local rounds = tonumber(arg[1])
local buffer = string.rep("x", 40) .. "\n"
local function send(_) return true end
local handlers = {}
for i = 1, 100 do
  handlers[i] = coroutine.wrap(function()
    while true do
      local line = coroutine.yield()
      if not send(line .. "\n") then break end
    end
  end)
  handlers[i]()
end
for _ = 1, rounds do
  for i = 1, 100 do handlers[i](buffer:sub(1, 40)) end
end
