-- §2.1 step 3, t/059: unix-domain sockets via "unix:PATH" (prefix matched
-- case-insensitively), with ngx.socket.stream too; a numeric port after the
-- path is accepted and ignored.
-- peer u --unix: lineecho
local T = ...
local sock = T.tcp()
T.say("connect", sock:connect(T.unix.u))
T.say("send", sock:send("hello\n"))
T.say("receive", sock:receive())
T.say("getreusedtimes", sock:getreusedtimes())
T.say("close", sock:close())

local s2 = T.stream()
T.say("stream connect UNIX:", s2:connect("UNIX:" .. T.unix.u:sub(6)))
T.say("send", s2:send("again\n"))
T.say("receive", s2:receive())
T.say("close", s2:close())

local s3 = T.tcp()
T.say("connect with port", s3:connect(T.unix.u, 80))
T.say("send", s3:send("ported\n"))
T.say("receive", s3:receive())
T.say("close", s3:close())
