-- udp-api.md §1-§6 without a peer: the object, argument errors raised and
-- returned, address forms, closed objects, settimeout, close; a failed unix
-- setpeername (§0.1 item 7, without the receive that crashes nginx).
local T = ...
local udp = T.udp

T.pcall("udp(1)", udp, 1)
local s = udp()
T.say("type", type(s))
T.say("sendto", type(s.sendto), "setkeepalive", type(s.setkeepalive))

-- never connected
T.try("send closed", s, "send", "x")
T.try("send closed, bad type", s, "send", print)
T.try("receive closed", s, "receive")
T.try("receive closed, bad size", s, "receive", "abc")
T.try("close closed", s, "close")

-- setpeername arguments
T.try("setpeername()", s, "setpeername")
T.try("setpeername 3 args", s, "setpeername", "127.0.0.1", 1, 2)
T.try("host table", s, "setpeername", {}, 53)
T.try("host nil", s, "setpeername", nil, 53)
T.try("port abc", s, "setpeername", "127.0.0.1", "abc")
T.try("port nil", s, "setpeername", "127.0.0.1", nil)
T.try("port -1", s, "setpeername", "127.0.0.1", -1)
T.try("port 65536", s, "setpeername", "127.0.0.1", 65536)
T.try("bare ::1", s, "setpeername", "::1", 53)
T.try("empty host", s, "setpeername", "", 53)
T.try("unix:", s, "setpeername", "unix:")
T.try("send after parse error", s, "send", "x")

-- a dead port: setpeername succeeds; nothing is sent here
T.try("setpeername 127.0.0.1 9", s, "setpeername", "127.0.0.1", 9)
T.try("numeric string port", s, "setpeername", "127.0.0.1", "9")
T.try("fraction port", s, "setpeername", "127.0.0.1", 9.7)
T.try("no port", s, "setpeername", "127.0.0.1")
T.try("[::1]", s, "setpeername", "[::1]", 9)
T.try("bad port keeps the socket", s, "setpeername", "127.0.0.1", 70000)

-- argument errors on a connected socket
T.try("send()", s, "send")
T.try("send two", s, "send", "a", "b")
T.try("send function", s, "send", print)
T.try("send {true}", s, "send", { "a", true })
T.try("send hole", s, "send", { "a", nil, "b" })
T.try("receive two", s, "receive", 1, 2)
T.try("receive abc", s, "receive", "abc")
T.try("receive *l", s, "receive", "*l")
T.try("receive {}", s, "receive", {})

-- settimeout: no validation, returns nothing
T.try("settimeout()", s, "settimeout")
T.try("settimeout two", s, "settimeout", 1, 2)
T.try("settimeout 100", s, "settimeout", 100)
T.try("settimeout -5", s, "settimeout", -5)
T.try("settimeout abc", s, "settimeout", "abc")
T.try("settimeout nil", s, "settimeout", nil)
T.try("settimeout 2^40", s, "settimeout", 2 ^ 40)

-- close
T.try("close extra", s, "close", 1)
T.try("close", s, "close")
T.try("close again", s, "close")
T.try("send after close", s, "send", "x")
T.try("receive after close", s, "receive")
T.try("setpeername after close", s, "setpeername", "127.0.0.1", 9)
T.try("close", s, "close")

-- a failed unix setpeername leaves a half-made socket
local u = udp()
T.try("missing unix file", u, "setpeername", "unix:/nonexistent/cosocket-udp.sock")
T.try("send on the half-made socket", u, "send", "x")
T.try("close the half-made socket", u, "close")
T.try("close again", u, "close")
T.try("recovers", u, "setpeername", "127.0.0.1", 9)
T.try("close", u, "close")
