-- A Copas call from a coroutine nested inside a Copas thread. On plain Lua 5.1, pcall
-- cannot yield, so programs use coxpcall's copcall, which runs the call in a coroutine
-- of its own and passes its yields on: there the call yields to Copas as upstream's
-- does. Elsewhere the nested coroutine is a generator whose resumer would swallow
-- the yield, so Copas raises an error instead.
local t = require("t")
local copas = require("copas")
local socket = require("socket")
local unpack = table.unpack or unpack

local NESTED_YIELDS = _VERSION == "Lua 5.1" and rawget(_G, "jit") == nil

-- What coxpcall's copcall does: run `f` in a coroutine, passing each of its yields on
-- to the caller's resumer and the answers back.
local function copcall(f, ...)
  local co = coroutine.create(f)
  local results = { coroutine.resume(co, ...) }
  while coroutine.status(co) ~= "dead" do
    results = { coroutine.resume(co, coroutine.yield(unpack(results, 2))) }
  end
  return unpack(results)
end

t.test("sleep inside copcall", function()
  local log = {}
  copas.addthread(function()
    local ok, err = copcall(function()
      copas.sleep(0.01)
      log[#log + 1] = "slept"
    end)
    log[#log + 1] = ok and "ok" or ("error: " .. tostring(err))
  end)
  copas.addthread(function() log[#log + 1] = "other" end)
  copas.loop()
  if NESTED_YIELDS then
    t.eq(log, { "other", "slept", "ok" })
  else
    table.sort(log)
    t.eq(#log, 2)
    t.ok(log[1]:find("cannot yield to Copas from a coroutine created inside", 1, true), log[1])
  end
end)

t.test("receive and send inside copcall", function()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  local got, err
  copas.addserver(server, function(c)
    copcall(function()
      local line = copas.receive(c, "*l")
      if line then copas.send(c, line:upper() .. "\n") end
    end)
  end)
  copas.addthread(function()
    local client = copas.wrap(socket.tcp())
    assert(client:connect("127.0.0.1", port))
    client:send("nested\n")
    got, err = client:receive("*l")
    client:close()
    copas.removeserver(server)
  end)
  copas.loop()
  if NESTED_YIELDS then
    t.eq(got, "NESTED")
  else
    t.eq(got, nil)
    t.eq(err, "closed")
  end
end)

-- Copas 4.9: a lock or semaphore used inside copcall belongs to the Copas thread, so
-- the thread releases it outside copcall, and a waiter inside copcall is woken.
t.test("lock and semaphore inside copcall belong to the thread", function()
  local lock = copas.lock.new(1)
  local sem = copas.semaphore.new(2, 0)
  local log = {}
  copas.addthread(function()
    copcall(function() log[#log + 1] = lock:get() end)
    log[#log + 1] = lock:release()
  end)
  copas.addthread(function()
    local ok, got = copcall(function() return sem:take(1, 5) end)
    log[#log + 1] = ok and got
  end)
  copas.addthread(function() log[#log + 1] = sem:give(1) end)
  copas.loop()
  if NESTED_YIELDS then
    t.eq(log, { 0, true, true, true })
  else
    t.eq(log[1], 0)
  end
end)

t.run()
