-- The `copas` runner binary as a command: the `arg` table, -e, -l, -v, --, reading the
-- script from stdin, the shebang line, and how errors end it (status 1, stderr).
-- The runner is started through the shell, so these tests run on any interpreter;
-- COPAS_RUNNER names it (cargo xtask test-lua sets it).
local t = require("t")

local RUNNER = os.getenv("COPAS_RUNNER") or "target/debug/copas"

local function quote(word)
  return "'" .. (word:gsub("'", "'\\''")) .. "'"
end

local function write_file(path, contents)
  local file = assert(io.open(path, "wb"))
  file:write(contents)
  file:close()
end

local function read_file(path)
  local file = assert(io.open(path, "rb"))
  local contents = file:read("*a")
  file:close()
  return contents
end

-- Runs the runner with `args`. `options.script` is written to a temporary file whose
-- path replaces every "{script}" in `args`; `options.stdin` is fed to standard input.
-- Returns { status = n, stdout = s, stderr = s, script = path }.
local function run(args, options)
  options = options or {}
  local script = os.tmpname()
  local input = os.tmpname()
  local errors = os.tmpname()
  write_file(script, options.script or "")
  write_file(input, options.stdin or "")
  local words = { quote(RUNNER) }
  for _, arg in ipairs(args) do
    words[#words + 1] = quote(arg == "{script}" and script or arg)
  end
  local command = table.concat(words, " ") .. " <" .. quote(input) .. " 2>" .. quote(errors)
    .. "; printf '\\n%d\\n' $?"
  local pipe = assert(io.popen(command, "r"))
  local output = pipe:read("*a")
  pipe:close()
  local result = { stderr = read_file(errors), script = script }
  os.remove(script)
  os.remove(input)
  os.remove(errors)
  local stdout, status = output:match("^(.*)\n(%d+)\n$")
  result.stdout, result.status = stdout, tonumber(status)
  return result
end

local function contains(text, part)
  t.ok(text:find(part, 1, true), string.format("%q does not contain %q", text, part))
end

t.test("the runner is there", function()
  local file = io.open(RUNNER, "rb")
  t.ok(file, "no runner at " .. RUNNER .. " (set COPAS_RUNNER)")
  file:close()
end)

t.test("the script gets its arguments in arg and as ...", function()
  local r = run({ "{script}", "a", "b c" }, { script = [[
print(table.concat({ ... }, ","))
print(#arg, arg[1], arg[2])
print(arg[0])
]] })
  t.eq(r.stderr, "")
  t.eq(r.status, 0)
  t.eq(r.stdout, "a,b c\n2\ta\tb c\n" .. r.script .. "\n")
end)

t.test("the interpreter and its options take the negative indices of arg", function()
  local r = run({ "-e", "x = 1", "{script}", "a" }, {
    script = "print(arg[-3], arg[-2], arg[-1], arg[1], x)",
  })
  t.eq(r.status, 0)
  t.eq(r.stdout, RUNNER .. "\t-e\tx = 1\ta\t1\n")
  r = run({ "{script}" }, { script = "print(arg[-1], arg[-2])" })
  t.eq(r.stdout, RUNNER .. "\tnil\n")
end)

t.test("-e runs its statements in order", function()
  local r = run({ "-e", "x = 20", "-e", "print(x + 1)" })
  t.eq(r.stderr, "")
  t.eq(r.stdout, "21\n")
  t.eq(r.status, 0)
end)

t.test("-l requires a module into the global of its name", function()
  local r = run({ "-l", "socket", "-e", "print(type(socket), socket._VERSION)" })
  t.eq(r.stderr, "")
  t.eq(r.status, 0)
  t.ok(r.stdout:match("^table\tLuaSocket 3"), r.stdout)
end)

t.test("-l of a missing module exits with status 1 naming it", function()
  local r = run({ "-l", "no_such_module", "-e", "print('not reached')" })
  t.eq(r.status, 1)
  t.eq(r.stdout, "")
  contains(r.stderr, "no_such_module")
end)

t.test("-v prints the version and carries on", function()
  local r = run({ "-v" })
  t.eq(r.status, 0)
  contains(r.stdout, "Lua")
  r = run({ "-v", "-e", "print('after')" })
  t.ok(r.stdout:match("\nafter\n$"), r.stdout)
end)

t.test("-- ends the options", function()
  local r = run({ "--", "{script}", "-v" }, { script = "print(arg[1])" })
  t.eq(r.status, 0)
  t.eq(r.stdout, "-v\n")
end)

t.test("- reads the script from stdin", function()
  local r = run({ "-", "x", "y" }, { stdin = "print(arg[0], ...)\n" })
  t.eq(r.stderr, "")
  t.eq(r.status, 0)
  t.eq(r.stdout, "-\tx\ty\n")
end)

t.test("errors read as lua prints them, without mlua's prefixes", function()
  local r = run({ "{script}" }, { script = "error('plain')\n" })
  t.eq(r.status, 1)
  t.eq(r.stderr:find("runtime error", 1, true), nil, r.stderr)
  local s = run({ "{script}" }, { script = "x = = 1\n" })
  t.eq(s.stderr:find("syntax error:", 1, true), nil, s.stderr)
end)

t.test("error values that are not strings are shown as lua shows them", function()
  local r = run({ "-e", "error({})" })
  t.eq(r.status, 1)
  contains(r.stderr, "(error object is a table value)")
  local s = run({ "-e", "error(setmetatable({}, { __tostring = function() return 'custom text' end }))" })
  contains(s.stderr, "custom text")
end)

t.test("a script from stdin skips its shebang line too", function()
  local r = run({ "-" }, { stdin = "#!/usr/bin/env copas\nprint('ran')\n" })
  t.eq(r.status, 0)
  t.eq(r.stdout, "ran\n")
end)

t.test("with no arguments, a non-terminal stdin is the script", function()
  local r = run({}, { stdin = "print('from stdin')\n" })
  t.eq(r.status, 0)
  t.eq(r.stdout, "from stdin\n")
end)

t.test("a script file leaves stdin to the script", function()
  local r = run({ "{script}" }, { script = "print(io.read())", stdin = "hello\n" })
  t.eq(r.stdout, "hello\n")
end)

t.test("an error in the script exits with status 1 and its message on stderr", function()
  local r = run({ "{script}" }, { script = "local x = 1\nerror('boom')\n" })
  t.eq(r.status, 1)
  t.eq(r.stdout, "")
  contains(r.stderr, r.script .. ":2: boom")
end)

t.test("a syntax error exits with status 1 naming the place", function()
  local r = run({ "{script}" }, { script = "print('never')\nx = = 1\n" })
  t.eq(r.status, 1)
  t.eq(r.stdout, "")
  contains(r.stderr, r.script .. ":2:")
end)

t.test("an error in -e exits with status 1", function()
  local r = run({ "-e", "error('from -e')" })
  t.eq(r.status, 1)
  contains(r.stderr, "from -e")
end)

t.test("a missing script exits with status 1 naming it", function()
  local r = run({ "/nonexistent/copas-rs/script.lua" })
  t.eq(r.status, 1)
  contains(r.stderr, "/nonexistent/copas-rs/script.lua")
end)

t.test("an unknown option exits with status 1 and the usage", function()
  local r = run({ "-Z" })
  t.eq(r.status, 1)
  contains(r.stderr, "usage")
end)

t.test("os.exit sets the exit status", function()
  t.eq(run({ "{script}" }, { script = "os.exit(3)" }).status, 3)
  t.eq(run({ "{script}" }, { script = "os.exit(true)" }).status, 0)
  t.eq(run({ "{script}" }, { script = "os.exit(false)" }).status, 1)
end)

t.test("the shebang line is skipped and line numbers are kept", function()
  local r = run({ "{script}" }, { script = "#!/usr/bin/env copas\nprint('ran')\nerror('line three')\n" })
  t.eq(r.stdout, "ran\n")
  t.eq(r.status, 1)
  contains(r.stderr, r.script .. ":3: line three")
end)

t.run()
