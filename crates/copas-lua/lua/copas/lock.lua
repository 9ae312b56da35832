-- copas.lock: a mutual-exclusion lock for Copas threads, first in first out.
--
--   local lock = copas.lock.new([timeout [, not_reentrant]])
--   lock:get([timeout]) -> wait_time | nil, "timeout" | "destroyed", wait_time
--   lock:release()      -> true | nil, "destroyed" | "cannot release a lock not owned"
--
-- The lock is handed straight to the longest-waiting thread on release, so a thread
-- that arrives later never takes it first. A re-entrant lock counts how often its
-- owner got it; the owner must release it as often. As in Copas, the owner of a lock
-- that is not re-entrant waits for it like any other thread (until its timeout), and
-- a lock destroyed after a release but before the waiter it was handed to ran gives
-- that waiter nil, "destroyed".

local copas = require("copas")
local waiting = require("copas.waiting")

local gettime = copas.gettime
local coroutine_running = copas._running
local setmetatable, type, error, tostring = setmetatable, type, error, tostring
local huge = math.huge

local DEFAULT_TIMEOUT = 10
-- Owner key for code running outside any coroutine (Lua 5.1 has no main thread value).
local MAIN = {}

local M = {}

local Lock = {}
Lock.__index = Lock

local check_timeout = waiting.check_timeout

local function current_owner()
  return coroutine_running() or MAIN
end

local wait_for = waiting.wait_for

--- Creates a lock whose get() waits `timeout` seconds by default (10; math.huge:
-- forever). It is re-entrant unless `not_reentrant` is truthy.
function M.new(timeout, not_reentrant)
  timeout = timeout or DEFAULT_TIMEOUT
  check_timeout(timeout, 1, "new")
  return setmetatable({
    timeout = timeout,
    reentrant = not not_reentrant,
    owner = nil,      -- the coroutine holding the lock
    count = 0,        -- how often the owner got it
    waiting = {},     -- tickets { co, done } in arrival order
    handed = nil,     -- the ticket given the lock by release(), until its thread runs
    destroyed = false,
  }, Lock)
end

--- Acquires the lock, waiting at most `timeout` seconds (default: the lock's; 0: do
-- not wait; math.huge: forever). Returns the time waited, or nil, error, time waited.
function Lock:get(timeout)
  timeout = timeout or self.timeout
  check_timeout(timeout, 1, "get")
  if self.destroyed then return nil, "destroyed", 0 end
  local me = current_owner()
  if self.owner == me and self.reentrant then
    self.count = self.count + 1
    return 0
  end
  if self.owner == nil then
    self.owner, self.count = me, 1
    return 0
  end
  if timeout == 0 then return nil, "timeout", 0 end
  local co, is_main = coroutine_running()
  if co == nil or is_main then
    error("lock:get would have to wait, but was not called from a Copas thread", 2)
  end
  local start = gettime()
  local ticket = { co = co, done = false }
  self.waiting[#self.waiting + 1] = ticket
  local deadline = timeout ~= huge and (start + timeout) or nil
  if wait_for(ticket, deadline) then
    if self.handed == ticket then self.handed = nil end
    if ticket.destroyed then return nil, "destroyed", gettime() - start end
    return gettime() - start
  end
  for i = 1, #self.waiting do
    if self.waiting[i] == ticket then
      table.remove(self.waiting, i)
      break
    end
  end
  return nil, "timeout", gettime() - start
end

--- Releases the lock once; the last release hands it to the next waiting thread.
function Lock:release()
  if self.destroyed then return nil, "destroyed" end
  if self.owner ~= current_owner() then return nil, "cannot release a lock not owned" end
  self.count = self.count - 1
  if self.count > 0 then return true end
  local ticket = waiting.next_ticket(self.waiting)
  if ticket then
    self.owner, self.count, self.handed = ticket.co, 1, ticket
    ticket.done = true
    copas.wakeup(ticket.co)
  else
    self.owner = nil
  end
  return true
end

--- Destroys the lock: waiting threads get nil, "destroyed", wait_time, and every later
-- call nil, "destroyed".
function Lock:destroy()
  if self.destroyed then return nil, "destroyed" end
  self.destroyed = true
  self.owner, self.count = nil, 0
  if self.handed then self.handed.destroyed = true end
  local queue = self.waiting
  self.waiting = {}
  for i = 1, #queue do
    local ticket = queue[i]
    ticket.done, ticket.destroyed = true, true
    copas.wakeup(ticket.co)
  end
  return true
end

return M
