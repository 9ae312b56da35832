-- copas.waiting: what copas.lock, copas.semaphore and copas.queue share to make a
-- thread wait for a hand-over (internal; not part of the Copas API).
local copas = require("copas")

local gettime = copas.gettime
local type, error, tostring = type, error, tostring

local M = {}

-- Raises `bad argument #n to 'fname'` unless `timeout` is a non-negative number.
function M.check_timeout(timeout, n, fname)
  if type(timeout) ~= "number" or timeout ~= timeout or timeout < 0 then
    error(("bad argument #%d to '%s' (non-negative number expected, got %s)")
      :format(n, fname, type(timeout) == "number" and tostring(timeout) or type(timeout)), 3)
  end
end

-- Takes the first ticket of `queue` whose thread still exists (a thread removed with
-- copas.removethread while it waited must not be handed anything), or nil.
function M.next_ticket(queue)
  local ticket = table.remove(queue, 1)
  while ticket and not copas._alive(ticket.co) do
    ticket = table.remove(queue, 1)
  end
  return ticket
end

-- Parks the calling thread until `ticket.done` is set by whoever wakes it, or until
-- `deadline` (nil: none). Wakeups that set nothing (copas.wakeup by others) are ignored.
-- Returns false if the deadline passed first.
function M.wait_for(ticket, deadline)
  while not ticket.done do
    if deadline == nil then
      copas.pauseforever()
    else
      local left = deadline - gettime()
      if left <= 0 then return false end
      copas.pause(left)
    end
  end
  return true
end

return M
