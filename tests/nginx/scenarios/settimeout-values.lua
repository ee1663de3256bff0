-- §6 case 18 (t/065 TESTS 3-5, 23; t/147), §2.9: settimeout/settimeouts
-- return nothing; 0, nil and non-numbers mean "the default (60 s)", not
-- "no wait"; negative and >= 2^31 raise; argument counts are checked.
-- peer: sleep 250; send late\n; hold
local T = ...
local sock = T.tcp()
T.say("settimeout 100", sock:settimeout(100))
T.try("settimeout -1", sock, "settimeout", -1)
T.try("settimeout 2^31", sock, "settimeout", 2 ^ 31)
T.try("settimeout 2^31-1", sock, "settimeout", 2 ^ 31 - 1)
T.try("settimeouts -1", sock, "settimeouts", -1, 0, 0)
T.try("settimeouts read 2^31", sock, "settimeouts", 0, 0, 2 ^ 31)
T.try("settimeouts ok", sock, "settimeouts", 1000, 1000, 1000)
T.try("settimeout no argument", sock, "settimeout")
T.try("settimeout two arguments", sock, "settimeout", 1, 2)
T.try("settimeouts two arguments", sock, "settimeouts", 1, 2)

local function late(label, set)
  local s = T.tcp()
  s:settimeout(100)
  set(s)
  s:connect("127.0.0.1", T.port)
  T.say(label, s:receive())
  s:close()
end
late("control: 100 ms", function() end)
late("settimeout(0)", function(s) s:settimeout(0) end)
late("settimeout(nil)", function(s) s:settimeout(nil) end)
late("settimeout(\"abc\")", function(s) s:settimeout("abc") end)
late("settimeout(\"300\")", function(s) s:settimeout("300") end)
late("settimeouts read 0", function(s) s:settimeouts(100, 100, 0) end)
-- a timeout set after connect applies to the following operations
local s = T.tcp()
s:connect("127.0.0.1", T.port)
s:settimeout(50.9)
T.say("settimeout after connect", s:receive())
s:close()
