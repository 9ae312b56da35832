-- Backpressure on the accept path: copas.setmaxconnections (a copas-rs extension) pauses
-- accepting at the cap, and running out of descriptors (EMFILE) makes the acceptor back
-- off and retry instead of dying or spinning. The EMFILE case runs the runner as a child
-- with a low `ulimit -n`, so it works the same from every interpreter.
local t = require("t")
local socket = require("socket")
local copas = require("copas")

local RUNNER = os.getenv("COPAS_RUNNER") or "target/debug/copas"

local function quote(word)
  return "'" .. (word:gsub("'", "'\\''")) .. "'"
end

t.test("setmaxconnections checks its arguments", function()
  local server = assert(socket.bind("127.0.0.1", 0))
  t.err("bad argument #2 to 'setmaxconnections'", copas.setmaxconnections, server, 0)
  t.err("bad argument #2 to 'setmaxconnections'", copas.setmaxconnections, server, "2")
  t.err("bad argument #2 to 'setmaxconnections'", copas.setmaxconnections, server, 0 / 0)
  t.err("bad argument #1 to 'setmaxconnections'", copas.setmaxconnections, nil, 2)
  t.eq(copas.setmaxconnections(server, 3), true)
  t.eq(copas.setmaxconnections(server, nil), true)
  server:close()
end)

t.test("a capped server never runs more handlers than the cap, and serves everyone", function()
  local CAP, CLIENTS = 2, 7
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  local active, most, served, finished = 0, 0, 0, 0
  copas.setmaxconnections(server, CAP)
  copas.addserver(server, function(skt)
    skt = copas.wrap(skt)
    active = active + 1
    if active > most then most = active end
    local line = skt:receive()
    -- Hold the slot until the cap is reached (bounded), so later clients must wait.
    for _ = 1, 200 do
      if active >= CAP or served + active >= CLIENTS then break end
      copas.sleep(0.01)
    end
    skt:send(line .. "\n")
    active = active - 1
  end)
  for i = 1, CLIENTS do
    copas.addthread(function()
      local client = copas.wrap(socket.tcp())
      client:settimeout(10)
      assert(client:connect("127.0.0.1", port))
      client:send("hello " .. i .. "\n")
      if client:receive() == "hello " .. i then served = served + 1 end
      client:close()
      finished = finished + 1
      if finished == CLIENTS then copas.removeserver(server) end
    end)
  end
  copas.loop()
  t.eq(served, CLIENTS)
  t.eq(most, CAP)
end)

t.test("out of descriptors (EMFILE): the acceptor backs off and serves everyone later", function()
  local script = os.tmpname()
  local file = assert(io.open(script, "wb"))
  file:write([[
local copas = require("copas")
local socket = require("socket")
local server = socket.tcp()
assert(server:bind("127.0.0.1", 0))
assert(server:listen(256))
local _, port = server:getsockname()
io.stdout:write(port, "\n")
io.stdout:flush()
copas.addserver(server, function(skt)
  skt = copas.wrap(skt)
  while true do
    local line = skt:receive()
    if not line then return end
    if line == "quit" then
      copas.removeserver(server)
      skt:send("bye\n")
      return
    end
    skt:send(line .. "\n")
  end
end)
copas.loop()
print("done")
]])
  file:close()
  -- 32 descriptors: a handful for stdio, epoll and the server, the rest for clients.
  local pipe = assert(io.popen("ulimit -n 32 && exec " .. quote(RUNNER) .. " " .. quote(script), "r"))
  local port = tonumber(pipe:read("*l"))
  t.ok(port, "the child printed its port")
  local CLIENTS, FIRST = 60, 40
  local clients = {}
  for i = 1, CLIENTS do
    local client = socket.tcp()
    client:settimeout(10)
    assert(client:connect("127.0.0.1", port))
    assert(client:send("c" .. i .. "\n"))
    clients[i] = client
  end
  t.eq(clients[1]:receive(), "c1", "served before the limit")
  -- More clients than the child has descriptors: some wait until these go away.
  for i = 1, FIRST do clients[i]:close() end
  for i = FIRST + 1, CLIENTS do
    t.eq(clients[i]:receive(), "c" .. i, "client " .. i)
  end
  local quit = socket.tcp()
  quit:settimeout(10)
  assert(quit:connect("127.0.0.1", port))
  quit:send("quit\n")
  t.eq(quit:receive(), "bye")
  quit:close()
  for i = FIRST + 1, CLIENTS do clients[i]:close() end
  t.eq(pipe:read("*a"), "done\n")
  pipe:close()
  os.remove(script)
end)

t.run()
