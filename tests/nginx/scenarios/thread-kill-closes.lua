-- §1 (lifetime): killing the light thread that waits in an operation
-- finalizes (closes) the socket; the object can connect again.
-- peer: hold
local T = ...
local sock = T.tcp()
sock:settimeout(2000)
T.say("connect", sock:connect("127.0.0.1", T.port))
local reader = T.spawn(function()
  return sock:receive()
end)
T.say("kill", T.kill(reader))
T.say("send after kill", sock:send("x"))
T.say("receive after kill", sock:receive())
T.say("close", sock:close())
T.say("connect again", sock:connect("127.0.0.1", T.port))
T.say("send", sock:send("y"))
T.say("close", sock:close())
