-- copas.testing: the virtual clock. 1,000 threads sleep a total of 10 simulated
-- hours while clients time out on real loopback sockets, a lock times out, an alarm
-- fires and a real request/reply goes through; the whole run takes well under 2 s of
-- real time, and three runs log the same events at the same simulated times.
local t = require("t")
local copas = require("copas")
local socket = require("socket")
local lock = require("copas.lock")
local loopback = require("loopback")
-- A clock the virtual one does not touch, to measure real time.
local monotonic = require("copas.core").monotonic

local THREADS = 1000
local SLEEP_PER_THREAD = 36 -- seconds: 1,000 threads sleep 10 hours in all
local CLIENTS = 10

-- One run of the scenario; returns the event log, the simulated seconds slept in all,
-- and the run's simulated and real durations.
local function scenario()
  local log, slept = {}, 0
  local start
  local function event(what)
    log[#log + 1] = ("%.3f %s"):format(copas.gettime() - start, what)
  end
  local real_start = monotonic()
  local elapsed = copas.testing.run(function()
    start = copas.gettime()
    local server, port = loopback.server()
    copas.addserver(server, function(client)
      while true do
        local line = copas.receive(client)
        if not line then return end
        if line == "ping" then copas.send(client, "pong\n") end
      end
    end)
    -- Connections first, while no timer is pending: the clock cannot move meanwhile.
    local clients = {}
    for k = 1, CLIENTS do clients[k] = loopback.client(port) end

    for i = 1, THREADS do
      local a, b = (i * 7) % 11 + 1, (i * 13) % 7 + 1
      copas.addnamedthread("sleeper_" .. i, function()
        for _, d in ipairs({ a, b, SLEEP_PER_THREAD - a - b }) do
          local t0 = copas.gettime()
          copas.pause(d)
          slept = slept + (socket.gettime() - t0)
        end
        if i % 50 == 0 then event("sleeper " .. i .. " done") end
      end)
    end

    for k = 1, CLIENTS do
      copas.addthread(function()
        local c = clients[k]
        c:settimeout(30 + k)
        local data, err = c:receive()
        event(("client %d: %s %s"):format(k, tostring(data), tostring(err)))
        c:close()
      end)
    end

    local l = lock.new(math.huge)
    copas.addthread(function()
      assert(l:get())
      event("lock taken")
      copas.pause(500)
      l:release()
      event("lock released")
    end)
    copas.addthread(function()
      copas.pause(10)
      local ok, err, waited = l:get(60)
      event(("lock get: %s %s after %.3f"):format(tostring(ok), tostring(err), waited))
    end)

    copas.addthread(function()
      copas.timeout(45, function() event("alarm") end)
      copas.pause(100)
      copas.timeout(0)
      local c = loopback.client(port)
      assert(c:send("ping\n"))
      event("reply " .. tostring(c:receive()))
      c:close()
    end)

    local t0 = socket.gettime()
    copas.pause(3600)
    event(("main slept %.3f"):format(socket.gettime() - t0))
    copas.removeserver(server)
  end)
  return log, slept, elapsed, monotonic() - real_start
end

t.test("argument checks", function()
  t.err("bad argument #1 to 'virtualclock'", copas.testing.virtualclock, "yes")
  t.err("bad argument #1 to 'run'", copas.testing.run, 42)
  t.eq(copas.testing.virtualclock(), false, "off by default")
end)

local runs = {}

t.test("10 simulated hours of sleeps, timeouts, a lock and an alarm in under 2 s", function()
  local log, slept, elapsed, real = scenario()
  runs[1] = log
  t.eq(slept, THREADS * SLEEP_PER_THREAD)
  t.ok(slept >= 10 * 3600)
  t.ok(real < 2, ("took %.3f s of real time"):format(real))
  t.eq(copas.testing.virtualclock(), false, "switched back off")
  t.ok(math.abs(elapsed - 3600) < 1e-3, "the run lasted as long as its longest sleep: " .. elapsed)
  local seen = {}
  for _, line in ipairs(log) do seen[line:match("^[%d.]+ (.*)$")] = line:match("^([%d.]+)") end
  t.eq(seen["lock taken"], "0.000")
  t.eq(seen["lock get: nil timeout after 60.000"], "70.000")
  t.eq(seen["alarm"], "45.000")
  t.eq(seen["reply pong"], "100.000")
  t.eq(seen["lock released"], "500.000")
  t.eq(seen["main slept 3600.000"], "3600.000")
  for k = 1, CLIENTS do
    t.eq(seen[("client %d: nil timeout"):format(k)], ("%.3f"):format(30 + k))
  end
  t.eq(seen["sleeper 1000 done"], "36.000")
end)

t.test("two more runs log the same events in the same order", function()
  t.ok(runs[1], "the first run happened")
  for run = 2, 3 do
    local log = scenario()
    t.eq(#log, #runs[1])
    for i = 1, #log do
      t.eq(log[i], runs[1][i], ("run %d, event %d"):format(run, i))
    end
  end
end)

t.test("outside the virtual clock, time is real again", function()
  local before = socket.gettime()
  t.ok(math.abs(before - os.time()) < 2, "gettime is wall time")
  copas.loop(function() copas.pause(0.01) end)
  t.ok(socket.gettime() - before < 5)
end)

t.run()
