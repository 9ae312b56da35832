-- socket.smtp and copas.smtp against aiosmtpd on 127.0.0.1: a multipart message
-- with an attachment built by smtp.message, checked byte for byte on the server
-- side; dot-stuffing, several recipients, AUTH LOGIN and PLAIN, errors.
local t = require("t")
local pyserver = require("pyserver")
local socket = require("socket")
local ltn12 = require("ltn12")
local mime = require("mime")
local smtp = require("socket.smtp")
local copas = require("copas")
local copas_smtp = require("copas.smtp")

local srv, why = pyserver.start_with("aiosmtpd", pyserver.SMTP)
local test = pyserver.tester(srv, why)

local function stored(name)
  return pyserver.read(srv.dir .. "/" .. name .. ".eml"), pyserver.read(srv.dir .. "/" .. name .. ".env")
end

-- A source that also keeps a copy of everything it gives.
local function recorded(src)
  local copy = {}
  return function()
    local chunk, err = src()
    if chunk then copy[#copy + 1] = chunk end
    return chunk, err
  end, function() return table.concat(copy) end
end

-- Runs `body` as a Copas thread and the loop until it is done; an error in the
-- thread fails the test.
local in_copas = require("copas_run").run

-- 300 KiB of every byte value.
local function binary()
  local bytes = {}
  for i = 0, 255 do bytes[#bytes + 1] = string.char((i * 13 + 5) % 256) end
  return string.rep(table.concat(bytes), 1200)
end
local BIN = binary()

local TEXT = ".a line that starts with a dot\r\n..two dots\r\n.\r\nand the end, no line break"

local function multipart()
  return smtp.message({
    headers = {
      from = "Sender <sender@example.com>",
      to = "Receiver <rcpt@example.com>",
      subject = "multipart test",
    },
    body = {
      preamble = "This is a MIME message.",
      {
        headers = { ["content-type"] = 'text/plain; charset="utf-8"' },
        body = TEXT,
      },
      {
        headers = {
          ["content-type"] = 'application/octet-stream; name="data.bin"',
          ["content-disposition"] = 'attachment; filename="data.bin"',
          ["content-transfer-encoding"] = "BASE64",
        },
        body = ltn12.source.chain(ltn12.source.string(BIN),
          ltn12.filter.chain(mime.encode("base64"), mime.wrap())),
      },
      epilogue = "That was all.",
    },
  })
end

-- Checks a stored multipart message: its parts, the text and the attachment.
local function check_multipart(data)
  local boundary = data:match('Content%-Type: multipart/mixed; boundary="([^"]+)"\r\n')
  t.ok(boundary, "no boundary in the headers")
  local head, rest = data:match("^(.-\r\n)\r\n(.*)$")
  t.ok(head:find("Subject: multipart test\r\n", 1, true), "subject")
  t.ok(head:find("MIME-Version: 1.0\r\n", 1, true), "MIME-Version")
  local parts = {}
  local pattern = "\r\n%-%-" .. boundary:gsub("%p", "%%%0")
  local pos = 1
  while true do
    local s, e = rest:find(pattern, pos)
    if not s then break end
    parts[#parts + 1] = rest:sub(pos, s - 1)
    pos = e + 1
  end
  parts[#parts + 1] = rest:sub(pos)
  t.eq(#parts, 4, "preamble, two parts, closing")
  t.eq(parts[1], "This is a MIME message.\r\n")
  t.eq(parts[4], "--\r\n\r\nThat was all.\r\n")
  local text = parts[2]:match("^\r\n.-\r\n\r\n(.*)$")
  t.eq(text, TEXT)
  local encoded = parts[3]:match("^\r\n.-\r\n\r\n(.*)$")
  local decoded = mime.unb64((encoded:gsub("\r\n", "")))
  t.ok(decoded == BIN, "attachment differs after decoding")
end

test("multipart message with attachment, byte for byte on the server", function()
  local source, sent = recorded(multipart())
  local ok, err = smtp.send({
    from = "<sender@example.com>",
    rcpt = "<rcpt@example.com>",
    source = source,
    server = "127.0.0.1",
    port = srv.port,
    domain = "client.example",
  })
  t.eq(err, nil)
  t.eq(ok, 1)
  local data, envelope = stored("rcpt")
  t.ok(data, "no message stored")
  t.eq(envelope, "sender@example.com\nrcpt@example.com\n")
  t.eq(#data, #sent())
  t.ok(data == sent(), "stored message differs from the source")
  check_multipart(data)
end)

test("copas.smtp inside a Copas thread, several recipients", function()
  local source, sent = recorded(multipart())
  in_copas(function()
    local ok, err = copas_smtp.send({
      from = "<sender@example.com>",
      rcpt = { "<copas1@example.com>", "<copas2@example.com>" },
      source = source,
      server = "127.0.0.1",
      port = srv.port,
    })
    t.eq(err, nil)
    t.eq(ok, 1)
  end)
  local data, envelope = stored("copas1")
  t.eq(envelope, "sender@example.com\ncopas1@example.com\ncopas2@example.com\n")
  t.ok(data == sent(), "stored message differs from the source")
  check_multipart(data)
end)

test("dot-stuffing and a message without a final line break", function()
  local body = "..\r\n.\r\n.x\r\nlast"
  local ok, err = smtp.send({ from = "<a@example.com>", rcpt = "<dots@example.com>",
    source = ltn12.source.string(body), server = "127.0.0.1", port = srv.port })
  t.eq(err, nil)
  t.eq(ok, 1)
  t.eq((stored("dots")), body .. "\r\n")
  ok, err = smtp.send({ from = "<a@example.com>", rcpt = "<dots2@example.com>",
    source = ltn12.source.string(".\r\n"), server = "127.0.0.1", port = srv.port })
  t.eq(err, nil)
  t.eq((stored("dots2")), ".\r\n")
end)

test("AUTH LOGIN and AUTH PLAIN", function()
  local function send(port, rcpt, password)
    return smtp.send({ from = "<a@example.com>", rcpt = "<" .. rcpt .. "@example.com>",
      source = ltn12.source.string("Subject: auth\r\n\r\nhi\r\n"), server = "127.0.0.1",
      port = port, user = "user", password = password })
  end
  t.eq(send(srv.ports[1], "login", "secret"), 1)
  t.eq((stored("login")), "Subject: auth\r\n\r\nhi\r\n")
  t.eq(send(srv.ports[2], "plain", "secret"), 1)
  t.eq((stored("plain")), "Subject: auth\r\n\r\nhi\r\n")
  local ok, err = send(srv.ports[1], "badlogin", "wrong")
  t.eq(ok, nil)
  t.ok(err:find("^535"), err)
  ok, err = send(srv.ports[2], "badplain", "wrong")
  t.eq(ok, nil)
  t.ok(err:find("^535"), err)
end)

test("a refused recipient gives nil, reply", function()
  local ok, err = smtp.send({ from = "<a@example.com>", rcpt = { "<ok@example.com>", "<reject@example.com>" },
    source = ltn12.source.string("x\r\n"), server = "127.0.0.1", port = srv.port })
  t.eq(ok, nil)
  t.eq(err, "550 no such user")
end)

test("a header with a line break is refused before anything is sent", function()
  local ok, err = smtp.send({ from = "<a@example.com>", rcpt = "<inject@example.com>",
    source = smtp.message({ headers = { subject = "hi\r\nBcc: victim@example.com" }, body = "x" }),
    server = "127.0.0.1", port = srv.port })
  t.eq(ok, nil)
  t.eq(err, "invalid header value for 'Subject'")
  t.eq((stored("inject")), nil)
end)

test("a CR/LF in an address is refused", function()
  t.nilmsg("invalid character in command argument", smtp.send({
    from = "<a@example.com>\r\nRCPT TO:<victim@example.com>", rcpt = "<x@example.com>",
    source = ltn12.source.string("x"), server = "127.0.0.1", port = srv.port }))
end)

-- Tests without the Python server.

t.test("smtp.message: exact shape of a simple message", function()
  local chunks = {}
  t.eq(ltn12.pump.all(smtp.message({
    headers = { Date = "Mon, 23 Nov 2026 10:00:00 +0000", ["x-mailer"] = "test", To = "b@example.com" },
    body = "hello\r\n",
  }), (ltn12.sink.table(chunks))), 1)
  t.eq(table.concat(chunks), "Content-Type: text/plain; charset=\"iso-8859-1\"\r\n"
    .. "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nTo: b@example.com\r\n"
    .. "X-Mailer: test\r\n\r\nhello\r\n")
end)

t.test("smtp.message: nested multipart, body source errors", function()
  local chunks = {}
  t.eq(ltn12.pump.all(smtp.message({
    headers = { date = "d" },
    body = { { body = { { body = "inner" } } } },
  }), (ltn12.sink.table(chunks))), 1)
  local message = table.concat(chunks)
  local _, count = message:gsub("boundary=", "")
  t.eq(count, 2)
  t.ok(message:find("\r\n\r\ninner\r\n--", 1, true), message)
  local src = smtp.message({ body = function() return nil, "disk on fire" end })
  t.ok(src())
  t.nilmsg("disk on fire", src())
  t.err("bad argument #1 to 'message' %(table expected, got string%)", smtp.message, "x")
end)

t.test("refused connection and a bad greeting give nil, message", function()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  t.nilmsg("connection refused", smtp.send({ from = "<a@b>", rcpt = "<c@d>",
    source = ltn12.source.string("x"), server = "127.0.0.1", port = port }))
  local server = assert(socket.bind("127.0.0.1", 0))
  _, port = server:getsockname()
  copas.addserver(server, function(c)
    c:send("220-hello\r\nnot a reply line\r\n220 ok\r\n")
    c:receive()
    c:send("garbage\r\n")
    c:receive()
  end)
  in_copas(function()
    t.nilmsg("invalid server reply", copas_smtp.send({ from = "<a@b>", rcpt = "<c@d>",
      source = ltn12.source.string("x"), server = "127.0.0.1", port = port }))
    copas.removeserver(server)
  end)
end)

t.test("argument errors", function()
  t.err("bad argument #1 to 'send' %(table expected, got nil%)", smtp.send)
  t.err("bad argument #1 to 'send' %(field 'from' must be a string%)", smtp.send, {})
  t.err("field 'rcpt'", smtp.send, { from = "<a@b>" })
  t.err("field 'rcpt' must hold strings", smtp.send, { from = "<a@b>", rcpt = { 1 } })
  t.err("field 'source'", smtp.send, { from = "<a@b>", rcpt = "<c@d>" })
end)

-- t.run ends with os.exit: stop the server first.
local exit = os.exit
os.exit = function(...)
  if srv then srv:stop() end
  return exit(...)
end
t.run()
