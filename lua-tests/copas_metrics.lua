-- copas.metrics(): counts against a scripted workload (N connections, M bytes each
-- way, K sleeps), its Prometheus text checked by a parser of the exposition format,
-- and copas.metrics.serve answering an HTTP scrape.
local t = require("t")
local copas = require("copas")
local socket = require("socket")
local loopback = require("loopback")

local harness = require("copas_run")
local run = harness.run

-- Parses Prometheus' text exposition format (0.0.4) strictly enough to catch what
-- `promtool check metrics` rejects: every sample belongs to a family declared once
-- by a TYPE line before it, names and labels are well formed, values are numbers.
local function parse_prometheus(text)
  local families, samples = {}, {}
  local name_pattern = "^[%a_:][%w_:]*$"
  local kinds = { counter = true, gauge = true, summary = true, histogram = true, untyped = true }
  local function family_of(name)
    if families[name] then return families[name], name end
    for _, suffix in ipairs({ "_sum", "_count", "_bucket" }) do
      local base = name:sub(1, -#suffix - 1)
      if name:sub(-#suffix) == suffix and families[base] then
        local kind = families[base].kind
        if kind == "summary" or kind == "histogram" then return families[base], base end
      end
    end
  end
  assert(text:sub(-1) == "\n", "the text ends with a line feed")
  local number = 0
  for line in text:gmatch("([^\n]*)\n") do
    number = number + 1
    local where = "line " .. number .. ": " .. line
    if line:sub(1, 1) == "#" then
      local keyword, name, rest = line:match("^# (%u+) (%S+) ?(.*)$")
      if keyword == "TYPE" then
        assert(name:find(name_pattern), where)
        assert(kinds[rest], "unknown type, " .. where)
        assert(not families[name], "TYPE given twice, " .. where)
        families[name] = { kind = rest, samples = 0 }
      elseif keyword == "HELP" then
        assert(name:find(name_pattern), where)
      end
    else
      assert(line ~= "", "empty line inside the text, " .. where)
      local name, labels, value = line:match("^([%a_:][%w_:]*)(%b{}) (%S+)$")
      if not name then
        name, value = line:match("^([%a_:][%w_:]*) (%S+)$")
      end
      assert(name, "not a sample, " .. where)
      local parsed = {}
      if labels then
        local inner = labels:sub(2, -2)
        for label, label_value in inner:gmatch('([%a_][%w_]*)="([^"]*)"') do
          parsed[label] = label_value
        end
        local rebuilt = inner:gsub('[%a_][%w_]*="[^"]*"', ""):gsub(",", "")
        assert(rebuilt == "", "bad labels, " .. where)
      end
      local family, base = family_of(name)
      assert(family, "sample before its TYPE, " .. where)
      if family.kind == "summary" and name == base then
        assert(tonumber(parsed.quantile), "summary sample without a quantile, " .. where)
      end
      local n = tonumber(value)
      if not n then
        assert(value == "NaN" or value == "+Inf" or value == "-Inf", "bad value, " .. where)
      end
      if family.kind == "counter" then assert(n and n >= 0, "negative counter, " .. where) end
      family.samples = family.samples + 1
      samples[#samples + 1] = { name = name, labels = parsed, value = n }
    end
  end
  for name, family in pairs(families) do
    assert(family.samples > 0, "family without samples: " .. name)
  end
  return families, samples
end

local function sample_value(samples, name, label, label_value)
  for _, s in ipairs(samples) do
    if s.name == name and (not label or s.labels[label] == label_value) then return s.value end
  end
end

t.test("the parser rejects what the format forbids", function()
  t.ok(parse_prometheus("# TYPE a counter\na 1\n"))
  t.err("before its TYPE", parse_prometheus, "a 1\n")
  t.err("TYPE given twice", parse_prometheus, "# TYPE a gauge\na 1\n# TYPE a gauge\na 2\n")
  t.err("bad value", parse_prometheus, "# TYPE a gauge\na one\n")
  t.err("bad labels", parse_prometheus, '# TYPE a gauge\na{x="1" y} 1\n')
  t.err("without a quantile", parse_prometheus, "# TYPE a summary\na 1\n")
end)

t.test("threads later in the running step's batch count as ready", function()
  local seen
  run(function()
    local first = copas.addthread(function()
      copas.sleep(0)
      seen = copas.metrics().threads
    end)
    local second = copas.addthread(function() copas.sleep(0) end)
    assert(first and second)
    -- Both start in one step and sleep(0): the next step resumes them in one batch.
    copas.pause(0.05)
  end)
  t.eq(seen.running, 1)
  -- `second`, and the harness's canceller and body unless their pauses ended first.
  t.ok(seen.ready >= 1, "the second thread is ready: " .. seen.ready)
end)

t.test("metrics count a scripted workload", function()
  local N, M, K = 6, 1000, 9
  local before = copas.metrics()
  t.eq(type(before.threads), "table")
  local during, after_sleeps
  run(function()
    local server, port = loopback.server()
    copas.addserver(server, function(client)
      local data = assert(copas.receive(client, M))
      assert(copas.send(client, data))
    end)
    local sleepers = {}
    for i = 1, K do
      -- Long sleeps ended by wakeup below: short ones could run out before the count
      -- on a slow machine (valgrind).
      sleepers[i] = copas.addthread(function() copas.pause(60 + i) end)
    end
    copas.pause(0)
    during = copas.metrics()
    for i = 1, K do copas.wakeup(sleepers[i]) end
    local done = 0
    for _ = 1, N do
      copas.addthread(function()
        local c = loopback.client(port)
        assert(c:send(("x"):rep(M)))
        assert(#assert(c:receive(M)) == M)
        c:close()
        done = done + 1
      end)
    end
    while done < N do copas.pause(0.01) end
    copas.pause(0.1)
    after_sleeps = copas.metrics()
    copas.removeserver(server)
  end)
  local after = copas.metrics()
  -- The K sleepers, and the harness's canceller unless its short pause just ended.
  t.ok(during.threads.sleeping == K + 1 or during.threads.sleeping + during.threads.ready == K + 1,
    "K threads sleep: " .. during.threads.sleeping)
  t.eq(during.threads.running, 1)
  t.eq(during.servers, 1)
  t.ok(during.timers >= K, "a timer per sleep")
  t.ok(after_sleeps.threads.sleeping <= 1, "only the harness's canceller may sleep")
  t.eq(after_sleeps.connections.accepted - before.connections.accepted, N)
  t.eq(after_sleeps.connections.closed - before.connections.closed, N)
  t.eq(after_sleeps.connections.open, 0)
  -- Each of N clients sends M bytes and the server sends them back: 2*N*M each way.
  t.eq(after.bytes_received - before.bytes_received, 2 * N * M)
  t.eq(after.bytes_sent - before.bytes_sent, 2 * N * M)
  t.eq(after.servers, 0)
  t.ok(after.steps > before.steps)
  -- At least: every sleeper and client twice, every handler and acceptor resume.
  t.ok(after.resumes - before.resumes >= 2 * K + 2 * N + N, "resumes counted")
  local r = after.resume_duration
  t.eq(r.count, after.resumes, "one duration per resume")
  t.ok(r.p50 <= r.p99 and r.p99 <= r.max and r.mean > 0 and r.sum > 0)
  t.ok(after.step_duration.count > 0 and after.step_duration.max >= after.step_duration.p50)
  t.ok(after.lag.count > 0 and after.lag.max >= after.lag.last and after.lag.mean >= 0)
  t.eq(after.dns_in_flight, 0)
  t.eq(after.virtual_clock, false)
end)

t.test("the Prometheus text parses and agrees with copas.metrics()", function()
  local text = copas.metrics.prometheus()
  local m = copas.metrics()
  local families, samples = parse_prometheus(text)
  t.eq(families.copas_resume_duration_seconds.kind, "summary")
  t.eq(families.copas_received_bytes_total.kind, "counter")
  t.eq(sample_value(samples, "copas_received_bytes_total"), m.bytes_received)
  t.eq(sample_value(samples, "copas_connections_accepted_total"), m.connections.accepted)
  t.eq(sample_value(samples, "copas_threads", "state", "sleeping"), 0)
  t.ok(sample_value(samples, "copas_resume_duration_seconds", "quantile", "0.99") >= 0)
  t.ok(sample_value(samples, "copas_steps_total") > 0)
end)

t.test("metrics.serve answers a scrape over HTTP", function()
  local reply
  run(function()
    local server, port = copas.metrics.serve("127.0.0.1", 0)
    t.ok(port > 0)
    local c = loopback.client(port)
    assert(c:send("GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n"))
    reply = c:receive("*a")
    c:close()
    copas.removeserver(server)
  end)
  local head, body = reply:match("^(.-)\r\n\r\n(.*)$")
  t.ok(head:find("^HTTP/1.0 200 OK"), head)
  t.ok(head:find("Content%-Type: text/plain; version=0.0.4"), head)
  t.eq(tonumber(head:match("Content%-Length: (%d+)")), #body)
  local _, samples = parse_prometheus(body)
  t.eq(sample_value(samples, "copas_threads", "state", "running"), 1)
end)

t.test("examples/metrics_server.lua runs: traffic, a scrape, then the loop ends", function()
  local saved_arg, saved_print = rawget(_G, "arg"), print
  local printed = {}
  _G.arg = {}
  print = function(...) printed[#printed + 1] = table.concat({ ... }, " ") end
  local ok, err = pcall(dofile, "examples/metrics_server.lua")
  _G.arg, print = saved_arg, saved_print
  t.ok(ok, err)
  local text = table.concat(printed, "\n")
  t.ok(text:find("copas_connections_accepted_total %d+"), text)
  t.ok(text:find('copas_resume_duration_seconds{quantile="0.99"}', 1, true), text)
  t.eq(printed[#printed], "done")
end)

t.run()
