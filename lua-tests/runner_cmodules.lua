-- C modules built for Lua 5.4 (Debian's lua-filesystem, lua-cjson, lua-lpeg) load into
-- the runner: it exports the Lua C API they link against, and its default C path
-- includes the directory Debian installs them in. Runs on the runner only (the
-- modules are 5.4 builds); each test skips when its package is absent.
local t = require("t")

local ON_RUNNER = package.preload["socket.core"] ~= nil
local RUNNER = os.getenv("COPAS_RUNNER") or "target/debug/copas"
local SYSTEM_CPATH = "/usr/lib/x86_64-linux-gnu/lua/5.4/?.so;/usr/lib/aarch64-linux-gnu/lua/5.4/?.so;"
  .. "/usr/lib/lua/5.4/?.so"

-- test-lua gives the runner an empty LUA_CPATH; the modules' own directories are
-- named here instead.
package.cpath = SYSTEM_CPATH

local function available(name)
  if not ON_RUNNER then
    return nil, "C modules for Lua 5.4 are tested on the runner"
  end
  if not package.searchpath(name, SYSTEM_CPATH) then
    return nil, "no " .. name .. ".so for Lua 5.4 installed"
  end
  return true
end

t.test("lfs loads and reads the file system", function()
  local ok, why = available("lfs")
  if not ok then print("skip: " .. why) return end
  local lfs = require("lfs")
  t.eq(lfs.attributes(".", "mode"), "directory")
  t.eq(lfs.attributes("lua-tests/runner_cmodules.lua", "mode"), "file")
  t.ok(lfs.currentdir():find("/", 1, true))
end)

t.test("cjson loads and round-trips a table", function()
  local ok, why = available("cjson")
  if not ok then print("skip: " .. why) return end
  local cjson = require("cjson")
  local value = cjson.decode(cjson.encode({ a = { 1, 2, "x" }, b = true }))
  t.eq(value, { a = { 1, 2, "x" }, b = true })
end)

t.test("lpeg loads and matches", function()
  local ok, why = available("lpeg")
  if not ok then print("skip: " .. why) return end
  local lpeg = require("lpeg")
  local digits = lpeg.C(lpeg.R("09") ^ 1)
  t.eq(digits:match("2024-05"), "2024")
  t.eq(digits:match("x"), nil)
end)

t.test("a C module works beside ours inside a Copas thread", function()
  local ok, why = available("lfs")
  if not ok then print("skip: " .. why) return end
  local lfs = require("lfs")
  local copas = require("copas")
  local mode
  copas.addthread(function()
    copas.pause(0)
    mode = lfs.attributes(".", "mode")
  end)
  copas.loop()
  t.eq(mode, "directory")
end)

t.test("without LUA_CPATH the runner finds Debian's modules by itself", function()
  local ok, why = available("lfs")
  if not ok then print("skip: " .. why) return end
  local command = "env -u LUA_CPATH -u LUA_CPATH_5_4 '" .. RUNNER:gsub("'", "'\\''")
    .. "' -e 'print(require(\"lfs\")._VERSION)' 2>&1"
  local pipe = assert(io.popen(command))
  local output = pipe:read("*a")
  pipe:close()
  t.ok(output:find("^LuaFileSystem"), output)
end)

t.run()
