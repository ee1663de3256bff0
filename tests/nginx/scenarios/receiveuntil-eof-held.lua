-- §0.1 finding 9, §5.5: at EOF the bytes held as a partial match are not
-- in the partial; a pattern at the very start gives "" (then nil, nil, nil
-- with a size); a pattern at the very end leaves "" for the next call.
-- peer a: send xx--ab; close
-- peer b: send --abcrest; close
-- peer c: send hello, world ----abc; close
local T = ...
local function conn(peer)
  local sock = T.tcp()
  sock:settimeout(2000)
  T.say("connect " .. peer, sock:connect("127.0.0.1", T.ports[peer]))
  return sock
end
local a = conn("a")
T.say("held at EOF", a:receiveuntil("--abc")())
a:close()
local b = conn("b")
local rb = b:receiveuntil("--abc")
for _ = 1, 4 do
  T.say("at start reader(4)", rb(4))
end
b:close()
local c = conn("c")
local rc = c:receiveuntil("--abc")
T.say("at end", rc())
T.say("at end again", rc())
c:close()
