-- Happy Eyeballs in copas.connect: a name with an address that never answers and one
-- that does connects through the second well before the connect timeout.
--
-- The name lives only in a private /etc/hosts (a mount namespace made with
-- `unshare -rm`), so nothing is ever asked of a resolver off this machine. The
-- address that never answers is [::1]:port with a listener whose accept queue is
-- full: the kernel drops further SYNs, so a connect there hangs until its timeout.
local t = require("t")
local proc = require("proc")

local NAME = "happy-eyeballs.test"

local function namespaces_work()
  local ok = os.execute("unshare -rm true >/dev/null 2>&1")
  return ok == true or ok == 0
end

local CHILD = [[
local copas = require("copas")
local socket = require("socket")
local server = assert(socket.bind("127.0.0.1", 0))
local _, port = server:getsockname()
port = tonumber(port)
local fillers = {}
-- A listener on address:port whose accept queue is full: connects there hang.
local function blackhole(address, at_port)
  local hole = assert(address:find(":") and socket.tcp6() or socket.tcp4())
  assert(hole:bind(address, at_port))
  assert(hole:listen(0))
  at_port = select(2, hole:getsockname())
  fillers[#fillers + 1] = hole
  for _ = 1, 8 do
    local c = address:find(":") and socket.tcp6() or socket.tcp4()
    c:settimeout(0.3)
    fillers[#fillers + 1] = c
    if not c:connect(address, at_port) then break end
  end
  return at_port
end
blackhole("::1", port)
local dead_port = blackhole("127.0.0.1", 0)
blackhole("::1", dead_port)
local order = {}
for _, info in ipairs(assert(socket.dns.getaddrinfo("NAME"))) do order[#order + 1] = info.addr end
print("order " .. table.concat(order, ","))
copas.addserver(server, function(skt) copas.send(skt, "hello\n") end)
copas.loop(function()
  local c = socket.tcp()
  copas.settimeouts(c, 10)
  local started = socket.gettime()
  local ok, err = copas.connect(c, "NAME", port)
  local elapsed = socket.gettime() - started
  print("connect " .. tostring(ok) .. " " .. tostring(err))
  print("elapsed " .. elapsed)
  print("peer " .. tostring((c:getpeername())))
  print("line " .. tostring(copas.receive(c)))
  c:close()
  started = socket.gettime()
  local plain, perr = socket.connect("NAME", port)
  print("plain " .. tostring(perr) .. " " .. tostring(plain and (plain:getpeername())) .. " " .. (socket.gettime() - started))
  if plain then plain:close() end
  c = socket.tcp()
  copas.settimeouts(c, 0.6)
  started = socket.gettime()
  ok, err = copas.connect(c, "NAME", dead_port)
  print("dead " .. tostring(ok) .. " " .. tostring(err) .. " " .. (socket.gettime() - started))
  c:close()
  copas.removeserver(server)
end)
]]

t.test("the race connects through 127.0.0.1 while ::1 never answers", function()
  if not namespaces_work() then
    print("skip: unshare -rm (user and mount namespaces) is not available here")
    return
  end
  local hosts = os.tmpname()
  local file = assert(io.open(hosts, "w"))
  file:write("::1 " .. NAME .. "\n127.0.0.1 " .. NAME .. "\n")
  file:close()
  local script = os.tmpname() .. ".lua"
  file = assert(io.open(script, "w"))
  file:write((CHILD:gsub("NAME", NAME)))
  file:close()
  local inner = "mount --bind " .. proc.quote(hosts) .. " /etc/hosts && exec "
    .. proc.quote(proc.interpreter()) .. " " .. proc.quote(script)
  local pipe = assert(io.popen("unshare -rm sh -c " .. proc.quote(inner) .. " 2>&1", "r"))
  local output = pipe:read("*a")
  pipe:close()
  os.remove(hosts)
  os.remove(script)
  t.ok(output:find("connect 1 nil", 1, true), output)
  t.ok(output:find("peer 127.0.0.1", 1, true), output)
  t.ok(output:find("line hello", 1, true), output)
  local elapsed = tonumber(output:match("elapsed ([%d%.e%-]+)"))
  t.ok(elapsed and elapsed < 5, "connected well before the 10 s connect timeout: " .. tostring(elapsed))
  local plain = tonumber(output:match("plain nil 127%.0%.0%.1 ([%d%.e%-]+)"))
  t.ok(plain and plain < 5, "socket.connect in a Copas thread races too: " .. output)
  local dead = tonumber(output:match("dead nil timeout ([%d%.e%-]+)"))
  t.ok(dead, "a race where no address answers ends in a timeout: " .. output)
  t.ok(dead >= 0.5 and dead < 5, "the connect timeout (0.6 s) covers the whole race: " .. dead)
  if output:find("order ::1,", 1, true) then
    t.ok(elapsed >= 0.2, "::1 was tried first, 127.0.0.1 after the stagger: " .. tostring(elapsed))
  end
end)

t.run()
