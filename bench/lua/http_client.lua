-- N copas.http requests from C client threads against URL; skipped with a note
-- (one JSON line with "skipped") when copas.http is not available.
-- usage: http_client.lua URL [N=10000] [C=10]
local copas = require("copas")
local ok, http = pcall(require, "copas.http")
if not ok then
  print('{"scenario":"http","skipped":"copas.http is not available in this build"}')
  return
end
local gettime = copas.gettime or require("socket").gettime

local URL = assert(arg[1], "usage: http_client.lua URL [N] [C]")
local N = tonumber(arg[2]) or 10000
local C = tonumber(arg[3]) or 10
local issued, failed = 0, 0

local function client()
  while issued < N do
    issued = issued + 1
    local body, code = http.request(URL)
    if not body or code ~= 200 then failed = failed + 1 end
  end
end

local started = gettime()
for _ = 1, C do copas.addthread(client) end
copas.loop()
local elapsed = gettime() - started
print(string.format('{"scenario":"http-c%d","requests":%d,"failed":%d,"req_per_s":%.1f}',
  C, N, failed, N / elapsed))
