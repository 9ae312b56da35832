-- Fault injection mid-stream: the peer resets the connection (close with SO_LINGER 0,
-- which sends a RST) while we wait in receive. Blocking and in Copas, receive gives
-- `nil, "closed", partial` and no descriptor is left behind.
local t = require("t")
local fds = require("fds")
local socket = require("socket")
local copas = require("copas")

local ROUNDS = 20
local CLIENT_ROUNDS = 5

local function reset(s)
  assert(s:setoption("linger", { on = true, timeout = 0 }))
  s:close()
end

-- The scheduler's own descriptors exist from the first loop on.
copas.loop()

t.test("blocking receive when the peer resets: nil, 'closed', partial", function()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  server:settimeout(10)
  local before, after = fds.around(ROUNDS, function()
    local client = assert(socket.connect("127.0.0.1", port))
    client:settimeout(10)
    local peer = assert(server:accept())
    assert(peer:send("abc"))
    reset(peer)
    local data, err, partial = client:receive("*l")
    t.eq(data, nil)
    t.eq(err, "closed")
    t.ok(("abc"):sub(1, #partial) == partial, "partial is a prefix of what was sent")
    local sent, send_err = client:send("more")
    t.ok(sent == nil and send_err == "closed" or sent == 4, "send after a reset")
    client:close()
  end)
  server:close()
  fds.no_more(before, after)
end)

t.test("Copas handler receive when the client resets: nil, 'closed'", function()
  local results = {}
  local before, after = fds.around(1, function()
    local server = assert(socket.bind("127.0.0.1", 0))
    local _, port = server:getsockname()
    copas.addserver(server, function(skt)
      skt = copas.wrap(skt)
      local data, err, partial = skt:receive(10)
      results[#results + 1] = { data = data, err = err, partial = partial }
    end)
    copas.addthread(function()
      for _ = 1, ROUNDS do
        local client = copas.wrap(socket.tcp())
        client:settimeout(10)
        assert(client:connect("127.0.0.1", port))
        client:send("xyz")
        -- Let the handler start waiting before the reset arrives.
        copas.sleep(0.01)
        reset(client.socket)
      end
      for _ = 1, 500 do
        if #results == ROUNDS then break end
        copas.sleep(0.01)
      end
      copas.removeserver(server)
    end)
    copas.loop()
  end)
  t.eq(#results, ROUNDS)
  for _, r in ipairs(results) do
    t.eq(r.data, nil)
    t.eq(r.err, "closed")
    t.ok(("xyz"):sub(1, #r.partial) == r.partial, "partial is a prefix of what was sent")
  end
  fds.no_more(before, after)
end)

t.test("Copas client receive when the server resets: nil, 'closed'", function()
  local errors = {}
  local before, after = fds.around(1, function()
    local server = assert(socket.bind("127.0.0.1", 0))
    local _, port = server:getsockname()
    copas.addserver(server, function(skt)
      skt = copas.wrap(skt)
      skt:receive("*l")
      skt:send("part")
      reset(skt.socket)
    end)
    copas.addthread(function()
      for _ = 1, CLIENT_ROUNDS do
        local client = copas.wrap(socket.tcp())
        -- The RST lands right behind the data, in the same readiness event: the
        -- receive must notice it at once (it used to wait for this timeout).
        client:settimeout(10)
        assert(client:connect("127.0.0.1", port))
        client:send("go\n")
        local data, err = client:receive("*l")
        errors[#errors + 1] = data == nil and err or "got data"
        client:close()
      end
      copas.removeserver(server)
    end)
    copas.loop()
  end)
  t.eq(#errors, CLIENT_ROUNDS)
  for _, err in ipairs(errors) do t.eq(err, "closed") end
  fds.no_more(before, after)
end)

t.run()
