-- §0.1 finding 10, §4.3-4.4: reuse is LIFO (most recently pooled first),
-- eviction from a full pool is LRU.  Connections are told apart by their
-- reuse counts.
-- peer: lineecho
local T = ...
local opts = { pool = "lifo" .. T.port, pool_size = 2 }
local function conn(label)
  local s = T.tcp()
  T.say(label .. " connect", s:connect("127.0.0.1", T.port, opts))
  T.say(label .. " reused", s:getreusedtimes())
  return s
end
-- c1 reused twice, c2 once, c3 never
local s1 = conn("s1")
s1:setkeepalive()
s1 = conn("s1")
s1:setkeepalive()
s1 = conn("s1")
local s2 = conn("s2")
s2:setkeepalive()
s2 = conn("s2")
local s3 = conn("s3")
T.say("pool s1", s1:setkeepalive())
T.say("pool s2", s2:setkeepalive())
T.say("pool s3 (evicts s1)", s3:setkeepalive())
local x = conn("x")
local y = conn("y")
local z = conn("z")
x:close()
y:close()
z:close()
