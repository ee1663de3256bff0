-- §0.1 finding 6, §2.5: receive() accepts only "*l", "*a", numbers and
-- numeric strings; other arguments raise; no prefix argument; a closed
-- socket returns "closed" before the argument is validated.
-- peer: send 0123456789abcdef\nrest\n; hold
local T = ...
local fresh = T.tcp()
T.try("never connected: \"l\"", fresh, "receive", "l")
T.try("never connected: 3 arguments", fresh, "receive", "*l", "x")
local sock = T.tcp()
sock:settimeout(300)
T.say("connect", sock:connect("127.0.0.1", T.port))
T.try("\"l\"", sock, "receive", "l")
T.try("\"a\"", sock, "receive", "a")
T.try("\"*x\"", sock, "receive", "*x")
T.try("\"*line\"", sock, "receive", "*line")
T.try("\"*L\"", sock, "receive", "*L")
T.try("nil", sock, "receive", nil)
T.try("true", sock, "receive", true)
T.try("table", sock, "receive", {})
T.try("prefix argument", sock, "receive", "*l", "prefix")
T.try("-1", sock, "receive", -1)
T.try("2.7", sock, "receive", 2.7)
T.try("\"3\"", sock, "receive", "3")
T.try("\" 2\"", sock, "receive", " 2")
T.try("\"0x2\"", sock, "receive", "0x2")
T.try("\"*l\"", sock, "receive", "*l")
T.try("default", sock, "receive")
T.say("close", sock:close())
