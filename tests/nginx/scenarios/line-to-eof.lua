-- §6 case 1 (t/058 TEST 1): read an HTTP response line by line until EOF;
-- close() after the read half closed returns 1 (§1.2).
-- peer: recv 57; send HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nfoo\n; close
local T = ...
local sock = T.tcp()
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("send", sock:send("GET /foo HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
for _ = 1, 12 do
  local line = T.say("receive", sock:receive())
  if not line then
    break
  end
end
T.say("close", sock:close())
T.say("close again", sock:close())
