-- LuaRocks (Debian's luarocks package) fetches a rockspec and its sources over https
-- from a local nginx with the test CA, through our ssl.https: the program gives no CA,
-- so the CA comes from SSL_CERT_FILE, as OpenSSL's default paths would take it. Skips
-- when luarocks, nginx or the test certificates are missing.
local t = require("t")
local nginx = require("nginx")

local certs = os.getenv("COPAS_TEST_CERTS")
local lua_version = _VERSION:match("%d+%.%d+")
if rawget(_G, "jit") then lua_version = "5.1" end
local luarocks_dir = "/usr/share/lua/" .. lua_version .. "/luarocks"

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

local function run(command)
  local pipe = assert(io.popen(command .. " 2>&1"))
  local out = pipe:read("*a")
  local ok, _, code = pipe:close()
  return out, ok == true or ok == 0 or code == 0
end

local why
if not certs then
  why = "COPAS_TEST_CERTS is not set"
elseif not exists("/usr/bin/luarocks") or not exists(luarocks_dir .. "/core/cfg.lua") then
  why = "Debian's luarocks is not installed for Lua " .. lua_version
end

t.test("luarocks unpack of an https rockspec URL goes through ssl.https", function()
  if why then return nginx.skip(why) end
  local srv, err = nginx.start({
    files = {},
    tls = { cert = certs .. "/localhost.pem", key = certs .. "/localhost.key" },
  })
  if not srv then return nginx.skip(err) end
  local work = os.tmpname()
  os.remove(work)
  assert(run("mkdir -p " .. work .. "/src/hello-1.0 " .. work .. "/lua " .. work .. "/out"))
  local base = srv.url("/", "localhost")
  local rockspec = assert(io.open(srv.dir .. "/www/hello-1.0-1.rockspec", "w"))
  rockspec:write(([[
package = "hello"
version = "1.0-1"
source = { url = "%shello-1.0.tar.gz" }
description = { summary = "A test rock", license = "MIT" }
build = { type = "builtin", modules = { hello = "hello.lua" } }
]]):format(base))
  rockspec:close()
  assert(run(("echo 'return 1' > %s/src/hello-1.0/hello.lua && tar -czf %s/www/hello-1.0.tar.gz -C %s/src hello-1.0")
    :format(work, srv.dir, work)))
  -- LuaRocks' own Lua files and nothing else of the system's: our socket, ssl and
  -- ssl.https come from this test's LUA_CPATH alone.
  assert(run(("ln -s %s %s/lua/luarocks"):format(luarocks_dir, work)))
  -- Its fallbacks (wget, curl) made to fail: the download is ours or nothing.
  local config = assert(io.open(work .. "/config.lua", "w"))
  config:write('variables = { WGET = "/bin/false", CURL = "/bin/false" }\n')
  config:close()
  -- The harness's LUA_CPATH may be relative, and luarocks runs elsewhere.
  local cwd = assert(os.getenv("PWD"))
  local function absolute(paths)
    return (paths:gsub("[^;]+", function(entry)
      return entry:sub(1, 1) == "/" and entry or (cwd .. "/" .. entry)
    end))
  end
  local cpath = absolute(package.cpath)
  -- Installed as a rock, our modules are found through Lua loader files on the path.
  local path = absolute(package.path)
  local interpreter = arg[-1]
  if interpreter:find("/", 1, true) and interpreter:sub(1, 1) ~= "/" then
    interpreter = cwd .. "/" .. interpreter
  end
  local out, ok = run(("cd %s/out && HOME=%s LUAROCKS_CONFIG=%s/config.lua SSL_CERT_FILE=%s/ca.pem "
    .. "LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;%s' LUA_CPATH='%s' %s /usr/bin/luarocks unpack "
    .. "%shello-1.0-1.rockspec")
    :format(work, work, work, certs, work, work, path, cpath, interpreter, base))
  local log = srv.log("GET", 2)
  srv.stop()
  local unpacked = exists(work .. "/out/hello-1.0-1/hello-1.0/hello.lua")
  run("rm -rf " .. work)
  t.ok(ok and unpacked, out)
  t.eq(#log, 2, table.concat(log, "\n"))
end)

t.run()
