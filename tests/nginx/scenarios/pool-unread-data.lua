-- §6 case 38 (t/071 TESTS 5-6), §4.4, §2.11 steps 5 and 10: unread bytes in
-- our buffer → "unread data in buffer" and the socket stays usable; unread
-- bytes in the kernel → "connection in dubious state" and it is closed.
-- peer: line; send OK\r\n; line; send OK\r\n; hold
-- peer extra: line; send OK\r\n; sleep 100; send EXTRA\r\n; hold
local T = ...
local sock = T.tcp()
sock:settimeout(1000)
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("send", sock:send("flush_all\r\n"))
T.say("receive 1", sock:receive(1))
T.say("setkeepalive", sock:setkeepalive())
T.say("receive", sock:receive())
T.say("send", sock:send("flush_all\r\n"))
T.say("receive", sock:receive())
T.say("setkeepalive", sock:setkeepalive())

local s2 = T.tcp()
s2:settimeout(1000)
T.say("extra connect", s2:connect("127.0.0.1", T.ports.extra))
T.say("extra send", s2:send("get\r\n"))
T.say("extra receive", s2:receive())
T.sleep(0.3)
T.say("extra setkeepalive", s2:setkeepalive())
T.say("extra send after", s2:send("x"))
T.say("extra receive after", s2:receive())
T.say("extra close", s2:close())
local s3 = T.tcp()
T.say("extra reconnect", s3:connect("127.0.0.1", T.ports.extra))
T.say("extra reused", s3:getreusedtimes())
s3:close()
