-- socket.headers: the canonic table of header names.
local t = require("t")
local headers = require("socket.headers")

t.test("module", function()
  t.eq(type(headers.canonic), "table")
  t.eq(require("socket").headers, headers)
end)

t.test("known names", function()
  local c = headers.canonic
  t.eq(c["content-type"], "Content-Type")
  t.eq(c["content-md5"], "Content-MD5")
  t.eq(c["content-id"], "Content-ID")
  t.eq(c["etag"], "ETag")
  t.eq(c["te"], "TE")
  t.eq(c["www-authenticate"], "WWW-Authenticate")
  t.eq(c["mime-version"], "MIME-Version")
  t.eq(c["message-id"], "Message-ID")
  t.eq(c["dsn-gateway"], "DSN-Gateway")
  t.eq(c["smtp-remote-recipient"], "SMTP-Remote-Recipient")
  t.eq(c["user-agent"], "User-Agent")
  t.eq(c["x-mailer"], "X-Mailer")
  t.eq(c["Content-Type"], nil)
  t.eq(c["x-unknown"], nil)
end)

t.test("every key is its value in lower case", function()
  local count = 0
  for key, value in pairs(headers.canonic) do
    t.eq(key, value:lower())
    count = count + 1
  end
  t.eq(count, 91)
end)

t.test("programs can add names", function()
  headers.canonic["x-custom"] = "X-Custom"
  t.eq(require("socket.headers").canonic["x-custom"], "X-Custom")
  headers.canonic["x-custom"] = nil
end)

t.run()
