-- Small helpers for run.sh (bash has no portable URL encoder):
--   luajit tool.lua urlencode STRING
--   luajit tool.lua split-http RAWFILE BODYFILE   (prints the status code)
local cmd = arg[1]
if cmd == "urlencode" then
  io.write((arg[2]:gsub("[^%w%-%._~/]", function(c)
    return string.format("%%%02X", c:byte())
  end)))
elseif cmd == "split-http" then
  local f = assert(io.open(arg[2], "rb"))
  local s = f:read("*a")
  f:close()
  local head, body = s:match("^(.-)\r\n\r\n(.*)$")
  local o = assert(io.open(arg[3], "wb"))
  o:write(body or "")
  o:close()
  io.write((head or ""):match("^HTTP/%d%.%d (%d+)") or "000")
else
  io.stderr:write("usage: tool.lua urlencode S | split-http RAW BODY\n")
  os.exit(2)
end
