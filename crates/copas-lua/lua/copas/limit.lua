-- copas.limit: run many tasks, at most `max` of them at the same time.
--
--   local set = copas.limit.new(10)
--   for _, url in ipairs(urls) do set:addthread(fetch, url) end
--   set:wait()   -- from a Copas thread: returns when every task of the set has ended
--
-- Every task gets its Copas thread at once; the thread first takes a slot from a
-- first-in first-out semaphore, so tasks start in the order they were added.

local copas = require("copas")
local new_semaphore = require("copas.semaphore").new

local coroutine_running = coroutine.running
local setmetatable, type, error, tostring = setmetatable, type, error, tostring
local huge = math.huge

local M = {}

local LimitSet = {}
LimitSet.__index = LimitSet

--- Creates a set running at most `max` tasks at once (math.huge: no limit).
function M.new(max)
  if type(max) ~= "number" or max ~= max or max < 1 then
    error("bad argument #1 to 'new' (number >= 1 expected, got " .. tostring(max) .. ")", 2)
  end
  return setmetatable({
    slots = new_semaphore(max, max, huge),
    unfinished = 0,   -- tasks added and not yet ended, running or waiting for a slot
    waiting = {},     -- tickets { co, done } of the threads in wait()
  }, LimitSet)
end

local function task_ended(self, held_slot)
  if held_slot then self.slots:give(1) end
  self.unfinished = self.unfinished - 1
  if self.unfinished == 0 then
    local waiting = self.waiting
    self.waiting = {}
    for i = 1, #waiting do
      waiting[i].done = true
      copas.wakeup(waiting[i].co)
    end
  end
end

-- The body of every task thread. A failing task still gives its slot back: its
-- thread's error handler does that, then reports the error as Copas would.
local function run(self, func, ...)
  local report = copas.geterrorhandler()
  local held_slot = false
  copas.seterrorhandler(function(err, co, skt)
    task_ended(self, held_slot)
    return report(err, co, skt)
  end)
  held_slot = self.slots:take(1, huge)
  func(...)
  task_ended(self, held_slot)
end

--- Like copas.addthread, within the set's limit. Returns the task's coroutine.
function LimitSet:addthread(func, ...)
  if type(func) ~= "function" then
    error("bad argument #1 to 'addthread' (function expected, got " .. type(func) .. ")", 2)
  end
  self.unfinished = self.unfinished + 1
  return copas.addthread(run, self, func, ...)
end

--- Blocks the calling Copas thread until every task of the set has ended.
function LimitSet:wait()
  if self.unfinished == 0 then return end
  local co, is_main = coroutine_running()
  if co == nil or is_main then
    error("limitset:wait would have to wait, but was not called from a Copas thread", 2)
  end
  -- A ticket rather than the count itself: tasks added after the set ran empty must
  -- not keep this waiter, already released, waiting.
  local ticket = { co = co, done = false }
  self.waiting[#self.waiting + 1] = ticket
  repeat
    copas.pauseforever()
  until ticket.done
end

return M
