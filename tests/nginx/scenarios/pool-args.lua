-- §2.1 step 2, §2.11 step 1, §9: connect pool options and setkeepalive
-- argument checks (what raises, what is ignored).
-- peer: lineecho
local T = ...
local function try(label, opts)
  local sock = T.tcp()
  T.try(label, sock, "connect", "127.0.0.1", T.port, opts)
  sock:close()
end
try("pool_size 0", { pool_size = 0 })
try("pool_size -1", { pool_size = -1 })
try("pool_size \"x\"", { pool_size = "x" })
try("pool_size \"3\"", { pool = "ps" .. T.port, pool_size = "3" })
try("backlog -1", { backlog = -1 })
try("backlog \"x\" ignored", { pool = "bx" .. T.port, backlog = "x" })
try("backlog only", { pool = "bo" .. T.port, backlog = 2 })

local sock = T.tcp()
T.say("connect", sock:connect("127.0.0.1", T.port))
T.try("setkeepalive three arguments", sock, "setkeepalive", 1, 2, 3)
T.try("setkeepalive(nil, \"y\")", sock, "setkeepalive", nil, "y")
T.try("setkeepalive(\"x\")", sock, "setkeepalive", "x")
T.say("send after bad setkeepalive", sock:send("still\n"))
T.say("receive", sock:receive())
T.say("close", sock:close())

local s2 = T.tcp()
T.say("connect to a new pool", s2:connect("127.0.0.1", T.port, { pool = "zero" .. T.port }))
T.try("setkeepalive(0, 0) creating the pool", s2, "setkeepalive", 0, 0)
T.try("setkeepalive(0, -1)", s2, "setkeepalive", 0, -1)
T.try("setkeepalive(\"100\")", s2, "setkeepalive", "100")
T.say("close", s2:close())
