-- Starts and stops a private nginx for the HTTP client tests: its own temporary
-- prefix directory (config, document root, logs, pid, temp files), listening on
-- 127.0.0.1 on a free port, in the foreground as a single process (no daemon, no
-- workers changing user).
--
--   local nginx = require("nginx")
--   local srv, why = nginx.start({ files = { ["a.txt"] = "hello" }, server = "location ..." })
--   if not srv then return nginx.skip(why) end
--   -- srv.url("/a.txt"), srv.port, srv.dir, srv.log([pattern, count]) (access log lines)
--   srv.stop()
--
-- opts.files: document root files (name -> content; subdirectories are created);
-- opts.server: directives added inside the server block; opts.tls = { cert =, key = }
-- makes it listen with TLS. The access log has one line per request:
-- "<connection number> <request number on it> <method> <request uri> <status>".
local socket = require("socket")

local nginx = {}

local function run(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end

local function read_cmd(cmd)
  local h = io.popen(cmd)
  local out = h:read("*a")
  h:close()
  return out
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("*a")
  f:close()
  return data
end

local function write_file(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function find_binary()
  for _, path in ipairs({ "/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx" }) do
    if read_file(path) then return path end
  end
  local found = read_cmd("command -v nginx 2>/dev/null"):gsub("%s+$", "")
  if found ~= "" then return found end
  return nil
end

-- Says why a test does nothing; the test then counts as passed.
function nginx.skip(why)
  io.stderr:write("SKIP: " .. tostring(why) .. "\n")
end

local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

local function config(dir, port, opts)
  local listen = "listen 127.0.0.1:" .. port .. (opts.tls and " ssl" or "") .. ";"
  local tls = ""
  if opts.tls then
    tls = "ssl_certificate " .. opts.tls.cert .. ";\n    ssl_certificate_key " .. opts.tls.key .. ";"
  end
  return ([[
daemon off;
master_process off;
pid DIR/nginx.pid;
error_log DIR/logs/error.log;
events { worker_connections 1024; }
http {
  log_format t '$connection $connection_requests $request_method $request_uri $status';
  access_log DIR/logs/access.log t;
  client_body_temp_path DIR/tmp/body;
  proxy_temp_path DIR/tmp/proxy;
  fastcgi_temp_path DIR/tmp/fastcgi;
  uwsgi_temp_path DIR/tmp/uwsgi;
  scgi_temp_path DIR/tmp/scgi;
  default_type application/octet-stream;
  types { text/plain txt; text/html html; }
  keepalive_requests 10000;
  server {
    LISTEN
    TLS
    server_name localhost;
    root DIR/www;
    SERVER
  }
}
]]):gsub("DIR", dir):gsub("LISTEN", listen):gsub("TLS", tls):gsub("SERVER", function() return opts.server or "" end)
end

-- The server, or nil and why not.
function nginx.start(opts)
  opts = opts or {}
  local bin = find_binary()
  if not bin then return nil, "nginx not installed" end
  local dir = read_cmd("mktemp -d /tmp/copas-nginx.XXXXXX"):gsub("%s+$", "")
  if dir == "" then return nil, "mktemp failed" end
  run("mkdir -p " .. dir .. "/www " .. dir .. "/logs " .. dir .. "/tmp && chmod 755 " .. dir)
  for name, content in pairs(opts.files or {}) do
    local sub = name:match("^(.*)/[^/]*$")
    if sub then run("mkdir -p " .. dir .. "/www/" .. sub) end
    write_file(dir .. "/www/" .. name, content)
  end
  local srv = { dir = dir }
  function srv.stop()
    local pid = read_file(dir .. "/nginx.pid")
    pid = pid and pid:match("%d+")
    if pid then
      run("kill -TERM " .. pid .. " 2>/dev/null")
      for _ = 1, 200 do
        if not read_file(dir .. "/nginx.pid") then break end
        socket.sleep(0.025)
      end
    end
    run("rm -rf " .. dir)
  end
  -- nginx writes a request's line after the response has gone out, so a client can
  -- be ahead of the log: with `pattern` and `count`, waits (up to 2 s) until `count`
  -- lines match.
  function srv.log(pattern, count)
    local lines
    for _ = 1, 100 do
      lines = {}
      local matching = 0
      for line in (read_file(dir .. "/logs/access.log") or ""):gmatch("[^\n]+") do
        lines[#lines + 1] = line
        if pattern and line:find(pattern) then matching = matching + 1 end
      end
      if not pattern or matching >= count then break end
      socket.sleep(0.02)
    end
    return lines
  end
  for _ = 1, 5 do
    local port = free_port()
    write_file(dir .. "/nginx.conf", config(dir, port, opts))
    os.remove(dir .. "/logs/error.log")
    run(string.format("%s -p %s/ -c %s/nginx.conf -e %s/logs/error.log >%s/logs/stdout.log 2>&1 &",
      bin, dir, dir, dir, dir))
    -- The pid file appears once nginx has bound its port; an error log line with
    -- "emerg" means it gave up (the port was taken meanwhile: try another).
    for _ = 1, 400 do
      if read_file(dir .. "/nginx.pid") then
        local c = socket.tcp()
        c:settimeout(1)
        local ok = c:connect("127.0.0.1", port)
        c:close()
        if ok then
          srv.port = port
          local scheme = opts.tls and "https" or "http"
          function srv.url(path, host)
            return scheme .. "://" .. (host or "127.0.0.1") .. ":" .. port .. (path or "/")
          end
          return srv
        end
      end
      if (read_file(dir .. "/logs/error.log") or ""):find("emerg") then break end
      socket.sleep(0.025)
    end
  end
  local why = read_file(dir .. "/logs/error.log") or "no error log"
  srv.stop()
  return nil, "nginx did not start: " .. why
end

return nginx
