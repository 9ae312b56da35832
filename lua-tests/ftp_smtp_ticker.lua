-- A 10 ms ticker keeps ticking while copas.ftp moves 5 MiB each way (pyftpdlib) and
-- copas.smtp sends a 2 MiB attachment (aiosmtpd) in the same loop. Liveness only:
-- the ticker must tick while each transfer is under way and the loop must never
-- stall for long; speed is not asserted.
local t = require("t")
local pyserver = require("pyserver")
local socket = require("socket")
local ltn12 = require("ltn12")
local mime = require("mime")
local copas = require("copas")
local copas_ftp = require("copas.ftp")
local copas_smtp = require("copas.smtp")

local ftp_srv, smtp_srv, why
ftp_srv, why = pyserver.start_with("pyftpdlib", pyserver.FTP)
if ftp_srv then smtp_srv, why = pyserver.start_with("aiosmtpd", pyserver.SMTP) end

local DATA = string.rep("0123456789abcdef\r\n\0", math.floor(5 * 1024 * 1024 / 19) + 1):sub(1, 5 * 1024 * 1024)
local ATTACHMENT = DATA:sub(1, 2 * 1024 * 1024)

t.test("ticker keeps ticking during FTP and SMTP transfers", function()
  if not smtp_srv then
    print("skip: " .. why)
    return
  end
  local errors = {}
  copas.seterrorhandler(function(err) errors[#errors + 1] = tostring(err) end, true)
  local ticks, worst = 0, 0
  local running = 2
  local ftp_ticks, smtp_ticks = 0, 0
  local ftp_busy, smtp_busy = false, false
  local results = {}

  copas.addthread(function()
    while running > 0 do
      local before = socket.gettime()
      copas.sleep(0.01)
      local late = socket.gettime() - before - 0.01
      if late > worst then worst = late end
      ticks = ticks + 1
      if ftp_busy then ftp_ticks = ftp_ticks + 1 end
      if smtp_busy then smtp_ticks = smtp_ticks + 1 end
    end
  end)

  copas.addthread(function()
    ftp_busy = true
    local base = "ftp://user:secret@127.0.0.1:" .. ftp_srv.port .. "/tick.bin;type=i"
    results.put = { copas_ftp.put(base, DATA) }
    results.get = { copas_ftp.get(base) }
    ftp_busy = false
    running = running - 1
  end)

  copas.addthread(function()
    smtp_busy = true
    results.smtp = { copas_smtp.send({
      from = "<a@example.com>", rcpt = "<tick@example.com>",
      server = "127.0.0.1", port = smtp_srv.port,
      source = copas_smtp.message({
        headers = { subject = "ticker" },
        body = {
          { body = "see the attachment\r\n" },
          {
            headers = { ["content-type"] = "application/octet-stream",
              ["content-transfer-encoding"] = "BASE64" },
            body = ltn12.source.chain(ltn12.source.string(ATTACHMENT),
              ltn12.filter.chain(mime.encode("base64"), mime.wrap())),
          },
        },
      }),
    }) }
    smtp_busy = false
    running = running - 1
  end)

  copas.loop()
  print(("ticks %d (during FTP %d, during SMTP %d), worst lateness %.3f ms"):format(
    ticks, ftp_ticks, smtp_ticks, worst * 1000))
  t.eq(errors, {})
  t.eq(results.put, { #DATA })
  t.eq(#results.get, 1)
  t.ok(results.get[1] == DATA, "downloaded body differs")
  t.eq(results.smtp, { 1 })
  t.ok(pyserver.read(smtp_srv.dir .. "/tick.eml"), "message not stored")
  t.ok(ftp_ticks > 0, "no tick while FTP ran")
  t.ok(smtp_ticks > 0, "no tick while SMTP ran")
  t.ok(worst < 2, "the loop stalled for " .. worst .. " s")
end)

local exit = os.exit
os.exit = function(...)
  if ftp_srv then ftp_srv:stop() end
  if smtp_srv then smtp_srv:stop() end
  return exit(...)
end
t.run()
