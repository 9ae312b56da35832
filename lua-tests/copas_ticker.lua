-- A 10 ms ticker keeps ticking while another thread resolves names and while 1,000
-- connections are served in the same loop. The lateness figures are printed (speed is
-- measured by `cargo xtask bench`, not asserted here); the assertion only catches a
-- loop that stalls for a long time.
local t = require("t")
local copas = require("copas")
local socket = require("socket")

local CONNECTIONS = 1000

t.test("ticker stays on time under DNS and 1,000 connections", function()
  local srv = assert(socket.bind("127.0.0.1", 0, 2048))
  local _, port = srv:getsockname()
  copas.addserver(srv, function(skt)
    while true do
      local line = copas.receive(skt)
      if not line then return end
      copas.send(skt, line .. "\n")
    end
  end)

  local done = false
  local ticks, worst, total_late = 0, 0, 0
  copas.addthread(function()
    while not done do
      local before = socket.gettime()
      copas.sleep(0.01)
      local late = socket.gettime() - before - 0.01
      ticks = ticks + 1
      total_late = total_late + math.max(late, 0)
      if late > worst then worst = late end
    end
  end)

  -- The server goes when both the resolving thread and the clients are done.
  local pending = 2
  local function one_done()
    pending = pending - 1
    if pending == 0 then
      done = true
      copas.removeserver(srv)
    end
  end

  local resolved = 0
  copas.addthread(function()
    for _ = 1, 20 do
      local c = socket.tcp()
      if copas.connect(c, "localhost", port) then resolved = resolved + 1 end
      c:close()
    end
    one_done()
  end)

  local finished, answered = 0, 0
  for n = 1, CONNECTIONS do
    copas.addthread(function()
      local c = copas.wrap(socket.tcp())
      if c:connect("127.0.0.1", port) then
        for i = 1, 5 do
          c:send(("%d:%d\n"):format(n, i))
          if c:receive() == ("%d:%d"):format(n, i) then answered = answered + 1 end
        end
      end
      c:close()
      finished = finished + 1
      if finished == CONNECTIONS then one_done() end
    end)
  end

  copas.loop()
  print(("ticks %d, mean lateness %.3f ms, worst %.3f ms"):format(
    ticks, ticks > 0 and total_late / ticks * 1000 or 0, worst * 1000))
  t.eq(answered, CONNECTIONS * 5)
  t.eq(resolved, 20)
  t.ok(ticks > 0)
  t.ok(worst < 2, "the loop stalled for " .. worst .. " s")
end)

t.run()
