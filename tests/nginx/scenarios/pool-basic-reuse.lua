-- §6 case 31 (t/068 TESTS 1, 12), §2.11-2.12: setkeepalive pools the
-- connection and closes the object; the next connect to the same host:port
-- reuses it (getreusedtimes counts up); the port given as a string is the
-- same key.
-- peer: lineecho
local T = ...
local sock = T.tcp()
sock:settimeout(1000)
for i = 1, 3 do
  T.say("connect " .. i, sock:connect("127.0.0.1", T.port))
  T.say("getreusedtimes", sock:getreusedtimes())
  T.say("send", sock:send("flush_all\r\n"))
  T.say("receive", sock:receive())
  T.say("setkeepalive", sock:setkeepalive())
  T.say("send after setkeepalive", sock:send("x"))
  T.say("getreusedtimes after setkeepalive", sock:getreusedtimes())
end
local s2 = T.tcp()
T.say("connect port as string", s2:connect("127.0.0.1", tostring(T.port)))
T.say("getreusedtimes", s2:getreusedtimes())
T.say("close", s2:close())
local s3 = T.tcp()
T.say("connect after close", s3:connect("127.0.0.1", T.port))
T.say("getreusedtimes", s3:getreusedtimes())
T.say("setkeepalive(0)", s3:setkeepalive(0))
