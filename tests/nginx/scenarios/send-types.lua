-- §6 cases 12 and 14 (t/058 TESTS 25, 64, 70, 71), §2.4: how numbers,
-- booleans, nil and nested array tables are turned into bytes.  The echo
-- peer sends them back.
-- peer: echo
local T = ...
local sock = T.tcp()
sock:settimeout(2000)
T.say("connect", sock:connect("127.0.0.1", T.port))
local function check(label, v)
  local n = T.say(label .. " send", sock:send(v))
  if n and n > 0 then
    T.say(label .. " echoed", sock:receive(n))
  end
end
check("request table", { "GET", " ", "/foo", " HTTP/", 1, ".", 0, "\r\n" })
check("float in table", { "pi=", 3.1415926, "\n" })
check("long float", 3.14159265357939723846)
check("integer", 31415926)
check("2^31", 2 ^ 31)
check("-2^31", -2 ^ 31)
check("2^40", 2 ^ 40)
check("1e20", 1e20)
check("123456789012345", 123456789012345)
check("2^53", 2 ^ 53)
check("-0", -0.0)
check("1e-7", 1e-7)
check("float in table 2^31", { 2 ^ 31, " ", 1e100 })
check("-0.5", -0.5)
check("0.1", 0.1)
check("1/0", 1 / 0)
check("-1/0", -1 / 0)
check("0/0", 0 / 0)
check("true", true)
check("false", false)
check("nil", nil)
check("nested", { { "a", { "b", { "c" } } }, "d", {}, 42 })
check("numeric string", "007")
T.say("close", sock:close())
