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

local T = e2e.suite("resty-libs", { "redis", "memcached" })
local check, eq, ok, le, ge = e2e.check, e2e.eq, e2e.ok, e2e.le, e2e.ge

local has_redis, redis = pcall(require, "resty.redis")
local has_memc, memcached = pcall(require, "resty.memcached")

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

T:run()
