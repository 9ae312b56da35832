-- The runner's interactive prompt, driven through a pseudo-terminal as a person would
-- use it: a Python helper (its pty module) starts the runner on a terminal, types
-- lines once the prompt shows and gives back the screen with escape sequences removed.
-- Runs on the runner only (it tests the binary, whatever starts the file), and skips
-- without python3.
local t = require("t")

local ON_RUNNER = package.preload["socket.core"] ~= nil
local RUNNER = os.getenv("COPAS_RUNNER") or "target/debug/copas"

-- Types each key once the runner reads the next line, then Ctrl-D, and prints the
-- screen and the exit status. The prompt text alone cannot tell that: rustyline
-- reprints "> " with every keystroke it echoes, and a key typed while the line runs
-- reaches the terminal in cooked mode, where Ctrl-D is lost. Turning on bracketed paste
-- ("\27[?2004h") is the first thing each read does, in raw mode, so that is counted.
-- Every wait is bounded (30 s, against hangs); a runner that does not exit is killed.
local DRIVER = [==[
import os, pty, re, select, signal, sys, time
runner, rest = sys.argv[1], sys.argv[2:]
split = rest.index("--")
args, lines = rest[:split], rest[split + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "xterm"
    os.execv(runner, [runner] + args)
screen = b""
READING = b"\x1b[?2004h"
def read_more(deadline):
    global screen
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    ready, _, _ = select.select([fd], [], [], left)
    if not ready:
        return False
    try:
        data = os.read(fd, 4096)
    except OSError:
        data = b""
    screen += data
    return len(data) > 0
keys = [line.encode().replace(b"\\e", b"\x1b") + b"\r" for line in lines] + [b"\x04"]
for reads, key in enumerate(keys):
    deadline = time.monotonic() + 30
    while screen.count(READING) <= reads and read_more(deadline):
        pass
    os.write(fd, key)
deadline = time.monotonic() + 30
while read_more(deadline):
    pass
status = None
for _ in range(300):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.1)
else:
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", screen).replace(b"\r", b"")
sys.stdout.write(text.decode("utf-8", "replace"))
sys.stdout.write("\nstatus %d\n" % os.waitstatus_to_exitcode(status))
]==]

local function quote(word)
  return "'" .. (word:gsub("'", "'\\''")) .. "'"
end

local function have_python()
  local pipe = io.popen("python3 -c 'import pty' 2>/dev/null && echo yes")
  local answer = pipe:read("*a")
  pipe:close()
  return answer:find("yes", 1, true) ~= nil
end

local skip
if not ON_RUNNER then
  skip = "the runner's prompt is tested from the runner's own run"
elseif not have_python() then
  skip = "no python3 with the pty module"
end

-- Starts the runner with `args` on a terminal and types `lines`, then Ctrl-D.
-- Returns the screen and the exit status.
local function session(args, lines)
  local driver = os.tmpname()
  local file = assert(io.open(driver, "wb"))
  file:write(DRIVER)
  file:close()
  local words = { "python3", quote(driver), quote(RUNNER) }
  for _, word in ipairs(args) do words[#words + 1] = quote(word) end
  words[#words + 1] = "--"
  for _, line in ipairs(lines) do words[#words + 1] = quote(line) end
  local pipe = assert(io.popen(table.concat(words, " ") .. " 2>&1"))
  local output = pipe:read("*a")
  pipe:close()
  os.remove(driver)
  local screen, status = output:match("^(.*)\nstatus (%-?%d+)\n$")
  return screen or output, tonumber(status)
end

local function contains(text, part)
  t.ok(text:find(part, 1, true), string.format("%q does not contain %q", text, part))
end

t.test("with no script on a terminal, the runner prompts, evaluates and prints", function()
  if skip then print("skip: " .. skip) return end
  local screen, status = session({}, { "x = 6 * 7", "x", "'a', nil, 3" })
  t.eq(status, 0, screen)
  contains(screen, "copas-rs ")
  contains(screen, "> x\n42\n")
  contains(screen, "a\tnil\t3\n")
end)

t.test("an unfinished statement asks for more with the second prompt", function()
  if skip then print("skip: " .. skip) return end
  local screen = session({}, { "for i = 1, 2 do", "print('line', i) end" })
  contains(screen, ">> ")
  contains(screen, "line\t1\nline\t2\n")
end)

t.test("the up arrow brings back the previous line", function()
  if skip then print("skip: " .. skip) return end
  local screen = session({}, { "n = (n or 0) + 1", "\\e[A", "n" })
  contains(screen, "> n\n2\n")
end)

t.test("an error is printed with a traceback without the runner's frames, and the prompt goes on", function()
  if skip then print("skip: " .. skip) return end
  local screen, status = session({}, { "error('boom')", "print('still here')" })
  t.eq(status, 0, screen)
  contains(screen, "stdin:1: boom\nstack traceback:\n")
  contains(screen, "\t[C]: in ?\n")
  t.eq(screen:find("xpcall", 1, true), nil, screen)
  contains(screen, "still here\n")
end)

t.test("-i prompts after running the script and sees its globals", function()
  if skip then print("skip: " .. skip) return end
  local script = os.tmpname()
  local file = assert(io.open(script, "wb"))
  file:write("answer = 41 + 1\nprint('script ran')\n")
  file:close()
  local screen, status = session({ "-i", script }, { "answer" })
  os.remove(script)
  t.eq(status, 0, screen)
  contains(screen, "script ran\n")
  contains(screen, "> answer\n42\n")
end)

t.run()
