-- §5.1: reads spanning many 4096-byte buffers: "*a" of 100000 bytes, a
-- 10000-byte line, receive(n) across buffers, a 1 MB send.
-- peer: big 10000; send \n; big 30000; send tail; recv 1000000; send done\n; big 100000; close
local T = ...
local function expected(n)
  local t = {}
  for i = 0, n - 1 do
    t[#t + 1] = string.char(97 + i % 26)
  end
  return table.concat(t)
end
local sock = T.tcp()
sock:settimeout(5000)
T.say("connect", sock:connect("127.0.0.1", T.port))
local line = sock:receive()
T.say("long line", #line, line == expected(10000))
local chunk = sock:receive(30000)
T.say("receive 30000", #chunk, chunk == expected(30000))
T.say("receive 4", sock:receive(4))
T.say("send 1 MB", sock:send(string.rep("z", 1000000)))
T.say("receive", sock:receive())
local all, err = sock:receive("*a")
T.say("receive *a", #all, all == expected(100000), err)
T.say("close", sock:close())
