-- Line echo server on luv (libuv's Lua binding), written the way a luv user writes
-- one: callbacks, and each read's complete lines echoed in one write.
-- usage: echo_luv.lua [PORT=0] [CLOSE_AFTER]; prints "LISTENING <port>" once bound, and
-- ends after CLOSE_AFTER connections closed, when given (bench/icount).
local uv = require("luv")

local close_after, closed = tonumber(arg[2]), 0
local server = uv.new_tcp()
assert(server:bind("127.0.0.1", tonumber(arg[1]) or 0))
assert(server:listen(4096, function(err)
  assert(not err, err)
  local client = uv.new_tcp()
  server:accept(client)
  client:nodelay(true)
  local pending = ""
  client:read_start(function(read_err, data)
    if read_err or not data then
      client:close()
      closed = closed + 1
      if closed == close_after then server:close() end
      return
    end
    pending = pending .. data
    local last = pending:match(".*()\n")
    if last then
      client:write(pending:sub(1, last))
      pending = pending:sub(last + 1)
    end
  end)
end))

io.write("LISTENING ", server:getsockname().port, "\n")
io.flush()
uv.run()
