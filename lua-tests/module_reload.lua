-- Loading a module again (package.loaded[name] = nil, then require) must leave the
-- functions a program still holds from the first load working: the first copas.core
-- once kept its state where a second load replaced (and freed) it, a use-after-free
-- that ran silently (`cargo xtask memcheck` runs this file under valgrind).
local t = require("t")
local tlsutil = require("tlsutil")

local MODULES = {
  "socket.core", "socket", "mime.core", "mime", "ltn12", "socket.url", "socket.headers",
  "copas.core", "copas", "copas.waiting", "copas.timer", "copas.lock", "copas.semaphore",
  "copas.queue", "copas.future", "copas.limit", "ssl", "socket.http.core",
  "socket.http", "socket.tp.core", "socket.tp", "socket.ftp", "socket.smtp",
  "copas.http", "copas.ftp", "copas.smtp",
}

-- Every module loaded once, then all of them again; returns both sets.
local function load_twice()
  local first = {}
  for _, name in ipairs(MODULES) do first[name] = require(name) end
  for _, name in ipairs(MODULES) do package.loaded[name] = nil end
  local second = {}
  for _, name in ipairs(MODULES) do second[name] = require(name) end
  collectgarbage()
  collectgarbage()
  return first, second
end

local first, second = load_twice()

-- A line echoed over TCP (and over TLS when `params` are given) through one set of
-- modules, the server and the client both Copas threads.
local function echo(m, params)
  local copas, socket = m.copas, m.socket
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  local got, err
  copas.addserver(server, copas.handler(function(c)
    local line = c:receive("*l")
    if line then c:send(line:upper() .. "\n") end
  end, params and tlsutil.server()))
  copas.addthread(function()
    local client = copas.wrap(socket.tcp(), params and tlsutil.client())
    assert(client:connect("127.0.0.1", port))
    client:send("hello\n")
    got, err = client:receive("*l")
    client:close()
    copas.removeserver(server)
  end)
  copas.loop()
  return got, err
end

t.test("the first copas.core keeps working after a second load", function()
  local copas = first.copas
  local ran = false
  copas.addthread(function() copas.sleep(0); ran = true end)
  t.eq(copas.step(0), true)
  copas.loop()
  t.ok(ran, "the thread did not run")
end)

t.test("old and new modules each run a Copas echo over TCP", function()
  t.eq(echo(first), "HELLO")
  t.eq(echo(second), "HELLO")
  t.eq(echo(first), "HELLO")
end)

t.test("old and new modules each run a Copas echo over TLS", function()
  t.eq(echo(first, true), "HELLO")
  t.eq(echo(second, true), "HELLO")
end)

t.test("sockets made by one load are sockets to the other", function()
  local a = first.socket.tcp()
  t.eq(second.socket.select({ a }, nil, 0), {})
  t.ok(tostring(a):find("^tcp{master}"))
  a:close()
end)

t.test("the other modules of the first load still work", function()
  t.eq(first.mime.b64("copas"), "Y29wYXM=")
  t.eq(first.socket.url.parse("http://a/b").host, "a")
  t.eq(first.ltn12.pump.all(first.ltn12.source.string("x"), first.ltn12.sink.null()), 1)
  t.ok(first.ssl.newcontext(tlsutil.client()))
  local q = first["copas.queue"].new()
  q:push(1)
  t.eq(q:pop(0), 1)
end)

t.run()
