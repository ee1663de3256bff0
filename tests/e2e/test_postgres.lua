-- Real PostgreSQL with md5 password authentication: startup, md5 auth,
-- simple and pipelined queries, NULLs, errors, and the keepalive pool seen
-- from both sides (getreusedtimes / pool stats here, pg_stat_activity there).
local e2e = require "e2e"
local P = require "pgwire"

local T = e2e.suite("postgres", { "postgres" })
local check, eq, ok, le, ge = e2e.check, e2e.eq, e2e.ok, e2e.le, e2e.ge

local USER = e2e.getenv("E2E_POSTGRES_USER", "cosocket")
local PASSWORD = e2e.getenv("E2E_POSTGRES_PASSWORD", "cosocket-pass")
local DB = e2e.getenv("E2E_POSTGRES_DB", "cosocket")

local function sanitize(s) return (s:gsub("[^%w%-]", "-")) end

local function connect(tcp, a, o)
  o = o or {}
  local pg = assert(P.new(tcp))
  pg:set_timeout(5000)
  check("connect", pg:connect(a.host, a.port, {
    user = o.user or USER, password = o.password or PASSWORD, database = DB,
    application_name = o.app, pool = o.pool, pool_size = o.pool_size, backlog = o.backlog,
  }))
  return pg
end

local function count_app(a, app)
  local pg = connect(e2e.cosocket.tcp, a, { app = "e2e-admin", pool = "e2e-pg-admin" })
  local rows = check("pg_stat_activity", pg:query(
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = '" .. app .. "'"))
  pg:terminate()
  return tonumber(rows[1][1])
end

for _, f in ipairs(e2e.factories) do
  local tcp, tag = f.tcp, " [" .. f.name .. "]"
  local prefix = "e2e-pg-" .. sanitize(f.name) .. "-"

  T:test("md5 authentication, wrong password refused" .. tag, function(a)
    local pg = connect(tcp, a, { pool = prefix .. "auth" })
    eq(pg.auth, 5, "server asked for md5")
    ok(pg.backend_pid, "backend pid")
    eq(pg.params.server_encoding, "UTF8")
    local rows = check("query", pg:query("SELECT current_user, current_database()"))
    eq(rows[1][1], USER); eq(rows[1][2], DB)
    pg:terminate()
    local bad = assert(P.new(tcp)); bad:set_timeout(5000)
    local r, err = bad:connect(a.host, a.port, { user = USER, password = "wrong", database = DB, pool = prefix .. "bad" })
    eq(r, nil); ok(err and err:find("^28P01"), "invalid_password error", err)
    bad:close()
  end)

  T:test("queries: rows, NULL, errors, 1 MB value, pipelined" .. tag, function(a)
    local pg = connect(tcp, a, { pool = prefix .. "q" })
    local rows, cols, ctag = check("query", pg:query("SELECT 1 AS one, NULL AS nothing, 'a''b' AS s"))
    eq(#rows, 1); eq(rows[1][1], "1"); eq(rows[1][2], e2e.null, "NULL"); eq(rows[1][3], "a'b")
    eq(cols[2].name, "nothing"); eq(ctag, "SELECT 1")
    local r, err = pg:query("SELECT * FROM no_such_table")
    eq(r, nil); ok(err:find("^42P01"), "undefined_table", err)
    rows = check("generate_series", pg:query("SELECT g, repeat('x', g) FROM generate_series(1, 1000) g"))
    eq(#rows, 1000); eq(rows[1000][2], string.rep("x", 1000))
    rows = check("big", pg:query("SELECT repeat('0123456789', 104858)"))
    eq(#rows[1][1], 1048580, "1 MB value")
    -- 50 queries in one send, then 50 results
    local msgs = {}
    for i = 1, 50 do msgs[i] = P.query_message("SELECT " .. i .. ", pg_backend_pid()") end
    check("send", pg.sock:send(msgs))
    for i = 1, 50 do
      local rr = check("result " .. i, pg:read_result())
      eq(rr[1][1], tostring(i)); eq(tonumber(rr[1][2]), pg.backend_pid, "same backend")
    end
    check("setkeepalive", pg:set_keepalive(10000, 10))
  end)

  T:test("50 coroutines over a pool of 5: pg_stat_activity" .. tag, function(a)
    local pool = prefix .. "pool5"
    local app = prefix .. "pool5"
    local N, ROUNDS = 50, 4
    local pids, npids, fresh, maxreuse = {}, 0, 0, 0
    local threads = {}
    for i = 1, N do
      threads[i] = e2e.spawn(function()
        for round = 1, ROUNDS do
          local pg = connect(tcp, a, { pool = pool, pool_size = 5, backlog = N, app = app })
          local n = pg:get_reused_times()
          if n == 0 then fresh = fresh + 1 end
          if n > maxreuse then maxreuse = n end
          local rows = check("query", pg:query("SELECT pg_backend_pid(), " .. i * round))
          eq(rows[1][2], tostring(i * round))
          local pid = rows[1][1]
          if not pids[pid] then pids[pid] = true; npids = npids + 1 end
          check("setkeepalive", pg:set_keepalive(0))
        end
      end)
    end
    e2e.wait_all(threads)
    le(npids, 5, "distinct backends"); eq(fresh, npids, "fresh connections = backends")
    local st = e2e.pool_stats(pool)
    eq(st.idle, npids); eq(st.reuses, N * ROUNDS - npids)
    eq(count_app(a, app), npids, "pg_stat_activity sessions of the pool")
    e2e.note("postgres%s: %d queries by %d coroutines -> %d backends, max getreusedtimes %d",
      tag, N * ROUNDS, N, npids, maxreuse)
    -- take them all and terminate them: the server sees them go
    local held = {}
    for i = 1, npids do held[i] = connect(tcp, a, { pool = pool }) end
    for i = 1, npids do held[i]:terminate() end
    eq(e2e.pool_stats(pool), nil, "pool freed")
    eq(e2e.eventually(function() return count_app(a, app) == 0 end, 3000), true, "sessions gone on the server")
  end)

  T:test("pg_terminate_backend of an idle pooled connection: never handed out" .. tag, function(a)
    local pool = prefix .. "term"
    local pg = connect(tcp, a, { pool = pool })
    local pid = pg.backend_pid
    check("setkeepalive", pg:set_keepalive(0))
    local adm = connect(e2e.cosocket.tcp, a, { user = "postgres", password = "", pool = "e2e-pg-admin" })
    local rows = check("terminate", adm:query("SELECT pg_terminate_backend(" .. pid .. ")"))
    eq(rows[1][1], "t")
    adm:terminate()
    eq(e2e.eventually(function() return e2e.pool_stats(pool) == nil end, 2000), true,
      "pooled connection dropped (the server sent an error and closed)")
    pg = connect(tcp, a, { pool = pool })
    eq(pg:get_reused_times(), 0)
    ok(pg.backend_pid ~= pid, "a new backend")
    pg:terminate()
  end)
end

T:run()
