-- §6 case 39 (t/058 TESTS 60, 73), §2.11 step 3, §4.4: setkeepalive after
-- close(), after EOF was read, and after the peer's FIN arrived unread.
-- peer: line; send OK\n; close
local T = ...
local sock = T.tcp()
sock:settimeout(1000)
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("close", sock:close())
T.say("setkeepalive after close", sock:setkeepalive())

T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("send", sock:send("q\n"))
T.say("receive", sock:receive())
T.say("receive EOF", sock:receive())
T.say("setkeepalive after EOF", sock:setkeepalive())
T.say("close", sock:close())

T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("send", sock:send("q\n"))
T.say("receive", sock:receive())
T.sleep(0.2)
T.say("setkeepalive after unread FIN", sock:setkeepalive())
T.say("close", sock:close())
local again = T.tcp()
T.say("reconnect", again:connect("127.0.0.1", T.port))
T.say("reused", again:getreusedtimes())
again:close()
