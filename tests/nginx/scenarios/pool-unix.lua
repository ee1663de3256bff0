-- §4.1, t/068 TEST 12: unix-socket connections are pooled under their
-- "unix:PATH" key.
-- peer u --unix: lineecho
local T = ...
for i = 1, 2 do
  local sock = T.tcp()
  T.say("connect " .. i, sock:connect(T.unix.u))
  T.say("getreusedtimes", sock:getreusedtimes())
  T.say("send", sock:send("hi\n"))
  T.say("receive", sock:receive())
  T.say("setkeepalive", sock:setkeepalive())
end
