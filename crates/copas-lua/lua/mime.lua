-- mime: MIME encoding filters for ltn12 (LuaSocket 3.x API), on the atoms of
-- mime.core. The module is the mime.core table itself, extended, as in LuaSocket.

local ltn12 = require("ltn12")
local M = require("mime.core")

local cycle = ltn12.filter.cycle
local error, tostring, type = error, tostring, type

-- Filter factories by name, open to programs that add their own.
local encodet, decodet, wrapt = {}, {}, {}
M.encodet, M.decodet, M.wrapt = encodet, decodet, wrapt

encodet["base64"] = function()
  return cycle(M.b64, "")
end

-- mode "binary" keeps line breaks exact by quoting them as =0D=0A.
encodet["quoted-printable"] = function(mode)
  return cycle(M.qp, "", mode == "binary" and "=0D=0A" or "\r\n")
end

decodet["base64"] = function()
  return cycle(M.unb64, "")
end

decodet["quoted-printable"] = function()
  return cycle(M.unqp, "")
end

wrapt["text"] = function(length)
  length = length or 76
  return cycle(M.wrp, length, length)
end
wrapt["base64"] = wrapt["text"]
wrapt["default"] = wrapt["text"]

wrapt["quoted-printable"] = function()
  return cycle(M.qpwrp, 76, 76)
end

-- A function `(name, opt1, opt2)` making the filter `factories[name]`; a first
-- argument that is not a string is an option of the "default" factory.
local function chooser(factories)
  return function(name, opt1, opt2)
    if type(name) ~= "string" then
      name, opt1, opt2 = "default", name, opt1
    end
    local make = factories[name or "nil"]
    if not make then error("unknown key (" .. tostring(name) .. ")", 3) end
    return make(opt1, opt2)
  end
end

M.encode = chooser(encodet)
M.decode = chooser(decodet)
M.wrap = chooser(wrapt)

-- Turns every kind of line break into `marker` (CRLF by default).
function M.normalize(marker)
  return cycle(M.eol, 0, marker)
end

-- SMTP dot-stuffing of a message body.
function M.stuff()
  return cycle(M.dot, 2)
end

return M
