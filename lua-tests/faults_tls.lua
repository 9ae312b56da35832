-- Fault injection on TLS: the peer ends the session with an alert in the middle of a
-- stream (close_notify after half a line), and a peer that answers the ClientHello with a
-- fatal alert. Each gives an error return (never a raise or a crash) and leaves no
-- descriptor behind.
local t = require("t")
local fds = require("fds")
local socket = require("socket")
local copas = require("copas")
local tls = require("tlsutil")

local ROUNDS = 10
-- A plaintext TLS record: alert, TLS 1.2, length 2, fatal (2), handshake_failure (40).
local FATAL_ALERT = "\21\3\3\0\2\2\40"

-- The scheduler's own descriptors exist from the first loop on.
copas.loop()

t.test("close_notify mid-line: receive gives nil, 'closed' and the partial line", function()
  local results = {}
  local before, after = fds.around(1, function()
    local server = assert(socket.bind("127.0.0.1", 0))
    local _, port = server:getsockname()
    copas.addserver(server, copas.handler(function(skt)
      skt:receive("*l")
      skt:send("half a li")
      skt:close()
    end, tls.server()))
    copas.addthread(function()
      for _ = 1, ROUNDS do
        local client = copas.wrap(socket.tcp(), tls.client())
        client:settimeout(10)
        assert(client:connect("localhost", port))
        client:send("go\n")
        results[#results + 1] = { client:receive("*l") }
        client:close()
      end
      copas.removeserver(server)
    end)
    copas.loop()
  end)
  t.eq(#results, ROUNDS)
  for _, r in ipairs(results) do
    t.eq(r[1], nil)
    t.eq(r[2], "closed")
    t.eq(r[3], "half a li")
  end
  fds.no_more(before, after)
end)

t.test("a fatal alert for a ClientHello: the handshake fails with a message", function()
  local errors = {}
  local before, after = fds.around(1, function()
    local server = assert(socket.bind("127.0.0.1", 0))
    local _, port = server:getsockname()
    copas.addserver(server, function(skt)
      skt = copas.wrap(skt)
      skt:receive(5)   -- the start of the ClientHello record
      skt:send(FATAL_ALERT)
    end)
    local clients = {}
    for _ = 1, ROUNDS do
      -- The wrapped handshake raises on failure: each attempt is a thread of its own,
      -- whose error handler takes the error (pcall cannot span a yield on Lua 5.1).
      copas.addthread(function()
        copas.seterrorhandler(function(err)
          errors[#errors + 1] = tostring(err)
          if #errors == ROUNDS then copas.removeserver(server) end
        end)
        local client = copas.wrap(socket.tcp())
        clients[#clients + 1] = client
        client:settimeout(10)
        assert(client:connect("127.0.0.1", port))
        client:dohandshake(tls.client())
        errors[#errors + 1] = "handshake succeeded"
      end)
    end
    copas.loop()
    for _, client in ipairs(clients) do client:close() end
  end)
  t.eq(#errors, ROUNDS)
  for _, err in ipairs(errors) do
    t.ok(err:find("handshake failed", 1, true), err)
  end
  fds.no_more(before, after)
end)

t.run()
