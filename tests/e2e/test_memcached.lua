-- Real memcached: text protocol client, pipelining, and the keepalive pool
-- seen from both sides (getreusedtimes / pool stats here, `stats`
-- curr_connections and total_connections there).
local e2e = require "e2e"
local Memc = require "memc"

local T = e2e.suite("memcached", { "memcached", "memcached_idle" })
local check, eq, ok, le, ge = e2e.check, e2e.eq, e2e.ok, e2e.le, e2e.ge

local function sanitize(s) return (s:gsub("[^%w%-]", "-")) end

local function connect(tcp, host, port, opts)
  local m = assert(Memc.new(tcp))
  m:set_timeout(5000)
  check("connect", m:connect(host, port, opts))
  return m
end

-- Server stats through a fresh unpooled connection (it counts itself).
local function server_stats(a)
  local m = connect(e2e.cosocket.tcp, a.host, a.port, { pool = "e2e-memc-admin" })
  local st = check("stats", m:stats())
  m:close()
  return st
end

for _, f in ipairs(e2e.factories) do
  local tcp, tag = f.tcp, " [" .. f.name .. "]"
  local prefix = "e2e-" .. sanitize(f.name) .. "-"

  T:test("set/get/add/incr/delete, binary and 512 KB values" .. tag, function(a)
    local a1 = a.memcached
    local m = connect(tcp, a1.host, a1.port)
    ok(m:version():find("^VERSION "), "version")
    local k = prefix .. "k"
    m:delete(k)
    eq(m:get(k), nil, "missing key")
    eq(m:set(k, "hello", 0, 42), 1, "set")
    local v, flags = m:get(k)
    eq(v, "hello"); eq(flags, 42, "flags")
    local res, err = m:add(k, "again")
    eq(res, nil); eq(err, "NOT_STORED")
    eq(m:set(k .. "-n", 10), 1); eq(m:incr(k .. "-n", 5), 15, "incr")
    local bin = "a\r\nEND\r\nVALUE x 0 1\r\n\0\255"
    eq(m:set(k .. "-bin", bin), 1); eq(m:get(k .. "-bin"), bin, "binary value")
    local big = string.rep("memcached-value\r\n", 30840) -- 524280 bytes
    eq(m:set(k .. "-big", big), 1)
    local got = m:get(k .. "-big")
    eq(#got, #big); ok(got == big, "big value intact")
    for _, s in ipairs { "", "-n", "-bin", "-big" } do eq(m:delete(k .. s), "DELETED") end
    check("setkeepalive", m:set_keepalive(10000, 10))
  end)

  T:test("pipelined storage commands and a 200-key multi-get" .. tag, function(a)
    local a1 = a.memcached
    local m = connect(tcp, a1.host, a1.port)
    local req, keys = {}, {}
    for i = 1, 200 do
      keys[i] = prefix .. "mk" .. i
      req[i] = Memc.store_request("set", keys[i], "v" .. i, 0, i)
    end
    check("send", m.sock:send(req))
    for i = 1, 200 do eq(m.sock:receive(), "STORED", "reply " .. i) end
    local vals = check("get_multi", m:get_multi(keys))
    for i = 1, 200 do
      ok(vals[keys[i]], "value " .. i)
      eq(vals[keys[i]][1], "v" .. i); eq(vals[keys[i]][2], i)
    end
    local del = {}
    for i = 1, 200 do del[i] = { "delete ", keys[i], "\r\n" } end
    check("send", m.sock:send(del))
    for i = 1, 200 do eq(m.sock:receive(), "DELETED") end
    check("setkeepalive", m:set_keepalive())
  end)

  T:test("200 coroutines share a pool of 10: curr/total_connections" .. tag, function(a)
    local a1 = a.memcached
    local pool = prefix .. "memc-pool10"
    local N, ROUNDS = 200, 5
    local before = server_stats(a1)
    local key = prefix .. "counter"
    local m0 = connect(tcp, a1.host, a1.port, { pool = pool .. "-setup" })
    eq(m0:set(key, 0), 1); m0:close()
    local maxreuse, fresh = 0, 0
    local threads = {}
    for i = 1, N do
      threads[i] = e2e.spawn(function()
        for round = 1, ROUNDS do
          local m = connect(tcp, a1.host, a1.port, { pool = pool, pool_size = 10, backlog = N })
          local reused = m:get_reused_times()
          if reused == 0 then fresh = fresh + 1 end
          if reused > maxreuse then maxreuse = reused end
          ok(type(m:incr(key, 1)) == "number", "incr")
          if (i * round) % 5 == 0 then e2e.sleep(0.001) end
          check("setkeepalive", m:set_keepalive(0))
        end
      end)
    end
    e2e.wait_all(threads)
    local during = server_stats(a1)
    le(fresh, 10, "fresh connections")
    ge(maxreuse, 10, "highest getreusedtimes")
    -- total_connections: the setup and this admin connection, plus ours
    eq(during.total_connections - before.total_connections, fresh + 2, "connections accepted by memcached")
    -- (the setup connection was closed: only ours are still open)
    eq(during.curr_connections - before.curr_connections, fresh, "connections open on memcached")
    local st = e2e.pool_stats(pool)
    eq(st.idle, fresh); eq(st.in_use, 0); eq(st.reuses, N * ROUNDS - fresh)
    local m = connect(tcp, a1.host, a1.port, { pool = pool .. "-setup" })
    eq(m:get(key), tostring(N * ROUNDS), "every increment done")
    m:delete(key); m:close()
    e2e.note("memcached%s: %d connects by %d coroutines -> %d connections accepted by the server, max getreusedtimes %d, pool reuses %d",
      tag, N * ROUNDS, N, during.total_connections - before.total_connections - 2, maxreuse, st.reuses)
    e2e.note("memcached%s: curr_connections %d before, %d with the pool idle", tag, before.curr_connections, during.curr_connections)
    -- close them all: the server's count returns to where it was
    local held = {}
    for i = 1, fresh do held[i] = connect(tcp, a1.host, a1.port, { pool = pool }) end
    for i = 1, fresh do check("close", held[i]:close()) end
    eq(e2e.pool_stats(pool), nil, "pool freed")
    local last
    eq(e2e.eventually(function()
      last = server_stats(a1)
      return last.curr_connections == before.curr_connections
    end, 3000), true, "curr_connections back to " .. before.curr_connections .. " (now " .. last.curr_connections .. ")")
  end)

  T:test("server-side idle timeout (memcached -o idle_timeout=1): never handed out" .. tag, function(a)
    local a2 = a.memcached_idle
    local pool = prefix .. "memc-idle"
    local m = connect(tcp, a2.host, a2.port, { pool = pool })
    eq(m:set("k", "v"), 1)
    check("setkeepalive", m:set_keepalive(0))
    eq(e2e.pool_stats(pool).idle, 1)
    local t0 = e2e.now_ms()
    eq(e2e.eventually(function() return e2e.pool_stats(pool) == nil end, 8000, 50), true,
      "pooled connection dropped after memcached closed it")
    e2e.note("memcached idle_timeout=1: pooled connection dropped %.0f ms after pooling", e2e.now_ms() - t0)
    local m2 = connect(tcp, a2.host, a2.port, { pool = pool })
    eq(m2:get_reused_times(), 0, "fresh connection")
    eq(m2:get("k"), "v")
    m2:close()
  end)
end

T:run()
