-- Runs the real OpenResty client libraries, unmodified, through
-- cosocket.ngx{global = true} against the e2e servers. Their code is not in
-- this repository: check them out somewhere and point LUA_PATH at them, e.g.
--
--   git clone <lua-resty-redis> /tmp/libs/lua-resty-redis   (and lua-resty-memcached)
--   E2E_SERVERS="redis memcached" E2E_EXTRA_LUA_PATH="/tmp/libs/lua-resty-redis/lib/?.lua;/tmp/libs/lua-resty-memcached/lib/?.lua" \
--     tests/e2e/run.sh tests/e2e/resty_libs.lua
--
-- (not named test_*.lua, so the default run does not pick it up). A library
-- that cannot be required is reported as skipped.
local e2e = require "e2e"
local cosocket = e2e.cosocket
local ngx = cosocket.ngx { global = true }

local T = e2e.suite("resty-libs", { "redis", "memcached", "http", "postgres", "mysql" })
local check, eq, ok, le, ge = e2e.check, e2e.eq, e2e.ok, e2e.le, e2e.ge

local has_redis, redis = pcall(require, "resty.redis")
local has_memc, memcached = pcall(require, "resty.memcached")
-- lua-resty-mysql requires resty.sha256 (lua-resty-string), which calls
-- OpenSSL through ffi.C: inside nginx those symbols are global; here the
-- program loads libcrypto globally itself.
pcall(require("ffi").load, "crypto", true)
local has_mysql, mysql = pcall(require, "resty.mysql")
local has_pgmoon, pgmoon = pcall(require, "pgmoon")
local has_http, http = pcall(require, "resty.http")
local function skip_unless(has, mod, name)
  return { skip = not has and (name .. " not found: " .. tostring(mod):sub(1, 200)) or nil }
end

local function new_redis(a, pool)
  local red = assert(redis:new())
  red:set_timeouts(2000, 2000, 2000)
  check("redis connect", red:connect(a.host, a.port, pool and { pool = pool, pool_size = 10, backlog = 200 }))
  return red
end

T:test("lua-resty-redis: commands, ngx.null, pipeline, errors", function(a)
  local red = new_redis(a.redis)
  eq(red:set("resty-k", "v"), "OK")
  eq(red:get("resty-k"), "v")
  eq(red:get("resty-missing"), ngx.null, "nil bulk is ngx.null")
  local res, err = red:lpush("resty-k", "x")
  eq(res, false); ok(err:find("WRONGTYPE"), "error reply", err)
  red:init_pipeline()
  for i = 1, 100 do red:set("resty-p" .. i, i) end
  for i = 1, 100 do red:get("resty-p" .. i) end
  local replies = check("commit_pipeline", red:commit_pipeline())
  eq(#replies, 200)
  for i = 1, 100 do eq(replies[100 + i], tostring(i)) end
  local h = check("hmset", red:hmset("resty-h", "a", "1", "b", "2"))
  eq(h, "OK")
  local all = check("hgetall", red:hgetall("resty-h"))
  eq(#all, 4)
  local arr = red:array_to_hash(all)
  eq(arr.a, "1"); eq(arr.b, "2")
  red:del("resty-k", "resty-h")
  check("set_keepalive", red:set_keepalive(10000, 100))
end, { skip = not has_redis and ("resty.redis not found: " .. tostring(redis)) or nil })

T:test("lua-resty-redis: 200 threads (ngx.thread.spawn) over a pool of 10", function(a)
  local pool = "resty-redis-pool"
  local threads, fresh, maxreuse = {}, 0, 0
  for i = 1, 200 do
    threads[i] = ngx.thread.spawn(function()
      for r = 1, 5 do
        local red = new_redis(a.redis, pool)
        local n = red:get_reused_times()
        if n == 0 then fresh = fresh + 1 end
        if n > maxreuse then maxreuse = n end
        check("incr", red:incr("resty-counter-" .. (i % 7)))
        check("set_keepalive", red:set_keepalive(0, 10))
      end
      return true
    end)
  end
  for i = 1, 200 do
    local okk, res = ngx.thread.wait(threads[i])
    ok(okk, "thread " .. i, res)
  end
  le(fresh, 10, "fresh connections")
  local st = e2e.pool_stats(pool)
  eq(st.idle, fresh); eq(st.reuses, 1000 - fresh)
  e2e.note("lua-resty-redis: 1000 connects -> %d connections, max reused %d", fresh, maxreuse)
  local red = new_redis(a.redis)
  for i = 0, 6 do red:del("resty-counter-" .. i) end
  red:close()
end, { skip = not has_redis and "resty.redis not found" or nil })

T:test("lua-resty-redis: subscribe / publish", function(a)
  local sub = new_redis(a.redis)
  local res = check("subscribe", sub:subscribe("resty-chan"))
  eq(res[1], "subscribe")
  local th = ngx.thread.spawn(function()
    ngx.sleep(0.05)
    local pub = new_redis(a.redis)
    eq(pub:publish("resty-chan", "hello"), 1)
    pub:close()
  end)
  local msg = check("read_reply", sub:read_reply())
  eq(msg[1], "message"); eq(msg[3], "hello")
  ngx.thread.wait(th)
  sub:close()
end, { skip = not has_redis and "resty.redis not found" or nil })

T:test("lua-resty-memcached: set/get/get-multi/incr/stats, keepalive", function(a)
  local m = assert(memcached:new())
  m:set_timeout(2000)
  check("connect", m:connect(a.memcached.host, a.memcached.port))
  eq(m:set("resty-k", "hello", 0, 7), 1)
  local v, flags = m:get("resty-k")
  eq(v, "hello"); eq(tonumber(flags), 7)
  eq(m:get("resty-missing"), nil)
  eq(m:set("resty-n", 1), 1)
  eq(m:incr("resty-n", 41), "42")
  local res = check("get multi", m:get({ "resty-k", "resty-n", "resty-missing" }))
  eq(res["resty-k"][1], "hello"); eq(res["resty-n"][1], "42"); eq(res["resty-missing"], nil)
  local st = check("stats", m:stats())
  ok(#st > 5, "stats lines")
  m:delete("resty-k"); m:delete("resty-n")
  check("set_keepalive", m:set_keepalive(10000, 10))
  local m2 = assert(memcached:new())
  check("connect", m2:connect(a.memcached.host, a.memcached.port))
  eq(m2:get_reused_times(), 1)
  m2:close()
end, { skip = not has_memc and ("resty.memcached not found: " .. tostring(memcached)) or nil })

T:test("lua-resty-mysql: login, queries, NULL, errors, pool of 5", function(a)
  local m = a.mysql
  local function conn(pool)
    local db = assert(mysql:new())
    db:set_timeout(3000)
    local okc, err, errcode, sqlstate = db:connect {
      host = m.host, port = m.port, database = e2e.getenv("E2E_MYSQL_DB", "cosocket"),
      user = e2e.getenv("E2E_MYSQL_USER", "cosocket"), password = e2e.getenv("E2E_MYSQL_PASSWORD", "cosocket-pass"),
      pool = pool, pool_size = pool and 5 or nil, backlog = pool and 100 or nil,
    }
    if not okc then error("connect: " .. tostring(err) .. " " .. tostring(errcode) .. " " .. tostring(sqlstate)) end
    return db
  end
  local db = conn()
  local res = check("query", db:query("SELECT 1 AS one, NULL AS nothing, 'x' AS s"))
  eq(res[1].one, 1); eq(res[1].nothing, ngx.null); eq(res[1].s, "x")
  local r, err, errcode = db:query("SELECT * FROM no_such_table")
  eq(r, nil); eq(errcode, 1146, "error code (" .. tostring(err) .. ")")
  check("drop", db:query("DROP TABLE IF EXISTS resty_t"))
  check("create", db:query("CREATE TABLE resty_t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20))"))
  res = check("insert", db:query("INSERT INTO resty_t (v) VALUES ('a'), ('b')"))
  eq(res.affected_rows, 2)
  res, err = db:query("SELECT v FROM resty_t ORDER BY id; SELECT COUNT(*) AS n FROM resty_t")
  ok(res, "multi", err); eq(res[1].v, "a"); eq(err, "again", "more results")
  local res2, err2 = db:read_result()
  ok(res2, "second result set", err2); eq(tonumber(res2[1].n), 2)
  check("drop", db:query("DROP TABLE resty_t"))
  check("set_keepalive", db:set_keepalive(10000, 10))
  local ids, fresh = {}, 0
  local threads = {}
  for i = 1, 50 do
    threads[i] = ngx.thread.spawn(function()
      for _ = 1, 4 do
        local d = conn("resty-mysql-pool")
        if d:get_reused_times() == 0 then fresh = fresh + 1 end
        local rr = check("query", d:query("SELECT CONNECTION_ID() AS id"))
        ids[rr[1].id] = true
        check("set_keepalive", d:set_keepalive(0, 5))
      end
    end)
  end
  for i = 1, 50 do ok(ngx.thread.wait(threads[i]), "thread " .. i) end
  local n = 0
  for _ in pairs(ids) do n = n + 1 end
  le(n, 5, "server connections"); eq(fresh, n)
  e2e.note("lua-resty-mysql: 200 queries by 50 threads -> %d server connections", n)
end, skip_unless(has_mysql, mysql, "resty.mysql"))

T:test("pgmoon (socket_type nginx): md5 login, queries, NULL, keepalive", function(a)
  local p = a.postgres
  local function conn()
    local pg = pgmoon.new {
      host = p.host, port = tostring(p.port), database = e2e.getenv("E2E_POSTGRES_DB", "cosocket"),
      user = e2e.getenv("E2E_POSTGRES_USER", "cosocket"), password = e2e.getenv("E2E_POSTGRES_PASSWORD", "cosocket-pass"),
      socket_type = "nginx", pool_name = "resty-pgmoon", pool_size = 5, backlog = 100,
    }
    check("connect", pg:connect())
    return pg
  end
  local pg = conn()
  local res = check("query", pg:query("SELECT 1 AS one, NULL AS nothing, 'x'::text AS s"))
  eq(res[1].one, 1); eq(res[1].nothing, nil, "NULL (pgmoon leaves it out)"); eq(res[1].s, "x")
  local r, err = pg:query("SELECT * FROM no_such_table")
  eq(r, nil); ok(tostring(err):find("no_such_table"), "error", err)
  res = check("multi", pg:query("SELECT 1 AS a; SELECT 2 AS b"))
  eq(res[2][1].b, 2)
  eq(pg:escape_literal("a'b"), "'a''b'")
  check("keepalive", pg:keepalive(10000, 10))
  local threads, fresh, pids = {}, 0, {}
  for i = 1, 20 do
    threads[i] = ngx.thread.spawn(function()
      for _ = 1, 3 do
        local c = conn()
        if c.sock:getreusedtimes() == 0 then fresh = fresh + 1 end
        local rr = check("query", c:query("SELECT pg_backend_pid() AS pid"))
        pids[rr[1].pid] = true
        check("keepalive", c:keepalive(0, 5))
      end
    end)
  end
  for i = 1, 20 do ok(ngx.thread.wait(threads[i]), "thread " .. i) end
  local n = 0
  for _ in pairs(pids) do n = n + 1 end
  e2e.note("pgmoon: 60 queries by 20 threads -> %d backends (%d fresh connections)", n, fresh)
  le(n, 5, "backends"); ok(fresh == n or fresh == n - 1, "fresh connections")
end, skip_unless(has_pgmoon, pgmoon, "pgmoon"))

T:test("lua-resty-http: request_uri, streaming body reader, chunked, keepalive", function(a)
  local h = a.http
  local base = "http://" .. h.host .. ":" .. h.port
  local httpc = assert(http.new())
  local res, err = httpc:request_uri(base .. "/hello.txt")
  ok(res, "request_uri", err)
  eq(res.status, 200); eq(res.body, "hello, cosocket\n")
  res, err = httpc:request_uri(base .. "/chunked.shtml")
  ok(res, "chunked", err)
  eq(res.headers["Transfer-Encoding"], "chunked")
  ok(res.body:find("chunk%-end\n$"), "chunked body end")
  local chunked_len = #res.body
  -- the streaming reader runs receive() inside its own coroutine.wrap
  httpc = assert(http.new())
  check("connect", httpc:connect { scheme = "http", host = h.host, port = h.port })
  local r2 = check("request", httpc:request { path = "/chunked.shtml", headers = { Host = "cosocket.test" } })
  local reader = r2.body_reader
  local total, pieces = 0, 0
  repeat
    local chunk, rerr = reader(4096)
    if rerr then error("body_reader: " .. rerr) end
    if chunk then total = total + #chunk; pieces = pieces + 1 end
  until not chunk
  eq(total, chunked_len, "streamed body length")
  check("set_keepalive", httpc:set_keepalive(10000, 10))
  local httpc2 = assert(http.new())
  check("connect", httpc2:connect { scheme = "http", host = h.host, port = h.port })
  -- request_uri pooled its connection too: fresh, then reused by the
  -- second request_uri, the streaming request, and now
  eq(httpc2:get_reused_times(), 3, "keepalive reuse")
  local r3 = check("request", httpc2:request { path = "/echo?x=1" })
  eq(r3:read_body(), "GET /echo x=1\n")
  httpc2:close()
  e2e.note("lua-resty-http: chunked body %d bytes streamed in %d pieces", total, pieces)
end, skip_unless(has_http, http, "resty.http"))

T:run()
