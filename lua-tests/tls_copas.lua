-- TLS inside Copas: copas.handler with params, copas.wrap + connect with params,
-- verification failures, handshake timeouts, ALPN and peer certificates.
local t = require("t")
local copas = require("copas")
local socket = require("socket")
local harness = require("copas_run")
local tls = require("tlsutil")

local function listen()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  return s, port
end

-- A TLS server for one connection: `handler` gets the handshaken, wrapped socket.
local function serve_once(params, handler, timeout)
  local srv, port = listen()
  local tls_handler = copas.handler(function(skt)
    handler(skt)
    skt:close()
  end, params)
  copas.addserver(srv, function(skt)
    copas.removeserver(srv)
    return tls_handler(skt)
  end, timeout)
  return srv, port
end

-- Connects a copas.wrap client with `params`: the socket, or nil and the error. The
-- wrapped connect raises when the handshake fails (as Copas documents); it runs in a
-- thread of its own whose error handler takes the error, since pcall cannot span a
-- yield on Lua 5.1.
local function connect(port, params, host)
  local c = copas.wrap(socket.tcp(), params)
  local ok, err
  local finished = false
  copas.addthread(function()
    copas.seterrorhandler(function(e)
      err = tostring(e)
      finished = true
    end)
    ok, err = c:connect(host or "127.0.0.1", port)
    finished = true
  end)
  for _ = 1, 1000 do
    if finished then break end
    copas.pause(0.01)
  end
  if ok then return c end
  c:close()
  return nil, err
end

t.test("copas.handler server and copas.wrap client echo lines", function()
  harness.run(function()
    local lines = {}
    local _, port = serve_once(tls.server(), function(skt)
      while true do
        local line = skt:receive()
        if not line or line == "quit" then break end
        lines[#lines + 1] = line
        skt:send("echo " .. line .. "\n")
      end
    end)
    local c = assert(connect(port, tls.client()))
    t.eq(tostring(c):sub(1, 3), "SSL")
    for i = 1, 5 do
      t.eq(c:send("line " .. i .. "\n"), #("line " .. i .. "\n"))
      t.eq(c:receive(), "echo line " .. i)
    end
    c:send("quit\n")
    t.eq(c:receive(), nil)
    c:close()
    t.eq(#lines, 5)
  end)
end)

t.test("a receive after a read that emptied the socket waits for the next record; a close right behind data ends it", function()
  harness.run(function()
    local _, port = serve_once(tls.server(), function(skt)
      skt:send("one\n")
      copas.sleep(0.05)
      skt:send("two\n")
      copas.sleep(0.05)
      skt:send("three\nfour")
    end)
    local c = assert(connect(port, tls.client()))
    t.eq({ c:receive() }, { "one" })
    t.eq({ c:receive() }, { "two" })
    t.eq({ c:receive() }, { "three" })
    t.eq({ c:receive() }, { nil, "closed", "four" })
    c:close()
  end)
end)

t.test("receive patterns and partial results over TLS", function()
  harness.run(function()
    local _, port = serve_once(tls.server(), function(skt)
      skt:send("abc\r\ndefgh")
      skt:send("ij\nrest of it")
    end)
    local c = assert(connect(port, tls.client()))
    t.eq(c:receive("*l"), "abc")
    t.eq(c:receive(3), "def")
    t.eq(c:receive(), "ghij")
    t.eq(c:receive("*a"), "rest of it")
    c:close()
  end)
end)

t.test("the name connected to is verified: 'localhost' and 127.0.0.1 pass", function()
  harness.run(function()
    for _, host in ipairs({ "localhost", "127.0.0.1" }) do
      local _, port = serve_once(tls.server(), function(skt) skt:send("hi\n") end)
      local c, err = connect(port, tls.client(), host)
      t.ok(c, host .. ": " .. tostring(err))
      t.eq(c:receive(), "hi")
      c:close()
    end
  end)
end)

-- A client with default verification against a server using `cert`: the error, then the
-- same with verify = "none" (which must connect).
local function refused(cert, want)
  local err
  local called = false
  harness.run(function()
    local _, port = serve_once(tls.server(cert), function(skt)
      called = true
      skt:receive()
    end)
    local c
    c, err = connect(port, tls.client())
    t.eq(c, nil)
    -- Let the server side see the client's alert.
    copas.pause(0.1)
  end, true)
  t.eq(called, false, "the handler ran after a failed handshake")
  t.ok(err:find(want, 1, true), "error: " .. tostring(err))
  t.ok(err:find("certificate verify failed", 1, true), "error: " .. tostring(err))
  harness.run(function()
    local _, port = serve_once(tls.server(cert), function(skt) skt:send("fine\n") end)
    local c = assert(connect(port, tls.client({ verify = "none" })))
    t.eq(c:receive(), "fine")
    c:close()
  end, true)
end

t.test("wrong host name refused by default, accepted with verify = 'none'", function()
  refused("wronghost", "Hostname mismatch")
end)

-- LuaSec checks the chain only (Copas's own test certificates name no host); ours checks
-- the host name too unless told `verifyhost = false`, which leaves every other check.
t.test("verifyhost = false: a wrong host name passes, the chain is still checked", function()
  harness.run(function()
    local _, port = serve_once(tls.server("wronghost"), function(skt) skt:send("fine\n") end)
    local c = assert(connect(port, tls.client({ verifyhost = false })))
    t.eq(c:receive(), "fine")
    c:close()
    for cert, want in pairs({ selfsigned = "self-signed certificate", expired = "certificate has expired" }) do
      _, port = serve_once(tls.server(cert), function(skt) skt:receive() end)
      local refused, err = connect(port, tls.client({ verifyhost = false }))
      t.eq(refused, nil)
      t.ok(err:find(want, 1, true), cert .. ": " .. tostring(err))
    end
    copas.pause(0.1)
  end, true)
  t.nilmsg("invalid 'verifyhost' (string given, boolean expected)",
    require("ssl").newcontext(tls.client({ verifyhost = "no" })))
end)

t.test("expired certificate refused by default, accepted with verify = 'none'", function()
  refused("expired", "certificate has expired")
end)

t.test("unknown CA refused by default, accepted with verify = 'none'", function()
  refused("selfsigned", "self-signed certificate")
end)

t.test("handshake timeout: nil, 'timeout', and the handler is not called", function()
  local called = false
  harness.run(function()
    -- copas.dohandshake against a peer that never speaks TLS.
    local srv, port = listen()
    copas.addserver(srv, function(skt) copas.sleep(1) end)
    local skt = socket.tcp()
    assert(copas.connect(skt, "127.0.0.1", port))
    copas.settimeouts(skt, 0.2, 0.2, 0.2)
    local nskt, err = copas.dohandshake(skt, tls.client())
    t.eq(nskt, nil)
    t.eq(err, "timeout")
    copas.removeserver(srv)

    -- A copas.handler server whose client never speaks TLS.
    local srv2, port2 = listen()
    copas.addserver(srv2, copas.handler(function() called = true end, tls.server()), 0.2)
    local plain = copas.wrap(socket.tcp())
    assert(plain:connect("127.0.0.1", port2))
    -- The server gives up on the handshake and closes the connection.
    t.nilmsg("closed", plain:receive("*a"))
    plain:close()
    copas.removeserver(srv2)
  end)
  t.eq(called, false)
end)

t.test("ALPN: the server picks from the client's list", function()
  harness.run(function()
    local server_alpn
    local _, port = serve_once(tls.server(nil, { alpn = { "h2", "http/1.1" } }), function(skt)
      server_alpn = skt:getalpn()
      skt:send("ok\n")
    end)
    local c = assert(connect(port, tls.client({ alpn = { "http/1.1", "x" } })))
    t.eq(c:receive(), "ok")
    t.eq(c:getalpn(), "http/1.1")
    t.eq(server_alpn, "http/1.1")
    c:close()
  end)
end)

t.test("ALPN: a server callback chooses from the client's list", function()
  harness.run(function()
    local offered, server_alpn
    local params = tls.server(nil, {
      alpn = function(protocols)
        offered = protocols
        return protocols[#protocols]
      end,
    })
    local _, port = serve_once(params, function(skt)
      server_alpn = skt:getalpn()
      skt:send("ok\n")
    end)
    local c = assert(connect(port, tls.client({ alpn = { "http/1.1", "x-custom" } })))
    t.eq(c:receive(), "ok")
    t.eq(c:getalpn(), "x-custom")
    t.eq(server_alpn, "x-custom")
    t.eq(offered, { "http/1.1", "x-custom" })
    c:close()

    -- A callback answering nil: no protocol, the handshake still succeeds.
    _, port = serve_once(tls.server(nil, { alpn = function() return nil end }), function(skt)
      skt:send("ok\n")
    end)
    c = assert(connect(port, tls.client({ alpn = { "h2" } })))
    t.eq(c:receive(), "ok")
    t.eq(c:getalpn(), nil)
    c:close()
  end)
end)

t.test("getpeercertificate, info and getpeerverification", function()
  harness.run(function()
    local sni
    local _, port = serve_once(tls.server(), function(skt)
      sni = skt:getsniname()
      skt:send("ok\n")
    end)
    local c = assert(connect(port, tls.client(), "localhost"))
    t.eq(c:receive(), "ok")
    local conn = c.socket
    local cert = conn:getpeercertificate()
    local subject = {}
    for _, entry in ipairs(cert:subject()) do subject[entry.name] = entry.value end
    t.eq(subject.CN, "localhost")
    t.eq(subject.O, "copas-rs tests")
    t.eq(cert:issuer()[1].value, "copas-rs test CA")
    t.eq(cert:issuer()[1].oid, "2.5.4.3")
    t.ok(cert:notbefore():find("^%a%a%a [ %d]%d %d%d:%d%d:%d%d %d+ GMT$"), cert:notbefore())
    t.ok(cert:notafter():find("GMT$"))
    t.ok(cert:pem():find("^%-%-%-%-%-BEGIN CERTIFICATE%-%-%-%-%-\n"))
    t.eq(#cert:digest(), 40)
    t.eq(#cert:digest("sha256"), 64)
    local san = cert:extensions()["2.5.29.17"]
    t.eq(san.dNSName, { "localhost" })
    t.eq(san.iPAddress, { "127.0.0.1", "::1" })
    local loaded = require("ssl").loadcertificate(cert:pem())
    t.eq(loaded:digest("sha256"), cert:digest("sha256"))
    t.ok(loaded == cert)
    t.eq(conn:getpeerverification(), true)
    local info = conn:info()
    t.ok(info.protocol == "TLSv1.3" or info.protocol == "TLSv1.2", info.protocol)
    t.eq(conn:info("cipher"), info.cipher)
    t.eq(sni, "localhost")
    c:close()
  end)
end)

t.test("client certificates: required by the server, verified against the CA", function()
  local client_cn
  harness.run(function()
    local required = tls.server(nil, {
      verify = { "peer", "fail_if_no_peer_cert" },
      cafile = tls.path("ca.pem"),
    })
    local _, port = serve_once(required, function(skt)
      local cert = skt.socket:getpeercertificate()
      client_cn = cert and cert:subject()[1].value
      skt:send("hello client\n")
    end)
    local c = assert(connect(port, tls.client({
      certificate = tls.path("localhost.pem"),
      key = tls.path("localhost.key"),
    })))
    t.eq(c:receive(), "hello client")
    c:close()

    -- Without a certificate the server refuses the client.
    _, port = serve_once(required, function(skt) skt:send("not for you\n") end)
    local c2, err = connect(port, tls.client())
    if c2 then
      -- TLS 1.3: the client finishes first and learns of the refusal when it reads.
      local data, rerr = c2:receive()
      t.eq(data, nil)
      err = rerr
      c2:close()
    end
    t.ok(err and err:find("alert received from peer", 1, true), tostring(err))
  end, true)
  t.eq(client_cn, "localhost")
end)

t.test("TLS 1.2 only, with an OpenSSL cipher name", function()
  harness.run(function()
    local _, port = serve_once(tls.server(nil, { protocol = "tlsv1_2" }), function(skt)
      skt:send("ok\n")
    end)
    local c = assert(connect(port, tls.client({ ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256" })))
    t.eq(c:receive(), "ok")
    t.eq(c.socket:info("protocol"), "TLSv1.2")
    t.eq(c.socket:info("cipher"), "ECDHE-ECDSA-AES128-GCM-SHA256")
    c:close()
  end)
end)

t.test("a server chooses its context by the client's server name (sni names, strict)", function()
  local ssl = require("ssl")
  harness.run(function()
    local named = assert(ssl.newcontext(tls.server("wronghost")))
    local params = { wrap = tls.server(), sni = { names = { ["example.invalid"] = named } } }
    -- A name on the list gets its certificate, which the client verifies by that name.
    local _, port = serve_once(params, function(skt) skt:send("named\n") end)
    local c = assert(connect(port, { wrap = tls.client(), sni = { names = "example.invalid" } }))
    t.eq(c:receive(), "named")
    c:close()
    -- Another name gets the default context.
    _, port = serve_once(params, function(skt) skt:send("default\n") end)
    c = assert(connect(port, { wrap = tls.client(), sni = { names = "localhost" } }))
    t.eq(c:receive(), "default")
    c:close()
    -- A strict server refuses it, and the client is told (it does not wait forever).
    params.sni.strict = true
    local called = false
    _, port = serve_once(params, function() called = true end)
    local refused, err = connect(port, { wrap = tls.client(), sni = { names = "localhost" } })
    t.eq(refused, nil)
    t.ok(err:find("TLS/SSL handshake failed", 1, true), err)
    copas.pause(0.05)
    t.eq(called, false, "the handler ran after a refused handshake")
  end, true)
end)

t.test("ssl.wrap takes a socket that has no descriptor yet, as LuaSec does", function()
  local ssl = require("ssl")
  local conn = ssl.wrap(socket.tcp(), tls.client())
  t.ok(tostring(conn):find("^SSL connection"), tostring(conn))
  local ok, err = conn:dohandshake()
  t.eq(ok, false)
  t.eq(type(err), "string")
  conn:close()
end)

t.run()
