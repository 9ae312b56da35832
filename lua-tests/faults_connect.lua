-- Fault injection on connect: a refused connection and a name that cannot resolve
-- (under .invalid, RFC 6761). Blocking and in Copas, each gives LuaSocket's message and
-- leaves no descriptor behind.
local t = require("t")
local fds = require("fds")
local socket = require("socket")
local copas = require("copas")

local NXNAME = "nothing-here.invalid"
local ROUNDS = 20
-- Lookups go to the system resolver, which may be slow to say no: fewer rounds.
local DNS_ROUNDS = 3

-- A loopback port nobody listens on: bound and closed again, so it is free.
local function dead_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return port
end

local function in_copas(f)
  local done = false
  copas.addthread(function()
    f()
    done = true
  end)
  copas.loop()
  t.ok(done, "the Copas thread ran to its end")
end

-- The scheduler's own descriptors (epoll and friends) exist from the first loop on.
in_copas(function() end)

t.test("connect refused: 'connection refused', no descriptor left", function()
  local port = dead_port()
  local before, after = fds.around(ROUNDS, function()
    local s = socket.tcp()
    t.nilmsg("connection refused", s:connect("127.0.0.1", port))
    s:close()
    t.nilmsg("connection refused", socket.connect("127.0.0.1", port))
  end)
  fds.no_more(before, after)
end)

t.test("connect refused in Copas: 'connection refused', no descriptor left", function()
  local port = dead_port()
  local before, after = fds.around(ROUNDS, function()
    in_copas(function()
      local s = copas.wrap(socket.tcp())
      t.nilmsg("connection refused", s:connect("127.0.0.1", port))
      s:close()
    end)
  end)
  fds.no_more(before, after)
end)

t.test("unknown name: LuaSocket's messages, no descriptor left", function()
  local before, after = fds.around(DNS_ROUNDS, function()
    t.nilmsg("host not found", socket.dns.toip(NXNAME))
    t.nilmsg("host or service not provided, or not known", socket.dns.getaddrinfo(NXNAME))
    local s = socket.tcp()
    t.nilmsg("host or service not provided, or not known", s:connect(NXNAME, 80))
    s:close()
    t.nilmsg("host or service not provided, or not known", socket.connect(NXNAME, 80))
  end)
  fds.no_more(before, after)
end)

t.test("unknown name in Copas: the same messages, no descriptor left", function()
  local before, after = fds.around(DNS_ROUNDS, function()
    in_copas(function()
      t.nilmsg("host not found", socket.dns.toip(NXNAME))
      local s = copas.wrap(socket.tcp())
      t.nilmsg("host or service not provided, or not known", s:connect(NXNAME, 80))
      s:close()
    end)
  end)
  fds.no_more(before, after)
end)

t.test("a connect timeout says 'timeout', or the socket's own error with useSocketTimeoutErrors", function()
  local socket = require("socket")
  local copas = require("copas")
  local server = assert(socket.tcp())
  assert(server:bind("127.0.0.1", 0))
  assert(server:listen(0))
  local ip, port = server:getsockname()
  -- The listen queue (backlog 0) is full after one connection: the next SYN is dropped.
  local filler = socket.tcp()
  filler:settimeout(1)
  filler:connect(ip, port)
  local errors = {}
  for _, raw in ipairs({ false, true }) do
    copas.addthread(function()
      copas.useSocketTimeoutErrors(raw)
      local client = copas.wrap(socket.tcp())
      client:settimeout(0.05)
      local ok, err = client:connect(ip, port)
      errors[#errors + 1] = ok and "connected" or err
      client:close()
    end)
    copas.loop()
  end
  filler:close()
  server:close()
  t.eq(errors, { "timeout", "Operation already in progress" })
end)

t.run()
