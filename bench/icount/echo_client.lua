-- C connections, R rounds of B 41-byte lines on each, blocking (run on Debian's LuaSocket).
-- usage: echo_client.lua PORT C R B
local socket = require("socket")
local port, C, R, B = tonumber(arg[1]), tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4])
local conns = {}
for i = 1, C do
  local s
  for _ = 1, 200 do
    s = socket.connect("127.0.0.1", port)
    if s then break end
    socket.sleep(0.05)
  end
  conns[i] = assert(s, "the server did not start")
  s:setoption("tcp-nodelay", true)
end
local batch = (string.rep("x", 40) .. "\n"):rep(B)
for _ = 1, R do
  for i = 1, C do assert(conns[i]:send(batch)) end
  for i = 1, C do
    for _ = 1, B do assert(conns[i]:receive("*l")) end
  end
end
for i = 1, C do conns[i]:close() end
