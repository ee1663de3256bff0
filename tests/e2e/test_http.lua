-- Real nginx as a plain HTTP/1.1 server: Content-Length, chunked and
-- close-delimited bodies, pipelining, keepalive pooling seen from both sides
-- (getreusedtimes / pool stats here, stub_status accepts there), and
-- connections the server closes while they sit in the pool.
local e2e = require "e2e"
local H = require "http1"

local T = e2e.suite("http", { "http" })
local check, eq, ok, le, ge = e2e.check, e2e.eq, e2e.ok, e2e.le, e2e.ge

local function sanitize(s) return (s:gsub("[^%w%-]", "-")) end

local function readfile(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local root = os.getenv("E2E_HTTP_ROOT") or ""
local HELLO = "hello, cosocket\n"

local function connect(tcp, a, opts)
  local h = assert(H.new(tcp))
  h:set_timeout(5000)
  check("connect", h:connect(a.host, a.port, opts))
  return h
end

-- A status connection kept open through a test: its own accept is counted
-- once, before the first reading.
local function status_conn(a)
  local h = connect(e2e.cosocket.tcp, a, { pool = "e2e-http-status" })
  return function(close)
    if close then h:close(); return end
    local res = check("status", h:request { path = "/status" })
    eq(res.status, 200, "stub_status")
    return H.parse_stub_status(res.body)
  end
end

for _, f in ipairs(e2e.factories) do
  local tcp, tag = f.tcp, " [" .. f.name .. "]"
  local prefix = "e2e-http-" .. sanitize(f.name) .. "-"

  T:test("Content-Length bodies, 404, 100 KB body, HEAD" .. tag, function(a)
    local h = connect(tcp, a, { pool = prefix .. "basic" })
    local res = check("request", h:request { path = "/hello.txt" })
    eq(res.status, 200); eq(res.headers["content-length"], tostring(#HELLO)); eq(res.body, HELLO)
    ok(res.keepalive, "keepalive response")
    res = check("request", h:request { path = "/nope" })
    eq(res.status, 404); ok(#res.body > 0, "404 body")
    res = check("request", h:request { path = "/big.txt" })
    eq(res.status, 200)
    local big = readfile(root .. "/big.txt")
    eq(#res.body, #big, "big body length"); ok(res.body == big, "big body intact")
    res = check("request", h:request { method = "HEAD", path = "/big.txt" })
    eq(res.status, 200); eq(res.headers["content-length"], tostring(#big)); eq(res.body, "")
    res = check("request", h:request { path = "/echo?x=1&y=2" })
    eq(res.body, "GET /echo x=1&y=2\n")
    check("setkeepalive", h:set_keepalive(10000, 10))
  end)

  T:test("chunked body through receive('*l') and receive(n)" .. tag, function(a)
    local h = connect(tcp, a, { pool = prefix .. "chunked" })
    local want = "chunk-begin\n" .. readfile(root .. "/big.txt") .. "middle\n" .. HELLO .. "chunk-end\n"
    for i = 1, 3 do
      local res = check("request", h:request { path = "/chunked.shtml" })
      eq(res.status, 200)
      eq(res.headers["transfer-encoding"], "chunked")
      ge(res.chunks, 2, "chunks")
      eq(#res.body, #want, "chunked body length"); ok(res.body == want, "chunked body intact")
      if i == 1 then e2e.note("http chunked%s: %d chunks, %d bytes", tag, res.chunks, #res.body) end
    end
    check("setkeepalive", h:set_keepalive())
    local h2 = connect(tcp, a, { pool = prefix .. "chunked" })
    eq(h2:get_reused_times(), 1)
    h2:close()
  end)

  T:test("20 pipelined requests in one send" .. tag, function(a)
    local h = connect(tcp, a, { pool = prefix .. "pipe" })
    local reqs, paths = {}, {}
    for i = 1, 20 do
      paths[i] = (i % 3 == 0) and "/chunked.shtml" or (i % 3 == 1 and "/echo?n=" .. i or "/hello.txt")
      reqs[i] = H.request_table { path = paths[i] }
    end
    check("send", h.sock:send(reqs))
    for i = 1, 20 do
      local res = check("response " .. i, h:read_response())
      eq(res.status, 200, "status " .. i)
      if i % 3 == 1 then eq(res.body, "GET /echo n=" .. i .. "\n") end
      if i % 3 == 2 then eq(res.body, HELLO) end
      if i % 3 == 0 then eq(res.body:sub(-10), "chunk-end\n") end
    end
    check("setkeepalive", h:set_keepalive())
  end)

  T:test("receiveuntil with a size: a body streamed in pieces" .. tag, function(a)
    local h = connect(tcp, a, { pool = prefix .. "stream" })
    check("send", h:send_request { path = "/big.txt" })
    local head = check("header block", h.sock:receiveuntil("\r\n\r\n")())
    local len = tonumber(head:match("Content%-Length: (%d+)"))
    local big = readfile(root .. "/big.txt")
    eq(len, #big)
    local marker = "line 02500 "
    local it = h.sock:receiveuntil(marker)
    local parts, n = {}, 0
    while true do
      local data, err = it(4096)
      if err then error("iterator: " .. err) end
      if not data then break end
      n = n + 1
      parts[n] = data
      le(#data, 4096 + #marker, "piece size")
    end
    local before = big:find(marker, 1, true) - 1
    eq(#table.concat(parts), before, "bytes before the marker")
    ge(n, 2, "pieces")
    local rest = check("rest", h.sock:receive(#big - before - #marker))
    eq(rest, big:sub(before + #marker + 1), "rest of the body")
    check("setkeepalive", h:set_keepalive())
  end)

  T:test("read timeout mid-body (limit_rate): partial data, then the rest" .. tag, function(a)
    local h = connect(tcp, a, { pool = prefix .. "slow" })
    check("send", h:send_request { path = "/slow/big.txt" })
    local head = check("header block", h.sock:receiveuntil("\r\n\r\n", { inclusive = true })())
    eq(head:sub(-4), "\r\n\r\n", "inclusive receiveuntil keeps the pattern")
    local len = tonumber(head:match("Content%-Length: (%d+)"))
    local big = readfile(root .. "/big.txt")
    eq(len, #big)
    h.sock:settimeouts(5000, 5000, 150)
    local data, err, partial = h.sock:receive(len)
    eq(data, nil); eq(err, "timeout", "read timeout while nginx throttles")
    ok(partial and #partial > 0 and #partial < len, "partial data", partial and #partial)
    e2e.note("http limit_rate%s: read timeout after %d of %d bytes", tag, #partial, len)
    h.sock:settimeouts(5000, 5000, 5000)
    local rest = check("rest", h.sock:receive(len - #partial))
    ok(partial .. rest == big, "partial + rest = body")
    -- receiveany: whatever has arrived, at most n bytes
    check("send", h:send_request { path = "/slow/big.txt" })
    head = check("header block", h.sock:receiveuntil("\r\n\r\n")())
    local got, calls = {}, 0
    local total = 0
    while total < len do
      local d, e = h.sock:receiveany(65536)
      if not d then error("receiveany: " .. tostring(e)) end
      le(#d, 65536, "receiveany size")
      total = total + #d
      calls = calls + 1
      got[calls] = d
    end
    eq(total, len); ok(table.concat(got) == big, "receiveany body")
    check("setkeepalive", h:set_keepalive())
  end)

  T:test("sequential keepalive: one server connection, reuse counts 0..49" .. tag, function(a)
    local pool = prefix .. "seq"
    local status = status_conn(a)
    local before = status()
    for i = 0, 49 do
      local h = connect(tcp, a, { pool = pool })
      eq(h:get_reused_times(), i, "getreusedtimes")
      local res = check("request", h:request { path = "/hello.txt" })
      eq(res.body, HELLO)
      check("setkeepalive", h:set_keepalive())
    end
    local after = status()
    eq(after.accepts - before.accepts, 1, "connections accepted by nginx")
    eq(after.requests - before.requests, 51, "requests served (50 + this status)")
    status(true)
    e2e.note("http sequential%s: 50 requests, nginx accepted %d connection(s)", tag, after.accepts - before.accepts)
    local h = connect(tcp, a, { pool = pool })
    eq(h:get_reused_times(), 50); h:close()
  end)

  T:test("100 coroutines x 5 requests over a pool of 10" .. tag, function(a)
    local pool = prefix .. "pool10"
    local status = status_conn(a)
    local before = status()
    local N, ROUNDS = 100, 5
    local threads, fresh, maxreuse = {}, 0, 0
    for i = 1, N do
      threads[i] = e2e.spawn(function()
        for round = 1, ROUNDS do
          local h = connect(tcp, a, { pool = pool, pool_size = 10, backlog = N })
          local reused = h:get_reused_times()
          if reused == 0 then fresh = fresh + 1 end
          if reused > maxreuse then maxreuse = reused end
          local path = (i + round) % 4 == 0 and "/chunked.shtml" or "/echo?i=" .. i .. "&r=" .. round
          local res = check("request", h:request { path = path })
          eq(res.status, 200)
          if path:sub(1, 5) == "/echo" then eq(res.body, "GET /echo i=" .. i .. "&r=" .. round .. "\n") end
          check("setkeepalive", h:set_keepalive(0))
        end
      end)
    end
    e2e.wait_all(threads)
    local after = status()
    le(fresh, 10, "fresh connections")
    eq(after.accepts - before.accepts, fresh, "connections accepted by nginx")
    eq(after.requests - before.requests, N * ROUNDS + 1, "requests served")
    local st = e2e.pool_stats(pool)
    eq(st.idle, fresh); eq(st.reuses, N * ROUNDS - fresh)
    e2e.note("http%s: %d requests by %d coroutines -> nginx accepted %d connections, max getreusedtimes %d",
      tag, N * ROUNDS, N, after.accepts - before.accepts, maxreuse)
    -- close them all
    local held = {}
    for i = 1, fresh do held[i] = connect(tcp, a, { pool = pool }) end
    for i = 1, fresh do held[i]:close() end
    eq(e2e.pool_stats(pool), nil, "pool freed")
    eq(e2e.eventually(function() return status().active == before.active end, 2000), true,
      "nginx active connections back to " .. before.active)
    status(true)
  end)

  T:test("Connection: close and HTTP/1.0 close-delimited responses" .. tag, function(a)
    local pool = prefix .. "close"
    local h = connect(tcp, a, { pool = pool })
    local res = check("request", h:request { path = "/close" })
    eq(res.body, HELLO); eq(res.keepalive, false, "server said close")
    -- a client that pools it anyway must not get it back once the FIN is in
    e2e.sleep(0.05)
    local r, err = h:set_keepalive(0)
    ok(r == nil and (err == "connection in dubious state" or err == "closed"),
      "setkeepalive after the server's FIN refused", err)
    h:close()
    -- HTTP/1.0 without keepalive: the body ends at the close, receive("*a")
    h = connect(tcp, a, { pool = pool })
    check("send", h:send_request { path = "/hello.txt", version = "1.0" })
    local all = check("receive *a", h.sock:receive("*a"))
    ok(all:find("^HTTP/1%.1 200"), "status line", all)
    eq(all:sub(-#HELLO), HELLO)
    r, err = h:set_keepalive()
    eq(r, nil); eq(err, "closed")
    h:close()
    eq(e2e.pool_stats(pool), nil, "nothing pooled")
  end)

  T:test("server keepalive_timeout 1s: the pooled connection is dropped" .. tag, function(a)
    local pool = prefix .. "short"
    local h = connect(tcp, a, { pool = pool })
    local res = check("request", h:request { path = "/short-keepalive" })
    eq(res.body, HELLO)
    check("setkeepalive", h:set_keepalive(0))
    eq(e2e.pool_stats(pool).idle, 1)
    local t0 = e2e.now_ms()
    eq(e2e.eventually(function() return e2e.pool_stats(pool) == nil end, 4000, 20), true,
      "pooled connection dropped after nginx closed it")
    e2e.note("http keepalive_timeout 1s%s: pooled connection dropped %.0f ms after pooling", tag, e2e.now_ms() - t0)
    h = connect(tcp, a, { pool = pool })
    eq(h:get_reused_times(), 0)
    res = check("request", h:request { path = "/hello.txt" })
    eq(res.body, HELLO)
    h:close()
  end)
end

T:run()
