-- The Lua argument fuzzer (fuzz/lua/argfuzz.lua), short: a few thousand random calls
-- into every exported function, each of which must return or raise a Lua error. The
-- long run is `cargo xtask argfuzz` (100,000 calls per interpreter).
local t = require("t")

local CALLS = 5000

t.test("random arguments to every function: only returns and Lua errors", function()
  local fuzz = assert(loadfile("fuzz/lua/argfuzz.lua"))
  local summary = fuzz(CALLS, 7)
  t.ok(summary.calls >= CALLS * 0.8, "most calls made (" .. summary.calls .. ")")
  t.ok(summary.returned > 0, "some calls returned")
  t.ok(summary.raised > 0, "some calls raised an error")
  t.eq(summary.panics, {})
  t.ok(summary.targets > 150, "functions found: " .. summary.targets)
end)

t.run()
