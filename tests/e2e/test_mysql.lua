-- Real MariaDB: mysql_native_password handshake, COM_QUERY result sets,
-- NULLs, errors, pipelined queries, and the keepalive pool seen from both
-- sides (getreusedtimes / pool stats here, the PROCESSLIST there).
local e2e = require "e2e"
local My = require "mysqlwire"

local T = e2e.suite("mysql", { "mysql" })
local check, eq, ok, le, ge = e2e.check, e2e.eq, e2e.ok, e2e.le, e2e.ge

local USER = e2e.getenv("E2E_MYSQL_USER", "cosocket")
local PASSWORD = e2e.getenv("E2E_MYSQL_PASSWORD", "cosocket-pass")
local DB = e2e.getenv("E2E_MYSQL_DB", "cosocket")

local function sanitize(s) return (s:gsub("[^%w%-]", "_")) end

local function connect(tcp, a, o)
  o = o or {}
  local db = assert(My.new(tcp))
  db:set_timeout(5000)
  check("connect", db:connect(a.host, a.port, {
    user = USER, password = o.password or PASSWORD, database = DB,
    pool = o.pool, pool_size = o.pool_size, backlog = o.backlog,
  }))
  return db
end

-- How many of these connection ids the server still lists.
local function alive(a, ids)
  local list = {}
  for id in pairs(ids) do list[#list + 1] = id end
  if #list == 0 then return 0 end
  local db = connect(e2e.cosocket.tcp, a, { pool = "e2e-mysql-admin" })
  local rows = check("processlist", db:query(
    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN (" .. table.concat(list, ",") .. ")"))
  db:quit()
  return tonumber(rows[1][1])
end

for _, f in ipairs(e2e.factories) do
  local tcp, tag = f.tcp, " [" .. f.name .. "]"
  local prefix = "e2e-mysql-" .. sanitize(f.name) .. "-"
  local tbl = "t_" .. sanitize(f.name)

  T:test("mysql_native_password login, wrong password refused" .. tag, function(a)
    local db = connect(tcp, a, { pool = prefix .. "auth" })
    ok(db.server_version:find("MariaDB") or db.server_version:find("^%d"), "server version", db.server_version)
    local rows = check("query", db:query("SELECT CURRENT_USER(), DATABASE()"))
    ok(rows[1][1]:find("^" .. USER .. "@"), "current user", rows[1][1]); eq(rows[1][2], DB)
    db:quit()
    local bad = assert(My.new(tcp)); bad:set_timeout(5000)
    local r, err, code = bad:connect(a.host, a.port, { user = USER, password = "wrong", database = DB, pool = prefix .. "bad" })
    eq(r, nil); eq(code, 1045, "access denied (" .. tostring(err) .. ")")
    bad:close()
  end)

  T:test("queries: rows, NULL, errors, DML, 1 MB value, pipelined" .. tag, function(a)
    local db = connect(tcp, a, { pool = prefix .. "q" })
    local rows, cols = check("select", db:query("SELECT 1 AS one, NULL AS nothing, 'a\\'b' AS s"))
    eq(rows[1][1], "1"); eq(rows[1][2], e2e.null, "NULL"); eq(rows[1][3], "a'b"); eq(cols[2], "nothing")
    local r, err, code = db:query("SELECT * FROM no_such_table")
    eq(r, nil); eq(code, 1146, "no such table (" .. tostring(err) .. ")")
    check("drop", db:query("DROP TABLE IF EXISTS " .. tbl))
    check("create", db:query("CREATE TABLE " .. tbl .. " (id INT PRIMARY KEY AUTO_INCREMENT, v LONGTEXT)"))
    local res = check("insert", db:query("INSERT INTO " .. tbl .. " (v) VALUES ('a'), ('b'), (NULL)"))
    eq(res.affected_rows, 3); eq(res.insert_id, 1)
    rows = check("select", db:query("SELECT id, v FROM " .. tbl .. " ORDER BY id"))
    eq(#rows, 3); eq(rows[2][2], "b"); eq(rows[3][2], e2e.null)
    rows = check("big", db:query("SELECT REPEAT('0123456789', 104858)"))
    eq(#rows[1][1], 1048580, "1 MB value")
    -- 30 queries in one send, then 30 results
    local pkts = {}
    for i = 1, 30 do pkts[i] = My.query_packet("SELECT " .. i .. ", CONNECTION_ID()") end
    check("send", db.sock:send(pkts))
    for i = 1, 30 do
      local rr = check("result " .. i, db:read_result())
      eq(rr[1][1], tostring(i)); eq(tonumber(rr[1][2]), db.thread_id, "same connection")
    end
    check("drop", db:query("DROP TABLE " .. tbl))
    check("setkeepalive", db:set_keepalive(10000, 10))
  end)

  T:test("50 coroutines over a pool of 5: PROCESSLIST" .. tag, function(a)
    local pool = prefix .. "pool5"
    local N, ROUNDS = 50, 4
    local ids, nids, fresh, maxreuse = {}, 0, 0, 0
    local threads = {}
    for i = 1, N do
      threads[i] = e2e.spawn(function()
        for round = 1, ROUNDS do
          local db = connect(tcp, a, { pool = pool, pool_size = 5, backlog = N })
          local n = db:get_reused_times()
          if n == 0 then fresh = fresh + 1 end
          if n > maxreuse then maxreuse = n end
          local rows = check("query", db:query("SELECT CONNECTION_ID(), " .. i * round))
          eq(rows[1][2], tostring(i * round))
          local id = tonumber(rows[1][1])
          if not ids[id] then ids[id] = true; nids = nids + 1 end
          check("setkeepalive", db:set_keepalive(0))
        end
      end)
    end
    e2e.wait_all(threads)
    le(nids, 5, "distinct server connections"); eq(fresh, nids)
    local st = e2e.pool_stats(pool)
    eq(st.idle, nids); eq(st.reuses, N * ROUNDS - nids)
    eq(alive(a, ids), nids, "pooled connections in the PROCESSLIST")
    e2e.note("mariadb%s: %d queries by %d coroutines -> %d server connections, max getreusedtimes %d",
      tag, N * ROUNDS, N, nids, maxreuse)
    local held = {}
    for i = 1, nids do held[i] = connect(tcp, a, { pool = pool }) end
    for i = 1, nids do held[i]:quit() end
    eq(e2e.pool_stats(pool), nil, "pool freed")
    eq(e2e.eventually(function() return alive(a, ids) == 0 end, 3000), true, "connections gone on the server")
  end)

  T:test("KILL of an idle pooled connection: never handed out" .. tag, function(a)
    local pool = prefix .. "kill"
    local db = connect(tcp, a, { pool = pool })
    local id = db.thread_id
    check("setkeepalive", db:set_keepalive(0))
    local adm = connect(e2e.cosocket.tcp, a, { pool = "e2e-mysql-admin" })
    check("kill", adm:query("KILL " .. id))
    adm:quit()
    eq(e2e.eventually(function() return e2e.pool_stats(pool) == nil end, 2000), true,
      "pooled connection dropped after KILL")
    db = connect(tcp, a, { pool = pool })
    eq(db:get_reused_times(), 0)
    ok(db.thread_id ~= id, "a new server connection")
    db:quit()
  end)
end

T:run()
