-- The short soak (the long one is `cargo xtask soak`): a few hundred connections of
-- mixed behaviour (echo sessions, resets, half-closes, slow writers, clients that
-- never read) through the soak server on the runner, started as a child. Well-behaved
-- clients must get every echo, and the server's descriptors must come back to their
-- baseline.
local t = require("t")
local socket = require("socket")

local RUNNER = os.getenv("COPAS_RUNNER") or "target/debug/copas"
local CONNS = 300

local function quote(word)
  return "'" .. (word:gsub("'", "'\\''")) .. "'"
end

local function fd_count(pid)
  local listing = assert(io.popen("ls /proc/" .. pid .. "/fd | wc -l"))
  local count = listing:read("*n")
  listing:close()
  return count
end

local function connect(port)
  local c = socket.tcp()
  c:settimeout(10)
  assert(c:connect("127.0.0.1", port))
  return c
end

local function echo(port, i)
  local c = connect(port)
  local errors = 0
  for line = 1, 3 do
    local sent = "client " .. i .. " line " .. line
    c:send(sent .. "\n")
    if c:receive("*l") ~= sent then errors = errors + 1 end
  end
  c:close()
  return errors
end

t.test("mixed churn: every echo answered, descriptors back to baseline", function()
  -- The shell prints the runner's pid (exec keeps it), then the runner its port.
  local pipe = assert(io.popen("echo $$; exec " .. quote(RUNNER) .. " xtask/lua/soak_server.lua 1", "r"))
  local pid = pipe:read("*l")
  local port = tonumber(pipe:read("*l"))
  t.ok(port, "the server printed its port")
  local errors = echo(port, 0)
  local before = fd_count(pid)
  for i = 1, CONNS do
    local kind = i % 6
    if kind <= 1 then
      errors = errors + echo(port, i)
    elseif kind == 2 then
      local c = connect(port)
      c:send("partial")
      c:setoption("linger", { on = true, timeout = 0 })
      c:close()
    elseif kind == 3 then
      local c = connect(port)
      c:send("half " .. i .. "\n")
      c:shutdown("send")
      local got = c:receive("*a")
      if got ~= "half " .. i .. "\n" then errors = errors + 1 end
      c:close()
    elseif kind == 4 then
      local c = connect(port)
      c:send("x")
      c:close()
    else
      local c = connect(port)
      c:settimeout(0.05)
      c:send(string.rep("never read\n", 20000))
      c:close()
    end
  end
  t.eq(errors, 0, "errors seen by well-behaved clients")
  local after = fd_count(pid)
  for _ = 1, 100 do
    if after <= before then break end
    socket.sleep(0.1)
    after = fd_count(pid)
  end
  -- At most the baseline: it may have been taken while the server still held the
  -- socket of the first echo client.
  t.ok(after <= before, ("server descriptors: %d before, %d after"):format(before, after))
  os.execute("kill " .. pid)
  pipe:close()
end)

t.run()
