-- §2.3, §1.1: sslhandshake's argument errors, a handshake with a peer that
-- does not speak TLS ("handshake failed", the connection is closed), the
-- connect timeout bounding the handshake (then closed), and "socket busy
-- connecting" for everything else while a handshake waits.
-- peer: hold
-- peer plain: send HTTP/1.1 400 Bad Request\r\n\r\n;close
local T = ...
local sock = T.tcp()
T.try("never connected", sock, "sslhandshake")
T.say("connect", sock:connect("127.0.0.1", T.port))
T.try("6 arguments", sock, "sslhandshake", nil, nil, nil, nil, 1)
sock:settimeout(200)
local t0 = T.now()
T.say("handshake with a silent peer", sock:sslhandshake(false))
T.say("waited the connect timeout", T.ms_since(t0) >= 180)
T.say("send after", sock:send("x"))
T.say("receive after", sock:receive())
T.say("close after", sock:close())
T.say("getreusedtimes after", sock:getreusedtimes())

local s2 = T.tcp()
s2:settimeout(2000)
T.say("connect plain", s2:connect("127.0.0.1", T.ports.plain))
T.say("handshake with a plain peer", s2:sslhandshake(nil, "localhost", true))
T.say("receive after", s2:receive())
T.say("close after", s2:close())
T.say("handshake after", s2:sslhandshake())

local s3 = T.tcp()
s3:settimeout(300)
T.say("connect 3", s3:connect("127.0.0.1", T.port))
local th = T.spawn(function()
  return s3:sslhandshake(false)
end)
T.say("receive", s3:receive())
T.say("receiveany", s3:receiveany(1))
T.say("send", s3:send("x"))
T.say("getreusedtimes", s3:getreusedtimes())
T.say("close", s3:close())
T.say("setkeepalive", s3:setkeepalive())
T.say("sslhandshake", s3:sslhandshake(false))
T.say("wait handshaker", T.wait(th))
T.say("close", s3:close())
