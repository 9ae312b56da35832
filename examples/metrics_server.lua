-- An echo server with its scheduler metrics on a second port, in Prometheus' format,
-- and the watchdog reporting any handler that holds the loop for more than 50 ms.
--
--   copas examples/metrics_server.lua             serve on free ports, scrape once, exit
--   copas examples/metrics_server.lua 8000 9100   echo on 8000, metrics on 9100 until
--                                                 interrupted (try `nc 127.0.0.1 8000`,
--                                                 then `curl http://127.0.0.1:9100/metrics`;
--                                                 the line "block" makes the handler
--                                                 spin for 200 ms: watch stderr)
--
-- The same file runs on stock Lua with our loadable module:
--   LUA_PATH="target/lua-modules/lua54/?.lua;;" LUA_CPATH="target/lua-modules/lua54/?.so;;" \
--     lua5.4 examples/metrics_server.lua
local socket = require("socket")
local copas = require("copas")

local host = "127.0.0.1"
local echo_port, metrics_port = 0, 0
if arg and arg[1] then
  echo_port = assert(tonumber(arg[1]), "usage: metrics_server.lua [echo_port metrics_port]")
  metrics_port = assert(tonumber(arg[2]), "usage: metrics_server.lua [echo_port metrics_port]")
end

-- Reports go to stderr with the offending thread's name and traceback.
copas.watchdog(0.05)

local function echo_handler(skt)
  skt = copas.wrap(skt)
  while true do
    local line = skt:receive()
    if line == nil or line == "quit" then
      break
    end
    if line == "block" then
      -- What not to do in a handler: hold the loop without yielding.
      local t0 = os.clock()
      while os.clock() - t0 < 0.2 do end
    end
    skt:send(line .. "\n")
  end
end

local server = assert(socket.bind(host, echo_port))
local _, bound_echo = server:getsockname()
copas.addserver(server, echo_handler, nil, "echo")
local metrics_server, bound_metrics = copas.metrics.serve(host, metrics_port)
print(("echo on %s:%s, metrics on http://%s:%s/metrics"):format(host, bound_echo, host, bound_metrics))

if echo_port == 0 then
  -- Some traffic, one scrape, then the servers go and the loop ends.
  copas.addthread(function()
    local client = copas.wrap(socket.tcp())
    assert(client:connect(host, bound_echo))
    for _, line in ipairs({ "hello", "metrics" }) do
      client:send(line .. "\n")
      client:receive()
    end
    client:send("quit\n")
    client:close()

    local scraper = copas.wrap(socket.tcp())
    assert(scraper:connect(host, bound_metrics))
    scraper:send("GET /metrics HTTP/1.0\r\n\r\n")
    local reply = scraper:receive("*a")
    scraper:close()
    for line in reply:gmatch("[^\r\n]+") do
      if line:find("^copas_connections_accepted_total") or line:find("^copas_received_bytes_total")
        or line:find("^copas_resume_duration_seconds{") then
        print(line)
      end
    end
    copas.removeserver(server)
    copas.removeserver(metrics_server)
  end)
end

copas.loop()
copas.watchdog(nil)
print("done")
