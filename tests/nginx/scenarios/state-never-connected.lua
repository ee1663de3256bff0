-- §1 and §1.2 row "never connected": constructor and method results on a
-- fresh object, argument-count errors, what is raised.
-- peer: hold
local T = ...
T.pcall("tcp(1)", function() return T.tcp(1) end)
T.say("stream is tcp", T.stream == T.tcp)
local sock = T.tcp()
T.say("type", type(sock))
sock.user_field = "kept"
T.say("user field", sock.user_field)
T.say("send", sock:send("x"))
T.say("receive", sock:receive())
T.say("receiveany", sock:receiveany(1))
T.say("getreusedtimes", sock:getreusedtimes())
T.say("setkeepalive", sock:setkeepalive())
T.say("close", sock:close())
T.try("setoption", sock, "setoption", "keepalive", true)
T.try("getoption", sock, "getoption", "keepalive")
T.try("close(1)", sock, "close", 1)
T.try("getreusedtimes(1)", sock, "getreusedtimes", 1)
T.try("setkeepalive(1, 2, 3)", sock, "setkeepalive", 1, 2, 3)
T.pcall("receive on a non-socket", function() return sock.receive({}, 1) end)
