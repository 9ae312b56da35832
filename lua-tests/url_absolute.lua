-- socket.url.absolute: the RFC 3986 section 5.4 reference resolution examples, answered
-- as LuaSocket 3.1 answers them (its urltest.lua) where the two differ.
local t = require("t")
local url = require("socket.url")

local base = "http://a/b/c/d;p?q"

-- RFC 3986 5.4.1
local normal = {
  { "g:h", "g:h" },
  { "g", "http://a/b/c/g" },
  { "./g", "http://a/b/c/g" },
  { "g/", "http://a/b/c/g/" },
  { "/g", "http://a/g" },
  { "//g", "http://g" },
  { "?y", "http://a/b/c/d;p?y" },
  { "g?y", "http://a/b/c/g?y" },
  { "#s", "http://a/b/c/d;p?q#s" },
  { "g#s", "http://a/b/c/g#s" },
  { "g?y#s", "http://a/b/c/g?y#s" },
  { ";x", "http://a/b/c/d;x" },
  { "g;x", "http://a/b/c/g;x" },
  { "g;x?y#s", "http://a/b/c/g;x?y#s" },
  { "", "http://a/b/c/d;p?q" },
  { ";x?y", "http://a/b/c/d;x?y" },
  { ".", "http://a/b/c/" },
  { "./", "http://a/b/c/" },
  { "..", "http://a/b/" },
  { "../", "http://a/b/" },
  { "../g", "http://a/b/g" },
  { "../..", "http://a/" },
  { "../../", "http://a/" },
  { "../../g", "http://a/g" },
}

-- RFC 3986 5.4.2 (the strict reading for "http:g"); LuaSocket also removes dot
-- segments from queries and fragments
local abnormal = {
  { "../../../g", "http://a/g" },
  { "../../../../g", "http://a/g" },
  { "/./g", "http://a/g" },
  { "/../g", "http://a/g" },
  { "g.", "http://a/b/c/g." },
  { ".g", "http://a/b/c/.g" },
  { "g..", "http://a/b/c/g.." },
  { "..g", "http://a/b/c/..g" },
  { "./../g", "http://a/b/g" },
  { "./g/.", "http://a/b/c/g/" },
  { "g/./h", "http://a/b/c/g/h" },
  { "g/../h", "http://a/b/c/h" },
  { "g;x=1/./y", "http://a/b/c/g;x=1/y" },
  { "g;x=1/../y", "http://a/b/c/y" },
  { "g?y/./x", "http://a/b/c/g?y/x" },
  { "g?y/../x", "http://a/b/c/x" },
  { "g#s/./x", "http://a/b/c/g#s/x" },
  { "g#s/../x", "http://a/b/c/x" },
  { "g;x/./y", "http://a/b/c/g;x/y" },
  { "http:g", "http:g" },
}

local function check(cases)
  for _, case in ipairs(cases) do
    t.eq(url.absolute(base, case[1]), case[2], "relative " .. string.format("%q", case[1]))
  end
end

t.test("RFC 3986 5.4.1 normal examples", function() check(normal) end)

t.test("RFC 3986 5.4.2 abnormal examples", function() check(abnormal) end)

t.test("the base may be a parsed table", function()
  local parsed = url.parse(base)
  t.eq(url.absolute(parsed, "../g"), "http://a/b/g")
  t.eq(url.absolute({ scheme = "https", host = "::1", port = 8443, path = "/x/y" }, "z"), "https://[::1]:8443/x/z")
end)

t.test("bases with authority and an empty path", function()
  t.eq(url.absolute("http://host", "page"), "http://host/page")
  t.eq(url.absolute("http://host?q", "?r"), "http://host?r")
  t.eq(url.absolute("http://user:pw@[::1]:81", "a/../b"), "http://user:pw@[::1]:81/b")
end)

t.test("an empty reference gives the base, fragment included", function()
  t.eq(url.absolute("http://a/b/c/d;p?q#f", ""), "http://a/b/c/d;p?q#f")
  t.eq(url.absolute("http://a/b#frag", ""), "http://a/b#frag")
  t.eq(url.absolute({ scheme = "http", host = "a", path = "/b", fragment = "f" }, ""), "http://a/b#f")
end)

t.test("a reference with a scheme is kept as it is, dot segments aside", function()
  t.eq(url.absolute("http://a/b", "ftp://h/x/./y/../z?q"), "ftp://h/x/z?q")
  t.eq(url.absolute("http://a/b", "x:.."), "x:..")
end)

t.test("the base's fragment is not kept for a non-empty reference", function()
  t.eq(url.absolute("http://a/b#frag", "?q"), "http://a/b?q")
  t.eq(url.absolute("http://a/b#frag", "#new"), "http://a/b#new")
end)

t.test("no usable base gives the relative url", function()
  t.eq(url.absolute("", "g"), "g")
  t.eq(url.absolute(nil, "g"), "g")
end)

t.run()
