-- §5.2 / §0.1 finding 5: "*l" drops every CR byte of a line, and of the
-- partial line returned at EOF.
-- peer: send foo\rbar\n\rqux\nbaz\r\n\r\n\n\r\r\rx\ny\rz\r\r\nlast\r; close
local T = ...
local sock = T.tcp()
T.say("connect", sock:connect("127.0.0.1", T.port))
for _ = 1, 10 do
  if not T.say("receive", sock:receive()) then
    break
  end
end
T.say("close", sock:close())
