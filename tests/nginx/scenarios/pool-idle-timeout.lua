-- §6 case 37 (t/068 TESTS 5, 8, 11), §4.5: setkeepalive(timeout) closes the
-- idle connection after timeout ms; setkeepalive(0) keeps it.
-- peer: lineecho
local T = ...
local sock = T.tcp()
local function connect(label)
  T.say(label .. " connect", sock:connect("127.0.0.1", T.port))
  T.say(label .. " reused", sock:getreusedtimes())
end
connect("first")
T.say("setkeepalive(100)", sock:setkeepalive(100))
T.sleep(0.3)
connect("after 300 ms")
T.say("setkeepalive(0)", sock:setkeepalive(0))
T.sleep(0.3)
connect("after 300 ms unlimited")
T.say("setkeepalive(1000)", sock:setkeepalive(1000))
T.sleep(0.1)
connect("after 100 ms of 1000")
T.say("send", sock:send("ok\n"))
T.say("receive", sock:receive())
T.say("close", sock:close())
