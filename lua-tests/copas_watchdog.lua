-- copas.watchdog: a thread that spins for 300 ms with the limit at 100 ms is reported
-- while it spins (its name, and a traceback at the spinning line), then again when it
-- yields (with the total time); a well-behaved thread never is.
local t = require("t")
local copas = require("copas")
-- The real monotonic clock of copas.core, so the spin lasts real time.
local monotonic = require("copas.core").monotonic

local harness = require("copas_run")
local run = harness.run

local SPIN_LINE = debug.getinfo(1, "l").currentline + 3
local function spin(seconds)
  local t0 = monotonic()
  while monotonic() - t0 < seconds do end
end

-- A spinner and a polite thread under the watchdog; returns the reports (none with
-- the default callback).
local function watched(limit, default_callback)
  local reports = {}
  if default_callback then
    copas.watchdog(limit)
  else
    copas.watchdog(limit, function(report) reports[#reports + 1] = report end)
  end
  run(function()
    copas.addnamedthread("polite", function()
      for _ = 1, 20 do
        spin(0.002)
        copas.pause(0.005)
      end
    end)
    copas.addnamedthread("spinner", function()
      copas.pause(0.01)
      spin(0.3)
      copas.pause(0.01)
    end)
  end)
  copas.watchdog(nil)
  return reports
end

t.test("argument checks", function()
  t.err("bad argument #1 to 'watchdog'", copas.watchdog, "1")
  t.err("bad argument #1 to 'watchdog'", copas.watchdog, -1)
  t.err("bad argument #2 to 'watchdog'", copas.watchdog, 1, 42)
  t.eq(copas.watchdog(nil), true)
end)

t.test("a spinning thread is reported while it spins and when it yields", function()
  local reports = watched(0.1)
  local mine = {}
  for _, report in ipairs(reports) do
    t.ok(report.name ~= "polite", "the well-behaved thread is never reported")
    if report.name == "spinner" then mine[#mine + 1] = report end
  end
  t.eq(#mine, 2, "one report while it runs, one when it yields")
  local running, ended = mine[1], mine[2]
  t.eq(running.phase, "running")
  t.eq(type(running.thread), "thread")
  t.eq(running.limit, 0.1)
  t.ok(running.elapsed > 0.1 and running.elapsed < 0.3, "reported before the spin ended: " .. running.elapsed)
  t.ok(running.traceback:find("spinner", 1, true), running.traceback)
  t.ok(running.traceback:find("copas_watchdog.lua:" .. SPIN_LINE .. ":", 1, true),
    "the traceback shows the spinning line " .. SPIN_LINE .. ": " .. running.traceback)
  t.eq(ended.phase, "ended")
  t.eq(ended.thread, running.thread)
  t.ok(ended.elapsed >= 0.3, "the total time of the resume: " .. ended.elapsed)
  t.ok(ended.traceback:find("yielded", 1, true), ended.traceback)
end)

t.test("the default report goes to stderr", function()
  local written = {}
  local stderr = io.stderr
  io.stderr = { write = function(_, ...)
    for i = 1, select("#", ...) do written[#written + 1] = tostring((select(i, ...))) end
  end }
  local ok, err = pcall(watched, 0.1, true)
  io.stderr = stderr
  t.ok(ok, err)
  local text = table.concat(written)
  t.ok(text:find("copas watchdog: thread 'spinner' has been running for", 1, true), text)
  t.ok(text:find("copas_watchdog.lua:" .. SPIN_LINE .. ":", 1, true), text)
  t.ok(text:find("copas watchdog: thread 'spinner' ran for", 1, true), text)
  t.ok(not text:find("polite", 1, true), text)
end)

t.test("switched off, nothing is reported", function()
  local reports = {}
  copas.watchdog(0.1, function(report) reports[#reports + 1] = report end)
  copas.watchdog(false)
  run(function()
    copas.addnamedthread("spinner", function() spin(0.15) end)
  end)
  t.eq(#reports, 0)
  local jit = rawget(_G, "jit")
  if jit then t.eq(jit.status(), true, "LuaJIT's compiler is back on") end
end)

t.run()
