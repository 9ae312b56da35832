-- Open descriptors of this process, for leak checks: fds.count() is the number of
-- entries in /proc/<pid>/fd that are not pipes (the pipe of the io.popen that lists
-- them comes and goes). Linux only.
local fds = {}

local function pid()
  local stat = assert(io.open("/proc/self/stat"))
  local id = stat:read("*l"):match("^(%d+)")
  stat:close()
  return id
end

function fds.count()
  local listing = assert(io.popen("ls -l /proc/" .. pid() .. "/fd | grep -v -c -e 'pipe:' -e '^total'"))
  local count = listing:read("*n")
  listing:close()
  return count
end

-- Runs f(i) `times` times, collects garbage, and returns the descriptors open before
-- and after, so that a test can check that nothing was left behind. A count above the
-- first is taken again a few times, 50 ms apart: a descriptor another thread is about
-- to close (a resolver worker's socket, say) is not a leak, and a leak stays.
function fds.around(times, f)
  collectgarbage("collect")
  local before = fds.count()
  for i = 1, times do f(i) end
  collectgarbage("collect")
  collectgarbage("collect")
  local after = fds.count()
  for _ = 1, 5 do
    if after <= before then break end
    require("socket").sleep(0.05)
    collectgarbage("collect")
    after = fds.count()
  end
  return before, after
end

-- Fails unless no more descriptors are open after than before. Fewer is fine: a
-- descriptor an earlier test left to the collector may be closed in between.
function fds.no_more(before, after)
  if after > before then
    error(("%d descriptors open before, %d after"):format(before, after), 2)
  end
end

return fds
