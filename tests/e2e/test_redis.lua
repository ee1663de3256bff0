-- Real redis-server: RESP client, pipelining, and the keepalive pool seen
-- from both sides (getreusedtimes / pool stats here, CLIENT LIST there).
local e2e = require "e2e"
local R = require "resp"

local T = e2e.suite("redis", { "redis" })
local check, eq, ok, le, ge = e2e.check, e2e.eq, e2e.ok, e2e.le, e2e.ge

local function sanitize(s) return (s:gsub("[^%w%-]", "-")) end

-- An unpooled admin connection for CLIENT LIST/KILL/CONFIG.
local function admin(a)
  local r = assert(R.new(e2e.cosocket.tcp))
  r:set_timeout(5000)
  check("admin connect", r:connect(a.host, a.port, { pool = "e2e-redis-admin" }))
  return r
end

local function clients_named(a, name)
  local r = admin(a)
  local text = check("client list", r:cmd("client", "list"))
  r:close()
  local n, list = 0, {}
  for _, c in ipairs(R.parse_client_list(text)) do
    if c.name == name then n = n + 1; list[#list + 1] = c end
  end
  return n, list
end

local function connect(tcp, a, opts)
  local r = assert(R.new(tcp))
  r:set_timeout(5000)
  check("connect", r:connect(a.host, a.port, opts))
  return r
end

for _, f in ipairs(e2e.factories) do
  local tcp, tag = f.tcp, " [" .. f.name .. "]"
  local prefix = "e2e-" .. sanitize(f.name) .. "-"

  T:test("commands, nil bulk reply, errors, nested replies" .. tag, function(a)
    local r = connect(tcp, a)
    local key = prefix .. "basic"
    check("del", r:cmd("del", key, key .. "-list", key .. "-n"))
    eq(r:cmd("set", key, "hello"), "OK", "set")
    eq(r:cmd("get", key), "hello", "get")
    eq(r:cmd("get", key .. "-missing"), e2e.null, "get missing key")
    if e2e.ngx then ok(r:cmd("get", key .. "-missing") == e2e.ngx.null, "nil bulk is ngx.null") end
    eq(r:cmd("incr", key .. "-n"), 1, "incr"); eq(r:cmd("incrby", key .. "-n", 41), 42, "incrby")
    local v, err = r:cmd("lpush", key, "x")
    eq(v, false, "lpush on a string fails")
    ok(err and err:find("^WRONGTYPE"), "WRONGTYPE error", err)
    eq(r:cmd("rpush", key .. "-list", "a", "b", "", "d"), 4, "rpush")
    local list = check("lrange", r:cmd("lrange", key .. "-list", 0, -1))
    eq(#list, 4, "list length"); eq(list[1], "a"); eq(list[3], ""); eq(list[4], "d")
    local mg = check("mget", r:cmd("mget", key, key .. "-missing"))
    eq(mg[1], "hello"); eq(mg[2], e2e.null, "mget nil element")
    eq(r:cmd("del", key, key .. "-list", key .. "-n"), 3, "del")
    check("setkeepalive", r:set_keepalive(10000, 10))
  end)

  T:test("binary and 1 MB values through receive(n)" .. tag, function(a)
    local r = connect(tcp, a)
    local parts = {}
    for i = 0, 255 do parts[#parts + 1] = string.char(i) end
    local bin = table.concat(parts) .. "\r\n$3\r\n*1\r\n\0"
    eq(r:cmd("set", prefix .. "bin", bin), "OK")
    eq(r:cmd("get", prefix .. "bin"), bin, "binary value")
    local big = string.rep("0123456789abcdef\r\n", 58255) -- 1 MB
    eq(r:cmd("set", prefix .. "big", big), "OK")
    local got = r:cmd("get", prefix .. "big")
    eq(#got, #big, "big length"); ok(got == big, "big value intact")
    eq(r:cmd("del", prefix .. "bin", prefix .. "big"), 2)
    check("setkeepalive", r:set_keepalive())
  end)

  T:test("pipeline of 2000 commands in one send" .. tag, function(a)
    local r = connect(tcp, a)
    local n = 1000
    r:init_pipeline()
    for i = 1, n do r:add("set", prefix .. "p" .. i, "value-" .. i) end
    for i = 1, n do r:add("get", prefix .. "p" .. i) end
    local replies = check("commit", r:commit())
    eq(#replies, 2 * n)
    for i = 1, n do
      eq(replies[i], "OK", "set reply " .. i)
      eq(replies[n + i], "value-" .. i, "get reply " .. i)
    end
    -- Mixed reply types in one pipeline, a nil and an error included.
    r:init_pipeline()
    r:add("get", prefix .. "p1"); r:add("get", prefix .. "nope"); r:add("incrby", prefix .. "cnt", 5)
    r:add("hincrby", prefix .. "p1", "f", 1); r:add("ping")
    local mixed = check("commit", r:commit())
    eq(mixed[1], "value-1"); eq(mixed[2], e2e.null); eq(mixed[3], 5)
    eq(mixed[4][1], false, "error reply in pipeline"); eq(mixed[5], "PONG")
    local del = { "del", prefix .. "cnt" }
    for i = 1, n do del[#del + 1] = prefix .. "p" .. i end
    eq(r:cmd(unpack(del)), n + 1)
    check("setkeepalive", r:set_keepalive())
  end)

  T:test("200 coroutines share a pool of 10 (backlog 200)" .. tag, function(a)
    local pool = prefix .. "pool10"
    local key = prefix .. "counter"
    local N, ROUNDS = 200, 5
    local r0 = connect(tcp, a); r0:cmd("del", key); r0:close()
    local ids, nids, maxreuse, reused_sum = {}, 0, 0, 0
    local threads = {}
    for i = 1, N do
      threads[i] = e2e.spawn(function()
        for round = 1, ROUNDS do
          local r = connect(tcp, a, { pool = pool, pool_size = 10, backlog = N })
          local reused = check("getreusedtimes", r:get_reused_times())
          if reused == 0 then eq(r:cmd("client", "setname", pool), "OK") end
          if reused > maxreuse then maxreuse = reused end
          reused_sum = reused_sum + (reused > 0 and 1 or 0)
          local id = check("client id", r:cmd("client", "id"))
          if not ids[id] then ids[id] = true; nids = nids + 1 end
          check("incr", r:cmd("incr", key))
          if (i + round) % 7 == 0 then e2e.sleep(0.001) end -- hold it across a yield
          check("setkeepalive", r:set_keepalive(0))
        end
        return true
      end)
    end
    e2e.wait_all(threads)
    local r = connect(tcp, a)
    eq(tonumber(r:cmd("get", key)), N * ROUNDS, "every increment done")
    r:cmd("del", key); r:close()
    le(nids, 10, "distinct server connections")
    ge(maxreuse, 10, "highest getreusedtimes")
    local st = ok(e2e.pool_stats(pool), "pool stats exist")
    eq(st.size, 10, "pool size"); eq(st.backlog, N, "pool backlog")
    eq(st.in_use, 0, "in use after the run"); eq(st.waiting, 0, "waiting after the run")
    eq(st.idle, nids, "idle connections = distinct connections")
    eq(st.reuses, N * ROUNDS - nids, "pool reuse count")
    eq(reused_sum, N * ROUNDS - nids, "connects that got a reused connection")
    local seen = clients_named(a, pool)
    eq(seen, nids, "CLIENT LIST connections named " .. pool)
    e2e.note("redis%s: %d connects by %d coroutines -> %d server connections, max getreusedtimes %d, pool reuses %d",
      tag, N * ROUNDS, N, seen, maxreuse, st.reuses)

    -- Take every idle connection at once and close them: the server sees them go.
    local held = {}
    for i = 1, nids do
      held[i] = connect(tcp, a, { pool = pool })
      ge(held[i]:get_reused_times(), 1, "held connection " .. i .. " is reused")
    end
    eq(e2e.pool_stats(pool).idle, 0, "idle after taking all")
    for i = 1, nids do check("close", held[i]:close()) end
    eq(e2e.pool_stats(pool), nil, "pool freed after its last connection closed")
    eq(e2e.eventually(function() return clients_named(a, pool) == 0 end, 2000), true,
      "server saw every pooled connection closed")
  end)

  T:test("LIFO reuse, LRU eviction of a full pool" .. tag, function(a)
    local pool = prefix .. "lifo"
    local c = {}
    for i = 1, 3 do c[i] = connect(tcp, a, { pool = pool }); c[i].id = c[i]:cmd("client", "id") end
    for i = 1, 3 do eq(c[i]:cmd("client", "setname", pool), "OK") end
    -- pool created by the first setkeepalive with size 2: the third evicts c1
    for i = 1, 3 do check("setkeepalive", c[i]:set_keepalive(0, 2)) end
    local st = e2e.pool_stats(pool)
    eq(st.idle, 2, "idle"); eq(st.evictions, 1, "evictions")
    eq(e2e.eventually(function() return clients_named(a, pool) == 2 end, 2000), true,
      "evicted connection closed on the server")
    local x = connect(tcp, a, { pool = pool })
    eq(x:cmd("client", "id"), c[3].id, "most recently pooled first")
    local y = connect(tcp, a, { pool = pool })
    eq(y:cmd("client", "id"), c[2].id, "then the next one")
    eq(y:get_reused_times(), 1)
    x:close(); y:close()
  end)

  T:test("idle timeout closes pooled connections" .. tag, function(a)
    local pool = prefix .. "idle"
    local r = connect(tcp, a, { pool = pool })
    eq(r:cmd("client", "setname", pool), "OK")
    check("setkeepalive", r:set_keepalive(200))
    eq(clients_named(a, pool), 1, "pooled connection open")
    eq(e2e.eventually(function() return e2e.pool_stats(pool) == nil end, 2000), true, "pool emptied by idle timeout")
    eq(e2e.eventually(function() return clients_named(a, pool) == 0 end, 2000), true, "server saw the close")
    local r2 = connect(tcp, a, { pool = pool })
    eq(r2:get_reused_times(), 0, "fresh connection after idle timeout")
    r2:close()
  end)

  T:test("CLIENT KILL of an idle pooled connection: never handed out" .. tag, function(a)
    local pool = prefix .. "killed"
    local r = connect(tcp, a, { pool = pool })
    local id = r:cmd("client", "id")
    check("setkeepalive", r:set_keepalive(0))
    local adm = admin(a)
    eq(adm:cmd("client", "kill", "id", id), 1, "CLIENT KILL")
    adm:close()
    eq(e2e.eventually(function() return e2e.pool_stats(pool) == nil end, 1000), true,
      "watcher dropped the killed connection")
    local r2 = connect(tcp, a, { pool = pool })
    eq(r2:get_reused_times(), 0, "fresh connection")
    ok(r2:cmd("client", "id") ~= id, "a different server connection")
    eq(r2:cmd("ping"), "PONG")
    r2:close()
  end)

  T:test("CLIENT KILL then an immediate connect: a stale hand-out fails cleanly" .. tag, function(a)
    -- No wait between the kill and the connect: the idle watcher races the
    -- connect. A connection handed out before the watcher saw the FIN must
    -- fail with "closed"/"connection reset by peer" on first use, never
    -- return another client's data or hang.
    local pool = prefix .. "killed-now"
    local adm = admin(a)
    local stale, n = 0, 50
    for _ = 1, n do
      local r = connect(tcp, a, { pool = pool })
      local id = r:cmd("client", "id")
      check("setkeepalive", r:set_keepalive(0))
      eq(adm:cmd("client", "kill", "id", id), 1)
      local r2 = connect(tcp, a, { pool = pool })
      if r2:get_reused_times() > 0 then
        stale = stale + 1
        local v, err = r2:cmd("ping")
        eq(v, nil, "stale connection must not answer")
        ok(err == "closed" or err == "connection reset by peer", "stale connection error", err)
        r2:close()
      else
        eq(r2:cmd("ping"), "PONG")
        r2:close()
      end
    end
    adm:close()
    e2e.note("redis%s: CLIENT KILL + immediate connect: %d of %d connects got the killed connection", tag, stale, n)
  end)

  T:test("server idle timeout (CONFIG SET timeout 1): never handed out" .. tag, function(a)
    local pool = prefix .. "srvtimeout"
    local adm = admin(a)
    eq(adm:cmd("config", "set", "timeout", "1"), "OK")
    local okk, err = pcall(function()
      local r = connect(tcp, a, { pool = pool })
      local id = r:cmd("client", "id")
      check("setkeepalive", r:set_keepalive(0))
      eq(e2e.eventually(function() return e2e.pool_stats(pool) == nil end, 5000, 50), true,
        "pooled connection dropped after the server closed it")
      local r2 = connect(tcp, a, { pool = pool })
      eq(r2:get_reused_times(), 0)
      ok(r2:cmd("client", "id") ~= id, "a different server connection")
      r2:close()
    end)
    adm:close()
    adm = admin(a) -- the first one was idle for the server's timeout too
    eq(adm:cmd("config", "set", "timeout", "0"), "OK")
    adm:close()
    if not okk then error(err, 0) end
  end)

  T:test("read timeout, pooled, then the late reply arrives: the watcher drops it" .. tag, function(a)
    local pool = prefix .. "late"
    local r = connect(tcp, a, { pool = pool })
    r:set_timeout(100)
    local v, err = r:cmd("blpop", prefix .. "nothing", "1")
    eq(v, nil); eq(err, "timeout", "BLPOP under a 100 ms read timeout")
    -- OpenResty pools a connection after a read timeout (reference 4.4)
    eq(r:set_keepalive(0), 1, "setkeepalive after a read timeout")
    eq(e2e.pool_stats(pool).idle, 1)
    -- BLPOP's nil reply comes ~1 s later: data on an idle connection
    eq(e2e.eventually(function() return e2e.pool_stats(pool) == nil end, 3000, 20), true,
      "idle connection dropped when the late reply arrived")
    local r2 = connect(tcp, a, { pool = pool })
    eq(r2:get_reused_times(), 0)
    eq(r2:cmd("ping"), "PONG", "no late reply seen by the next user")
    r2:close()
  end)

  T:test("16 MB value: async partial writes and reads" .. tag, function(a)
    local r = connect(tcp, a)
    local big = string.rep("abcdefghijklmnop", 1024 * 1024)
    eq(r:cmd("set", prefix .. "huge", big), "OK")
    local got = r:cmd("get", prefix .. "huge")
    eq(#got, #big); ok(got == big, "16 MB value intact")
    eq(r:cmd("strlen", prefix .. "huge"), #big)
    eq(r:cmd("del", prefix .. "huge"), 1)
    check("setkeepalive", r:set_keepalive())
  end)

  T:test("500 concurrent unpooled connections" .. tag, function(a)
    local name = prefix .. "many"
    local N, connected, release = 500, 0, false
    local threads = {}
    for i = 1, N do
      threads[i] = e2e.spawn(function()
        local r = connect(tcp, a)
        eq(r:cmd("client", "setname", name), "OK")
        connected = connected + 1
        while not release do e2e.sleep(0.01) end
        eq(r:cmd("echo", "x" .. i), "x" .. i)
        check("close", r:close())
      end)
    end
    eq(e2e.eventually(function() return connected == N end, 5000), true, "all connected (" .. connected .. ")")
    eq(clients_named(a, name), N, "server sees them all at once")
    release = true
    e2e.wait_all(threads)
    eq(e2e.eventually(function() return clients_named(a, name) == 0 end, 3000), true, "all closed on the server")
  end)

  T:test("unix socket: commands and a pool keyed by the unix: path" .. tag, function(a)
    local path = os.getenv("E2E_REDIS_SOCKET")
    ok(path, "E2E_REDIS_SOCKET set")
    local key = "unix:" .. path
    local before = e2e.pool_stats(key)
    local base = before and before.reuses or 0
    for i = 0, 4 do
      local r = assert(R.new(tcp)); r:set_timeout(5000)
      check("connect unix", r:connect(key))
      eq(r:get_reused_times(), i)
      eq(r:cmd("set", prefix .. "unix", i), "OK")
      eq(r:cmd("get", prefix .. "unix"), tostring(i))
      local info = check("client info", r:cmd("client", "info"))
      ok(info:find("addr=/") or info:find("laddr=" .. path, 1, true) or info:find("flags=U", 1, true),
        "server sees a unix client", info)
      check("setkeepalive", r:set_keepalive(0, 2))
    end
    local st = e2e.pool_stats(key)
    eq(st.idle, 1); eq(st.reuses - base, 4)
    local r = assert(R.new(tcp)); r:set_timeout(5000)
    check("connect unix", r:connect(key))
    eq(r:cmd("del", prefix .. "unix"), 1)
    r:close()
    eq(e2e.pool_stats(key), nil, "pool freed")
  end)

  T:test("setkeepalive refuses unread data (buffer and kernel)" .. tag, function(a)
    local pool = prefix .. "dubious"
    local r = connect(tcp, a, { pool = pool })
    eq(r:cmd("client", "setname", pool), "OK")
    check("send", r.sock:send("PING\r\n"))
    eq(r.sock:receive(1), "+")
    local res, err = r:set_keepalive()
    eq(res, nil); eq(err, "unread data in buffer")
    eq(r.sock:receive(), "PONG", "socket still usable")
    -- a reply left in the kernel buffer
    check("send", r.sock:send(R.request({ "ping" })))
    e2e.sleep(0.05)
    res, err = r:set_keepalive()
    eq(res, nil); eq(err, "connection in dubious state")
    eq(e2e.pool_stats(pool), nil, "nothing pooled")
    eq(e2e.eventually(function() return clients_named(a, pool) == 0 end, 2000), true, "dubious connection closed")
  end)

  T:test("backlog: queue, overflow, queued connect timeout" .. tag, function(a)
    local pool = prefix .. "backlog"
    local opts = { pool = pool, pool_size = 2, backlog = 1 }
    local events = {}
    local function holder(name, hold)
      return e2e.spawn(function()
        local r = connect(tcp, a, opts)
        events[#events + 1] = name .. ":" .. r:get_reused_times()
        e2e.sleep(hold)
        check("setkeepalive", r:set_keepalive(0))
      end)
    end
    local t1, t2 = holder("a", 0.2), holder("b", 0.3)
    e2e.sleep(0.02)
    local t3 = holder("c", 0)
    e2e.sleep(0.02)
    eq(e2e.pool_stats(pool).waiting, 1, "one queued connect")
    local r4 = assert(R.new(tcp)); r4:set_timeout(5000)
    local res, err = r4:connect(a.host, a.port, opts)
    eq(res, nil); eq(err, "too many waiting connect operations")
    e2e.wait_all { t1, t2, t3 }
    eq(table.concat(events, " "), "a:0 b:0 c:1", "waiter got a's pooled connection")

    -- queued connect bounded by the connect timeout (run in a thread, so a
    -- waiter that never times out fails the test instead of hanging it)
    local pool2 = prefix .. "backlog-timeout"
    local h = connect(tcp, a, { pool = pool2, pool_size = 1, backlog = 5 })
    local wres
    local wt = e2e.spawn(function()
      local w = assert(R.new(tcp)); w:set_timeout(100)
      local t0 = e2e.now_ms()
      local r1, e1 = w:connect(a.host, a.port, { pool = pool2 })
      wres = { r1, e1, e2e.now_ms() - t0 }
      if r1 then w:close() end
    end)
    e2e.sleep(0.5)
    if not wres then
      h:close() -- grants the stuck waiter a slot so it can finish
      e2e.cosocket.wait(wt)
      error("a queued connect (backlog) did not time out after its 100 ms connect timeout (still waiting at 500 ms)", 0)
    end
    res, err = wres[1], wres[2]
    eq(res, nil); eq(err, "timeout")
    ge(wres[3], 90, "waited ms"); le(wres[3], 1000, "waited ms")
    eq(e2e.pool_stats(pool2).waiting, 0, "timed-out waiter left the queue")
    h:close()
  end)

  T:test("backlog: close() of the holder wakes a queued connect" .. tag, function(a)
    local pool2 = prefix .. "backlog-close"
    local h = connect(tcp, a, { pool = pool2, pool_size = 1, backlog = 1 })
    local th = e2e.spawn(function()
      local r = connect(tcp, a, { pool = pool2 })
      local n = r:get_reused_times()
      eq(r:cmd("ping"), "PONG")
      check("setkeepalive", r:set_keepalive(0))
      return n
    end)
    e2e.sleep(0.05)
    eq(e2e.pool_stats(pool2).waiting, 1)
    h:close()
    local okw, n = e2e.cosocket.wait(th)
    ok(okw, "waiter", n); eq(n, 0, "fresh connection after close")
    -- setkeepalive of the holder hands its connection to the next waiter
    local h2 = connect(tcp, a, { pool = pool2 })
    eq(h2:get_reused_times(), 1)
    local th2 = e2e.spawn(function()
      local r = connect(tcp, a, { pool = pool2 })
      local n2 = r:get_reused_times()
      r:close()
      return n2
    end)
    e2e.sleep(0.05)
    check("setkeepalive", h2:set_keepalive(0))
    local okw2, n2 = e2e.cosocket.wait(th2)
    ok(okw2, "waiter", n2); eq(n2, 2, "waiter got the pooled connection")
    eq(e2e.pool_stats(pool2), nil, "pool freed")
  end)
end

T:test("blocking calls outside the scheduler: pool reuse, queued connect timeout", function(a)
  local pool = "e2e-blocking"
  for i = 0, 4 do
    local r = connect(e2e.cosocket.tcp, a, { pool = pool, pool_size = 1, backlog = 1 })
    eq(r:get_reused_times(), i)
    eq(r:cmd("ping"), "PONG")
    check("setkeepalive", r:set_keepalive(0))
  end
  local h = connect(e2e.cosocket.tcp, a, { pool = pool })
  local w = assert(R.new(e2e.cosocket.tcp)); w:set_timeout(100)
  local t0 = e2e.now_ms()
  local res, err = w:connect(a.host, a.port, { pool = pool })
  local waited = e2e.now_ms() - t0
  eq(res, nil); eq(err, "timeout", "queued blocking connect")
  ge(waited, 90, "waited ms"); le(waited, 1000, "waited ms")
  res, err = w:connect(a.host, a.port, { pool = pool })
  eq(res, nil) -- the queue (backlog 1) is free again: a second timeout, not an overflow
  eq(err, "timeout")
  h:close()
  eq(e2e.pool_stats(pool), nil, "pool freed")
end, { outside = true })

if e2e.ngx then
  local ngx = e2e.ngx
  T:test("ngx.thread.spawn, ngx.timer.at and ngx.sleep sharing one pool", function(a)
    local pool = "e2e-ngx-api"
    local done, reused = 0, 0
    local function work(tagname)
      local r = connect(ngx.socket.tcp, a, { pool = pool, pool_size = 3, backlog = 100 })
      if r:get_reused_times() > 0 then reused = reused + 1 end
      eq(r:cmd("set", "e2e-ngx-" .. tagname, tagname), "OK")
      ngx.sleep(0.001)
      eq(r:cmd("get", "e2e-ngx-" .. tagname), tagname)
      eq(r:cmd("del", "e2e-ngx-" .. tagname), 1)
      check("setkeepalive", r:set_keepalive(0))
      done = done + 1
    end
    local threads = {}
    for i = 1, 30 do threads[i] = ngx.thread.spawn(work, "t" .. i) end
    for i = 1, 30 do
      check("timer.at", ngx.timer.at(0.001 * (i % 5), function(premature, n)
        if not premature then work("timer" .. n) end
      end, i))
    end
    for i = 1, 30 do ok(ngx.thread.wait(threads[i]), "thread " .. i) end
    eq(e2e.eventually(function() return done == 60 end, 3000), true, "all 60 users done (" .. done .. ")")
    local st = e2e.pool_stats(pool)
    le(st.idle, 3); eq(st.in_use, 0); eq(reused, 60 - st.idle, "reused connects")
    eq(st.reuses, 60 - st.idle)
  end)
end

T:run()
