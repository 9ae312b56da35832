-- mime.core: the atoms b64, unb64, qp, unqp, wrp, qpwrp, eol, dot, with LuaSocket's
-- calling convention (two results, nil at the end of a stream) and argument errors.
local t = require("t")
local core = require("mime.core")

local function pack(...) return { n = select("#", ...), ... } end

-- Checks that a call returned exactly `a, b` (two values, either possibly nil).
local function results(a, b, ...)
  local r = pack(...)
  t.eq(r.n, 2, "result count")
  t.eq(r[1], a, "first result")
  t.eq(r[2], b, "second result")
end

t.test("version and functions", function()
  t.eq(core._VERSION, "MIME 1.0.3")
  for _, name in ipairs({ "b64", "unb64", "qp", "unqp", "wrp", "qpwrp", "eol", "dot" }) do
    t.eq(type(core[name]), "function", name)
  end
end)

t.test("b64: RFC 4648 test vectors", function()
  local vectors = {
    { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
    { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
  }
  for _, v in ipairs(vectors) do
    results(v[2], nil, core.b64(v[1]))
    results(v[1], nil, core.unb64(v[2]))
  end
end)

t.test("b64: atom and rest", function()
  results("YWJj", "de", core.b64("abcd", "e"))
  results("", "ab", core.b64("a", "b"))
  results("", "", core.b64("", ""))
  results("YWJjZGVm", "", core.b64("abc", "def"))
  results("//79", nil, core.b64("\255\254\253"))
  results("AAE=", nil, core.b64("\0\1"))
end)

t.test("b64: end of stream and empty input give nil", function()
  results(nil, nil, core.b64())
  results(nil, nil, core.b64(nil, "ignored"))
  results(nil, nil, core.b64(""))
end)

t.test("b64: numbers are strings", function()
  results("MTI=", nil, core.b64(12))
  results("MQ==", nil, core.b64(1))
end)

t.test("unb64: atom and rest", function()
  results("abc", "ZA", core.unb64("YWJj", "ZA"))
  results("abcd", "", core.unb64("YWJjZA", "=="))
  results("", "YW", core.unb64("Y", "W"))
  results(nil, nil, core.unb64())
  results(nil, nil, core.unb64(""))
end)

t.test("unb64: skips what is not base64, drops an incomplete atom at the end", function()
  results("abc", nil, core.unb64("YWJj\r\nZA"))
  results("abc", nil, core.unb64("Y W\tJ*j"))
  results("a", nil, core.unb64("Y*W=="))
  results("abc", "", core.unb64("Y W\tJ", "!j"))
  results(nil, nil, core.unb64("!!"))
end)

t.test("unb64: padding rules of LuaSocket", function()
  results("a", nil, core.unb64("YW=J"))
  results("\0\0\0", nil, core.unb64("=AAA"))
  results("ab", nil, core.unb64("YWI="))
end)

t.test("qp: RFC 2045 rules", function()
  -- Rule 1: '=' and bytes outside printable ASCII are quoted, upper-case hex.
  results("caf=C3=A9 =3D xy", nil, core.qp("caf\195\169 = xy"))
  results("=00=7F=80=FF.", nil, core.qp("\0\127\128\255."))
  -- Rule 2: printable ASCII stays.
  results("Hello, World! ~<>", nil, core.qp("Hello, World! ~<>"))
  -- Rule 3: space and tab are quoted only at the end of a line.
  results("a b=20\r\nc=09\r\n", nil, core.qp("a b \r\nc\t\r\n"))
  results("  xy", nil, core.qp("  xy"))
  -- Rule 4: a line break is CRLF; a lone CR or LF is data, quoted.
  results("x=0Dy=0Az", nil, core.qp("x\ry\nz"))
end)

t.test("qp: marker for line breaks", function()
  results("line=0D=0Anext", nil, core.qp("line\r\nnext", nil, "=0D=0A"))
  results("a|b", nil, core.qp("a\r\nb", nil, "|"))
  results("a=20|", "", core.qp("a \r", "\n", "|"))
end)

t.test("qp: atom and rest", function()
  results("x", "\r", core.qp("x", "\r"))
  results("a", "  ", core.qp("a ", " "))
  results("a b", " \r", core.qp("a ", "b \r"))
  results("", "", core.qp("", ""))
end)

t.test("qp: the end of the stream quotes what is left and adds a soft break", function()
  results("a=20=\r\n", nil, core.qp("a "))
  results("x=0D=\r\n", nil, core.qp("x\r"))
  results(" =20x=\r\n", nil, core.qp("  x"))
  results(nil, nil, core.qp(""))
  results(nil, nil, core.qp())
end)

t.test("unqp: decoding", function()
  results("a=b", nil, core.unqp("a=3Db"))
  results("ab", nil, core.unqp("a=\r\nb"))
  results("\255\0J", nil, core.unqp("=ff=00=4a"))
  results("a=zz b", nil, core.unqp("a=zz b"))
  results("a\r\n\t~", nil, core.unqp("a\r\n\t~"))
end)

t.test("unqp: drops bytes that cannot appear unquoted", function()
  results("ab", nil, core.unqp("a\nb"))
  results("x", nil, core.unqp("\1x\255"))
  results("Y", nil, core.unqp("\rXY"))
end)

t.test("unqp: atom and rest", function()
  results("a", "=4", core.unqp("a=", "4"))
  results("AJ", "", core.unqp("=4", "1=4a"))
  results("", "\r", core.unqp("", "\r"))
  results("tail", nil, core.unqp("tail=4"))
  results(nil, nil, core.unqp("=4"))
  results(nil, nil, core.unqp())
end)

t.test("wrp: wraps lines and counts the room left", function()
  results("abc\r\ndef", 73, core.wrp(3, "abcdef"))
  results("ab\r\ncd", 2, core.wrp(3, "ab\r\ncd", 4))
  results("\r\nx", 1, core.wrp(0, "x", 2))
  results("ab\r\nc", 2, core.wrp(2.7, "abc", 3.9))
  results("", -4, core.wrp(-4, "", 2))
  results("abc\r\nd", 75, core.wrp("3", "abcd"))
end)

t.test("wrp: end of stream", function()
  results("\r\n", 76, core.wrp(5))
  results(nil, 76, core.wrp(76))
  results(nil, 10, core.wrp(10, nil, 10))
end)

t.test("qpwrp: soft breaks, never inside =XX", function()
  results("ab=\r\n=20cd=41ef", 66, core.qpwrp(5, "ab=20cd=41ef"))
  results("a=\r\nbc", 2, core.qpwrp(2, "abc", 4))
  results("x\r\ny", 9, core.qpwrp(9, "x\r\ny", 10))
  results("=\r\n", 76, core.qpwrp(5))
  results(nil, 76, core.qpwrp(76))
end)

t.test("eol: every line break becomes the marker", function()
  results("a\r\nb\r\nc\r\nd\r\ne\r\n\r\nf\r\n\r\n", 0, core.eol(0, "a\rb\nc\r\nd\n\re\r\rf\n\n"))
  results("xM", 13, core.eol(0, "x\r", "M"))
  results("", 0, core.eol(13, "\n"))
  results("|", 0, core.eol(10, "\n", "|"))
  results("...", 13, core.eol(0, "\r\r\r", "."))
  results("", 0, core.eol(0, ""))
  results(nil, 0, core.eol(13))
  results("x", 0, core.eol("13", "\nx"))
end)

t.test("dot: SMTP stuffing", function()
  results("..a\r\n..b\r\n...", 0, core.dot(2, ".a\r\n.b\r\n.."))
  results("\n..", 0, core.dot(1, "\n."))
  results("\n.", 0, core.dot(0, "\n."))
  results("x\r\n", 2, core.dot(0, "x\r\n"))
  results("\r", 1, core.dot(2, "\r"))
  results(nil, 2, core.dot(0))
end)

t.test("bad arguments", function()
  local function bad(n, fname, message, f, ...)
    local want = ("bad argument #%d to '%s' (%s)"):format(n, fname, message)
    local ok, e = pcall(f, ...)
    t.ok(not ok, "no error for " .. fname)
    t.eq(type(e), "string")
    t.eq(e, want)
  end
  bad(1, "b64", "string expected, got table", core.b64, {})
  bad(2, "b64", "string expected, got boolean", core.b64, "a", true)
  bad(1, "unb64", "string expected, got function", core.unb64, print)
  bad(2, "unqp", "string expected, got boolean", core.unqp, "a", false)
  bad(3, "qp", "string expected, got table", core.qp, nil, nil, {})
  bad(2, "qp", "string expected, got table", core.qp, "a", {})
  bad(1, "wrp", "number expected, got no value", core.wrp)
  bad(1, "wrp", "number expected, got nil", core.wrp, nil, "a")
  bad(1, "wrp", "number expected, got string", core.wrp, "x")
  bad(2, "wrp", "string expected, got table", core.wrp, 1, {})
  bad(3, "qpwrp", "number expected, got table", core.qpwrp, 1, "a", {})
  bad(1, "eol", "number expected, got no value", core.eol)
  bad(1, "eol", "number has no integer representation", core.eol, 1.5)
  bad(3, "eol", "string expected, got boolean", core.eol, 0, "a", true)
  bad(1, "dot", "number expected, got no value", core.dot)
  bad(2, "dot", "string expected, got table", core.dot, 2, {})
end)

t.test("a nil first part ends the stream before later arguments are looked at", function()
  results(nil, nil, core.b64(nil, {}))
  results(nil, nil, core.unqp(nil, {}))
  results(nil, nil, core.qp(nil, {}))
end)

t.run()
