-- Copas loads and runs when a program makes `require "socket"` fail (upstream's
-- no_luasocket test: Copas then runs on LuaSystem; ours on its own socket.core).
local t = require("t")

local real_require = require
_G.require = function(name)
  if name == "socket" then error("luasocket is not allowed in this test") end
  return real_require(name)
end
local copas = require("copas")
_G.require = real_require

t.test("copas and copas.timer run without the socket module", function()
  t.eq(package.loaded.socket, nil)
  local ticks = 0
  copas.loop(function()
    copas.timer.new({
      delay = 0.01,
      recurring = true,
      callback = function(timer)
        ticks = ticks + 1
        if ticks == 3 then timer:cancel() end
      end,
    })
  end)
  t.eq(ticks, 3)
  t.ok(copas.gettime() > 0)
end)

t.run()
