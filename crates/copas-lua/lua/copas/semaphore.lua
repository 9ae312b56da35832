-- copas.semaphore: a counting semaphore for Copas threads, first in first out.
--
--   local sema = copas.semaphore.new(max [, start [, timeout]])
--   sema:take([n [, timeout]]) -> true | nil, "timeout" | "destroyed" | "too many"
--   sema:give([n])             -> true | nil, "too many" (capped at max) | "destroyed"
--
-- Waiters are served strictly in arrival order: a large request at the head of the
-- queue is not overtaken by smaller ones behind it. Resources are handed to a waiter
-- before it is woken, so a thread arriving later cannot take them first.

local copas = require("copas")
local waiting = require("copas.waiting")

local gettime = copas.gettime
local coroutine_running = copas._running
local setmetatable, type, error, tostring = setmetatable, type, error, tostring
local huge = math.huge

local DEFAULT_TIMEOUT = 10

local M = {}

local Semaphore = {}
Semaphore.__index = Semaphore

local check_timeout = waiting.check_timeout

-- The calling Copas thread, or an error when called where nothing could wake us.
local function waiting_thread(fname)
  local co, is_main = coroutine_running()
  if co == nil or is_main then
    error(fname .. " would have to wait, but was not called from a Copas thread", 3)
  end
  return co
end

local wait_for = waiting.wait_for

local function remove_ticket(queue, ticket)
  for i = 1, #queue do
    if queue[i] == ticket then
      table.remove(queue, i)
      return
    end
  end
end

-- Hands resources to waiters in order, for as long as the head can be satisfied.
local function serve(self)
  local queue = self.waiting
  while queue[1] do
    if not copas._alive(queue[1].co) then
      table.remove(queue, 1)
    elseif queue[1].requested <= self.count then
      local ticket = table.remove(queue, 1)
      self.count = self.count - ticket.requested
      ticket.done = true
      copas.wakeup(ticket.co)
    else
      break
    end
  end
end

--- Creates a semaphore holding at most `max` resources (math.huge: no limit), with
-- `start` (default 0) available, whose take() waits `timeout` seconds by default (10).
function M.new(max, start, timeout)
  if type(max) ~= "number" or max ~= max or max <= 0 then
    error("bad argument #1 to 'new' (positive number expected, got " .. tostring(max) .. ")", 2)
  end
  start = start or 0
  if type(start) ~= "number" or start ~= start or start < 0 or start > max then
    error("bad argument #2 to 'new' (number from 0 to max expected, got " .. tostring(start) .. ")", 2)
  end
  timeout = timeout or DEFAULT_TIMEOUT
  check_timeout(timeout, 3, "new")
  return setmetatable({
    max = max,
    count = start,
    timeout = timeout,
    waiting = {},   -- tickets { co, requested, done } in arrival order
    destroyed = false,
  }, Semaphore)
end

--- Adds `given` (default 1) resources and wakes the waiters they satisfy.
function Semaphore:give(given)
  given = given or 1
  if type(given) ~= "number" or given ~= given or given < 0 or given == huge then
    error("bad argument #1 to 'give' (finite number >= 0 expected, got " .. tostring(given) .. ")", 2)
  end
  if self.destroyed then return nil, "destroyed" end
  local err
  self.count = self.count + given
  if self.count > self.max then
    self.count = self.max
    err = "too many"
  end
  serve(self)
  if err then return nil, err end
  return true
end

--- Takes `requested` (default 1) resources, waiting at most `timeout` seconds for them
-- (default: the semaphore's; 0: do not wait; math.huge: wait forever).
function Semaphore:take(requested, timeout)
  requested = requested or 1
  if type(requested) ~= "number" or requested ~= requested or requested < 1 then
    error("bad argument #1 to 'take' (number >= 1 expected, got " .. tostring(requested) .. ")", 2)
  end
  timeout = timeout or self.timeout
  check_timeout(timeout, 2, "take")
  if self.destroyed then return nil, "destroyed" end
  if requested > self.max then return nil, "too many" end
  if self.waiting[1] == nil and self.count >= requested then
    self.count = self.count - requested
    return true
  end
  if timeout == 0 then return nil, "timeout" end
  local ticket = { co = waiting_thread("semaphore:take"), requested = requested, done = false }
  self.waiting[#self.waiting + 1] = ticket
  local deadline = timeout ~= huge and (gettime() + timeout) or nil
  if wait_for(ticket, deadline) then
    if ticket.destroyed then return nil, "destroyed" end
    return true
  end
  remove_ticket(self.waiting, ticket)
  -- Our request may have been what held back smaller ones behind it.
  serve(self)
  return nil, "timeout"
end

--- The number of resources available now.
function Semaphore:get_count()
  if self.destroyed then return nil, "destroyed" end
  return self.count
end

--- What the waiting threads requested in total, minus what is available (0 when
-- nobody waits): give(get_wait()) releases them all, within `max`.
function Semaphore:get_wait()
  if self.destroyed then return nil, "destroyed" end
  local queue = self.waiting
  if queue[1] == nil then return 0 end
  local total = 0
  for i = 1, #queue do
    total = total + queue[i].requested
  end
  return total - self.count
end

--- Releases every waiting thread regardless of `max`, giving in max-sized portions.
function Semaphore:release_all()
  if self.destroyed then return nil, "destroyed" end
  -- Every round satisfies at least the head of the queue (take() refuses requests
  -- above max), so this ends after at most one round per waiter.
  while self.waiting[1] do
    local needed = self:get_wait()
    self:give(needed < self.max and needed or self.max)
  end
  return true
end

--- Destroys the semaphore: waiting threads get nil, "destroyed", and so does every
-- later call.
function Semaphore:destroy()
  if self.destroyed then return nil, "destroyed" end
  self.destroyed = true
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
