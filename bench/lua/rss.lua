-- VmRSS in KiB from /proc (Linux), nil elsewhere. Loaded with dofile by the spawn
-- workloads (plain Lua has no package path to our scripts).
return function()
  local status = io.open("/proc/self/status")
  if not status then return nil end
  local text = status:read("*a")
  status:close()
  return tonumber(text:match("VmRSS:%s*(%d+)"))
end
