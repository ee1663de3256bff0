-- §6 case 24 (t/066 TESTS 2-3): receiveuntil("\r\n") as a line reader, and
-- "\r\n\r\n" returning the whole header block.
-- peer: recv 57; send HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nfoo\n; close
local T = ...
local req = "GET /foo HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n"
local sock = T.tcp()
sock:settimeout(2000)
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("send", sock:send(req))
local reader = sock:receiveuntil("\r\n")
for _ = 1, 7 do
  T.say("line", reader())
end
T.say("close", sock:close())

local s2 = T.tcp()
s2:settimeout(2000)
T.say("connect", s2:connect("127.0.0.1", T.port))
T.say("send", s2:send(req))
local headers = s2:receiveuntil("\r\n\r\n")
T.say("headers", headers())
T.say("headers", headers())
T.say("close", s2:close())
