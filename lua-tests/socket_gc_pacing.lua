-- Sockets dropped without close() are collected, and their descriptors closed, at
-- about the pace LuaSocket's are: its objects carry their receive buffer inside the
-- userdata, so Lua's collector counts it; ours keep it outside Lua and report it to
-- the collector when made. Without that, 3,000 dropped sockets left ~830 descriptors
-- open (LuaSocket: a handful), and a program dropping connections ran out of them.
local t = require("t")
local socket = require("socket")
local fds = require("fds")

t.test("dropped TCP sockets are collected as the program goes on", function()
  collectgarbage("collect")
  local before = fds.count()
  for _ = 1, 3000 do
    local s = assert(socket.tcp4())
    s:settimeout(0)
  end
  local open = fds.count() - before
  t.ok(open < 300, open .. " descriptors of dropped sockets still open")
end)

t.test("dropped UDP sockets are collected as the program goes on", function()
  collectgarbage("collect")
  local before = fds.count()
  for _ = 1, 3000 do
    assert(socket.udp4())
  end
  local open = fds.count() - before
  t.ok(open < 300, open .. " descriptors of dropped sockets still open")
end)

t.run()
