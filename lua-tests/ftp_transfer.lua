-- socket.ftp and copas.ftp against pyftpdlib on 127.0.0.1: get and put of a 5 MiB
-- binary file in string and table forms (passive, type=i), checked byte for byte
-- on disk; active mode; errors as nil, message.
local t = require("t")
local pyserver = require("pyserver")
local socket = require("socket")
local ltn12 = require("ltn12")
local ftp = require("socket.ftp")
local copas = require("copas")
local copas_ftp = require("copas.ftp")

-- 5 MiB: numbered 4 KiB blocks of every byte value (CR, LF and NUL included), so a
-- lost, repeated or reordered block or a text-mode conversion shows.
local function payload()
  local bytes = {}
  for i = 0, 4096 - 13 do bytes[#bytes + 1] = string.char((i * 7 + 3) % 256) end
  local base = table.concat(bytes)
  local blocks = {}
  for i = 1, 1280 do blocks[i] = string.format("[%010d]", i) .. base end
  return table.concat(blocks)
end

local DATA = payload()
assert(#DATA == 5 * 1024 * 1024)

local srv, why = pyserver.start_with("pyftpdlib", pyserver.FTP)
local test = pyserver.tester(srv, why)

local function file(name) return srv.dir .. "/root/" .. name end
local function base_url(user) return "ftp://" .. (user or "user:secret@") .. "127.0.0.1:" .. srv.port .. "/" end

-- Runs `body` as a Copas thread and the loop until it is done; an error in the
-- thread fails the test.
local in_copas = require("copas_run").run

-- Checks a file on the server's disk without printing 5 MiB on a mismatch.
local function same_file(name, want)
  local got = pyserver.read(file(name))
  t.ok(got, name .. " is not on the server")
  t.eq(#got, #want, name .. " size")
  t.ok(got == want, name .. " differs")
end

test("put and get, string forms, type=i, blocking", function()
  local sent, err = ftp.put(base_url() .. "s1.bin;type=i", DATA)
  t.eq(err, nil)
  t.eq(sent, #DATA)
  same_file("s1.bin", DATA)
  local body
  body, err = ftp.get(base_url() .. "s1.bin;type=i")
  t.eq(err, nil)
  t.ok(body == DATA, "downloaded body differs")
end)

test("put and get, table forms with ltn12, blocking", function()
  local ok, err = ftp.put({
    host = "127.0.0.1", port = srv.port, user = "user", password = "secret",
    path = "/t1.bin", type = "i", source = ltn12.source.string(DATA),
  })
  t.eq(err, nil)
  t.eq(ok, #DATA)
  same_file("t1.bin", DATA)
  local chunks = {}
  ok, err = ftp.get({
    url = base_url() .. "t1.bin", type = "i", sink = ltn12.sink.table(chunks),
    step = ltn12.pump.step,
  })
  t.eq(err, nil)
  t.eq(ok, 1)
  t.ok(table.concat(chunks) == DATA, "downloaded body differs")
end)

test("anonymous get (default password) and a URL-escaped path", function()
  pyserver.write(file("a b.txt"), "line 1\r\nline 2\r\n")
  -- pyftpdlib's anonymous user is "anonymous"; LuaSocket's default USER is "ftp".
  t.eq(ftp.get(base_url("anonymous@") .. "a%20b.txt;type=i"), "line 1\r\nline 2\r\n")
  local ok, err = ftp.get(base_url("") .. "a%20b.txt")
  t.eq(ok, nil)
  t.ok(err:find("^530"), err)
end)

test("active mode (passive = false)", function()
  local ok, err = ftp.put({
    url = base_url() .. "active.bin", type = "i", passive = false,
    source = ltn12.source.string(DATA:sub(1, 100000)),
  })
  t.eq(err, nil)
  t.eq(ok, 100000)
  same_file("active.bin", DATA:sub(1, 100000))
  local chunks = {}
  ok, err = ftp.get({ url = base_url() .. "active.bin", type = "i", passive = false,
    sink = ltn12.sink.table(chunks) })
  t.eq(err, nil)
  t.ok(table.concat(chunks) == DATA:sub(1, 100000), "downloaded body differs")
end)

test("copas.ftp: string and table forms inside a Copas thread", function()
  in_copas(function()
    local sent, err = copas_ftp.put(base_url() .. "c1.bin;type=i", DATA)
    t.eq(err, nil)
    t.eq(sent, #DATA)
    local body
    body, err = copas_ftp.get(base_url() .. "c1.bin;type=i")
    t.eq(err, nil)
    t.ok(body == DATA, "string-form download differs")
    local ok
    ok, err = copas_ftp.put({ url = base_url() .. "c2.bin", type = "i",
      source = ltn12.source.string(DATA) })
    t.eq(err, nil)
    t.eq(ok, #DATA)
    local chunks = {}
    ok, err = copas_ftp.get({ url = base_url() .. "c2.bin", type = "i",
      sink = ltn12.sink.table(chunks) })
    t.eq(err, nil)
    t.ok(table.concat(chunks) == DATA, "table-form download differs")
  end)
  same_file("c1.bin", DATA)
  same_file("c2.bin", DATA)
end)

test("copas.ftp outside a Copas thread blocks like socket.ftp", function()
  t.eq(copas_ftp.put(base_url() .. "o.txt;type=i", "outside"), 7)
  t.eq(copas_ftp.get(base_url() .. "o.txt;type=i"), "outside")
end)

test("ftp.command", function()
  pyserver.write(file("gone.txt"), "x")
  t.eq(ftp.command({ url = base_url(), command = "dele", argument = "gone.txt", check = "250" }), 1)
  t.eq(pyserver.read(file("gone.txt")), nil)
  local ok, err = ftp.command({ url = base_url(), command = "dele", argument = "gone.txt", check = "250" })
  t.eq(ok, nil)
  t.ok(err:find("^550"), err)
end)

test("server errors come back as nil, reply", function()
  local ok, err = ftp.get(base_url("user:wrong@") .. "s1.bin")
  t.eq(ok, nil)
  t.ok(err:find("^530"), err)
  ok, err = ftp.get(base_url() .. "missing.bin")
  t.eq(ok, nil)
  t.ok(err:find("^550"), err)
end)

test("a CR/LF smuggled into the path is refused", function()
  pyserver.write(file("keep.txt"), "keep")
  t.nilmsg("invalid character in command argument", ftp.get(base_url() .. "x%0d%0aDELE%20keep.txt"))
  t.eq(pyserver.read(file("keep.txt")), "keep")
end)

-- Tests without the Python server.

t.test("refused connection gives nil, message", function()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  t.nilmsg("connection refused", ftp.get("ftp://127.0.0.1:" .. port .. "/x"))
  in_copas(function()
    t.nilmsg("connection refused", copas_ftp.get("ftp://127.0.0.1:" .. port .. "/x"))
  end)
end)

t.test("a bad greeting gives nil, 'invalid server reply'", function()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  copas.addserver(server, function(c)
    c:send("hello, this is not FTP\r\n")
    c:receive()
  end)
  in_copas(function()
    t.nilmsg("invalid server reply", copas_ftp.get("ftp://127.0.0.1:" .. port .. "/x"))
    copas.removeserver(server)
  end)
end)

t.test("argument errors", function()
  t.err("bad argument #1 to 'get' %(string or table expected, got nil%)", ftp.get)
  t.err("bad argument #1 to 'put' %(field 'source'", ftp.put, { url = "ftp://h/x" })
  t.err("bad argument #2 to 'put' %(string expected, got nil%)", ftp.put, "ftp://h/x")
  t.nilmsg("wrong scheme 'http'", ftp.get("http://127.0.0.1/x"))
  t.nilmsg("invalid type 'x'", ftp.get("ftp://127.0.0.1/x;type=x"))
end)

-- t.run ends with os.exit: stop the server first.
local exit = os.exit
os.exit = function(...)
  if srv then srv:stop() end
  return exit(...)
end
t.run()
