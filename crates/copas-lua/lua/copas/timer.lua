-- copas.timer: one-shot and recurring timers, each run in its own Copas thread.
--
--   local t = copas.timer.new {
--     name = "heartbeat", delay = 5, recurring = true, initial_delay = 0,
--     params = ..., callback = function(timer, params) ... end,
--     errorhandler = function(err, co, skt) ... end,
--   }
--   t:cancel()
--   t:arm([initial_delay])
--
-- As in Copas, arming an armed timer returns nil, "already armed"; a one-shot timer
-- is disarmed before its callback runs, so the callback may arm it again, and a
-- recurring one stays armed. Every arm() starts a fresh thread; a cancelled thread
-- may still be inside its callback, so a generation number tells a thread whether
-- it is still the current one.

local copas = require("copas")

local gettime = copas.gettime
local setmetatable, type, error, tostring = setmetatable, type, error, tostring

local M = {}

local Timer = {}
Timer.__index = Timer

local timer_count = 0

local function check_delay(value, what, level)
  if type(value) ~= "number" or value ~= value or value < 0 then
    error(("%s must be a non-negative number, got %s"):format(what, tostring(value)), level + 1)
  end
end

local start_thread

-- The thread's error handler: the timer's own (or else Copas' default handler as it
-- was when the thread started) reports the error; a recurring timer then carries on
-- with its next run.
local function error_handler(self, generation, fallback)
  return function(err, co, skt)
    if self.generation == generation and self.recurring then
      start_thread(self, self.delay)
    end
    return (self.errorhandler or fallback)(err, co, skt)
  end
end

-- Sleeps until `due`, or until the timer is cancelled or re-armed. Returns true when
-- this thread's timer is still current and due.
local function sleep_until(self, generation, due)
  while self.generation == generation do
    local left = due - gettime()
    if left <= 0 then return true end
    copas.pause(left)
  end
  return false
end

local function run(self, generation, due)
  copas.seterrorhandler(error_handler(self, generation, copas.geterrorhandler()))
  while sleep_until(self, generation, due) do
    if not self.recurring then
      self.armed, self.co = false, nil
      self.callback(self, self.params)
      return
    end
    self.in_callback = true
    self.callback(self, self.params)
    if self.generation ~= generation then return end -- cancelled meanwhile
    self.in_callback = false
    -- Fixed rate: the next run is `delay` after the previous one was due; runs missed
    -- while a callback overran are skipped rather than caught up.
    local now = gettime()
    due = due + self.delay
    if due < now then due = now + self.delay end
  end
end

function start_thread(self, first_delay)
  self.generation = self.generation + 1
  self.armed, self.in_callback = true, false
  self.co = copas.addnamedthread(self.name, run, self, self.generation, gettime() + first_delay)
end

--- Creates a timer from `options` and arms it (see the file header).
function M.new(options)
  if type(options) ~= "table" then
    error("bad argument #1 to 'new' (table expected, got " .. type(options) .. ")", 2)
  end
  check_delay(options.delay, "options.delay", 2)
  if type(options.callback) ~= "function" then
    error("options.callback must be a function, got " .. type(options.callback), 2)
  end
  if options.errorhandler ~= nil and type(options.errorhandler) ~= "function" then
    error("options.errorhandler must be a function, got " .. type(options.errorhandler), 2)
  end
  if options.name ~= nil and type(options.name) ~= "string" then
    error("options.name must be a string, got " .. type(options.name), 2)
  end
  if options.initial_delay ~= nil then
    check_delay(options.initial_delay, "options.initial_delay", 2)
  end
  timer_count = timer_count + 1
  local self = setmetatable({
    name = options.name or ("copas_timer_" .. timer_count),
    recurring = not not options.recurring,
    delay = options.delay,
    params = options.params,
    callback = options.callback,
    errorhandler = options.errorhandler,
    armed = false,
    in_callback = false,
    generation = 0,
    co = nil,
  }, Timer)
  return self:arm(options.initial_delay)
end

--- Arms the timer: the first run comes after `initial_delay` seconds (default: the
-- timer's delay). Returns the timer, or nil, "already armed".
function Timer:arm(initial_delay)
  if initial_delay == nil then
    initial_delay = self.delay
  else
    check_delay(initial_delay, "initial_delay", 2)
  end
  if self.armed then return nil, "already armed" end
  start_thread(self, initial_delay)
  return self
end

--- Cancels the timer: no further runs. A callback in progress finishes normally.
-- Returns the timer, or nil, "not armed".
function Timer:cancel()
  if not self.armed then return nil, "not armed" end
  self.generation = self.generation + 1
  self.armed = false
  if not self.in_callback then copas.wakeup(self.co) end
  self.co, self.in_callback = nil, false
  return self
end

return M
