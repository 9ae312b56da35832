-- A plain LuaSocket echo server (socket.bind + socket.select, no Copas) with a
-- plain LuaSocket client in a second process, started with the interpreter
-- running this script (the lowest arg[] index), so both sides are the code a
-- LuaSocket user would write.
local t = require("t")
local socket = require("socket")

local CLIENTS = 3
local LINES = 5

local function shell_quote(text)
  return "'" .. text:gsub("'", "'\\''") .. "'"
end

local function interpreter()
  local i = -1
  while arg[i - 1] do i = i - 1 end
  return arg[i]
end

-- The client: connects, sends LINES lines, reads each echo, says BYE, and
-- prints what it got back.
local CLIENT_SOURCE = [[
local socket = require("socket")
local port, id = tonumber(arg[1]), arg[2]
local c = assert(socket.connect("127.0.0.1", port))
c:settimeout(10)
local got = {}
for i = 1, LINES do
  assert(c:send(id .. ":" .. i .. "\n"))
  got[#got + 1] = assert(c:receive("*l"))
end
assert(c:send("BYE\n"))
local last, err = c:receive("*l")
c:close()
print(table.concat(got, ",") .. ";" .. tostring(last or err))
]]

local function write_client_script()
  local path = os.tmpname()
  local file = assert(io.open(path, "w"))
  file:write("local LINES = " .. LINES .. "\n", CLIENT_SOURCE)
  file:close()
  return path
end

t.test("echo server with bind and select, clients in other processes", function()
  local server = assert(socket.bind("127.0.0.1", 0))
  server:settimeout(0)
  local _, port = server:getsockname()
  local script = write_client_script()

  local processes = {}
  for id = 1, CLIENTS do
    local command = ("%s %s %d c%d"):format(shell_quote(interpreter()), shell_quote(script), port, id)
    processes[id] = assert(io.popen(command, "r"))
  end

  local watched = { server }
  local finished = 0
  local deadline = socket.gettime() + 30
  while finished < CLIENTS and socket.gettime() < deadline do
    local readable = socket.select(watched, nil, 1)
    for _, s in ipairs(readable) do
      if s == server then
        local client = server:accept()
        if client then
          client:settimeout(5)
          watched[#watched + 1] = client
        end
      else
        local line, err = s:receive("*l")
        if line == "BYE" then
          s:send("BYE\n")
        elseif line then
          s:send(line .. "\n")
        end
        if err or line == "BYE" then
          if line == "BYE" then finished = finished + 1 end
          s:close()
          for i = #watched, 1, -1 do
            if watched[i] == s then table.remove(watched, i) end
          end
        end
      end
    end
  end
  server:close()
  for i = 2, #watched do watched[i]:close() end

  for id = 1, CLIENTS do
    local output = processes[id]:read("*a")
    processes[id]:close()
    local expected = {}
    for i = 1, LINES do expected[i] = "c" .. id .. ":" .. i end
    t.eq(output, table.concat(expected, ",") .. ";BYE\n", "client " .. id)
  end
  os.remove(script)
  t.eq(finished, CLIENTS)
end)

t.run()
