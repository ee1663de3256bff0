-- §6 case 36 (t/068 TESTS 33, 41), §4.3: a queued connect is bounded by the
-- connect timeout; a connect that failed does not keep its slot.
-- peer: lineecho
-- peer hole --mode blackhole:
local T = ...
local opts = { pool = "qt" .. T.port, pool_size = 1, backlog = 1 }
local a = T.tcp()
T.say("a connect", a:connect("127.0.0.1", T.port, opts))
local b = T.tcp()
b:settimeout(150)
local t0 = T.now()
T.say("b connect (queued)", b:connect("127.0.0.1", T.port, opts))
T.say("b waited >= 140 ms", T.ms_since(t0) >= 140)
T.say("b send", b:send("x"))
T.say("a close", a:close())
T.say("b connect", b:connect("127.0.0.1", T.port, opts))
T.say("b reused", b:getreusedtimes())
b:close()

-- a timed-out connect in a pool_size 1, backlog 0 pool frees its slot
local shared = { pool = "hole" .. T.port, pool_size = 1, backlog = 0 }
local h = T.tcp()
h:settimeout(150)
T.say("blackhole connect", h:connect("127.0.0.1", T.ports.hole, shared))
local ok = T.tcp()
T.say("connect in the same pool", ok:connect("127.0.0.1", T.port, shared))
ok:close()
