-- A real program over socket.unix: redis-lua (nrk/redis-lua) talking to redis-server
-- on a Unix socket in a temp dir, blocking and from Copas threads.
--
-- Needs redis-server on PATH (Debian: redis-server) and a checkout of redis-lua named
-- by COPAS_TEST_REDIS_LUA (the directory holding src/redis.lua); skips without them.
local t = require("t")
local socket = require("socket")
local unix = require("socket.unix")
local copas = require("copas")

local checkout = os.getenv("COPAS_TEST_REDIS_LUA")
local function have_redis_server()
  local probe = io.popen("command -v redis-server 2>/dev/null")
  local found = probe and probe:read("*l")
  if probe then probe:close() end
  return found ~= nil and found ~= ""
end

local skip
if not checkout or checkout == "" then
  skip = "COPAS_TEST_REDIS_LUA is not set"
elseif not io.open(checkout .. "/src/redis.lua") then
  skip = "no src/redis.lua under " .. checkout
elseif not have_redis_server() then
  skip = "redis-server is not installed"
end

if skip then
  t.test("redis-lua over a unix socket (skipped: " .. skip .. ")", function() end)
  t.run()
  return
end

package.path = checkout .. "/src/?.lua;" .. package.path
local redis = require("redis")

-- redis-server in a directory of its own, listening only on its Unix socket.
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -m 700 " .. dir)
local path = dir .. "/redis.sock"
local pidfile = dir .. "/redis.pid"
assert(os.execute(table.concat({
  "redis-server", "--port 0", "--unixsocket " .. path, "--unixsocketperm 700",
  "--save ''", "--appendonly no", "--dir " .. dir, "--daemonize yes",
  "--pidfile " .. pidfile, "--logfile " .. dir .. "/redis.log",
}, " ")))

local function stop_server()
  local file = io.open(pidfile)
  local pid = file and file:read("*n")
  if file then file:close() end
  if pid then os.execute("kill " .. string.format("%d", pid)) end
  -- Bounded wait for it to exit (it removes its pid file), then the directory goes.
  for _ = 1, 100 do
    local still = io.open(pidfile)
    if not still then break end
    still:close()
    socket.sleep(0.05)
  end
  os.execute("rm -rf " .. dir)
end

-- Bounded wait for the server to accept connections.
local up = false
for _ = 1, 200 do
  local probe = unix.stream()
  if probe:connect(path) then
    probe:close()
    up = true
    break
  end
  probe:close()
  socket.sleep(0.05)
end

t.test("redis-server came up on its unix socket", function()
  t.ok(up, "no server at " .. path)
end)

t.test("blocking client: ping, strings, counters, lists, a 1 MiB value", function()
  local client = redis.connect({ scheme = "unix", path = path })
  t.eq(client:ping(), true)
  t.ok(client:set("copas-rs:greeting", "hello\r\nworld"))
  t.eq(client:get("copas-rs:greeting"), "hello\r\nworld")
  t.eq(client:incr("copas-rs:counter"), 1)
  t.eq(client:incrby("copas-rs:counter", 41), 42)
  client:del("copas-rs:list")
  client:rpush("copas-rs:list", "a")
  client:rpush("copas-rs:list", "b")
  t.eq(client:lrange("copas-rs:list", 0, -1), { "a", "b" })
  local bytes = {}
  for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
  local big = table.concat(bytes):rep(4096)
  t.ok(client:set("copas-rs:big", big))
  t.eq(client:get("copas-rs:big") == big, true, "1 MiB byte-exact")
  t.ok(client:mset("copas-rs:a", "1", "copas-rs:b", "2"))
  t.eq(client:mget("copas-rs:a", "copas-rs:b"), { "1", "2" })
  client:quit()
end)

t.test("copas: concurrent redis-lua clients over wrapped unix streams", function()
  local clients, rounds, finished = 20, 10, 0
  local failures = {}
  local setup = redis.connect({ scheme = "unix", path = path })
  setup:del("copas-rs:shared")
  setup:quit()
  for n = 1, clients do
    copas.addthread(function()
      local skt = copas.wrap(unix.stream())
      local ok, err = skt:connect(path)
      if not ok then
        failures[#failures + 1] = err
        return
      end
      local client = redis.connect({ socket = skt })
      for _ = 1, rounds do client:incr("copas-rs:shared") end
      client:set("copas-rs:client:" .. n, tostring(n))
      if client:get("copas-rs:client:" .. n) ~= tostring(n) then
        failures[#failures + 1] = "client " .. n
      end
      skt:close()
      finished = finished + 1
    end)
  end
  copas.loop()
  t.eq(failures, {})
  t.eq(finished, clients)
  local check = redis.connect({ scheme = "unix", path = path })
  t.eq(tonumber(check:get("copas-rs:shared")), clients * rounds)
  check:quit()
end)

t.run(stop_server)
