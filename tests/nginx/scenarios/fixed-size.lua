-- §6 case 5 (t/058 TESTS 13, 18): receive(10) / receive("10") over the
-- 102-byte response: ten full chunks, then nil, "closed", "o\n".
-- peer: recv 57; send HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nfoo\n; close
local T = ...
local sock = T.tcp()
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("send", sock:send("GET /foo HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
for i = 1, 14 do
  local size = (i % 2 == 0) and "10" or 10
  if not T.say("receive " .. T.fmt(size), sock:receive(size)) then
    break
  end
end
T.say("close", sock:close())
