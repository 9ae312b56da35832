-- 100 copas.http requests to nginx at once while a 10 ms ticker runs in the same loop:
-- every request gets its exact body and the ticker is never starved for long (a
-- liveness check with a generous bound, not a speed assertion). Then the same through
-- copas.limit, which must cap how many run at a time.
local t = require("t")
local nginx = require("nginx")
local copas = require("copas")
local socket = require("socket")
local http = require("copas.http")
local limit = require("copas.limit")
local harness = require("copas_run")

local REQUESTS = 100
-- Longest pause between two ticks that still counts as "kept ticking".
local MAX_GAP = 0.5

local BODY = string.rep("0123456789abcdef", 8192) -- 128 KiB

-- nginx sends /slow/ at 512 KiB/s per connection, so the requests are in flight
-- together for a while (about a quarter second) and the ticker has to share the loop.
local srv, why = nginx.start({
  files = { ["data.bin"] = BODY, ["slow/data.bin"] = BODY },
  server = "location /slow/ { limit_rate 512k; }",
})

-- Runs `start(request)` where request() does one GET and records it; ticks meanwhile.
local function with_ticker(path, start)
  local results = { ok = 0, bad = {} }
  local ticks, worst = 0, 0
  local finished = false
  harness.run(function()
    copas.addthread(function()
      local last = socket.gettime()
      for _ = 1, 100000 do
        if finished then break end
        copas.pause(0.01)
        local now = socket.gettime()
        if now - last > worst then worst = now - last end
        last = now
        ticks = ticks + 1
      end
    end)
    local function request(i)
      local body, code = http.request(srv.url(path .. "?i=" .. i))
      if body == BODY and code == 200 then
        results.ok = results.ok + 1
      else
        results.bad[#results.bad + 1] = tostring(code)
      end
    end
    start(request)
    finished = true
    http.closeidle()
  end)
  io.stderr:write(string.format("%d ticks, longest gap %.3f s\n", ticks, worst))
  t.eq(results.bad, {})
  t.eq(results.ok, REQUESTS)
  t.ok(ticks > 0, "the ticker never ran")
  t.ok(worst < MAX_GAP, string.format("the loop stalled for %.3f s", worst))
end

t.test("100 concurrent requests, the ticker keeps ticking", function()
  if not srv then return nginx.skip(why) end
  with_ticker("/slow/data.bin", function(request)
    local pending = REQUESTS
    for i = 1, REQUESTS do
      copas.addthread(function()
        request(i)
        pending = pending - 1
      end)
    end
    for _ = 1, 6000 do
      if pending == 0 then break end
      copas.pause(0.01)
    end
  end)
end)

t.test("100 requests through copas.limit (10 at a time)", function()
  if not srv then return nginx.skip(why) end
  local running, most = 0, 0
  with_ticker("/data.bin", function(request)
    local set = limit.new(10)
    for i = 1, REQUESTS do
      set:addthread(function()
        running = running + 1
        if running > most then most = running end
        request(i)
        running = running - 1
      end)
    end
    set:wait()
  end)
  t.ok(most <= 10, "more than 10 ran at once: " .. most)
end)

t.test("stop nginx", function()
  if srv then srv.stop() end
end)

t.run()
