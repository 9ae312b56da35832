-------------------------------------------------------------------------------
-- copas.smtp: socket.smtp over Copas sockets. Inside a Copas thread every wait
-- yields to the loop; outside one the calls block, as socket.smtp's do. Setting
-- PORT, SERVER, TIMEOUT, DOMAIN or ZONE here sets them on socket.smtp, as in Copas.
-------------------------------------------------------------------------------
local copas = require("copas")
local socket = require("socket")
local smtp = require("socket.smtp")

local function create()
  return copas.wrap(socket.tcp())
end

local forwards = { PORT = true, SERVER = true, TIMEOUT = true, DOMAIN = true, ZONE = true }

local M = setmetatable(smtp.__variant(create), {
  __index = smtp,
  __newindex = function(self, key, value)
    if forwards[key] then
      smtp[key] = value
    else
      rawset(self, key, value)
    end
  end,
})

copas.smtp = M
return M
