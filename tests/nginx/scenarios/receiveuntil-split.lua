-- §5.5: the matcher is streaming: patterns and false starts split across
-- reads (the peer drips one byte every 5 ms) give the same results.
-- peer: drip 5 xx--ab--abcyy-; close
-- peer b: drip 5 abcabcabd\n; close
local T = ...
local sock = T.tcp()
sock:settimeout(2000)
T.say("connect", sock:connect("127.0.0.1", T.port))
local reader = sock:receiveuntil("--abc")
T.say("until --abc", reader())
T.say("until --abc again", reader())
T.say("close", sock:close())
local s2 = T.tcp()
s2:settimeout(2000)
T.say("connect b", s2:connect("127.0.0.1", T.ports.b))
local r2 = s2:receiveuntil("abcabd")
for _ = 1, 4 do
  T.say("reader(2)", r2(2))
end
T.say("close", s2:close())
