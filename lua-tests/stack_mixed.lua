-- Mixed stacks: another LuaSocket's socket.lua ahead of ours on LUA_PATH, LuaSec's
-- ssl.lua asking for ssl.core, or another stack's module already loaded, must stop
-- `require` with an error naming both files instead of running on a mixture.
local t = require("t")

-- Before anything of ours loads: on the runner our modules are preloaded already.
local ON_RUNNER = package.preload["socket.core"] ~= nil
local IMPLEMENTATION = "copas-rs 0.1.0"

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir '" .. dir .. "'"))

local function write_file(path, contents)
  local file = assert(io.open(path, "wb"))
  file:write(contents)
  file:close()
end

-- What another LuaSocket's socket.lua and LuaSec's ssl.lua start with.
write_file(dir .. "/socket.lua", 'local core = require("socket.core")\nreturn core\n')
write_file(dir .. "/ssl.lua", 'local core = require("ssl.core")\nreturn core\n')
local saved_path = package.path
package.path = dir .. "/?.lua;" .. package.path

local function contains(text, part)
  t.ok(text:find(part, 1, true), string.format("%q does not contain %q", text, part))
end

t.test("a foreign socket.lua first on LUA_PATH is refused, naming both files", function()
  local ok, err = pcall(require, "socket")
  if ON_RUNNER then
    -- The runner's preloaded modules come before any file on LUA_PATH.
    t.ok(ok, tostring(err))
    t.eq(err._IMPLEMENTATION, IMPLEMENTATION)
    package.loaded.socket = nil
    return
  end
  t.ok(not ok, "the foreign socket.lua ran on our socket.core")
  err = tostring(err)
  contains(err, "mixed stacks")
  contains(err, dir .. "/socket.lua")
  t.ok(err:find("/[^ ]+%.so"), "our library's file is not named: " .. err)
  -- Lua 5.1 leaves its "being loaded" mark behind a failed require.
  package.loaded.socket = nil
end)

t.test("a foreign socket.lua run by hand is refused too", function()
  package.loaded["socket.core"] = nil
  local ok, err = pcall(dofile, dir .. "/socket.lua")
  t.ok(not ok)
  contains(tostring(err), dir .. "/socket.lua")
  contains(tostring(err), "mixed stacks")
end)

t.test("LuaSec's ssl.lua asking for ssl.core gets the mixed-stack error", function()
  local ok, err = pcall(dofile, dir .. "/ssl.lua")
  t.ok(not ok)
  contains(tostring(err), dir .. "/ssl.lua")
  contains(tostring(err), "'ssl.core'")
end)

t.test("our modules refuse to load beside another stack's socket already loaded", function()
  package.path = saved_path
  local foreign = { _VERSION = "LuaSocket 3.1.0" }
  package.loaded.socket = foreign
  package.loaded.copas = nil
  local ok, err = pcall(require, "copas")
  package.loaded.socket = nil
  t.ok(not ok, "copas loaded on a foreign socket")
  contains(tostring(err), "module 'socket' is already loaded")
end)

t.test("with nothing foreign around, every module says it is copas-rs", function()
  package.path = saved_path
  for _, name in ipairs({ "socket.core", "socket", "copas", "mime" }) do
    package.loaded[name] = nil
  end
  t.eq(require("socket")._IMPLEMENTATION, IMPLEMENTATION)
  t.eq(require("socket.core")._IMPLEMENTATION, IMPLEMENTATION)
  t.eq(require("ssl")._IMPLEMENTATION, IMPLEMENTATION)
  t.eq(require("copas")._IMPLEMENTATION, IMPLEMENTATION)
end)

t.run(function()
  os.remove(dir .. "/socket.lua")
  os.remove(dir .. "/ssl.lua")
  os.remove(dir)
end)
