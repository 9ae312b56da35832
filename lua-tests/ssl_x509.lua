-- ssl.x509 certificate objects compared with what `openssl x509` prints for the same
-- certificate, and ssl.config. Skipped without openssl or the test certificates.
local t = require("t")
local ssl = require("ssl")
local x509 = require("ssl.x509")
local tls = require("tlsutil")

local function openssl(args, input)
  local command = "openssl x509 -noout " .. args .. " -in " .. input .. " 2>/dev/null"
  local pipe = assert(io.popen(command))
  local out = pipe:read("*a")
  pipe:close()
  return out
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

local usable = tls.dir and tls.have("openssl")

local function test(name, f)
  t.test(name, function()
    if not usable then
      io.stderr:write("skipping: openssl or COPAS_TEST_CERTS missing\n")
      return
    end
    f()
  end)
end

test("fields match openssl x509's", function()
  local path = tls.path("localhost.pem")
  local cert = assert(x509.load(read(path)))
  t.eq(cert:pem(), read(path))
  t.eq("serial=" .. cert:serial() .. "\n", openssl("-serial", path))
  t.eq("notBefore=" .. cert:notbefore() .. "\n", openssl("-startdate", path))
  t.eq("notAfter=" .. cert:notafter() .. "\n", openssl("-enddate", path))
  local fingerprint = openssl("-fingerprint -sha256", path):match("=([%x:]+)")
  t.eq(cert:digest("sha256"), fingerprint:gsub(":", ""):lower())
  local parts = {}
  for _, entry in ipairs(cert:subject()) do
    parts[#parts + 1] = entry.name .. " = " .. entry.value
  end
  t.eq("subject=" .. table.concat(parts, ", ") .. "\n",
    openssl("-subject -nameopt oneline,-esc_msb", path))
  local pem, kind, bits = cert:pubkey()
  t.eq(pem, openssl("-pubkey", path))
  local text = openssl("-text", path)
  t.eq(tonumber(text:match("Public%-Key: %((%d+) bit%)")), bits)
  local algorithm = text:match("Public Key Algorithm: (%S+)")
  t.eq(kind, ({ rsaEncryption = "RSA", ["id-ecPublicKey"] = "EC" })[algorithm] or algorithm)
  local san = cert:extensions()["2.5.29.17"]
  for _, name in ipairs(san.dNSName) do
    t.ok(text:find("DNS:" .. name, 1, true), name)
  end
  for _, ip in ipairs(san.iPAddress) do
    t.ok(text:find("IP Address:" .. ip, 1, true) or ip:find(":", 1, true), ip)
  end
end)

test("load from DER, validat, setencode, errors", function()
  local path = tls.path("localhost.pem")
  local der = os.tmpname()
  assert(os.execute("openssl x509 -in " .. path .. " -outform der -out " .. der))
  local from_der = assert(x509.load(read(der), "der"))
  os.remove(der)
  local from_pem = assert(ssl.loadcertificate(read(path)))
  t.ok(from_der == from_pem, "the same certificate")
  t.eq(from_pem:validat(os.time()), true)
  t.eq(from_pem:validat(0), false)
  t.eq(from_pem:setencode("utf8"), true)
  t.eq(x509.load("not a certificate"), nil)
  t.err("invalid option 'xml'", x509.load, read(path), "xml")
end)

t.test("ssl.config describes what the module supports", function()
  local config = require("ssl.config")
  t.ok(ssl.config == config, "ssl.config is the module")
  t.eq(config.protocols.tlsv1_3, true)
  t.eq(config.protocols.tlsv1, nil)
  t.eq(config.capabilities.alpn, true)
  t.eq(config.algorithms.ec, true)
  t.eq(config.options.no_sslv3, true)
  t.eq(config.curves.X25519, true)
end)

t.run()
