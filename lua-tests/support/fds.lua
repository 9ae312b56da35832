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
-- and after, so that a test can check that nothing was left behind.
function fds.around(times, f)
  collectgarbage("collect")
  local before = fds.count()
  for i = 1, times do f(i) end
  collectgarbage("collect")
  collectgarbage("collect")
  return before, fds.count()
end

return fds
