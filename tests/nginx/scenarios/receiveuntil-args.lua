-- §6 case 30 (t/084 TEST 7), §2.7: receiveuntil and iterator argument
-- checks: what raises, what returns.
-- peer: send x123y--z; hold
local T = ...
local fresh = T.tcp()
local it0 = T.try("never connected: receiveuntil", fresh, "receiveuntil", "x")
T.say("never connected: iterator", fresh:receiveuntil("x")())
local sock = T.tcp()
sock:settimeout(300)
T.say("connect", sock:connect("127.0.0.1", T.port))
T.try("inclusive \"true\"", sock, "receiveuntil", "aa", { inclusive = "true" })
T.try("inclusive 1", sock, "receiveuntil", "aa", { inclusive = 1 })
T.try("options string", sock, "receiveuntil", "aa", "b")
T.try("empty pattern", sock, "receiveuntil", "")
T.try("nil pattern", sock, "receiveuntil", nil)
T.try("table pattern", sock, "receiveuntil", {})
T.try("no argument", sock, "receiveuntil")
T.pcall("unknown option", function() return type(sock:receiveuntil("aa", { foo = 1 })) end)
-- iterators are called the way users do (a local named "reader", not a tail
-- call): an argument error names the variable
local reader = sock:receiveuntil(123)
T.pcall("numeric pattern", function() return T.keep(reader()) end)
T.pcall("iterator two arguments", function() return T.keep(reader(1, 2)) end)
T.pcall("iterator \"x\"", function() return T.keep(reader("x")) end)
reader = sock:receiveuntil("--")
T.pcall("iterator -1", function() return T.keep(reader(-1)) end)
reader = sock:receiveuntil("nomatch")
T.pcall("iterator \"1\"", function() return T.keep(reader("1")) end)
T.say("close", sock:close())
T.pcall("iterator after close", function() return T.keep(reader()) end)
