-- Starts a Python server for a test (pyftpdlib, aiosmtpd) on 127.0.0.1 with an
-- ephemeral port, and stops it:
--
--   local pyserver = require("pyserver")
--   local srv, why = pyserver.start_with("pyftpdlib", SCRIPT) -- srv.port, srv.dir (a temp dir)
--   local test = pyserver.tester(srv, why)        -- test(name, f) skips without srv
--   ...
--   srv:stop()                                    -- kills it, removes srv.dir
--
-- SCRIPT is Python source run as `python3 script DIR`; it must print "PID PORT" (or
-- "PID PORT PORT...", then in srv.ports) on one line once it listens. It should call `watchdog.start()` (from watchdog_exit
-- import watchdog, with DIR on sys.path), which ends the server when the test's
-- process is gone or after 110 s, in case the test dies before stopping it.
local M = {}

local function succeeded(a, _, c)
  -- os.execute gives a status number on Lua 5.1, true/nil, "exit", code later.
  if type(a) == "number" then return a == 0 end
  return a == true and (c == nil or c == 0)
end

local function sh(command)
  return succeeded(os.execute(command))
end

function M.has(module)
  return sh("python3 -c 'import " .. module .. "' >/dev/null 2>&1")
end

function M.tmpdir()
  local pipe = assert(io.popen("mktemp -d", "r"))
  local dir = pipe:read("*l")
  pipe:close()
  return assert(dir, "mktemp -d failed")
end

function M.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("*a")
  f:close()
  return data
end

local server = {}
server.__index = server

function server:stop()
  if self.pid then sh("kill " .. self.pid .. " 2>/dev/null") end
  self.pid = nil
  if self.pipe then self.pipe:close() end
  self.pipe = nil
  sh("rm -rf '" .. self.dir .. "'")
end

local WATCHDOG = [=[
import os, threading, time

class watchdog:
    @staticmethod
    def start():
        parent = os.getppid()
        deadline = time.monotonic() + 110
        def watch():
            while os.getppid() == parent and time.monotonic() < deadline:
                time.sleep(0.2)
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
]=]

function M.start(script)
  local dir = M.tmpdir()
  M.write(dir .. "/watchdog_exit.py", WATCHDOG)
  M.write(dir .. "/server.py", script)
  local pipe = assert(io.popen("exec python3 '" .. dir .. "/server.py' '" .. dir .. "' 2>'"
    .. dir .. "/server.log'", "r"))
  local line = pipe:read("*l")
  local pid, ports = (line or ""):match("^(%d+)([ %d]+)$")
  if not pid then
    pipe:close()
    local log = M.read(dir .. "/server.log") or ""
    sh("rm -rf '" .. dir .. "'")
    return nil, "server did not start: " .. log
  end
  local list = {}
  for port in ports:gmatch("%d+") do list[#list + 1] = tonumber(port) end
  return setmetatable({ pid = pid, port = list[1], ports = list, dir = dir, pipe = pipe }, server)
end

-- Starts `script` if python3 has `module`: the server, or nil and why not.
function M.start_with(module, script)
  if not M.has(module) then return nil, "python3 with " .. module .. " not found" end
  return M.start(script)
end

-- A t.test that prints "skip: <why>" instead of running its body when `srv` is nil.
function M.tester(srv, why)
  local t = require("t")
  return function(name, f)
    t.test(name, function()
      if not srv then
        print("skip: " .. why)
        return
      end
      f()
    end)
  end
end

-- pyftpdlib with a user ("user", "secret") and anonymous access (read-only) on
-- DIR/root, and no pause after a failed login (tests log in wrongly on purpose).
M.FTP = [[
import logging, os, sys
sys.path.insert(0, sys.argv[1])
from watchdog_exit import watchdog
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

logging.basicConfig(level=logging.ERROR)
root = os.path.join(sys.argv[1], "root")
os.mkdir(root)
authorizer = DummyAuthorizer()
authorizer.add_user("user", "secret", root, perm="elradfmwMT")
authorizer.add_anonymous(root, perm="elr")
handler = FTPHandler
handler.authorizer = authorizer
# No 3 s pause after a failed login (the error tests log in wrongly on purpose).
handler.auth_failed_timeout = 0
server = FTPServer(("127.0.0.1", 0), handler)
print(os.getpid(), server.socket.getsockname()[1], flush=True)
watchdog.start()
server.serve_forever()
]]

-- Two aiosmtpd servers in one process (the second offers only AUTH PLAIN; user
-- "user", password "secret"). Each message is stored as DIR/<first recipient's local
-- part>.eml (the exact DATA bytes) and .env (MAIL FROM, then each RCPT TO, one a line)
-- before the 250 reply goes out; recipients starting with "reject" are refused.
M.SMTP = [[
import asyncio, logging, os, sys
sys.path.insert(0, sys.argv[1])
from watchdog_exit import watchdog
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

logging.basicConfig(level=logging.CRITICAL)
outdir = sys.argv[1]

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = os.path.join(outdir, envelope.rcpt_tos[0].split("@")[0])
        with open(name + ".env", "w") as f:
            f.write("\n".join([envelope.mail_from] + envelope.rcpt_tos) + "\n")
        with open(name + ".eml", "wb") as f:
            f.write(envelope.original_content)
        return "250 OK"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"user"
          and auth_data.password == b"secret")
    return AuthResult(success=ok, handled=False)

loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
def serve(exclude):
    factory = lambda: SMTP(Handler(), authenticator=authenticator, auth_require_tls=False,
                           auth_exclude_mechanism=exclude, loop=loop)
    return loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0))
servers = [serve([]), serve(["LOGIN"])]
print(os.getpid(), *[s.sockets[0].getsockname()[1] for s in servers], flush=True)
watchdog.start()
loop.run_forever()
]]

return M
