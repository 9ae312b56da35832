-----------------------------------------------------------------------------
-- socket.http: LuaSocket's HTTP client API on blocking sockets (and https through
-- the `ssl` module). The implementation is shared with copas.http, in
-- socket.http.client.
--
--   local body, code, headers, status = require("socket.http").request("http://127.0.0.1:8080/")
-----------------------------------------------------------------------------
return require("socket.http.client").new("socket")
