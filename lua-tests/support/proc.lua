-- Child processes for tests of process-level behaviour (signals, workers): the child
-- runs a script on the same interpreter as the test (the runner or a stock Lua, which
-- finds our modules through the inherited LUA_PATH/LUA_CPATH).
--
--   local proc = require("proc")
--   local child = proc.spawn([[ print(port) ... ]])   -- child.pid, child.pipe (its stdout)
--   child:kill("TERM"); child:wait() -> everything it printed after the lines read
local proc = {}

function proc.quote(word)
  return "'" .. (word:gsub("'", "'\\''")) .. "'"
end

-- The interpreter running this test: the lowest index of `arg`.
function proc.interpreter()
  local i = 0
  while arg[i - 1] ~= nil do i = i - 1 end
  return arg[i]
end

local counter = 0

local Child = {}
Child.__index = Child

function Child:line()
  return self.pipe:read("*l")
end

function Child:kill(signal)
  return os.execute("kill -" .. signal .. " " .. self.pid .. " 2>/dev/null")
end

-- Reads the rest of the child's output (until it and its children closed stdout);
-- returns it and the exit code (nil on Lua 5.1, whose close does not tell).
function Child:wait()
  local rest = self.pipe:read("*a")
  local _, how, code = self.pipe:close()
  os.remove(self.script)
  return rest, how == "exit" and code or (how and -1) or nil
end

-- Starts `source` as a script; `prefix` is shell put before the interpreter (ulimit...).
function proc.spawn(source, prefix)
  counter = counter + 1
  local script = os.tmpname() .. "_" .. counter .. ".lua"
  local file = assert(io.open(script, "w"))
  file:write(source)
  file:close()
  local command = "echo $$; " .. (prefix or "") .. "exec " .. proc.quote(proc.interpreter()) .. " "
    .. proc.quote(script) .. " 2>&1"
  local pipe = assert(io.popen(command, "r"))
  local pid = tonumber(pipe:read("*l"))
  return setmetatable({ pipe = pipe, pid = pid, script = script }, Child)
end

return proc
