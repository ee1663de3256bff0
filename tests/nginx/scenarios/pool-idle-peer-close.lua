-- §6 case 37 (t/068 TEST 3), §4.5, §0.1 finding 11: an idle pooled
-- connection that the peer closes, or on which it sends unsolicited data,
-- is dropped at once: the next connect gets a fresh connection.
-- peer: line; send ok\n; sleep 100; close
-- peer chatty: line; send ok\n; sleep 100; send junk\n; hold
local T = ...
local function cycle(label, port)
  local sock = T.tcp()
  sock:settimeout(1000)
  T.say(label .. " connect", sock:connect("127.0.0.1", port))
  T.say(label .. " reused", sock:getreusedtimes())
  T.say(label .. " send", sock:send("hi\n"))
  T.say(label .. " receive", sock:receive())
  T.say(label .. " setkeepalive", sock:setkeepalive())
end
cycle("closing peer", T.port)
T.sleep(0.3)
cycle("closing peer again", T.port)
cycle("chatty peer", T.ports.chatty)
T.sleep(0.3)
cycle("chatty peer again", T.ports.chatty)
