-- Run by `cargo xtask test-rock` on a stock interpreter whose LUA_PATH and LUA_CPATH
-- come from `luarocks path --tree TREE` (and the system paths after them). Argument:
-- TREE. Checks that every module comes from the tree, is copas-rs, and that the
-- modules share one library (their types know each other).
local tree = assert(arg[1], "usage: rock_check.lua TREE")
local failures = 0
local function check(ok, what)
  if not ok then
    failures = failures + 1
    io.stderr:write("FAIL " .. what .. "\n")
  end
end

-- package.searchpath is 5.2's; Lua 5.1 and LuaJIT may lack it.
local searchpath = package.searchpath or function(name, path)
  for template in path:gmatch("[^;]+") do
    local file = template:gsub("%?", (name:gsub("%.", "/")))
    local handle = io.open(file, "r")
    if handle then
      handle:close()
      return file
    end
  end
end

local function inside_tree(path)
  return path ~= nil and path:sub(1, #tree) == tree
end

for _, name in ipairs({ "socket", "socket.core", "ssl", "copas", "mime.core", "copas.timer" }) do
  local path = searchpath(name, package.path) or searchpath(name, package.cpath)
  check(inside_tree(path), name .. " is found at " .. tostring(path) .. ", outside " .. tree)
end
for _, name in ipairs({ "socket", "socket.core", "ssl", "copas" }) do
  local module = require(name)
  check(module._IMPLEMENTATION == "copas-rs 0.1.0",
    name .. "._IMPLEMENTATION is " .. tostring(module._IMPLEMENTATION))
end

-- One library: a socket made by socket.core is one to ssl (a second copy of the
-- library would not know its type).
local socket, ssl, copas = require("socket"), require("ssl"), require("copas")
local server = assert(socket.bind("127.0.0.1", 0))
local _, port = server:getsockname()
local plain = assert(socket.connect("127.0.0.1", port))
local context = assert(ssl.newcontext({ mode = "client", protocol = "any", verify = "none" }))
local wrapped, err = ssl.wrap(plain, context)
check(wrapped ~= nil, "ssl.wrap rejects a socket.connect() object: " .. tostring(err))
if wrapped then wrapped:close() else plain:close() end
local accepted = server:accept()
if accepted then accepted:close() end

local answer
copas.addserver(server, function(client)
  client = copas.wrap(client)
  client:send(client:receive() .. "\n")
end)
copas.addthread(function()
  local client = copas.wrap(socket.tcp())
  assert(client:connect("127.0.0.1", port))
  client:send("ping\n")
  answer = client:receive()
  client:close()
  copas.removeserver(server)
end)
copas.loop()
check(answer == "ping", "copas echo answered " .. tostring(answer))

print(failures == 0 and "rock check passed" or "rock check failed")
os.exit(failures == 0 and 0 or 1)
