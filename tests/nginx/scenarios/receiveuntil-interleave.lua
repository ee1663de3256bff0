-- §6 case 27 (t/066 TEST 17): a sized iterator interleaved with receive(1).
-- peer: send hello, world ----abc\n; close
local T = ...
local sock = T.tcp()
sock:settimeout(2000)
T.say("connect", sock:connect("127.0.0.1", T.port))
local reader = sock:receiveuntil("--abc")
for _ = 1, 5 do
  T.say("reader(4)", reader(4))
  T.say("receive(1)", sock:receive(1))
end
T.say("close", sock:close())
