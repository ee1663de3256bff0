-- §6 case 3 (t/058 TEST 11): receive("*a") returns the whole response with
-- CRLFs intact and no error.
-- peer: recv 57; send HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nfoo\n; close
local T = ...
local sock = T.tcp()
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("send", sock:send("GET /foo HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
T.say("receive *a", sock:receive("*a"))
T.say("close", sock:close())
