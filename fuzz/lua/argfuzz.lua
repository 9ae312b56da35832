-- argfuzz: calls every exported function of socket, socket.core objects (tcp master,
-- client and server, udp), socket.dns, socket.url, socket.headers, ltn12, mime, copas,
-- copas.* and the objects they return, with random arguments: nil, booleans, numbers
-- (NaN, infinities, huge, negative), strings (empty, huge, binary), tables, functions,
-- open and closed sockets, userdata of other classes. Every call runs under pcall: it
-- must return or raise a Lua error. A panic or abort ends the process, which is what
-- the caller (cargo xtask argfuzz, lua-tests/argfuzz_short.lua) detects.
--
--   lua argfuzz.lua [CALLS [SEED]]          (prints a summary line)
--   local summary = loadfile("fuzz/lua/argfuzz.lua")(calls, seed)
--
-- Seeded and bounded: the same seed makes the same calls. Three kinds of argument are
-- tamed so that a run stays fast and local: host names are always local or invalid
-- (never a DNS query), timeouts of calls that wait are short, and socket objects get a
-- zero timeout again after every call.
local CALLS = tonumber((...)) or 5000
local SEED = tonumber((select(2, ...))) or 1

local socket = require("socket")
local copas = require("copas")
local ltn12 = require("ltn12")
local mime = require("mime")
local url = require("socket.url")
local headers = require("socket.headers")
local unpack = table.unpack or unpack
-- ARGFUZZ_TRACE=1 names each call on stderr before making it (to find a hang).
local TRACE = os.getenv("ARGFUZZ_TRACE")

-- Park-Miller generator: exact in doubles on every Lua version.
local state = SEED % 2147483646 + 1
local function random(n)
  state = (state * 16807) % 2147483647
  return state % n + 1
end
local function pick(list) return list[random(#list)] end

local NUMBERS = { 0, -0.0, 1, -1, 2, 3, 7, 0.5, -0.5, 1e-9, 80, 255, 256, 1023, 65535, 65536,
  2 ^ 31 - 1, 2 ^ 31, -2 ^ 31, 2 ^ 32, 2 ^ 53, 2 ^ 63, -2 ^ 63, 2 ^ 64, 1e308, -1e308,
  1 / 0, -1 / 0, 0 / 0, math.pi }
if math.maxinteger then
  NUMBERS[#NUMBERS + 1] = math.maxinteger
  NUMBERS[#NUMBERS + 1] = math.mininteger
end
-- Numbers for calls that wait: never long, never "forever".
local SHORT = { 0, -0.0, 1e-9, 0.001 }

local BINARY = {}
for i = 0, 255 do BINARY[#BINARY + 1] = string.char(i) end
BINARY = table.concat(BINARY)
local HUGE = string.rep("x\r\n.", 50000)

local STRINGS = { "", "*l", "*a", "*", "l", "a", "*x", "r", "w", "rw", "inet", "inet6", "unix",
  "keepalive", "linger", "reuseaddr", "reuseport", "tcp-nodelay", "tcp-keepidle",
  "tcp-keepcnt", "tcp-keepintvl", "broadcast", "dontroute", "ip-multicast-loop",
  "ip-multicast-ttl", "ip-multicast-if", "ip-add-membership", "ip-drop-membership",
  "ipv6-v6only", "ipv6-unicast-hops", "ipv6-add-membership", "recv-buffer-size",
  "send-buffer-size", "both", "send", "receive", "b", "t", "127.0.0.1", "::1", "localhost",
  "8080", "0", "-1", "1e400", "nan", "http", "http://user:pw@127.0.0.1:1/a/b;p?q#f",
  "//h/p", "a%20b%zz%", "../a/./b/..", "base64", "quoted-printable", "CRLF", "\r\n", "\n",
  "=\r\n", "=4", "line\r\n.\r\n", "%s%n%d", "\0", BINARY, HUGE, "cycle", "content-type" }
-- Host arguments: local names and malformed ones that fail before any DNS query.
local HOSTS = { "127.0.0.1", "::1", "localhost", "*", "", "127.1", "::ffff:127.0.0.1",
  "bad\0name", HUGE, BINARY }
local HOST_ARGS = { connect = 1, bind = 1, setsockname = 1, setpeername = 1, sendto = 2,
  connect4 = 1, connect6 = 1, toip = 1, tohostname = 1, getaddrinfo = 1, getnameinfo = 1 }
-- Calls that wait as long as one argument says (nil often meaning forever): that
-- argument, at this position, is always there and short.
local WAITING = { sleep = 1, nap = 1, pause = 1, select = 3, step = 1, pop = 1, get = 1,
  take = 2, wait = 1 }
-- Left out: they run or wait until every thread ends (servers never do) or forever,
-- (pump.all) run until the source ends, which a random function (a filter) may never
-- do, or (setfd) adopt an arbitrary descriptor, which LuaSocket leaves to the caller.
-- (copas.testing.run is copas.loop; copas.metrics.serve adds a server no call removes,
-- which would keep every later loop running.) Process-wide ones: copas.workers forks
-- processes that go on fuzzing (so does copas.core.supervise under it: a fork bomb
-- once the fuzzer's threads are cancelled), copas.signal takes over signals (the
-- harness's own SIGTERM among them; so does copas.core.signal_watch), copas.shutdown
-- ends every thread and server the fuzzer made.
local SKIP = { loop = true, waitforexit = true, pauseforever = true, setfd = true,
  __unload = true, all = true, run = true, serve = true, workers = true, signal = true,
  supervise = true, signal_watch = true, shutdown = true }

-- Outside a task, copas.receive and friends wait as long as Copas's own timeouts say.
local function settimeout(o)
  if type(o) == "userdata" then o:settimeout(0) end
  copas.settimeouts(o, 0.001, 0.001, 0.001)
end

local objects = {}          -- values returned by calls, offered back as arguments
local function remember(v)
  if type(v) == "userdata" then pcall(settimeout, v) end
  if type(v) == "table" or type(v) == "userdata" or type(v) == "function" then
    if #objects < 64 then objects[#objects + 1] = v else objects[random(64)] = v end
  end
end

local sockets = {}
local other_class = io.tmpfile()
local function fresh_sockets()
  for _, s in ipairs(sockets) do pcall(s.close, s) end
  sockets = {}
  local function add(s) if s then s:settimeout(0) sockets[#sockets + 1] = s end return s end
  local server = add(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  local client = add(socket.tcp())
  client:connect("127.0.0.1", port)
  add(server:accept())
  add(socket.tcp())
  add(socket.tcp6())
  add(socket.udp())
  local udp = add(socket.udp())
  udp:setsockname("127.0.0.1", 0)
  local closed = add(socket.tcp())
  closed:close()
  local closed_udp = add(socket.udp())
  closed_udp:close()
  sockets[#sockets + 1] = copas.wrap(socket.tcp())
  sockets[#sockets + 1] = copas.wrap(sockets[2])
  sockets[#sockets + 1] = copas.wrap(socket.udp())
end

local function chunk_source()
  local left = random(4) - 1
  return function()
    if left == 0 then return nil end
    left = left - 1
    return pick(STRINGS)
  end
end

local FUNCTIONS = {
  function() end,
  function(...) return ... end,
  function() error("fuzz error") end,
  function() error({}) end,
  function() return nil, "fuzz failure" end,
  function() coroutine.yield() end,
  function(x) return x end,
}

local value -- forward
local function table_value(depth)
  local t = {}
  for _ = 1, random(4) - 1 do
    local k = random(3) == 1 and pick(STRINGS) or random(5)
    t[k] = value(depth + 1)
  end
  if random(8) == 1 then setmetatable(t, { __index = function() error("trap") end }) end
  return t
end

function value(depth, host)
  local r = random(20)
  if r <= 2 then return nil
  elseif r == 3 then return random(2) == 1
  elseif r <= 7 then
    return random(3) == 1 and random(70000) - 1 or pick(NUMBERS)
  elseif r <= 12 then
    return host and pick(HOSTS) or pick(STRINGS)
  elseif r <= 14 then
    return depth < 2 and table_value(depth) or {}
  elseif r == 15 then return random(2) == 1 and pick(FUNCTIONS) or chunk_source()
  elseif r <= 18 then return pick(sockets)
  elseif r == 19 then return other_class
  else
    return #objects > 0 and pick(objects) or nil
  end
end

-- Every function reachable from the modules, with its name (the last path part).
local targets = {}
local function collect(prefix, t, seen)
  if seen[t] then return end
  seen[t] = true
  local names = {}
  for k in pairs(t) do if type(k) == "string" then names[#names + 1] = k end end
  table.sort(names)
  for _, k in ipairs(names) do
    local v = t[k]
    if type(v) == "function" and not SKIP[k] then
      targets[#targets + 1] = { name = prefix .. k, short = k, f = v }
    elseif type(v) == "table" then
      collect(prefix .. k .. ".", v, seen)
    end
  end
end
local seen = {}
collect("socket.", socket, seen)
collect("ltn12.", ltn12, seen)
collect("mime.", mime, seen)
collect("url.", url, seen)
collect("headers.", headers, seen)
collect("copas.", copas, seen)
for _, name in ipairs({ "timer", "lock", "queue", "semaphore", "future", "limit" }) do
  collect("copas." .. name .. ".", require("copas." .. name), seen)
end
collect("copas.core.", require("copas.core"), seen)
for _, s in ipairs({ socket.tcp(), socket.bind("127.0.0.1", 0), socket.udp(), copas.wrap(socket.tcp()) }) do
  local index = getmetatable(s) and getmetatable(s).__index
  if type(index) == "table" then collect("method.", index, seen) end
  s:close()
end

-- A method of a remembered object, if it has any.
local function object_method()
  local o = pick(objects)
  local ok, index = pcall(function()
    local mt = getmetatable(o)
    return type(o) == "table" and o or (type(mt) == "table" and mt.__index)
  end)
  if not ok or type(index) ~= "table" then return nil end
  local names = {}
  for k, v in pairs(index) do
    if type(k) == "string" and type(v) == "function" and not SKIP[k] then names[#names + 1] = k end
  end
  if #names == 0 then return nil end
  table.sort(names)
  local k = pick(names)
  return { name = "object:" .. k, short = k, f = index[k], self = o }
end


local returned, raised, panics = 0, 0, {}
local function call_one()
  local target = (#objects > 0 and random(4) == 1) and object_method() or pick(targets)
  local args, n = {}, random(5) - 1
  local first = 1
  if target.self then
    args[1], first, n = target.self, 2, n + 1
  end
  local host_at, wait_at = HOST_ARGS[target.short], WAITING[target.short]
  if wait_at and n - first + 1 < wait_at then n = first + wait_at - 1 end
  for i = first, n do
    local position = i - first + 1
    if position == wait_at then
      args[i] = pick(SHORT)
    else
      args[i] = value(0, host_at == position)
    end
  end
  if TRACE then io.stderr:write(target.name, "(", n, ")\n") end
  local result = { pcall(target.f, unpack(args, 1, n)) }
  if result[1] then
    returned = returned + 1
    for i = 2, #result do remember(result[i]) end
  else
    raised = raised + 1
    -- A Rust panic caught at the FFI boundary surfaces as an error mentioning it; it
    -- must never happen, even though pcall caught it.
    local message = tostring(result[2])
    if message:find("panic") then
      panics[#panics + 1] = target.name .. ": " .. message
      io.stderr:write("argfuzz: PANIC in ", target.name, ": ", message, "\n")
    end
  end
  -- No call may wait on a socket later: every socket in reach gets a zero timeout again.
  for _, list in ipairs({ sockets, objects }) do
    for _, o in ipairs(list) do
      if type(o) == "userdata" or list == sockets then pcall(settimeout, o) end
    end
  end
end

fresh_sockets()
copas.seterrorhandler(function() end, true)
local PROGRESS = os.getenv("ARGFUZZ_PROGRESS")
-- Until CALLS calls were made (a call inside a thread that stays parked is not made).
local i = 0
while returned + raised < CALLS and i < 2 * CALLS do
  i = i + 1
  if PROGRESS and i % 1000 == 0 then
    io.stderr:write(("argfuzz: %d calls, %.1f s\n"):format(i, os.clock()))
  end
  if i % 500 == 0 then
    copas.cancelall()
    pcall(copas.step, 0)
    objects = {}
    fresh_sockets()
    collectgarbage("collect")
  end
  if random(10) == 1 then
    -- A few calls inside a Copas thread, where waiting calls suspend instead.
    copas.addthread(function() call_one() call_one() end)
    pcall(copas.step, 0)
    pcall(copas.step, 0)
  else
    call_one()
  end
end
copas.cancelall()
for _, s in ipairs(sockets) do pcall(s.close, s) end

local summary = { calls = returned + raised, returned = returned, raised = raised,
  panics = panics, targets = #targets, seed = SEED }
print(("argfuzz: %d calls (%d returned, %d raised a Lua error, %d panics) over %d functions, seed %d")
  :format(summary.calls, returned, raised, #panics, #targets, SEED))
if #panics > 0 and arg and type(arg[0]) == "string" and arg[0]:find("argfuzz%.lua$") then
  os.exit(1)
end
-- Run as a script (not loaded by a test), return nothing: a runner may treat a value
-- returned by the main chunk as an exit status.
if arg and type(arg[0]) == "string" and arg[0]:find("argfuzz%.lua$") then return end
return summary
