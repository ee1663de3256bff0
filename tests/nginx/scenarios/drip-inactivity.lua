-- §0.1 finding 1, §3: the read timeout is an inactivity timeout: a peer
-- dripping one byte every 60 ms never trips a 150 ms timeout, although the
-- whole line takes ~660 ms.
-- peer: drip 60 abcdefghij\n; hold
local T = ...
local sock = T.tcp()
sock:settimeout(150)
T.say("connect", sock:connect("127.0.0.1", T.port))
local t0 = T.now()
T.say("receive", sock:receive())
T.say("took >= 500 ms", T.ms_since(t0) >= 500)
T.say("close", sock:close())
