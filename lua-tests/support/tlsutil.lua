-- Shared by lua-tests/tls_*.lua: the test certificates (COPAS_TEST_CERTS, written by
-- `cargo xtask test-lua`) and LuaSec-style parameter tables for them.
local M = {}

M.dir = os.getenv("COPAS_TEST_CERTS")

function M.path(name)
  assert(M.dir, "COPAS_TEST_CERTS is not set (run through cargo xtask test-lua)")
  return M.dir .. "/" .. name
end

-- Server parameters with the certificate `name` ("localhost", "expired", ...).
function M.server(name, extra)
  local params = {
    mode = "server",
    protocol = "any",
    certificate = M.path((name or "localhost") .. ".pem"),
    key = M.path((name or "localhost") .. ".key"),
  }
  for k, v in pairs(extra or {}) do params[k] = v end
  return params
end

-- Client parameters trusting the test CA (verification on, the default).
function M.client(extra)
  local params = { mode = "client", protocol = "any", cafile = M.path("ca.pem") }
  for k, v in pairs(extra or {}) do params[k] = v end
  return params
end

-- True when `program` runs (for tests that need an outside peer).
function M.have(program)
  local ok = os.execute(program .. " version >/dev/null 2>&1")
  return ok == true or ok == 0
end

return M
