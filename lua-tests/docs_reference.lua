-- The Lua API reference (docs/api-*.md) documents every function and field our modules
-- export and every method of the objects they make: the names are taken from the
-- loaded modules themselves, so a function added without a reference entry fails here.
--
-- An entry is a row of a four-column table (function | returns | errors | differs);
-- every code span of its first cell names what the row documents, as
-- `socket.connect(address, port)` or `tcp:receive([pattern [, prefix]])`.
local t = require("t")
local socket = require("socket")
local copas = require("copas")
local tls = require("tlsutil")

local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\][^/\\]*$") or "."
local docs = here .. "/../docs/"
local pages = { "api-socket.md", "api-ltn12-mime-url.md", "api-clients.md", "api-ssl.md", "api-copas.md" }

-- Every name the reference documents, and the rows that do not have four filled cells.
local documented, malformed = {}, {}
local function read_reference()
  for _, page in ipairs(pages) do
    local f = assert(io.open(docs .. page, "rb"))
    local n = 0
    for line in f:lines() do
      n = n + 1
      line = line:gsub("\\|", "\1")
      if line:match("^|%s*`") then
        local cells = {}
        for cell in line:gmatch("|([^|]*)") do cells[#cells + 1] = cell end
        -- the split leaves an empty last piece after the closing bar
        if #cells ~= 5 then
          malformed[#malformed + 1] = page .. ":" .. n .. " has " .. (#cells - 1) .. " cells"
        else
          for i = 2, 4 do
            if not cells[i]:match("%S") then
              malformed[#malformed + 1] = page .. ":" .. n .. " has an empty cell"
            end
          end
        end
        for span in cells[1]:gmatch("`([^`]+)`") do
          documented[span:match("^([^(%s]+)")] = true
        end
      end
    end
    f:close()
  end
end

-- `.key`, or `["key"]` for a key that is not a Lua name, as the reference writes it.
local function field(key)
  if key:match("^[%a_][%w_]*$") then return "." .. key end
  return '["' .. key .. '"]'
end

-- The names a module exports: functions and fields as `module.name`, the functions of
-- subtables (socket.dns, ltn12.source...) as `module.sub.name`; a subtable holding no
-- function (ssl.config.options, socket.headers.canonic) is one entry.
local function exports(prefix, module, names)
  for key, value in pairs(module) do
    if type(key) == "string" then
      local name = prefix .. field(key)
      if type(value) == "table" then
        local has_function = false
        for sub, v in pairs(value) do
          if type(v) == "function" then
            has_function = true
            names[#names + 1] = name .. field(sub)
          end
        end
        if not has_function then names[#names + 1] = name end
      else
        names[#names + 1] = name
      end
    end
  end
end

-- The methods of an object as `label:method`.
local function methods(label, object, names)
  local mt = getmetatable(object)
  local index = type(mt) == "table" and type(mt.__index) == "table" and mt.__index or object
  for key, value in pairs(index) do
    if type(value) == "function" and type(key) == "string" and key:sub(1, 2) ~= "__" then
      names[#names + 1] = label .. ":" .. key
    end
  end
end

-- Modules that are the implementation of another, with no API of their own: the
-- reference names them, their functions are not documented one by one.
local internal = {
  "copas.core", "copas.waiting", "socket.http.core", "socket.http.client", "socket.tp.core", "ssl.core",
}

local function expected()
  local names = {}
  local public = {
    "socket", "socket.unix", "mime", "ltn12", "socket.url", "socket.headers", "copas", "copas.timer",
    "copas.lock", "copas.semaphore", "copas.queue", "copas.future", "copas.limit", "socket.http",
    "copas.http", "socket.tp", "socket.ftp", "socket.smtp", "copas.ftp", "copas.smtp", "ssl", "ssl.x509",
    "ssl.config", "ssl.https",
  }
  for _, name in ipairs(public) do
    exports(name, require(name), names)
  end
  names[#names + 1] = "socket.serial"
  for _, name in ipairs(internal) do names[#names + 1] = name end

  local server = assert(socket.bind("127.0.0.1", 0))
  local client = socket.tcp()
  methods("tcp", client, names)
  methods("udp", socket.udp(), names)
  local unix = require("socket.unix")
  methods("unixstream", unix.stream(), names)
  methods("unixdgram", unix.dgram(), names)
  local ssl = require("ssl")
  local ctx = assert(ssl.newcontext({ mode = "client", protocol = "any", verify = "none" }))
  methods("conn", assert(ssl.wrap(socket.tcp(), ctx)), names)
  methods("wrapped", copas.wrap(socket.tcp()), names)
  local timer = copas.timer.new({ delay = 1000, callback = function() end })
  methods("timer", timer, names)
  timer:cancel()
  methods("lock", copas.lock.new(), names)
  methods("semaphore", copas.semaphore.new(1), names)
  methods("queue", copas.queue.new(), names)
  methods("limitset", copas.limit.new(1), names)
  methods("future", copas.future.addthread(function() end), names)
  local ip, port = server:getsockname()
  local tp = assert(require("socket.tp").connect(ip, port, 5))
  methods("tp", tp, names)
  tp:close()
  server:close()
  if tls.dir then
    local f = assert(io.open(tls.path("localhost.pem"), "rb"))
    local pem = f:read("*a")
    f:close()
    -- Certificates keep their metatable to themselves: ask for LuaSec's methods.
    local cert = assert(require("ssl.x509").load(pem))
    local luasec = {
      "digest", "extensions", "getencode", "getsignaturename", "issued", "issuer", "notafter",
      "notbefore", "pem", "pubkey", "serial", "setencode", "subject", "validat",
    }
    for _, name in ipairs(luasec) do
      local ok, method = pcall(function() return cert[name] end)
      if ok and method ~= nil then names[#names + 1] = "cert:" .. name end
    end
  else
    io.stderr:write("skip: certificate methods (COPAS_TEST_CERTS is not set)\n")
  end
  copas.loop()
  return names
end

read_reference()

t.test("every exported function, field and method has a reference entry", function()
  local missing = {}
  for _, name in ipairs(expected()) do
    if not documented[name] then missing[#missing + 1] = name end
  end
  table.sort(missing)
  t.eq(table.concat(missing, " "), "", "not in docs/api-*.md")
end)

t.test("every reference row has its four cells", function()
  t.eq(table.concat(malformed, "; "), "")
end)

t.test("socket.core and mime.core are the tables socket and mime document", function()
  t.ok(require("socket.core") == require("socket"), "socket.core is socket")
  t.ok(require("mime.core") == require("mime"), "mime.core is mime")
end)

t.run()
