-- §6 case 26 (t/066 TESTS 15-16), §0.1 finding 9: an iterator called with a
-- size returns chunks, ends a match with nil, nil, nil, then searches again.
-- peer: send hello, world ----abc\n; close
-- peer readme: send hello, world! -agentzh\r\n--abcedhb blah blah; close
local T = ...
local sock = T.tcp()
sock:settimeout(2000)
T.say("connect", sock:connect("127.0.0.1", T.port))
local reader = sock:receiveuntil("--abc")
for _ = 1, 6 do
  T.say("reader(4)", reader(4))
end
T.say("close", sock:close())

-- the README example
local s2 = T.tcp()
s2:settimeout(2000)
T.say("connect", s2:connect("127.0.0.1", T.ports.readme))
local r2 = s2:receiveuntil("\r\n--abcedhb")
for _ = 1, 8 do
  local data, err, partial = T.say("reader(4)", r2(4))
  if not data and err then
    break
  end
end
T.say("close", s2:close())
