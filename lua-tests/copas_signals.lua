-- copas.signal: process signals as Copas events; SIGPIPE never ends the process.
local t = require("t")
local copas = require("copas")
local socket = require("socket")
local harness = require("copas_run")

-- `sh -c` is a child of this process: $PPID is our pid.
local function signal_self(name, delay)
  if delay then
    os.execute("(sleep " .. delay .. "; kill -" .. name .. " $PPID) &")
  else
    os.execute("kill -" .. name .. " $PPID")
  end
end

t.test("copas.signal checks its arguments", function()
  t.err("bad argument #1 to 'signal' %(string expected, got number%)", copas.signal, 15, print)
  t.err("bad argument #2 to 'signal'", copas.signal, "TERM", 42)
  t.nilmsg("unknown or uncatchable signal 'NOPE'", copas.signal("NOPE", print))
  t.nilmsg("unknown or uncatchable signal 'KILL'", copas.signal("KILL", print))
  t.nilmsg("unknown or uncatchable signal 'SIGSEGV'", copas.signal("SIGSEGV", print))
end)

t.test("a signal handler runs as a Copas thread, once per delivery burst", function()
  local calls, names, in_thread, slept = 0, {}, false, false
  t.ok(copas.signal("SIGUSR1", function(name)
    calls = calls + 1
    names[#names + 1] = name
    in_thread = copas.running and coroutine.running() ~= nil and copas.getthreadname(coroutine.running()) == "signal_USR1"
    copas.sleep(0.01)
    slept = true
  end))
  harness.run(function()
    signal_self("USR1")
    copas.sleep(0.2)
  end)
  t.eq(calls, 1)
  t.eq(names, { "USR1" })
  t.ok(in_thread, "the handler ran in its own named Copas thread")
  t.ok(slept, "the handler could sleep")
  t.ok(copas.signal("USR1", nil))
end)

t.test("a signal wakes a loop that waits for nothing else than a socket", function()
  local server = assert(socket.bind("127.0.0.1", 0))
  copas.addserver(server, function() end)
  local got
  copas.signal("USR2", function(name)
    got = name
    copas.removeserver(server)
  end)
  signal_self("USR2", 0.2)
  local started = socket.gettime()
  copas.loop()
  t.eq(got, "USR2")
  t.ok(socket.gettime() - started < 10, "the loop ended after the signal")
  copas.signal("USR2", nil)
end)

t.test("a watched signal does not keep the loop running", function()
  copas.signal("HUP", function() end)
  local started = socket.gettime()
  copas.loop(function() copas.sleep(0.01) end)
  t.ok(socket.gettime() - started < 5)
  copas.signal("HUP", nil)
end)

t.test("SIGPIPE does not end the process: the write fails instead", function()
  local pipe = assert(io.popen("exec true", "w"))
  socket.sleep(0.2)
  local failed = false
  for _ = 1, 16 do
    if not (pipe:write(string.rep("x", 65536)) and pipe:flush()) then
      failed = true
      break
    end
  end
  pcall(pipe.close, pipe)
  t.ok(failed, "the write to a pipe without a reader failed (and we are still running)")
  -- And a socket send to a peer that is gone.
  local server = assert(socket.bind("127.0.0.1", 0))
  local client = socket.tcp()
  client:settimeout(5)
  assert(client:connect(server:getsockname()))
  local peer = assert(server:accept())
  peer:setoption("linger", { on = true, timeout = 0 })
  peer:close()
  server:close()
  socket.sleep(0.05)
  local sent, err
  for _ = 1, 4 do
    sent, err = client:send(string.rep("y", 65536))
    if not sent then break end
  end
  t.ok(not sent, "the send failed")
  t.ok(err == "closed" or err:find("reset") or err:find("pipe"), tostring(err))
  client:close()
end)

t.run()
