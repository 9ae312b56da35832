-- socket.dns: only names and addresses that resolve without the network
-- (localhost, 127.0.0.1, ::1, numeric forms) and errors the resolver reports
-- without asking a server.
local t = require("t")
local socket = require("socket")
local dns = socket.dns

local function pack(...) return { n = select("#", ...), ... } end

local function contains(list, value)
  for _, v in ipairs(list) do if v == value then return true end end
  return false
end

local function check_resolved(resolved)
  t.eq(type(resolved), "table")
  t.eq(type(resolved.name), "string")
  t.eq(type(resolved.alias), "table")
  t.eq(type(resolved.ip), "table")
  for _, alias in ipairs(resolved.alias) do t.eq(type(alias), "string") end
end

t.test("toip of localhost", function()
  local ip, resolved = dns.toip("localhost")
  t.eq(ip, "127.0.0.1")
  check_resolved(resolved)
  t.ok(contains(resolved.ip, "127.0.0.1"))
end)

t.test("toip of a dotted address looks the address up", function()
  local ip, resolved = dns.toip("127.0.0.1")
  t.eq(ip, "127.0.0.1")
  check_resolved(resolved)
  t.eq(resolved.ip, { "127.0.0.1" })
  t.ok(#resolved.name > 0)
end)

t.test("toip accepts the short numeric forms inet_aton does", function()
  t.eq((dns.toip("127.1")), "127.0.0.1")
  t.eq((dns.toip("2130706433")), "127.0.0.1")
end)

t.test("tohostname of 127.0.0.1", function()
  local name, resolved = dns.tohostname("127.0.0.1")
  t.eq(type(name), "string")
  check_resolved(resolved)
  t.eq(name, resolved.name)
  t.eq((dns.toip(name)), "127.0.0.1")
end)

t.test("tohostname of localhost", function()
  local name, resolved = dns.tohostname("localhost")
  t.eq(name, resolved.name)
  t.ok(contains(resolved.ip, "127.0.0.1"))
end)

t.test("toip/tohostname errors", function()
  -- IPv6 literals are not IPv4 host names: refused without a query.
  t.eq(pack(dns.toip("::1")), { n = 2, nil, "host not found" })
  t.eq(pack(dns.tohostname("::1")), { n = 2, nil, "host not found" })
end)

t.test("toip/tohostname argument errors", function()
  t.err("^bad argument #1 to 'toip' %(string expected, got no value%)$", dns.toip)
  t.err("^bad argument #1 to 'toip' %(string expected, got table%)$", dns.toip, {})
  t.err("^bad argument #1 to 'tohostname' %(string expected, got nil%)$", dns.tohostname, nil)
end)

t.test("gethostname", function()
  local name = dns.gethostname()
  t.eq(type(name), "string")
  t.ok(#name > 0)
  t.eq(pack(dns.gethostname()).n, 1)
end)

t.test("getaddrinfo of numeric addresses", function()
  t.eq(dns.getaddrinfo("127.0.0.1"), { { family = "inet", addr = "127.0.0.1" } })
  t.eq(dns.getaddrinfo("::1"), { { family = "inet6", addr = "::1" } })
  t.eq(dns.getaddrinfo("0:0::1"), { { family = "inet6", addr = "::1" } })
  t.eq(dns.getaddrinfo("::ffff:127.0.0.1"), { { family = "inet6", addr = "::ffff:127.0.0.1" } })
end)

t.test("getaddrinfo of localhost", function()
  local list = dns.getaddrinfo("localhost")
  t.ok(#list >= 1)
  for _, entry in ipairs(list) do
    t.ok(entry.family == "inet" or entry.family == "inet6", entry.family)
    t.ok(entry.addr == "127.0.0.1" or entry.addr == "::1", entry.addr)
  end
end)

t.test("getaddrinfo errors", function()
  t.eq(pack(dns.getaddrinfo("")), { n = 2, nil, "host or service not provided, or not known" })
end)

t.test("getaddrinfo argument errors", function()
  t.err("^bad argument #1 to 'getaddrinfo' %(string expected, got no value%)$", dns.getaddrinfo)
  t.err("^bad argument #1 to 'getaddrinfo' %(string expected, got boolean%)$", dns.getaddrinfo, true)
end)

t.test("getnameinfo of a host", function()
  local names = dns.getnameinfo("127.0.0.1")
  t.eq(#names, 1)
  t.eq(type(names[1]), "string")
  t.eq(names[1], (dns.tohostname("127.0.0.1")))
  t.eq(pack(dns.getnameinfo("127.0.0.1")).n, 1)
end)

t.test("getnameinfo of a service", function()
  local names, service = dns.getnameinfo(nil, "0")
  t.eq(names, {})
  t.eq(service, "0")
  local _, numeric = dns.getnameinfo("127.0.0.1", 9)
  t.eq(type(numeric), "string")
end)

t.test("getnameinfo errors", function()
  t.err("^host and serv cannot be both nil$", dns.getnameinfo)
  t.err("^host and serv cannot be both nil$", dns.getnameinfo, nil, nil)
  t.eq(pack(dns.getnameinfo("")), { n = 2, nil, "host or service not provided, or not known" })
  t.err("^bad argument #1 to 'getnameinfo' %(string expected, got table%)$", dns.getnameinfo, {})
  t.err("^bad argument #2 to 'getnameinfo' %(string expected, got table%)$",
    dns.getnameinfo, "127.0.0.1", {})
end)

t.run()
