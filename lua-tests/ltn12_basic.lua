-- ltn12: sources, sinks, filters and pumps, with the LTN12 conventions (nil ends a
-- stream, "" means nothing, filters are drained with "" and nil).
local t = require("t")
local ltn12 = require("ltn12")

-- Everything `src` gives, concatenated; fails the test on an error.
local function drain(src)
  local out = {}
  t.eq(ltn12.pump.all(src, (ltn12.sink.table(out))), 1)
  return table.concat(out)
end

-- A filter that gives its output at most `n` bytes per call, so callers must ask
-- for the rest with "" (or nil at the end).
local function trickle(n)
  local buffer, ended = "", false
  return function(chunk)
    if chunk == nil then ended = true else buffer = buffer .. chunk end
    if buffer == "" then
      if ended then return nil end
      return ""
    end
    local out = buffer:sub(1, n)
    buffer = buffer:sub(n + 1)
    return out
  end
end

-- A filter that holds everything back until the end, then gives it reversed.
local function reverse()
  local held = {}
  local done = false
  return function(chunk)
    if chunk then
      held[#held + 1] = chunk
      return ""
    end
    if done then return nil end
    done = true
    return table.concat(held):reverse()
  end
end

local function upper(chunk)
  return chunk and chunk:upper()
end

t.test("module fields", function()
  t.eq(ltn12._VERSION, "LTN12 1.0.3")
  t.eq(ltn12.BLOCKSIZE, 2048)
  for _, part in ipairs({ "filter", "source", "sink", "pump" }) do
    t.eq(type(ltn12[part]), "table", part)
  end
end)

t.test("source.string cuts BLOCKSIZE chunks", function()
  local data = string.rep("0123456789", 500)
  local src = ltn12.source.string(data)
  t.eq(#src(), 2048)
  t.eq(#src(), 2048)
  t.eq(#src(), 904)
  t.eq(src(), nil)
  t.eq(ltn12.source.string("")(), nil)
  t.eq(ltn12.source.string(nil)(), nil)
  local saved = ltn12.BLOCKSIZE
  ltn12.BLOCKSIZE = 3
  local small = ltn12.source.string("abcdefg")
  t.eq({ small(), small(), small(), small() }, { "abc", "def", "g" })
  ltn12.BLOCKSIZE = saved
end)

t.test("source.empty, source.error, source.table", function()
  t.eq(ltn12.source.empty()(), nil)
  t.nilmsg("broken", ltn12.source.error("broken")())
  local src = ltn12.source.table({ "a", "b" })
  t.eq({ src(), src(), src() }, { "a", "b" })
  t.err("assertion failed", ltn12.source.table, "not a table")
end)

t.test("source.cat joins sources and stops at an error", function()
  local src = ltn12.source.cat(ltn12.source.string("ab"), ltn12.source.empty(), ltn12.source.string("cd"))
  t.eq(drain(src), "abcd")
  local failing = ltn12.source.cat(ltn12.source.string("x"), ltn12.source.error("bad"), ltn12.source.string("y"))
  t.eq(failing(), "x")
  t.nilmsg("bad", failing())
  t.eq(ltn12.source.cat()(), nil)
end)

t.test("source.rewind gives pushed-back chunks first, last in first out", function()
  local src = ltn12.source.rewind(ltn12.source.string("abc"))
  t.eq(src(), "abc")
  src("x")
  src("y")
  t.eq(src(), "y")
  t.eq(src(), "x")
  t.eq(src(), nil)
end)

t.test("source.simplify follows a fancy source's replacement", function()
  local second = ltn12.source.string("two")
  local fancy = function() return "one", second end
  local src = ltn12.source.simplify(fancy)
  t.eq(src(), "one")
  t.eq(src(), "two")
  t.eq(src(), nil)
  t.nilmsg("oops", ltn12.source.simplify(ltn12.source.error("oops"))())
end)

t.test("source.chain with one filter", function()
  t.eq(drain(ltn12.source.chain(ltn12.source.string("hello"), upper)), "HELLO")
  t.eq(drain(ltn12.source.chain(ltn12.source.table({ "ab", "cd", "e" }), trickle(1))), "abcde")
  t.eq(drain(ltn12.source.chain(ltn12.source.table({ "ab", "cd" }), reverse())), "dcba")
end)

t.test("source.chain with several filters", function()
  local src = ltn12.source.chain(ltn12.source.table({ "hel", "lo w", "orld" }), trickle(2), upper, trickle(3))
  t.eq(drain(src), "HELLO WORLD")
  local held = ltn12.source.chain(ltn12.source.table({ "ab", "c" }), trickle(1), reverse(), trickle(2))
  t.eq(drain(held), "cba")
end)

t.test("source.chain passes source errors and refuses to run past its end", function()
  local src = ltn12.source.chain(ltn12.source.error("down"), upper)
  t.nilmsg("down", src())
  local ended = ltn12.source.chain(ltn12.source.empty(), upper)
  t.eq(ended(), nil)
  t.err("source is empty!", ended)
end)

t.test("source.chain catches a filter ending early", function()
  local src = ltn12.source.chain(ltn12.source.string("x"), function() return nil end)
  t.err("filter returned inappropriate nil", src)
end)

t.test("filter.cycle threads a context", function()
  local low = function(ctx, chunk, extra)
    if not chunk then return nil, ctx end
    return chunk .. extra .. ctx, ctx + 1
  end
  local f = ltn12.filter.cycle(low, 1, ":")
  t.eq(f("a"), "a:1")
  t.eq(f("b"), "b:2")
  t.eq(f(nil), nil)
  t.err("assertion failed", ltn12.filter.cycle, nil)
end)

t.test("filter.chain follows the filter protocol", function()
  local f = ltn12.filter.chain(trickle(2), upper, trickle(3))
  local out = {}
  local function collect(chunk)
    local piece = f(chunk)
    while piece ~= "" and piece ~= nil do
      out[#out + 1] = piece
      piece = f(chunk and "")
    end
    return piece
  end
  t.eq(collect("abcde"), "")
  t.eq(collect("fg"), "")
  t.eq(collect(nil), nil)
  t.eq(table.concat(out), "ABCDEFG")
  t.eq(f(nil), nil)
end)

t.test("filter.chain of one filter is that filter's behaviour", function()
  local f = ltn12.filter.chain(upper)
  t.eq(f("abc"), "ABC")
  t.eq(f(nil), nil)
end)

t.test("filter.chain catches a filter ending early in the middle", function()
  local f = ltn12.filter.chain(upper, function() return nil end, upper)
  t.err("filter returned inappropriate nil", f, "abc")
end)

t.test("sink.table, sink.null, sink.error", function()
  local snk, store = ltn12.sink.table()
  t.eq(snk("a"), 1)
  t.eq(snk(nil), 1)
  t.eq(store, { "a" })
  local mine = {}
  local snk2, same = ltn12.sink.table(mine)
  t.eq(same, mine)
  snk2("x")
  t.eq(mine, { "x" })
  t.eq(ltn12.sink.null()("anything"), 1)
  t.nilmsg("full", ltn12.sink.error("full")("x"))
end)

t.test("sink.simplify follows a fancy sink's replacement", function()
  local got = {}
  local second = function(chunk) got[#got + 1] = "2:" .. tostring(chunk) return 1 end
  local first = function(chunk) got[#got + 1] = "1:" .. tostring(chunk) return 1, second end
  local snk = ltn12.sink.simplify(first)
  t.eq(snk("a"), 1)
  t.eq(snk("b"), 1)
  t.eq(got, { "1:a", "2:b" })
  t.nilmsg("no", ltn12.sink.simplify(ltn12.sink.error("no"))("x"))
end)

t.test("sink.chain filters before the sink, and drains at the end", function()
  local out = {}
  local snk = ltn12.sink.chain(trickle(2), (ltn12.sink.table(out)))
  t.eq(ltn12.pump.all(ltn12.source.table({ "abc", "", "de" }), snk), 1)
  t.eq(table.concat(out), "abcde")
  local out2 = {}
  local several = ltn12.sink.chain(trickle(1), upper, reverse(), (ltn12.sink.table(out2)))
  t.eq(ltn12.pump.all(ltn12.source.string("xyz"), several), 1)
  t.eq(table.concat(out2), "ZYX")
end)

t.test("sink.chain reports the sink's error", function()
  local snk = ltn12.sink.chain(upper, ltn12.sink.error("disk full"))
  t.nilmsg("disk full", snk("a"))
end)

t.test("files as sources and sinks", function()
  local name = os.tmpname()
  local data = string.rep("line of text\n", 400)
  t.eq(ltn12.pump.all(ltn12.source.string(data), ltn12.sink.file(io.open(name, "wb"))), 1)
  t.eq(drain(ltn12.source.file(io.open(name, "rb"))), data)
  os.remove(name)
  local src = ltn12.source.file(io.open(name .. ".missing", "rb"))
  local chunk, err = src()
  t.eq(chunk, nil)
  t.ok(err:find("No such file", 1, true), err)
  t.nilmsg("unable to open file", ltn12.source.file(nil)())
  t.nilmsg("custom", ltn12.sink.file(nil, "custom")("x"))
end)

t.test("pump.step and pump.all", function()
  local src = ltn12.source.table({ "a", "b" })
  local out = {}
  local snk = ltn12.sink.table(out)
  t.eq(ltn12.pump.step(src, snk), 1)
  t.eq(ltn12.pump.step(src, snk), 1)
  t.eq({ ltn12.pump.step(src, snk) }, {})
  t.eq(out, { "a", "b" })
  t.nilmsg("src failed", ltn12.pump.all(ltn12.source.error("src failed"), ltn12.sink.null()))
  t.nilmsg("snk failed", ltn12.pump.all(ltn12.source.string("x"), ltn12.sink.error("snk failed")))
  local steps = 0
  local counting = function(s, k) steps = steps + 1 return ltn12.pump.step(s, k) end
  t.eq(ltn12.pump.all(ltn12.source.table({ "1", "2", "3" }), ltn12.sink.null(), counting), 1)
  t.eq(steps, 4)
  t.err("assertion failed", ltn12.pump.all, nil, ltn12.sink.null())
end)

t.test("sinks see the source's error", function()
  local seen
  local snk = function(chunk, err) seen = { chunk, err } return 1 end
  t.nilmsg("gone", ltn12.pump.all(ltn12.source.error("gone"), snk))
  t.eq(seen, { nil, "gone" })
end)

t.test("sources and sinks may yield inside coroutines", function()
  local chunks = { "ab", "cd", "ef" }
  local i = 0
  local function yielding_source()
    coroutine.yield("source")
    i = i + 1
    return chunks[i]
  end
  local out = {}
  local function yielding_sink(chunk)
    coroutine.yield("sink")
    if chunk then out[#out + 1] = chunk end
    return 1
  end
  local co = coroutine.create(function()
    local src = ltn12.source.chain(yielding_source, ltn12.filter.chain(trickle(1), upper))
    return ltn12.pump.all(src, ltn12.sink.chain(trickle(4), yielding_sink))
  end)
  local yields = 0
  local ok, value = coroutine.resume(co)
  while coroutine.status(co) == "suspended" and yields < 1000 do
    yields = yields + 1
    ok, value = coroutine.resume(co)
  end
  t.ok(ok, value)
  t.eq(value, 1)
  t.eq(table.concat(out), "ABCDEF")
  t.ok(yields > 6, "yielded " .. yields .. " times")
end)

t.run()
