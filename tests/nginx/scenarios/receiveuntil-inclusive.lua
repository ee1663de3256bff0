-- §6 case 29 (t/084 TESTS 1, 6, 9): {inclusive = true} appends the pattern.
-- peer a: send abcabcabdabcabd\n; close
-- peer b: send abcabcaad\n; close
-- peer c: send hello, world ----abc\n; close
local T = ...
local function conn(peer)
  local sock = T.tcp()
  sock:settimeout(2000)
  T.say("connect " .. peer, sock:connect("127.0.0.1", T.ports[peer]))
  return sock
end
local a = conn("a")
local it = a:receiveuntil("abcabd", { inclusive = true })
for _ = 1, 3 do
  T.say("abcabd", it())
end
a:close()
local b = conn("b")
T.say("aa", b:receiveuntil("aa", { inclusive = true })())
b:close()
local c = conn("c")
local r = c:receiveuntil("--abc", { inclusive = true })
for _ = 1, 6 do
  T.say("--abc reader(4)", r(4))
end
T.say("inclusive false", c:receiveuntil("x", { inclusive = false }) ~= nil)
c:close()
