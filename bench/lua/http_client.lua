-- N copas.http requests from C client threads against URL. Without keep-alive every
-- request is a fresh connection (the simple form sends "Connection: close"); with
-- MODE "keepalive" the generic form asks for "Connection: keep-alive", which a client
-- that pools connections reuses (one that does not simply closes each one).
-- Prints one JSON line; "skipped" when copas.http is not available.
-- usage: http_client.lua URL [N=10000] [C=10] [MODE=close|keepalive] [MAX_S=60]
local copas = require("copas")
local ok, http = pcall(require, "copas.http")
if not ok then
  print('{"skipped":"copas.http is not available"}')
  return
end
local gettime = copas.gettime or require("socket").gettime

local URL = assert(arg[1], "usage: http_client.lua URL [N] [C] [MODE] [MAX_S]")
local N = tonumber(arg[2]) or 10000
local C = tonumber(arg[3]) or 10
local keepalive = arg[4] == "keepalive"
local MAX_S = tonumber(arg[5]) or 60
local issued, done, failed = 0, 0, 0
local first_error
local deadline

local function get()
  if not keepalive then
    return http.request(URL)
  end
  local parts = {}
  local result, code = http.request({
    url = URL,
    headers = { connection = "keep-alive" },
    sink = function(chunk)
      if chunk then parts[#parts + 1] = chunk end
      return 1
    end,
  })
  return result and table.concat(parts), code
end

local function client()
  while issued < N and gettime() < deadline do
    issued = issued + 1
    local body, code = get()
    if body and code == 200 then
      done = done + 1
    else
      failed = failed + 1
      first_error = first_error or tostring(code)
    end
  end
end

local started = gettime()
deadline = started + MAX_S
for _ = 1, C do copas.addthread(client) end
copas.loop()
local elapsed = gettime() - started
print(string.format('{"requests":%d,"ok":%d,"failed":%d,"req_per_s":%.1f,"first_error":"%s"}',
  N, done, failed, done / elapsed, (first_error or ""):gsub('[%c"\\]', " ")))
