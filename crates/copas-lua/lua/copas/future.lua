-- copas.future: the eventual result of a Copas thread.
--
--   local f = copas.future.addthread(func, ...)    -- or addnamedthread(name, func, ...)
--   f:get()    -- waits; true, results... | false, err (like pcall); f() is the same
--   f:try()    -- never waits; future.PENDING | future.SUCCESS, results... | future.ERROR, err
--   f:cancel() -- true if the task was still pending (it is removed), else false
--
-- A failing task is caught through its thread's Copas error handler rather than pcall,
-- which on Lua 5.1 would forbid the task to yield. The error goes to get()/try() only.

local copas = require("copas")

local coroutine_running = copas._running
local setmetatable, select, type, error, tostring = setmetatable, select, type, error, tostring
local unpack = table.unpack or unpack

local PENDING, SUCCESS, ERROR = false, true, "error"

local M = { PENDING = PENDING, SUCCESS = SUCCESS, ERROR = ERROR }
-- A misspelt constant (future.PNEDING) would read as nil, which is PENDING's falsy
-- kin: Copas raises instead, and so do we.
setmetatable(M, {
  __index = function(_, key)
    error("unknown field 'future." .. tostring(key) .. "'", 2)
  end,
})

local Future = { PENDING = PENDING, SUCCESS = SUCCESS, ERROR = ERROR }
Future.__index = Future

local function pack(...) return { n = select("#", ...), ... } end

-- Records the outcome (the first one wins) and wakes every thread waiting in get().
local function settle(self, status, values)
  if self.status ~= PENDING then return end
  self.status, self.values = status, values
  local waiting = self.waiting
  self.waiting = {}
  for i = 1, #waiting do
    copas.wakeup(waiting[i])
  end
end

local function outcome(self, status_value)
  local values = self.values
  return status_value, unpack(values, 1, values.n)
end

--- Waits for the task and returns true, results... or false, error.
function Future:get()
  if self.status == PENDING then
    local co, is_main = coroutine_running()
    if co == nil or is_main then
      error("future:get would have to wait, but was not called from a Copas thread", 2)
    end
    if co == self.co then
      error("future:get called from the future's own thread: it would wait forever", 2)
    end
    self.waiting[#self.waiting + 1] = co
    repeat
      copas.pauseforever()
    until self.status ~= PENDING
  end
  return outcome(self, self.status == SUCCESS)
end
Future.__call = Future.get

--- The status without waiting: PENDING; SUCCESS, results...; or ERROR, error.
function Future:try()
  if self.status == PENDING then return PENDING end
  return outcome(self, self.status)
end

--- Cancels a pending task: it is removed from Copas and waiters get false,
-- "cancelled". Returns false when the task had already completed.
function Future:cancel()
  if self.status ~= PENDING then return false end
  copas.removethread(self.co)
  settle(self, ERROR, pack("cancelled"))
  return true
end

local function check_function(func, n, fname)
  if type(func) ~= "function" then
    error(("bad argument #%d to '%s' (function expected, got %s)"):format(n, fname, type(func)), 3)
  end
end

local function start(name, func, ...)
  local self = setmetatable({ status = PENDING, values = nil, waiting = {} }, Future)
  self.co = copas.addnamedthread(name, function(...)
    copas.seterrorhandler(function(err)
      settle(self, ERROR, pack(err))
    end)
    settle(self, SUCCESS, pack(func(...)))
  end, ...)
  return self
end

--- Like copas.addthread, but returns a future for the task's results.
function M.addthread(func, ...)
  check_function(func, 1, "addthread")
  return start(nil, func, ...)
end

--- Like copas.addnamedthread, but returns a future for the task's results.
function M.addnamedthread(name, func, ...)
  if type(name) ~= "string" then
    error("bad argument #1 to 'addnamedthread' (string expected, got " .. type(name) .. ")", 2)
  end
  check_function(func, 2, "addnamedthread")
  return start(name, func, ...)
end

return M
