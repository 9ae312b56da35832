-- Minimal test harness for lua-tests/*.lua, the same on Lua 5.1, 5.4, LuaJIT and the runner.
--
--   local t = require("t")
--   t.test("name", function() t.eq(1 + 1, 2) end)
--   t.run()   -- prints "N passed, N failed", exits non-zero on any failure
--
-- Assertions: t.eq(got, want[, msg]) (deep for tables), t.ok(v[, msg]),
-- t.err(pattern, f, ...) (f must raise an error whose message contains the Lua
-- pattern), t.nilmsg(want_msg, f(...)) checks a `nil, msg` return.
local t = {}
local tests = {}

local function repr(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

local function deep_equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do if not deep_equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

function t.test(name, f) tests[#tests + 1] = { name = name, f = f } end

function t.eq(got, want, msg)
  if not deep_equal(got, want) then
    error(string.format("%sexpected %s, got %s", msg and (msg .. ": ") or "", repr(want), repr(got)), 2)
  end
end

function t.ok(v, msg)
  if not v then error(msg or "expected a true value", 2) end
  return v
end

function t.err(pattern, f, ...)
  local ok, e = pcall(f, ...)
  if ok then error("expected an error matching " .. repr(pattern), 2) end
  if not tostring(e):find(pattern) then
    error(string.format("error %s does not match %s", repr(tostring(e)), repr(pattern)), 2)
  end
  return e
end

function t.nilmsg(want, ...)
  local n = select("#", ...)
  local v, msg = ...
  if v ~= nil then error(string.format("expected nil, %s; got %s (%d values)", repr(want), repr(v), n), 2) end
  if msg ~= want then error(string.format("expected message %s, got %s", repr(want), repr(msg)), 2) end
  return select(3, ...)
end

-- Runs the registered tests (optionally only those whose name contains `filter`,
-- from the environment variable LUA_TEST_FILTER), then `after` if given (to stop a
-- server process the file started), and exits.
function t.run(after)
  local filter = os.getenv("LUA_TEST_FILTER")
  local passed, failed = 0, 0
  for _, case in ipairs(tests) do
    if not filter or case.name:find(filter, 1, true) then
      local ok, e = xpcall(case.f, debug and debug.traceback or tostring)
      if ok then
        passed = passed + 1
      else
        failed = failed + 1
        io.stderr:write(("FAIL %s: %s\n"):format(case.name, tostring(e)))
      end
    end
  end
  if after then after() end
  print(("%d passed, %d failed"):format(passed, failed))
  os.exit(failed == 0 and 0 or 1)
end

return t
