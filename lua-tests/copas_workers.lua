-- copas.workers: worker processes sharing a port through SO_REUSEPORT, restarted when
-- they die, shut down through the supervisor.
local t = require("t")
local copas = require("copas")
local socket = require("socket")
local proc = require("proc")

local function free_port()
  local probe = assert(socket.bind("127.0.0.1", 0))
  local _, port = probe:getsockname()
  probe:close()
  return tonumber(port)
end

-- One connection: the answering worker's "pid index", or nil.
local function ask(port)
  local client = socket.tcp()
  client:settimeout(5)
  local line
  if client:connect("127.0.0.1", port) then line = client:receive() end
  client:close()
  return line
end

t.test("copas.workers checks its arguments", function()
  t.err("bad argument #1 to 'workers' %(positive number or nil expected, got 0%)", copas.workers, 0)
  t.err("bad argument #2 to 'workers'", copas.workers, 1, 42)
end)

t.test("copas.workers refuses to fork once Copas threads exist", function()
  local err
  copas.loop(function()
    err = select(2, pcall(copas.workers, 1, function() end))
  end)
  t.ok(tostring(err):find("before any Copas thread"), tostring(err))
end)

t.test("two workers serve one port; a killed worker is restarted; SIGTERM ends all", function()
  local port = free_port()
  local child = proc.spawn(([[
local copas = require("copas")
local socket = require("socket")
copas.workers(2, function()
  local server = assert(socket.bind("127.0.0.1", %d))
  copas.addserver(server, function(skt)
    copas.send(skt, copas.getpid() .. " " .. copas.worker .. "\n")
  end)
end)
print("supervisor done")
]]):format(port))
  local pids, count = {}, 0
  for _ = 1, 400 do
    local line = ask(port)
    local pid, index = (line or ""):match("^(%d+) (%d)$")
    if pid and not pids[pid] then
      pids[pid] = tonumber(index)
      count = count + 1
    end
    if count == 2 then break end
    socket.sleep(0.01)
  end
  t.eq(count, 2, "connections reached both workers")
  local victim = next(pids)
  os.execute("kill -KILL " .. victim)
  local restarted
  for _ = 1, 600 do
    local line = ask(port)
    local pid, index = (line or ""):match("^(%d+) (%d)$")
    if pid and not pids[pid] then
      restarted = { pid = pid, index = tonumber(index) }
      break
    end
    socket.sleep(0.01)
  end
  t.ok(restarted, "a new worker answers on the port")
  t.eq(restarted.index, pids[victim], "the restarted worker took the dead one's place")
  t.ok(child:kill("TERM"))
  local output, code = child:wait()
  t.ok(output:find("supervisor done"), output)
  t.ok(code == nil or code == 0, "exit code " .. tostring(code))
  t.ok(not ask(port), "nothing serves the port any more")
end)

t.test("copas --workers 2 runs a script in two workers sharing its port", function()
  local runner = os.getenv("COPAS_RUNNER") or "target/debug/copas"
  local port = free_port()
  local script = os.tmpname() .. ".lua"
  local file = assert(io.open(script, "w"))
  file:write(([[
local copas = require("copas")
local socket = require("socket")
local server = assert(socket.bind("127.0.0.1", %d))
copas.addserver(server, function(skt)
  copas.send(skt, copas.getpid() .. " " .. copas.worker .. "\n")
end)
copas.loop()
]]):format(port))
  file:close()
  local pipe = assert(io.popen("echo $$; exec " .. proc.quote(runner) .. " --workers 2 "
    .. proc.quote(script) .. " 2>&1", "r"))
  local pid = tonumber(pipe:read("*l"))
  local indexes, count = {}, 0
  for _ = 1, 400 do
    local index = (ask(port) or ""):match("^%d+ (%d)$")
    if index and not indexes[index] then
      indexes[index] = true
      count = count + 1
    end
    if count == 2 then break end
    socket.sleep(0.01)
  end
  os.execute("kill -TERM " .. pid)
  local output = pipe:read("*a")
  local _, how, code = pipe:close()
  os.remove(script)
  t.eq(count, 2, "both workers answered: " .. output)
  t.ok(how == nil or (how == "exit" and code == 0), "exit " .. tostring(code))
end)

t.run()
