-- copas.shutdown: stop accepting, let handlers finish within the grace period, end the
-- loop; SIGTERM during 100 slow transfers in a child process.
local t = require("t")
local copas = require("copas")
local socket = require("socket")
local proc = require("proc")

t.test("copas.shutdown checks its argument", function()
  t.err("bad argument #1 to 'shutdown' %(non%-negative number expected, got string%)", copas.shutdown, "x")
  t.err("bad argument #1 to 'shutdown' %(non%-negative number expected, got %-1%)", copas.shutdown, -1)
end)

t.test("handlers finish, new connections are refused, the loop ends", function()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  local started, finished, received, refused = 0, 0, {}, nil
  copas.addserver(server, function(skt)
    started = started + 1
    for i = 1, 5 do
      copas.sleep(0.05)
      copas.send(skt, "chunk" .. i .. "\n")
    end
    finished = finished + 1
  end)
  local exit_seen = false
  copas.addthread(function()
    copas.waitforexit()
    exit_seen = true
  end)
  for i = 1, 10 do
    copas.addthread(function()
      local client = copas.wrap(socket.tcp())
      assert(client:connect("127.0.0.1", port))
      local lines = {}
      received[i] = 0
      while true do
        local line = client:receive()
        if not line then break end
        lines[#lines + 1] = line
        received[i] = #lines
      end
      client:close()
    end)
  end
  copas.addthread(function()
    -- Every client accepted first (one still in the listen backlog would be reset).
    for _ = 1, 500 do
      if started == 10 then break end
      copas.sleep(0.01)
    end
    t.ok(copas.shutdown(5))
    t.ok(copas.shuttingdown())
    local late = socket.tcp()
    late:settimeout(2)
    refused = not late:connect("127.0.0.1", port)
    late:close()
  end)
  local started = socket.gettime()
  copas.loop()
  t.ok(socket.gettime() - started < 5, "ended before the grace period")
  t.eq(finished, 10)
  for i = 1, 10 do t.eq(received[i], 5, "client " .. i) end
  t.ok(refused, "a connection after shutdown is refused")
  t.ok(exit_seen, "copas.waitforexit returned")
  t.ok(not copas.shuttingdown())
end)

t.test("handlers still running after the grace period are ended, their sockets closed", function()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  local handler_done, handler_socket = false, nil
  copas.addserver(server, function(skt)
    handler_socket = skt
    copas.sleep(60)
    handler_done = true
  end)
  local client = socket.tcp()
  copas.addthread(function()
    assert(copas.connect(client, "127.0.0.1", port))
    copas.sleep(0.05)
    copas.shutdown(0.2)
    copas.sleep(60)
  end)
  local started = socket.gettime()
  copas.loop()
  t.ok(socket.gettime() - started < 10, "the loop ended after the grace period")
  t.ok(not handler_done)
  t.ok(handler_socket, "the handler ran")
  t.nilmsg("closed", handler_socket:send("x"))
  client:settimeout(2)
  t.nilmsg("closed", client:receive())
  client:close()
end)

t.test("SIGTERM during 100 slow transfers: they finish, new ones are refused, exit 0", function()
  local child = proc.spawn([[
local copas = require("copas")
local socket = require("socket")
local server = assert(socket.bind("127.0.0.1", 0))
copas.addserver(server, function(skt)
  for i = 1, 10 do
    copas.send(skt, ("%04d\n"):format(i))
    copas.sleep(0.1)
  end
end)
copas.signal("TERM", function() copas.shutdown(5) end)
local _, port = server:getsockname()
io.stdout:write(port, "\n")
io.stdout:flush()
copas.loop()
print("loop ended")
]])
  local port = tonumber(child:line())
  t.ok(port, "the child printed its port")
  local clients = {}
  for i = 1, 100 do
    local client = socket.tcp()
    client:settimeout(10)
    assert(client:connect("127.0.0.1", port))
    clients[i] = client
  end
  for i = 1, 100 do t.eq(clients[i]:receive(), "0001", "client " .. i .. " started") end
  t.ok(child:kill("TERM"))
  local refused = false
  for _ = 1, 100 do
    local late = socket.tcp()
    late:settimeout(2)
    local ok = late:connect("127.0.0.1", port)
    late:close()
    if not ok then
      refused = true
      break
    end
    socket.sleep(0.02)
  end
  t.ok(refused, "new connections are refused after SIGTERM")
  for i = 1, 100 do
    local data, err, partial = clients[i]:receive("*a")
    t.eq(err, nil, "client " .. i)
    t.eq(data, "0002\n0003\n0004\n0005\n0006\n0007\n0008\n0009\n0010\n", "client " .. i)
    clients[i]:close()
  end
  local output, code = child:wait()
  t.ok(output:find("loop ended"), output)
  t.ok(code == nil or code == 0, "exit code " .. tostring(code))
end)

t.run()
