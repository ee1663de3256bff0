-- §5.6, §0.1 finding 8: receiveany first returns what is already buffered
-- without reading; then at most one socket buffer (4096 bytes) per call.
-- peer: send line1\nrest of data; sleep 200; big 20000; sleep 300; close
local T = ...
local sock = T.tcp()
sock:settimeout(2000)
T.say("connect", sock:connect("127.0.0.1", T.port))
T.say("receive", sock:receive())
T.say("receiveany 100", sock:receiveany(100))
T.sleep(0.4)
for _ = 1, 10 do
  local data, err, partial = sock:receiveany(10240)
  if not data then
    T.say("receiveany 10240", data, err, partial)
    break
  end
  T.say("receiveany 10240 length", #data)
end
T.say("close", sock:close())
