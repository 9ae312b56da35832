-- A Copas echo server on 127.0.0.1, after the echo server of the Copas manual.
--
--   copas examples/echo_server.lua        serve on a free port, talk to it once, exit
--   copas examples/echo_server.lua 8000   serve on port 8000 until interrupted
--                                         (try `nc 127.0.0.1 8000`; "quit" ends a session)
--
-- The same file runs on stock Lua with our loadable module:
--   LUA_PATH="target/lua-modules/lua54/?.lua;;" LUA_CPATH="target/lua-modules/lua54/?.so;;" \
--     lua5.4 examples/echo_server.lua
local socket = require("socket")
local copas = require("copas")

local host = "127.0.0.1"
local port = 0
if arg and arg[1] then
  port = assert(tonumber(arg[1]), "usage: echo_server.lua [port]")
end

-- Copas runs one handler per client, in a coroutine of its own: echo each line until
-- the client says "quit" or goes away. Copas closes the client socket afterwards.
local function echo_handler(skt)
  skt = copas.wrap(skt)
  while true do
    local line = skt:receive()
    if line == nil or line == "quit" then
      break
    end
    skt:send(line .. "\n")
  end
end

local server = assert(socket.bind(host, port))
local _, bound_port = server:getsockname()
copas.addserver(server, echo_handler)
print(("echo server listening on %s:%s"):format(host, bound_port))

if port == 0 then
  -- A client task talks to the server, then removes it, which lets the loop end.
  copas.addthread(function()
    local client = copas.wrap(socket.tcp())
    assert(client:connect(host, bound_port))
    for _, line in ipairs({ "hello", "from", "copas-rs" }) do
      client:send(line .. "\n")
      print("echoed: " .. tostring(client:receive()))
    end
    client:send("quit\n")
    client:close()
    copas.removeserver(server)
  end)
end

copas.loop()
print("done")
