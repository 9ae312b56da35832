-------------------------------------------------------------------------------
-- copas.ftp: socket.ftp over Copas sockets. Inside a Copas thread every wait
-- (connect, control replies, data transfer) yields to the loop; outside one the
-- calls block, as socket.ftp's do. Both forms of get and put work, the string
-- forms included. Setting TIMEOUT, PORT, USER or PASSWORD here sets them on
-- socket.ftp, as in Copas.
-------------------------------------------------------------------------------
local copas = require("copas")
local socket = require("socket")
local ftp = require("socket.ftp")

local function create()
  return copas.wrap(socket.tcp())
end

-- Active mode's listening socket: accept on a Copas-wrapped socket does not wait,
-- so it is polled, sleeping between tries so the other threads run.
local POLL = 0.01
local function accept(server, timeout)
  server:settimeout(0)
  local deadline = socket.gettime() + timeout
  while true do
    local client, err = server:accept()
    if client then return copas.wrap(client) end
    if err ~= "timeout" then return nil, err end
    if socket.gettime() >= deadline then return nil, "timeout" end
    copas.sleep(POLL)
  end
end

local forwards = { PORT = true, TIMEOUT = true, PASSWORD = true, USER = true }

local M = setmetatable(ftp.__variant(create, accept), {
  __index = ftp,
  __newindex = function(self, key, value)
    if forwards[key] then
      ftp[key] = value
    else
      rawset(self, key, value)
    end
  end,
})

copas.ftp = M
return M
