-- copas.queue: a first-in first-out queue between Copas threads, with optional workers.
--
--   local q = copas.queue.new { name = "jobs" }
--   q:push(item)           -- any value, nil included
--   q:pop([timeout])       -- item | nil, "timeout" | "destroyed"
--   q:add_worker(function(item) ... end)
--   q:finish([timeout [, no_destroy_on_timeout]])  -- stop, then wait until drained
--
-- Items are counted by a semaphore, so poppers are served in arrival order. A stopped
-- queue destroys itself once it is empty and no worker is still busy with an item.

local copas = require("copas")
local waiting = require("copas.waiting")
local new_semaphore = require("copas.semaphore").new

local gettime = copas.gettime
local coroutine_running = copas._running
local setmetatable, type, error, tostring = setmetatable, type, error, tostring
local huge = math.huge

local DEFAULT_TIMEOUT = 10

local M = {}

local Queue = {}
Queue.__index = Queue

local queue_count = 0

local check_timeout = waiting.check_timeout

--- Creates a queue; `options.name` defaults to "copas_queue_<n>".
function M.new(options)
  options = options or {}
  if type(options) ~= "table" then
    error("bad argument #1 to 'new' (table expected, got " .. type(options) .. ")", 2)
  end
  if options.name ~= nil and type(options.name) ~= "string" then
    error("options.name must be a string, got " .. type(options.name), 2)
  end
  queue_count = queue_count + 1
  return setmetatable({
    name = options.name or ("copas_queue_" .. queue_count),
    items = {},          -- items[first .. last]; a slot may hold nil
    first = 1,
    last = 0,
    available = new_semaphore(huge, 0, DEFAULT_TIMEOUT),
    workers = {},        -- worker records { co, busy } in the order they were added
    worker_count = 0,    -- for worker names
    finishing = {},      -- coroutines waiting in finish()
    stopping = false,
    destroyed = false,
  }, Queue)
end

local function size(self)
  return self.last - self.first + 1
end

-- A stopped queue goes away once nothing is left to hand out or being worked on.
local function destroy_if_drained(self)
  if not self.stopping or self.destroyed or size(self) > 0 then return end
  for i = 1, #self.workers do
    if self.workers[i].busy then return end
  end
  self:destroy()
end

-- Takes the next item, waiting as pop() does. Returns true, item or nil, error.
local function take(self, timeout)
  local ok, err = self.available:take(1, timeout)
  if not ok then return nil, err end
  local index = self.first
  local item = self.items[index]
  self.items[index] = nil
  self.first = index + 1
  return true, item
end

--- Appends `item` (which may be nil). Returns true, or nil, "destroyed" | "stopping".
function Queue:push(item)
  if self.destroyed then return nil, "destroyed" end
  if self.stopping then return nil, "stopping" end
  self.last = self.last + 1
  self.items[self.last] = item
  self.available:give(1)
  return true
end

--- Removes and returns the oldest item, waiting at most `timeout` seconds for one
-- (default 10; 0: do not wait; math.huge: forever). Returns item, or nil, error: check
-- the error, as an item may be nil.
function Queue:pop(timeout)
  if timeout ~= nil then check_timeout(timeout, 1, "pop") end
  if self.destroyed then return nil, "destroyed" end
  local ok, item = take(self, timeout)
  if not ok then return nil, item end
  destroy_if_drained(self)
  return item
end

--- The number of items in the queue.
function Queue:get_size()
  if self.destroyed then return nil, "destroyed" end
  return size(self)
end

--- The coroutines of the workers still running, in the order they were added.
function Queue:get_workers()
  if self.destroyed then return nil, "destroyed" end
  local list = {}
  for i = 1, #self.workers do
    list[i] = self.workers[i].co
  end
  return list
end

local function remove_worker(self, worker)
  for i = 1, #self.workers do
    if self.workers[i] == worker then
      table.remove(self.workers, i)
      return
    end
  end
end

-- The body of a worker thread: pop, process, repeat until the queue is destroyed.
-- An error in `func` ends the worker; its thread's error handler first takes it off
-- the queue's books, then reports the error as Copas would.
local function work(self, worker, func)
  local report = copas.geterrorhandler()
  copas.seterrorhandler(function(err, co, skt)
    remove_worker(self, worker)
    destroy_if_drained(self)
    return report(err, co, skt)
  end)
  while true do
    local ok, item = take(self, huge)
    if not ok then break end
    worker.busy = true
    func(item)
    worker.busy = false
    destroy_if_drained(self)
  end
  remove_worker(self, worker)
end

--- Adds a worker thread named "<queue name>:worker_<n>" that calls `func(item)` for
-- every item. Returns its coroutine, or nil, "destroyed".
function Queue:add_worker(func)
  if type(func) ~= "function" then
    error("bad argument #1 to 'add_worker' (function expected, got " .. type(func) .. ")", 2)
  end
  if self.destroyed then return nil, "destroyed" end
  self.worker_count = self.worker_count + 1
  local worker = { busy = false }
  worker.co = copas.addnamedthread(self.name .. ":worker_" .. self.worker_count, work, self, worker, func)
  self.workers[#self.workers + 1] = worker
  return worker.co
end

--- Refuses further pushes; the queue destroys itself once drained. Returns true, or
-- nil, "destroyed".
function Queue:stop()
  if self.destroyed then return nil, "destroyed" end
  self.stopping = true
  destroy_if_drained(self)
  return true
end

--- Stops the queue and waits at most `timeout` seconds (default 10; math.huge:
-- forever) until it is drained: every item popped, and processed when workers are
-- used. On timeout the queue is destroyed unless `no_destroy_on_timeout` is truthy.
-- Returns true, or nil, "timeout" | "destroyed".
function Queue:finish(timeout, no_destroy_on_timeout)
  timeout = timeout or DEFAULT_TIMEOUT
  check_timeout(timeout, 1, "finish")
  if self.destroyed then return nil, "destroyed" end
  self:stop()
  if self.destroyed then return true end
  local co, is_main = coroutine_running()
  if co == nil or is_main then
    error("queue:finish would have to wait, but was not called from a Copas thread", 2)
  end
  self.finishing[#self.finishing + 1] = co
  local deadline = timeout ~= huge and (gettime() + timeout) or nil
  while not self.destroyed do
    if deadline == nil then
      copas.pauseforever()
    else
      local left = deadline - gettime()
      if left <= 0 then break end
      copas.pause(left)
    end
  end
  if self.destroyed then return true end
  for i = 1, #self.finishing do
    if self.finishing[i] == co then
      table.remove(self.finishing, i)
      break
    end
  end
  if not no_destroy_on_timeout then self:destroy() end
  return nil, "timeout"
end

--- Destroys the queue at once, abandoning its items: waiting pop() calls get nil,
-- "destroyed", workers end, finish() returns. Returns true, or nil, "destroyed".
function Queue:destroy()
  if self.destroyed then return nil, "destroyed" end
  self.destroyed = true
  self.items, self.first, self.last = {}, 1, 0
  self.available:destroy()
  local finishing = self.finishing
  self.finishing = {}
  for i = 1, #finishing do
    copas.wakeup(finishing[i])
  end
  return true
end

return M
