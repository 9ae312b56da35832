-- TLS line echo inside one Copas process: a server (copas.handler with LuaSec-style
-- parameters) and C client threads (copas.wrap, handshake on connect), each with one
-- 64-byte line in flight, for T seconds. Prints one JSON line with lines/s and
-- handshakes/s; "skipped" when the `ssl` module is not available.
-- usage: tls_echo.lua CERT_DIR [C=10] [T=3]
-- CERT_DIR holds ca.pem, localhost.pem and localhost.key.
local copas = require("copas")
local socket = require("socket")
if not pcall(require, "ssl") then
  print('{"skipped":"the ssl module is not available"}')
  return
end
local gettime = copas.gettime or socket.gettime

local dir = assert(arg[1], "usage: tls_echo.lua CERT_DIR [C] [T]")
local C = tonumber(arg[2]) or 10
local T = tonumber(arg[3]) or 3

local server_params = {
  mode = "server", protocol = "any",
  certificate = dir .. "/localhost.pem", key = dir .. "/localhost.key",
}
local client_params = {
  mode = "client", protocol = "any", verify = "peer", cafile = dir .. "/ca.pem",
}

local server = assert(socket.bind("127.0.0.1", 0))
local _, port = server:getsockname()
copas.addserver(server, copas.handler(function(client)
  while true do
    local line, err = client:receive("*l")
    if line then
      client:send(line .. "\n")
    elseif err ~= "timeout" then
      return
    end
  end
end, server_params))

local line = string.rep("x", 63) .. "\n"
local lines, handshakes, failures, running = 0, 0, 0, C
local first_error
local started, deadline

local function client()
  local conn = copas.wrap(socket.tcp(), client_params)
  local ok, err = conn:connect("localhost", port)
  if ok then
    handshakes = handshakes + 1
    while gettime() < deadline do
      local sent, serr = conn:send(line)
      local echoed, rerr = sent and conn:receive("*l")
      if not echoed then
        failures = failures + 1
        first_error = first_error or tostring(serr or rerr)
        break
      end
      lines = lines + 1
    end
  else
    failures = failures + 1
    first_error = first_error or tostring(err)
  end
  conn:close()
  running = running - 1
  if running == 0 then copas.removeserver(server) end
end

started = gettime()
deadline = started + T
for _ = 1, C do copas.addthread(client) end
copas.loop()
local elapsed = gettime() - started
print(string.format(
  '{"clients":%d,"handshakes":%d,"failed":%d,"lines":%d,"msgs_per_s":%.1f,"first_error":"%s"}',
  C, handshakes, failures, lines, lines / elapsed, (first_error or ""):gsub('[%c"\\]', " ")))
