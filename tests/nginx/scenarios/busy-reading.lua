-- §1.1, §6 case 40 (t/128): while one thread reads, another thread's reads
-- get "socket busy reading", sending works, close/setkeepalive/connect get
-- "socket busy reading", getreusedtimes answers.
-- peer: sleep 300; send late\n; hold
local T = ...
local sock = T.tcp()
sock:settimeout(2000)
T.say("connect", sock:connect("127.0.0.1", T.port))
local reader = T.spawn(function()
  return sock:receive()
end)
T.say("receive", sock:receive())
T.say("receive 1", sock:receive(1))
T.say("receiveany", sock:receiveany(1))
T.say("receiveuntil", sock:receiveuntil("x")())
T.say("send", sock:send("ping ping\n"))
T.say("getreusedtimes", sock:getreusedtimes())
T.say("close", sock:close())
T.say("setkeepalive", sock:setkeepalive())
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("wait reader", T.wait(reader))
T.say("close", sock:close())
