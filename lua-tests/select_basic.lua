-- socket.select with stand-in objects (anything with getfd, optionally dirty):
-- argument handling, the timeout form, ignored and refused values, dirty objects, the
-- doubly-indexed results. The descriptors used are the process's own
-- standard error (writable) and numbers far above any descriptor limit.
local t = require("t")
local socket = require("socket")

local function pack(...) return { n = select("#", ...), ... } end

local NEVER_OPEN = 2 ^ 30

local function object(fd, dirty)
  return {
    getfd = function() return fd end,
    dirty = function() return dirty end,
  }
end

t.test("nothing to watch times out with two empty tables", function()
  local r = pack(socket.select(nil, nil, 0))
  t.eq(r.n, 3)
  t.eq(r[1], {})
  t.eq(r[2], {})
  t.eq(r[3], "timeout")
  t.eq(pack(socket.select({}, {}, 0.01)), { n = 3, {}, {}, "timeout" })
  t.eq(pack(socket.select({}, nil, "0")), { n = 3, {}, {}, "timeout" })
end)

t.test("argument errors", function()
  t.err("^bad argument #1 to 'select' %(table expected, got number%)$", socket.select, 1, nil, 0)
  t.err("^bad argument #1 to 'select' %(table expected, got string%)$", socket.select, "x", nil, 0)
  t.err("^bad argument #2 to 'select' %(table expected, got boolean%)$", socket.select, {}, true, 0)
  t.err("^bad argument #3 to 'select' %(number expected, got string%)$", socket.select, {}, {}, "soon")
  t.err("^bad argument #3 to 'select' %(number expected, got table%)$", socket.select, {}, {}, {})
end)

t.test("tables and strings without a usable descriptor are ignored", function()
  local values = { "text", {}, object(-1), object(nil), object("abc"),
    object(0 / 0), setmetatable({}, { __index = function() return nil end }) }
  t.eq(pack(socket.select(values, values, 0)), { n = 3, {}, {}, "timeout" })
end)

t.test("values that cannot be indexed raise, in either table", function()
  t.err("^attempt to index a number value$", socket.select, { 1 }, nil, 0)
  t.err("^attempt to index a boolean value$", socket.select, nil, { object(2), true }, 0)
  t.err("^attempt to index a function value$", socket.select, { function() end }, nil, 0)
end)

t.test("the arrays stop at the first nil", function()
  local writable = object(2)
  local r, w, err = socket.select(nil, { nil, writable }, 0)
  t.eq(err, "timeout")
  t.eq(w, {})
  t.eq(r, {})
end)

t.test("writable descriptor, indexed by number and by object", function()
  local stderr = object(2)
  local r, w, err = socket.select(nil, { "text", stderr }, 1)
  t.eq(err, nil)
  t.eq(r, {})
  t.ok(w[1] == stderr)
  t.eq(w[stderr], 1)
  t.eq(#w, 1)
end)

t.test("getfd may return a numeric string or a fraction", function()
  local stderr = object("2")
  local _, w = socket.select(nil, { stderr }, 1)
  t.ok(w[1] == stderr)
  local fractional = object(2.5)
  _, w = socket.select(nil, { fractional }, 1)
  t.ok(w[1] == fractional)
end)

t.test("dirty objects are readable at once and not waited on", function()
  -- Waiting on NEVER_OPEN would fail: being dirty keeps it out of the wait.
  local dirty = object(NEVER_OPEN, true)
  local clean = object(2, false)
  local r = pack(socket.select({ dirty }, nil))
  t.eq(r.n, 2)
  t.ok(r[1][1] == dirty)
  t.eq(r[1][dirty], 1)
  t.eq(r[2], {})
  local r2, w2 = socket.select({ dirty }, { clean }, 5)
  t.ok(r2[1] == dirty)
  t.ok(w2[1] == clean)
end)

t.test("dirty is only consulted for reading", function()
  local dirty_writer = object(2, true)
  local r, w = socket.select(nil, { dirty_writer }, 1)
  t.eq(r, {})
  t.ok(w[1] == dirty_writer)
end)

t.test("a dirty method returning nothing means clean", function()
  local silent = { getfd = function() return 2 end, dirty = function() end }
  local r, w, err = socket.select(nil, { silent }, 1)
  t.eq(err, nil)
  t.ok(w[1] == silent)
  t.eq(r, {})
end)

t.test("objects without a dirty method", function()
  local plain = { getfd = function() return 2 end }
  local _, w = socket.select({}, { plain }, 1)
  t.ok(w[plain] == 1)
end)

t.test("methods reached through __index (userdata-like objects)", function()
  local class = { getfd = function() return 2 end }
  local instance = setmetatable({}, { __index = class })
  local _, w = socket.select(nil, { instance }, 1)
  t.ok(w[1] == instance)
end)

t.test("arrays reached through __index", function()
  local stderr = object(2)
  local proxy = setmetatable({}, { __index = { stderr } })
  local _, w = socket.select(nil, proxy, 1)
  t.ok(w[1] == stderr)
end)

t.test("errors raised by getfd propagate", function()
  local broken = { getfd = function() error("getfd broke") end }
  t.err("getfd broke", socket.select, { broken }, nil, 0)
end)

t.test("a descriptor that is not open makes select fail", function()
  t.err("^select failed$", socket.select, { object(NEVER_OPEN) }, nil, 0)
end)

t.test("a short timeout really waits", function()
  local start = socket.gettime()
  local _, _, err = socket.select({}, {}, 0.05)
  t.eq(err, "timeout")
  t.ok(socket.gettime() - start >= 0.04)
end)

t.run()
