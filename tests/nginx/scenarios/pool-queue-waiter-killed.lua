-- §4.3 step 5 (t/068 TEST 52): a queued connect whose thread is killed
-- leaves the queue.  lua-nginx-module (0.10.23 and HEAD,
-- ngx_http_lua_tcp_queue_conn_op_cleanup) also resumes the next waiter at
-- once although no connection was freed, and that waiter then opens a
-- connection beyond pool_size (see known-differences.txt).  The waiters
-- print nothing themselves, so both outputs keep the same line order.
-- peer: lineecho
local T = ...
local opts = { pool = "qk" .. T.port, pool_size = 1, backlog = 2 }
local a = T.tcp()
a:settimeout(2000)
T.say("a connect", a:connect("127.0.0.1", T.port, opts))
local function waiter()
  return T.spawn(function()
    local s = T.tcp()
    s:settimeout(2000)
    local ok, err = s:connect("127.0.0.1", T.port, opts)
    return ok, err, s:getreusedtimes(), s:setkeepalive()
  end)
end
local b = waiter()
local c = waiter()
T.say("kill b", T.kill(b))
local d = T.tcp()
d:settimeout(200)
T.say("d connect", d:connect("127.0.0.1", T.port, { pool = opts.pool }))
T.say("a setkeepalive", a:setkeepalive())
T.say("wait c (ok, err, reused, setkeepalive)", T.wait(c))
T.say("d connect", d:connect("127.0.0.1", T.port, opts))
T.say("d reused", d:getreusedtimes())
d:close()
