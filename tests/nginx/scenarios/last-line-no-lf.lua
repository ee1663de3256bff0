-- §6 case 2 (t/058 TEST 2): the last line has no LF; the final receive()
-- returns nil, "closed" and the unterminated line as partial.
-- peer: recv 57; send HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nfoo; close
local T = ...
local sock = T.tcp()
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("send", sock:send("GET /foo HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
for _ = 1, 12 do
  if not T.say("receive", sock:receive()) then
    break
  end
end
T.say("close", sock:close())
