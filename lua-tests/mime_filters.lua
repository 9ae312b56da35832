-- mime: the encode/decode/wrap/normalize/stuff filter factories, pumped through
-- ltn12 in small and odd-sized chunks.
local t = require("t")
local mime = require("mime")
local ltn12 = require("ltn12")

-- Deterministic pseudo-random numbers that are the same on every Lua version.
local seed = 20240601
local function random(n)
  seed = (seed * 16807) % 2147483647
  return seed % n
end

local function random_bytes(len)
  local special = "\r\n \t=."
  local bytes = {}
  for i = 1, len do
    if random(4) == 0 then
      local k = random(#special) + 1
      bytes[i] = special:sub(k, k)
    else
      bytes[i] = string.char(random(256))
    end
  end
  return table.concat(bytes)
end

-- A source giving `s` in chunks of `size` bytes, or of random sizes up to 7.
local function chunks(s, size)
  local parts, i = {}, 1
  while i <= #s do
    local n = size or (random(7) + 1)
    parts[#parts + 1] = s:sub(i, i + n - 1)
    i = i + n
  end
  return ltn12.source.table(parts)
end

-- Runs `s` through the filter made by `make` in chunks, both as a chained source
-- and as a chained sink, and checks both agree.
local function through(make, s, size)
  local out, got = {}, nil
  t.ok(ltn12.pump.all(ltn12.source.chain(chunks(s, size), make()), (ltn12.sink.table(out))))
  got = table.concat(out)
  local out2 = {}
  t.ok(ltn12.pump.all(chunks(s, size), ltn12.sink.chain(make(), (ltn12.sink.table(out2)))))
  t.eq(table.concat(out2), got, "sink.chain and source.chain agree")
  return got
end

local function base64_encoder()
  return ltn12.filter.chain(mime.encode("base64"), mime.wrap("base64"))
end

local function qp_encoder()
  return ltn12.filter.chain(mime.normalize(), mime.encode("quoted-printable"), mime.wrap("quoted-printable"))
end

t.test("the module is mime.core, extended", function()
  t.eq(mime, require("mime.core"))
  t.eq(mime._VERSION, "MIME 1.0.3")
  t.eq(type(mime.b64), "function")
  for _, name in ipairs({ "encode", "decode", "wrap", "normalize", "stuff" }) do
    t.eq(type(mime[name]), "function", name)
  end
  t.eq(type(mime.encodet["base64"]), "function")
  t.eq(type(mime.decodet["quoted-printable"]), "function")
  t.eq(type(mime.wrapt["text"]), "function")
end)

t.test("base64 through ltn12, any chunk size", function()
  local text = "Man is distinguished, not only by his reason, but by this singular passion from other animals"
  local want = "TWFuIGlzIGRpc3Rpbmd1aXNoZWQsIG5vdCBvbmx5IGJ5IGhpcyByZWFzb24sIGJ1dCBieSB0aGlz\r\n"
    .. "IHNpbmd1bGFyIHBhc3Npb24gZnJvbSBvdGhlciBhbmltYWxz\r\n"
  for _, size in ipairs({ 1, 2, 3, 5, 76, 1000 }) do
    t.eq(through(base64_encoder, text, size), want, "chunk size " .. size)
    t.eq(through(function() return mime.decode("base64") end, want, size), text)
  end
  t.eq(through(base64_encoder, ""), "")
end)

t.test("base64 round trip of random data in random chunks", function()
  for _ = 1, 60 do
    local data = random_bytes(random(300))
    local encoded = through(base64_encoder, data)
    for line in encoded:gmatch("([^\n]*)\n") do t.ok(#line <= 77, "line too long") end
    t.eq(through(function() return mime.decode("base64") end, encoded), data)
  end
end)

t.test("quoted-printable through ltn12", function()
  local text = "Caf\195\169 = caf\195\169 \n" .. string.rep("x", 80) .. "\ttab at end\t\r\n"
  local want = "Caf=C3=A9 =3D caf=C3=A9=20\r\n"
    .. string.rep("x", 75) .. "=\r\nxxxxx\ttab at end=09\r\n"
  for _, size in ipairs({ 1, 2, 3, 7, 1000 }) do
    t.eq(through(qp_encoder, text, size), want, "chunk size " .. size)
  end
  t.eq(through(function() return mime.decode("quoted-printable") end, want),
    "Caf\195\169 = caf\195\169 \r\n" .. string.rep("x", 80) .. "\ttab at end\t\r\n")
end)

t.test("quoted-printable binary mode keeps line breaks exact", function()
  local binary = function() return mime.encode("quoted-printable", "binary") end
  t.eq(through(binary, "a\r\nb"), "a=0D=0Ab")
  for _ = 1, 60 do
    local data = random_bytes(random(200))
    local encoded = through(function()
      return ltn12.filter.chain(binary(), mime.wrap("quoted-printable"))
    end, data)
    t.eq(through(function() return mime.decode("quoted-printable") end, encoded), data)
  end
end)

t.test("wrap: text lengths and the default", function()
  t.eq(through(function() return mime.wrap("text", 4) end, "abcdefghij"), "abcd\r\nefgh\r\nij\r\n")
  t.eq(through(function() return mime.wrap(3) end, "abc\r\nde"), "abc\r\nde\r\n")
  t.eq(through(function() return mime.wrap() end, string.rep("y", 77)),
    string.rep("y", 76) .. "\r\ny\r\n")
end)

t.test("normalize: every line break to one marker", function()
  local text = "a\rb\nc\r\nd\n\re\r\rf"
  for _, size in ipairs({ 1, 2, 100 }) do
    t.eq(through(function() return mime.normalize() end, text, size), "a\r\nb\r\nc\r\nd\r\ne\r\n\r\nf")
    t.eq(through(function() return mime.normalize("\n") end, text, size), "a\nb\nc\nd\ne\n\nf")
  end
end)

t.test("stuff: dots at line starts are doubled", function()
  local body = ".leading\r\nmiddle . dot\r\n.\r\n..two\r\n"
  for _, size in ipairs({ 1, 2, 3, 100 }) do
    t.eq(through(mime.stuff, body, size), "..leading\r\nmiddle . dot\r\n..\r\n...two\r\n")
  end
end)

t.test("unknown names raise at the caller", function()
  t.err("unknown key %(nope%)", mime.encode, "nope")
  t.err("unknown key %(base32%)", mime.decode, "base32")
  t.err("unknown key %(default%)", mime.encode)
end)

t.test("programs can add their own factories", function()
  mime.encodet["upper"] = function()
    return function(chunk) return chunk and chunk:upper() end
  end
  t.eq(through(function() return mime.encode("upper") end, "abc"), "ABC")
  mime.encodet["upper"] = nil
end)

t.test("filters made with ltn12.filter.cycle end with nil", function()
  local encode = mime.encode("base64")
  t.eq(encode("ab"), "")
  t.eq(encode("c"), "YWJj")
  t.eq(encode("d"), "")
  t.eq(encode(nil), "ZA==")
  t.eq(encode(nil), nil)
end)

t.run()
