-- §1, §2.2: ngx.socket.connect(...) = tcp() + connect(...) with the default
-- timeouts; it returns the socket or nil, err.
-- peer: lineecho
-- peer refused --mode refuse:
local T = ...
local sock, err = T.connect("127.0.0.1", T.port)
T.say("connect", type(sock), err)
T.say("send", sock:send("hi\n"))
T.say("receive", sock:receive())
T.say("setkeepalive", sock:setkeepalive())
local again = T.connect("127.0.0.1", T.port)
T.say("reused", again:getreusedtimes())
again:close()
T.say("refused", T.connect("127.0.0.1", T.ports.refused))
local pooled = T.connect("127.0.0.1", T.port, { pool = "sc" .. T.port })
T.say("with options", type(pooled), pooled:getreusedtimes())
pooled:close()
T.pcall("no arguments", function() return T.connect() end)
