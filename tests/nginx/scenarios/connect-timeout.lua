-- §6 case 9 (t/058 TEST 6, t/065 TESTS 1-2): connect to an address whose SYNs
-- go unanswered with a 150 ms connect timeout → nil, "timeout" after about
-- that long; then send/receive/close → "closed".
-- peer hole --mode blackhole:
local T = ...
local sock = T.tcp()
sock:settimeout(150)
local t0 = T.now()
T.say("connect", sock:connect("127.0.0.1", T.ports.hole))
local ms = T.ms_since(t0)
T.say("waited >= 140 ms", ms >= 140)
T.say("waited < 1500 ms", ms < 1500)
T.say("send", sock:send("hello"))
T.say("receive", sock:receive())
T.say("close", sock:close())
