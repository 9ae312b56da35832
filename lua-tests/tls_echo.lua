-- The acceptance test of the TLS issue: a Copas HTTPS-style echo of 1 MiB bodies in both
-- directions under 100 concurrent connections, every byte compared.
local t = require("t")
local copas = require("copas")
local socket = require("socket")
local tls = require("tlsutil")

local CONNECTIONS = 100
local SIZE = 1024 * 1024
local TAG = 16
local CHUNK = 64 * 1024

-- One shared body after a per-connection tag, so that a mix-up between connections shows.
local base = {}
for i = 0, 255 do base[#base + 1] = string.char(i) end
base = string.rep(table.concat(base), math.floor(SIZE / 256) + 1):sub(1, SIZE - TAG)

local function tag_of(n) return string.format("connection %5d", n) end

local function read_head(skt)
  local first, err = skt:receive()
  if not first then return nil, err end
  local length
  while true do
    local line = skt:receive()
    if not line then return nil, "headers cut short" end
    if line == "" then break end
    local value = line:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")
    if value then length = tonumber(value) end
  end
  return first, length
end

t.test("100 concurrent HTTPS echoes of 1 MiB bodies return identical bytes", function()
  local srv = assert(socket.bind("127.0.0.1", 0, 128))
  local _, port = srv:getsockname()
  local served, verified, failures = 0, 0, {}
  copas.addserver(srv, copas.handler(function(skt)
    local request, length = read_head(skt)
    if not request then return end
    local body = skt:receive(length)
    skt:send("HTTP/1.1 200 OK\r\nContent-Length: " .. #body .. "\r\n\r\n")
    skt:send(body)
    served = served + 1
  end, tls.server()), 60)

  local finished = 0
  for n = 1, CONNECTIONS do
    copas.addthread(function()
      local c = copas.wrap(socket.tcp(), tls.client())
      c:settimeout(60)
      local ok, err = c:connect("127.0.0.1", port)
      local problem
      if not ok then
        problem = "connect: " .. tostring(err)
      else
        c:send("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: " .. SIZE .. "\r\n\r\n")
        c:send(tag_of(n))
        c:send(base)
        local status, length = read_head(c)
        if status ~= "HTTP/1.1 200 OK" or length ~= SIZE then
          problem = "response head: " .. tostring(status) .. " " .. tostring(length)
        elseif c:receive(TAG) ~= tag_of(n) then
          problem = "tag differs"
        else
          local at = 1
          while at <= #base do
            local want = math.min(CHUNK, #base - at + 1)
            local chunk = c:receive(want)
            if chunk ~= base:sub(at, at + want - 1) then
              problem = "body differs at byte " .. (at + TAG)
              break
            end
            at = at + want
          end
          if not problem then verified = verified + 1 end
        end
      end
      if problem then failures[#failures + 1] = n .. ": " .. problem end
      c:close()
      finished = finished + 1
      if finished == CONNECTIONS then copas.removeserver(srv) end
    end)
  end
  copas.loop()
  t.eq(failures, {})
  t.eq(verified, CONNECTIONS)
  t.eq(served, CONNECTIONS)
end)

t.run()
