-- §6 case 32 (t/068 TESTS 15, 16, 19, 21), §4.1: the pool option names the
-- pool: same target under two names → two pools; two targets under one
-- name → one pool (the second target gets the first one's connection); a
-- numeric name is converted with tostring; other types raise.
-- peer: line; send from-main\n; line; send from-main\n; hold
-- peer other: line; send from-other\n; line; send from-other\n; hold
local T = ...
local A, B, foo = "A" .. T.port, "B" .. T.port, "foo" .. T.port
local function use(label, port, opts)
  local sock = T.tcp()
  sock:settimeout(1000)
  T.say(label .. " connect", sock:connect("127.0.0.1", port, opts))
  T.say(label .. " reused", sock:getreusedtimes())
  T.say(label .. " send", sock:send("q\n"))
  T.say(label .. " receive", sock:receive())
  T.say(label .. " setkeepalive", sock:setkeepalive())
end
use("pool A", T.port, { pool = A })
use("pool B", T.port, { pool = B })
use("pool A again", T.port, { pool = A })
use("default pool", T.port)
use("foo main", T.port, { pool = foo })
use("foo other", T.ports.other, { pool = foo })
local num = T.port + 0.5
use("numeric pool", T.port, { pool = num })
use("same name as string", T.port, { pool = tostring(num) })
local sock = T.tcp()
T.try("pool = {}", sock, "connect", "127.0.0.1", T.port, { pool = {} })
T.try("pool = true", sock, "connect", "127.0.0.1", T.port, { pool = true })
T.say("close", sock:close())
