-- socket.serial on a pseudo-terminal pair: python3's pty module holds the far side
-- (raw mode) and echoes what it reads in upper case, as a modem would answer.
local t = require("t")
local socket = require("socket")
local serial = require("socket.serial")

local FAR_SIDE = [[
import os, pty, select, sys, time, tty
master, slave = pty.openpty()
tty.setraw(slave)
print(os.ttyname(slave), flush=True)
deadline = time.time() + 30
while time.time() < deadline:
    ready, _, _ = select.select([master], [], [], 0.5)
    if not ready:
        continue
    data = os.read(master, 4096)
    os.write(master, data.upper())
    if b"QUIT" in data.upper():
        break
]]

local function python_available()
  local probe = io.popen("python3 -c 'import pty' 2>/dev/null && echo yes")
  local answer = probe and probe:read("*l")
  if probe then probe:close() end
  return answer == "yes"
end

t.test("module value and open errors", function()
  t.eq(type(serial), "function")
  local none, message, errno = serial("/nonexistent/tty")
  t.eq({ none, message, errno }, { nil, "No such file or directory", 2 })
  t.err("string expected", function() serial() end)
end)

t.test("a serial line: class, receive patterns, send, select, timeouts, stats", function()
  if not python_available() then
    print("skipped: python3 with the pty module is not available")
    return
  end
  local script = os.tmpname()
  local file = assert(io.open(script, "w"))
  file:write(FAR_SIDE)
  file:close()
  local far = assert(io.popen("python3 " .. script))
  local name = far:read("*l")
  t.ok(name and name:find("^/dev/"), tostring(name))
  local line = assert(serial(name))
  t.ok(tostring(line):find("^serial{client}: 0x%x+$"), tostring(line))
  t.eq(line.class, "serial{client}")
  line:settimeout(10)
  t.eq(line:send("hello\r\nworld"), 12)
  t.eq(line:receive(), "HELLO")
  t.eq(line:receive(5), "WORLD")
  t.eq(line:send("more\n"), 5)
  local ready = socket.select({ line }, nil, 10)
  t.eq(ready[1], line)
  t.eq(line:receive("*l", "<"), "<MORE")
  line:settimeout(0.05)
  local data, err, partial = line:receive()
  t.eq({ data, err, partial }, { nil, "timeout", "" })
  local received, sent = line:getstats()
  t.eq({ received, sent }, { 17, 17 })
  t.eq(line:dirty(), false)
  t.ok(line:getfd() >= 0)
  t.err("serial{any} expected", function() line.close(socket.tcp()) end)
  t.err("serial{client} expected", function() line.receive(io.stdout) end)
  line:settimeout(10)
  line:send("quit\n")
  t.eq(line:receive(), "QUIT")
  t.eq(line:close(), 1)
  t.eq(line:getfd(), -1)
  data, err, partial = line:receive()
  t.eq({ data, err, partial }, { nil, "closed", "" })
  far:close()
  os.remove(script)
end)

t.run()
