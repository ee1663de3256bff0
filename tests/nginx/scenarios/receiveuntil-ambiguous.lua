-- §6 case 25 (t/066 TESTS 4-7), §5.5: self-overlapping patterns behave like
-- a correct substring search.
-- peer a: send abcabcabd\n; close
-- peer b: send abcabcaad\n; close
-- peer c: send abaabcaaaef\n; close
-- peer d: send baaaaaaaaeaaaaaaadf\n; close
local T = ...
local function case(peer, pattern)
  local sock = T.tcp()
  sock:settimeout(2000)
  T.say("connect " .. peer, sock:connect("127.0.0.1", T.ports[peer]))
  local it = sock:receiveuntil(pattern)
  T.say(pattern .. " 1", it())
  T.say(pattern .. " 2", it())
  sock:close()
end
case("a", "abcabd")
case("b", "aa")
case("c", "aaa")
case("d", "aaaaad")
