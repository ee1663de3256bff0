-- §1.1 (t/128 TEST 2): full duplex: a read timeout in the reader thread does
-- not disturb the writer thread, and both may run at once.
-- peer: sleep 300; lineecho
local T = ...
local sock = T.tcp()
sock:settimeouts(1000, 1000, 100)
T.say("connect", sock:connect("127.0.0.1", T.port))
local reader = T.spawn(function()
  local a, b, c = sock:receive()
  T.say("reader receive", a, b, c)
  sock:settimeout(1000)
  return sock:receive()
end)
local writer = T.spawn(function()
  T.sleep(0.15)
  return sock:send("from writer\n")
end)
T.say("wait writer", T.wait(writer))
T.say("wait reader", T.wait(reader))
T.say("close", sock:close())
