-- §6 case 20 (t/058 TEST 65, t/156 TEST 1), §2.6: receiveany returns what
-- has arrived, one piece per call, and finally nil, "closed".
-- peer: chunks 150 1|22|hello world; close
local T = ...
local sock = T.tcp()
sock:settimeout(2000)
T.say("connect", sock:connect("127.0.0.1", T.port))
for _ = 1, 6 do
  if not T.say("receiveany 1024", sock:receiveany(1024)) then
    break
  end
end
T.say("close", sock:close())
