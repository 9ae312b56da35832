-----------------------------------------------------------------------------
-- copas.http: socket.http's API on Copas sockets; inside a Copas task a request
-- yields to the loop while it waits, outside one it blocks. Shared implementation in
-- socket.http.client.
--
--   copas.addthread(function()
--     local body, code = require("copas.http").request("http://127.0.0.1:8080/")
--   end)
-----------------------------------------------------------------------------
return require("socket.http.client").new("copas")
