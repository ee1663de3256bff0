-- §6 case 13 (t/058 TESTS 26-28), §2.4: bad elements inside a send table
-- raise (they are not returned), and the socket stays usable.
-- peer: echo
local T = ...
local sock = T.tcp()
sock:settimeout(2000)
T.say("connect", sock:connect("127.0.0.1", T.port))
T.try("nil hole", sock, "send", { "a", nil, "b" })
T.try("boolean element", sock, "send", { "a", true })
T.try("null element", sock, "send", { "a", T.null })
T.try("function element", sock, "send", { "a", print })
T.try("hash key", sock, "send", { a = 1 })
T.try("nested hash key", sock, "send", { "a", { b = 1 } })
T.try("function", sock, "send", print)
T.try("coroutine", sock, "send", coroutine.create(function() end))
T.try("no argument", sock, "send")
T.try("two arguments", sock, "send", "a", "b")
T.say("send ok", sock:send("ok\n"))
T.say("receive", sock:receive())
T.say("close", sock:close())
T.try("bad table on closed socket", sock, "send", { "a", true })
T.try("function on closed socket", sock, "send", print)
