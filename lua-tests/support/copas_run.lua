-- Runs a test body as a Copas thread, then the loop until nothing is left, for the
-- copas submodule tests:
--
--   local harness = require("copas_run")
--   harness.run(function() ... end)          -- errors in Copas threads fail the test
--   harness.run(function() ... end, true)    -- they are expected: see harness.errors
--
-- A watchdog cancels everything if the body has not finished after 10 seconds (or, when
-- errors are not expected, as soon as one reached Copas's default error handler).
local t = require("t")
local copas = require("copas")

local harness = { errors = {} }

copas.seterrorhandler(function(err) harness.errors[#harness.errors + 1] = tostring(err) end, true)

function harness.run(body, expect_errors)
  harness.errors = {}
  local done = false
  copas.loop(function()
    copas.addthread(function()
      local deadline = copas.gettime() + 10
      while not done and (expect_errors or #harness.errors == 0) and copas.gettime() < deadline do
        copas.pause(0.02)
      end
      if not done then copas.cancelall() end
    end)
    body()
    done = true
  end)
  if not expect_errors then
    t.ok(#harness.errors == 0, "errors in Copas threads: " .. table.concat(harness.errors, " | "))
  end
  t.ok(done, "the test body did not finish")
  return harness.errors
end

return harness
