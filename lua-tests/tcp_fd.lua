-- Descriptors: getfd, setfd (setfd(-1) gives the descriptor away without closing
-- it), and garbage collection closing every descriptor.
local t = require("t")
local socket = require("socket")

-- "open" or "closed", from what the kernel says when /proc/self/fd/N is opened:
-- sockets cannot be opened that way (ENXIO), missing descriptors give ENOENT.
local function fd_state(fd)
  local file, _, code = io.open(("/proc/self/fd/%d"):format(fd))
  if file then
    file:close()
    return "open"
  end
  return code == 2 and "closed" or "open"
end

-- Number of open socket descriptors of this process, from /proc/<pid>/fd. Only sockets
-- count: the pipes of io.popen itself come and go with the shell that lists them.
local function fd_count()
  local stat = assert(io.open("/proc/self/stat"))
  local pid = stat:read("*l"):match("^(%d+)")
  stat:close()
  local listing = assert(io.popen("ls -l /proc/" .. pid .. "/fd | grep -c 'socket:'"))
  local count = listing:read("*n")
  listing:close()
  return count
end

local function full_collect()
  collectgarbage("collect")
  collectgarbage("collect")
end

t.test("getfd returns the descriptor, -1 when closed", function()
  local s = socket.tcp4()
  local fd = s:getfd()
  t.ok(fd >= 0)
  t.eq(fd_state(fd), "open")
  s:close()
  t.eq(s:getfd(), -1)
  t.eq(fd_state(fd), "closed")
end)

t.test("setfd(-1) releases without closing", function()
  local s = socket.tcp4()
  assert(s:bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  local fd = s:getfd()
  t.eq(select("#", s:setfd(-1)), 0, "setfd returns nothing")
  t.eq(s:getfd(), -1)
  s:close()
  s = nil
  full_collect()
  t.eq(fd_state(fd), "open", "neither close nor collection closed it")
  -- Another object takes it over and sees the same bound socket.
  local other = socket.tcp()
  other:setfd(fd)
  t.eq(other:getfd(), fd)
  t.eq(select(2, other:getsockname()), port)
  other:close()
  t.eq(fd_state(fd), "closed")
end)

t.test("a descriptor moves between objects as LuaSec moves it", function()
  local server = assert(socket.tcp())
  assert(server:bind("127.0.0.1", 0))
  assert(server:listen(8))
  local _, port = server:getsockname()
  local client = assert(socket.connect("127.0.0.1", port))
  server:settimeout(5)
  local peer = assert(server:accept())
  local wrapper = socket.tcp()
  wrapper:setfd(client:getfd())
  client:setfd(-1)
  t.eq(client:close(), 1)
  -- The wrapper is a master object: it cannot send, but owns the connection.
  t.eq(fd_state(wrapper:getfd()), "open")
  local fd = wrapper:getfd()
  wrapper:close()
  t.eq(fd_state(fd), "closed")
  peer:settimeout(5)
  t.nilmsg("closed", peer:receive())
  peer:close(); server:close()
end)

t.test("setfd validates its argument", function()
  local s = socket.tcp()
  t.err("bad argument #1 to 'setfd' %(number expected, got nil%)", function()
    local r = s:setfd(nil) return r
  end)
  t.err("number expected, got string", function() local r = s:setfd("x") return r end)
end)

t.test("garbage collection closes descriptors", function()
  full_collect()
  local before = fd_count()
  local fds = {}
  do
    local sockets = {}
    for i = 1, 100 do
      local s = (i % 2 == 0) and socket.tcp4() or socket.tcp6()
      sockets[i] = s
      fds[i] = s:getfd()
      t.eq(fd_state(fds[i]), "open")
    end
    sockets = nil
  end
  full_collect()
  local still_open = 0
  for _, fd in ipairs(fds) do
    if fd_state(fd) == "open" then still_open = still_open + 1 end
  end
  t.eq(still_open, 0)
  t.eq(fd_count(), before)
end)

t.test("collection of connected and listening objects", function()
  local fds = {}
  do
    local server = assert(socket.tcp())
    assert(server:bind("127.0.0.1", 0))
    assert(server:listen(8))
    local _, port = server:getsockname()
    local client = assert(socket.connect("127.0.0.1", port))
    server:settimeout(5)
    local peer = assert(server:accept())
    client:send("pending\n")
    fds = { server:getfd(), client:getfd(), peer:getfd() }
  end
  full_collect()
  for _, fd in ipairs(fds) do
    t.eq(fd_state(fd), "closed")
  end
end)

t.run()
