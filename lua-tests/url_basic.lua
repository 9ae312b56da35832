-- socket.url: escape, unescape, parse, build, parse_path, build_path.
local t = require("t")
local url = require("socket.url")

t.test("module", function()
  t.eq(url._VERSION, "URL 1.0.3")
  t.eq(require("socket").url, url)
end)

t.test("escape and unescape", function()
  t.eq(url.escape("a b/c?d=e&f"), "a%20b%2fc%3fd%3de%26f")
  t.eq(url.escape("Az09_"), "Az09_")
  t.eq(url.escape("-.~"), "%2d%2e%7e")
  t.eq(url.escape("\0\255"), "%00%ff")
  t.eq(url.unescape("a%20b%2Fc%2f"), "a b/c/")
  t.eq(url.unescape("100%"), "100%")
  t.eq(url.unescape("%zz%4"), "%zz%4")
  t.eq(url.unescape("+"), "+")
  local all = {}
  for i = 0, 255 do all[#all + 1] = string.char(i) end
  all = table.concat(all)
  t.eq(url.unescape(url.escape(all)), all)
  t.eq(select("#", url.escape("x y")), 1)
  t.eq(select("#", url.unescape("x%20y")), 1)
end)

t.test("parse: every part", function()
  local parsed = url.parse("http://user:pass@www.example.com:8080/a/b;type=d?x=1&y=2#frag")
  t.eq(parsed, {
    scheme = "http",
    authority = "user:pass@www.example.com:8080",
    userinfo = "user:pass",
    user = "user",
    password = "pass",
    host = "www.example.com",
    port = "8080",
    path = "/a/b",
    params = "type=d",
    query = "x=1&y=2",
    fragment = "frag",
  })
end)

t.test("parse: IPv6 hosts in brackets", function()
  local parsed = url.parse("http://[::1]:80/x")
  t.eq(parsed.host, "::1")
  t.eq(parsed.port, "80")
  t.eq(parsed.authority, "[::1]:80")
  local no_port = url.parse("https://[fe80::1%25eth0]/")
  t.eq(no_port.host, "fe80::1%25eth0")
  t.eq(no_port.port, nil)
end)

t.test("parse: partial urls", function()
  t.eq(url.parse("/just/a/path"), { path = "/just/a/path" })
  t.eq(url.parse("//host"), { authority = "host", host = "host" })
  t.eq(url.parse("mailto:someone@example.com"), { scheme = "mailto", path = "someone@example.com" })
  t.eq(url.parse("?q"), { query = "q" })
  t.eq(url.parse("#f"), { fragment = "f" })
  t.eq(url.parse("a?b?c#d#e"), { path = "a", query = "b?c", fragment = "d#e" })
  t.eq(url.parse("http://host:"), { scheme = "http", authority = "host:", host = "host", port = "" })
  t.eq(url.parse("ftp://@host").user, "")
  t.eq(url.parse("ftp://u:p:q@h").user, "u:p")
  t.eq(url.parse("ftp://u:p:q@h").password, "q")
end)

t.test("parse: the authority ends at ? and #, unless an @ follows them (LuaSocket 3.1)", function()
  t.eq(url.parse("http://host?q=1"), { scheme = "http", authority = "host", host = "host", query = "q=1" })
  t.eq(url.parse("http://host#top").host, "host")
  t.eq(url.parse("scheme://user:pass?#wd@host:port/path;params?query#fragment"), {
    scheme = "scheme", authority = "user:pass?#wd@host:port", userinfo = "user:pass?#wd",
    user = "user", password = "pass?#wd", host = "host", port = "port",
    path = "/path", params = "params", query = "query", fragment = "fragment",
  })
  t.eq(url.parse("s://u:p#w@h/x?q").password, "p#w")
end)

t.test("parse: empty and missing urls", function()
  t.nilmsg("invalid url", url.parse(""))
  t.nilmsg("invalid url", url.parse(nil))
end)

t.test("parse: defaults fill what the url lacks", function()
  local parsed = url.parse("//example.com/index.html", { scheme = "http", port = 80, path = "/" })
  t.eq(parsed.scheme, "http")
  t.eq(parsed.port, 80)
  t.eq(parsed.path, "/index.html")
  t.eq(parsed.host, "example.com")
  local default = { scheme = "ftp" }
  url.parse("http://x", default)
  t.eq(default.scheme, "ftp", "the defaults table is not changed")
end)

t.test("build: the inverse of parse", function()
  for _, s in ipairs({
    "http://user:pass@www.example.com:8080/a/b;type=d?x=1&y=2#frag",
    "http://[::1]:80/x",
    "/path?q",
    "mailto:someone@example.com",
    "ftp://@host/",
    "file:///etc/hosts",
  }) do
    t.eq(url.build(url.parse(s)), s)
  end
end)

t.test("build: from parts", function()
  t.eq(url.build({ scheme = "http", host = "example.com", port = 8080, path = "/x" }), "http://example.com:8080/x")
  t.eq(url.build({ host = "::1", path = "/" }), "//[::1]/")
  t.eq(url.build({ host = "h", user = "u", password = "p" }), "//u:p@h")
  t.eq(url.build({ host = "h", userinfo = "ui" }), "//ui@h")
  t.eq(url.build({ authority = "raw:1", path = "/p" }), "//raw:1/p")
  t.eq(url.build({ host = "h", authority = "ignored" }), "//h")
  t.eq(url.build({}), "")
end)

t.test("parse_path and build_path", function()
  local parsed = url.parse_path("/a%20b/c%2Fd/")
  t.eq(parsed, { "a b", "c/d", is_absolute = 1, is_directory = 1 })
  t.eq(url.build_path(parsed), "/a%20b/c%2Fd/")
  t.eq(url.build_path(parsed, true), "/a b/c/d/")
  t.eq(url.parse_path("x//y"), { "x", "y" })
  t.eq(url.parse_path(nil), {})
  t.eq(url.parse_path("/"), { is_absolute = 1, is_directory = 1 })
  t.eq(url.build_path({ is_absolute = 1, is_directory = 1 }), "/")
  t.eq(url.build_path({ "-_.!~*'():@&=+$,", "?#;% " }), "-_.!~*'():@&=+$,/%3F%23%3B%25%20")
end)

t.run()
