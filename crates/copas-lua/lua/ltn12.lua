-- ltn12: sources, sinks, filters and pumps (LuaSocket 3.x API).
--
-- The conventions, which every function here keeps:
--   * a source is called with no arguments and returns the next chunk, or nil at the
--     end of the data, or nil and an error message;
--   * a sink is called with a chunk, or with nil at the end (and then possibly an
--     error message), and returns a true value, or nil and an error message;
--   * a filter is called with a chunk and returns a chunk; "" in either direction
--     means "nothing" and nil means "end of data". After a filter returned a
--     non-empty chunk, its caller asks for the rest by calling it again with ""
--     (or nil, once the input has ended) until it answers "" (or nil).
--
-- Pure Lua on purpose: everything here is Lua functions calling Lua functions, so it
-- yields freely inside coroutines (Copas threads) on every Lua version.

local M = {
  filter = {},
  source = {},
  sink = {},
  pump = {},
  BLOCKSIZE = 2048,
  _VERSION = "LTN12 1.0.3",
}

local filter, source, sink, pump = M.filter, M.source, M.sink, M.pump
local assert, error, select, type = assert, error, select, type
local remove, insert = table.remove, table.insert
local unpack = unpack or table.unpack
local sub = string.sub

-- LuaSocket publishes a global `ltn12` where `module` exists (Lua 5.1, LuaJIT).
if module then
  ltn12 = M -- luacheck: ignore
end

--------------------------------------------------------------------------------
-- Filters
--------------------------------------------------------------------------------

-- A filter from a low-level function that carries its state in a context value:
-- `out, ctx = low(ctx, chunk, extra)` for every chunk.
function filter.cycle(low, ctx, extra)
  assert(low)
  return function(chunk)
    local out
    out, ctx = low(ctx, chunk, extra)
    return out
  end
end

-- Two filters as one: everything `upstream` gives goes through `downstream`.
local function join(upstream, downstream)
  local upstream_done = false -- upstream has seen the end of data and said nil
  local holding = false       -- downstream last gave output and may hold more
  return function(chunk)
    if upstream_done then return downstream(nil) end
    if holding and (chunk == "" or chunk == nil) then
      local out = downstream("")
      if out ~= "" then return out end
      holding = false
    end
    -- To get the rest of upstream's output: "" while data flows, nil after its end.
    local more = chunk and ""
    local passed = upstream(chunk)
    while true do
      if passed == nil then
        if chunk ~= nil then error("filter returned inappropriate nil", 2) end
        upstream_done = true
        return downstream(nil)
      elseif passed == "" then
        return ""
      end
      local out = downstream(passed)
      if out == nil then
        error("filter returned inappropriate nil", 2)
      elseif out ~= "" then
        holding = true
        return out
      end
      passed = upstream(more)
    end
  end
end

-- The filters given, one after the other, as one filter.
function filter.chain(...)
  local n = select("#", ...)
  local chained = assert((...))
  for i = 2, n do
    chained = join(chained, assert((select(i, ...))))
  end
  return chained
end

--------------------------------------------------------------------------------
-- Sources
--------------------------------------------------------------------------------

local function empty()
  return nil
end

-- A source with no data.
function source.empty()
  return empty
end

-- A source that fails with `err`.
function source.error(err)
  return function()
    return nil, err
  end
end

-- The contents of an open file, closing it at the end; without a handle, a source
-- failing with `io_err` (so `source.file(io.open(name))` reports the open error).
function source.file(handle, io_err)
  if not handle then return source.error(io_err or "unable to open file") end
  return function()
    local chunk = handle:read(M.BLOCKSIZE)
    if not chunk then handle:close() end
    return chunk
  end
end

-- A simple source from a fancy one, which may answer a call with nil and a new
-- source to take its place.
function source.simplify(src)
  assert(src)
  return function()
    local chunk, err_or_new = src()
    src = err_or_new or src
    if chunk then return chunk end
    return nil, err_or_new
  end
end

-- The string `s` in chunks of at most BLOCKSIZE bytes.
function source.string(s)
  if not s then return source.empty() end
  local position = 1
  return function()
    local size = M.BLOCKSIZE
    local chunk = sub(s, position, position + size - 1)
    position = position + size
    if chunk == "" then return nil end
    return chunk
  end
end

-- The elements of an array, one per call.
function source.table(t)
  assert(type(t) == "table")
  local i = 0
  return function()
    i = i + 1
    return t[i]
  end
end

-- A source that takes chunks back: called with a chunk, it keeps it to give it out
-- again before anything from `src`; called without, it gives a chunk out.
function source.rewind(src)
  assert(src)
  local returned = {}
  return function(chunk)
    if chunk then
      insert(returned, chunk)
      return
    end
    chunk = remove(returned)
    if chunk then return chunk end
    return src()
  end
end

-- The chunks of `src` through a filter (or through several, chained).
function source.chain(src, f, ...)
  if ... then f = filter.chain(f, ...) end
  assert(src and f)
  local ended = false   -- src has returned its end of data
  local eating = false  -- f gave output and may have more for the same input
  local finished = false
  return function()
    if finished then error("source is empty!", 2) end
    while true do
      local input, out
      if eating then
        if not ended then input = "" end
        out = f(input)
        if out == "" then
          if ended then error('filter returned ""', 2) end
          eating = false
        end
      else
        local err
        input, err = src()
        if err then return nil, err end
        ended = input == nil
        out = f(input)
      end
      if out == nil then
        if input ~= nil then error("filter returned inappropriate nil", 2) end
        finished = true
        return nil
      elseif out ~= "" then
        eating = true
        return out
      end
    end
  end
end

-- The sources given, one after the other.
function source.cat(...)
  local sources = { ... }
  local current = remove(sources, 1)
  return function()
    while current do
      local chunk, err = current()
      if chunk then return chunk end
      if err then return nil, err end
      current = remove(sources, 1)
    end
  end
end

--------------------------------------------------------------------------------
-- Sinks
--------------------------------------------------------------------------------

-- A sink storing every chunk in the table `t` (a new one if not given); returns the
-- sink and the table.
function sink.table(t)
  t = t or {}
  local function store(chunk)
    if chunk then insert(t, chunk) end
    return 1
  end
  return store, t
end

-- A simple sink from a fancy one, which may answer with 1 and a new sink to take
-- its place.
function sink.simplify(snk)
  assert(snk)
  return function(chunk, err)
    local ok, err_or_new = snk(chunk, err)
    if not ok then return nil, err_or_new end
    snk = err_or_new or snk
    return 1
  end
end

-- A sink writing to an open file, closing it at the end; without a handle, a sink
-- failing with `io_err`.
function sink.file(handle, io_err)
  if not handle then return sink.error(io_err or "unable to open file") end
  return function(chunk)
    if not chunk then
      handle:close()
      return 1
    end
    return handle:write(chunk)
  end
end

local function null()
  return 1
end

-- A sink that throws everything away.
function sink.null()
  return null
end

-- A sink that fails with `err`.
function sink.error(err)
  return function()
    return nil, err
  end
end

-- A sink passing chunks through a filter first: `sink.chain(f, snk)`, or
-- `sink.chain(f1, f2, ..., snk)` with the filters chained.
function sink.chain(f, snk, ...)
  if ... then
    local all = { f, snk, ... }
    snk = remove(all)
    f = filter.chain(unpack(all))
  end
  assert(f and snk)
  return function(chunk, err)
    if chunk == "" then return 1 end
    -- What the sink gets last: "" while data flows, nil at the end.
    local last = chunk and ""
    local out = f(chunk)
    while true do
      local ok, sink_err = snk(out, err)
      if not ok then return nil, sink_err end
      if out == last then return 1 end
      out = f(last)
    end
  end
end

--------------------------------------------------------------------------------
-- Pumps
--------------------------------------------------------------------------------

-- Moves one chunk from `src` to `snk`. Returns 1 while there is more, or nil and
-- the source's or the sink's error (nil alone at a clean end).
function pump.step(src, snk)
  local chunk, src_err = src()
  local ok, snk_err = snk(chunk, src_err)
  if chunk and ok then return 1 end
  return nil, src_err or snk_err
end

-- Moves everything from `src` to `snk` with `step` (pump.step by default).
-- Returns 1, or nil and the error that stopped it.
function pump.all(src, snk, step)
  assert(src and snk)
  step = step or pump.step
  while true do
    local ok, err = step(src, snk)
    if not ok then
      if err then return nil, err end
      return 1
    end
  end
end

return M
