-- TLS through the binding (reference §2.3): sslhandshake's arguments and
-- return values, verification errors, resumption, the pool, client
-- certificates and settrustedstore, an HTTP/1.1 request over TLS through
-- the ngx compatibility table, and Redis over TLS. Servers: real nginx with
-- ssl and redis-server --tls-port, started by tls_servers.sh on loopback
-- with certificates made by the openssl CLI.

local t = require "t"
local cosocket = require "cosocket"
local cdef = require "cosocket.cdef"
local ffi = require "ffi"

local dir = os.tmpname()
os.remove(dir)
local script = t.dir .. "/tls_servers.sh"
local started = os.execute(t.shq(script) .. " start " .. t.shq(dir))

local env = {}
do
    local f = io.open(dir .. "/env")
    if f then
        for line in f:lines() do
            local k, v = line:match("^([%w_]+)=(.*)$")
            if k then
                env[k] = v
            end
        end
        f:close()
    end
end

local function slurp(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
end

local function finish()
    os.execute(t.shq(script) .. " stop " .. t.shq(dir))
    os.execute("rm -rf " .. t.shq(dir))
    t.done()
end

if env.MISSING or not (started == 0 or started == true) then
    local why = env.MISSING or "tls_servers.sh failed"
    if os.getenv("CI") == "true" then
        t.test("TLS servers", function() error("cannot start: " .. why) end)
    else
        print("# skipped: cannot start " .. why)
    end
    finish()
end

local CA = slurp(env.CA)
local CLIENT_CERT = slurp(env.CLIENT_CERT)
local CLIENT_KEY = slurp(env.CLIENT_KEY)
local H = "127.0.0.1"
local HTTPS = tonumber(env.HTTPS_PORT)
local MTLS = tonumber(env.MTLS_PORT)

local res = ffi.new("cosocket_result[1]")
local function resumed(s)
    assert(cdef.C.cosocket_tcp_sslresumed(s[1], res) == 0)
    return tonumber(res[0].value) == 1
end

local function connected(port, opts)
    local s = cosocket.tcp()
    s:settimeout(5000)
    assert(s:connect(H, port or HTTPS, opts))
    return s
end

-- GET path over an established connection; returns status, body, headers.
local function get(s, path, host)
    assert(s:send({ "GET ", path, " HTTP/1.1\r\nHost: ", host or "localhost",
                    "\r\nUser-Agent: cosocket\r\n\r\n" }))
    local status = assert(s:receive("*l"))
    local headers = {}
    while true do
        local line = assert(s:receive("*l"))
        if line == "" then
            break
        end
        local k, v = line:match("^([^:]+):%s*(.*)$")
        headers[k:lower()] = v
    end
    local body = assert(s:receive(tonumber(headers["content-length"])))
    return tonumber(status:match("^HTTP/1%.1 (%d+)")), body, headers
end

t.test("argument count and never-connected socket raise", function()
    local s = cosocket.tcp()
    t.raises("ngx.socket sslhandshake: expecting 1 ~ 5 arguments (including the object), but seen 6",
             function() return s:sslhandshake(nil, nil, nil, nil, 1) end)
    t.raises("socket is never created nor connected",
             function() return s:sslhandshake() end)
    t.raises("socket is never created nor connected",
             function() return s:settrustedstore(CA) end)
    t.raises("bad argument #2 to 'sslhandshake' (string expected, got number)",
             function()
                 local s2 = connected()
                 local a, b = s2:sslhandshake(nil, 42)
                 return a, b
             end)
end)

t.both("verified handshake returns a session; HTTP/1.1 over TLS", function()
    local s = connected()
    t.rets("settrustedstore", { true }, s:settrustedstore(CA))
    local sess, err = s:sslhandshake(nil, "localhost", true)
    t.eq(err, nil, "err")
    t.eq(type(sess), "cdata", "session type")
    local status, body = get(s, "/")
    t.eq(status, 200, "status")
    t.eq(body, "hello TLSv1.3 . localhost\n", "body")
    local status2, body2 = get(s, "/big?" .. string.rep("x", 5000))
    t.eq(status2, 200, "status 2")
    t.eq(#body2, 4 * (5 + 5000) + 1, "big body")
    t.rets("close", { 1 }, s:close())
end)

t.both("false returns true; verification failures close", function()
    local s = connected()
    t.rets("no session", { true }, s:sslhandshake(false, "localhost", false))
    t.eq(select(2, get(s, "/")), "hello TLSv1.3 . localhost\n", "body")

    s = connected()
    t.rets("unknown CA", { nil, "20: unable to get local issuer certificate" },
           s:sslhandshake(false, "localhost", true))
    t.rets("closed", { nil, "closed" }, s:send("x"))

    s = connected()
    assert(s:settrustedstore(CA))
    t.rets("mismatch", { nil, "certificate host mismatch" },
           s:sslhandshake(false, "example.com", true))
    t.rets("closed", { nil, "closed" }, s:receive())
end)

t.both("resumption with the returned session", function()
    local s = connected()
    local sess = assert(s:sslhandshake(nil, "localhost"))
    get(s, "/")   -- TLS 1.3 tickets come with the first response
    t.eq(resumed(s), false, "first is full")
    s:close()
    s = connected()
    local sess2 = assert(s:sslhandshake(sess, "localhost"))
    t.eq(type(sess2), "cdata", "new session")
    t.eq(select(2, get(s, "/")), "hello TLSv1.3 r localhost\n", "nginx saw a reused session")
    t.eq(resumed(s), true, "resumed")
    s:close()
end)

t.both("TLS connection from the pool: sslhandshake returns at once", function(mode)
    local pool = "tls-lua-" .. mode .. HTTPS
    local s = connected(HTTPS, { pool = pool })
    local sess = assert(s:sslhandshake(nil, "localhost"))
    get(s, "/")
    t.rets("setkeepalive", { 1 }, s:setkeepalive())
    s = connected(HTTPS, { pool = pool })
    t.rets("reused", { 1 }, s:getreusedtimes())
    local t0 = t.clock()
    local got = s:sslhandshake(sess, "localhost", true)
    t.ok(rawequal(got, sess), "the caller's own session back")
    t.ok(t.clock() - t0 < 1, "at once (no round trip)")
    t.rets("false", { true }, s:sslhandshake(false))
    t.eq(type(s:sslhandshake()), "cdata", "current session")
    t.eq(select(2, get(s, "/")), "hello TLSv1.3 . localhost\n", "same connection")
    t.rets("setkeepalive", { 1 }, s:setkeepalive())
end)

t.both("client certificates", function()
    local s = cosocket.tcp()
    t.rets("one missing", { nil, "client certificate must be supplied with corresponding private key" },
           s:setclientcert(CLIENT_CERT, nil))
    t.rets("other missing", { nil, "client certificate must be supplied with corresponding private key" },
           s:setclientcert(nil, CLIENT_KEY))
    t.rets("bad key", { nil, "ssl set client private key failed" },
           s:setclientcert(CLIENT_CERT, "junk"))
    t.rets("set", { true }, s:setclientcert(CLIENT_CERT, CLIENT_KEY))
    s:settimeout(5000)
    assert(s:connect(H, MTLS))
    assert(s:sslhandshake(false, "localhost"))
    t.eq(select(2, get(s, "/")), "client SUCCESS CN=cosocket client\n", "body")
    s:close()
    -- kept across connections; cleared with nil, nil
    assert(s:connect(H, MTLS))
    assert(s:sslhandshake(false, "localhost"))
    t.eq(select(2, get(s, "/")), "client SUCCESS CN=cosocket client\n", "again")
    t.rets("clear", { true }, s:setclientcert(nil, nil))
    assert(s:connect(H, MTLS))
    assert(s:sslhandshake(false, "localhost"))
    t.eq(select(2, get(s, "/")), "client NONE \n", "without")
    s:close()
end)

t.both("settrustedstore rules", function()
    local s = connected()
    t.rets("bad store", { nil, "invalid trusted store" }, s:settrustedstore("junk"))
    t.rets("bad type", { nil, "bad store arg: string expected, got number" }, s:settrustedstore(1))
    assert(s:settrustedstore(CA))
    assert(s:sslhandshake(false, "localhost", true))
    t.rets("after handshake",
           { nil, "ssl handshake already done; trusted store cannot be changed on an established TLS connection" },
           s:settrustedstore(CA))
    s:close()
    t.rets("closed", { nil, "closed" }, s:settrustedstore(CA))
end)

t.both("busy connecting during a handshake; a failed one closes", function(mode)
    if mode ~= "scheduler" then
        return
    end
    -- a peer that accepts and says nothing for 300 ms, then closes
    local p = t.peer("sleep 300;close")
    local s = cosocket.tcp()
    s:settimeout(5000)
    assert(s:connect(H, p.port))
    local th = cosocket.spawn(function()
        return s:sslhandshake(false, "localhost")
    end)
    t.rets("receive", { nil, "socket busy connecting" }, s:receive())
    t.rets("send", { nil, "socket busy connecting" }, s:send("x"))
    t.rets("close", { nil, "socket busy connecting" }, s:close())
    t.rets("reused", { 0 }, s:getreusedtimes())
    t.rets("wait", { true, nil, "handshake failed", n = 3 }, cosocket.wait(th))
    t.rets("closed", { nil, "closed" }, s:send("x"))
end)

t.test("handshake timeout is the connect timeout", function()
    local p = t.peer("sleep 3000;close")
    local s = cosocket.tcp()
    s:settimeouts(150, 5000, 5000)
    assert(s:connect(H, p.port))
    local t0 = t.clock()
    t.rets("timeout", { nil, "timeout" }, s:sslhandshake(false))
    local el = t.clock() - t0
    t.ok(el >= 0.14 and el < 2, "elapsed " .. el)
    t.rets("closed", { nil, "closed" }, s:receive())
end)

t.test("many concurrent TLS connections in the scheduler", function()
    local n, ok = 50, 0
    cosocket.run(function()
        local threads = {}
        for i = 1, n do
            threads[i] = cosocket.spawn(function()
                local s = connected(HTTPS, { pool = "tls-many-" .. HTTPS })
                -- A thread whose calls never had to wait (a loopback connect
                -- finishes at once; a slow client may find every TLS and
                -- HTTP reply already there) ends before the next is spawned,
                -- and the next one gets its pooled TLS connection: settings
                -- are for fresh connections only (as lua-resty-http does),
                -- and the handshake returns at once.
                if s:getreusedtimes() == 0 then
                    assert(s:settrustedstore(CA))
                end
                assert(s:sslhandshake(false, "localhost", true))
                for _ = 1, 3 do
                    local status = get(s, "/")
                    assert(status == 200)
                end
                assert(s:setkeepalive())
                return true
            end)
        end
        for i = 1, n do
            if select(2, cosocket.wait(threads[i])) == true then
                ok = ok + 1
            end
        end
    end)
    t.eq(ok, n, "threads that finished")
end)

t.both("ngx compatibility table: ngx.socket.tcp over TLS", function(mode)
    local ngx = cosocket.ngx()
    local s = ngx.socket.tcp()
    s:settimeout(5000)
    assert(s:connect("127.0.0.1", HTTPS, { pool = "tls-ngx-" .. mode }))
    assert(s:sslhandshake(nil, "localhost", false))
    local status, body, headers = get(s, "/?a=1")
    t.eq(status, 200, "status")
    t.eq(headers["content-type"] ~= nil, true, "headers")
    t.eq(body, "hello TLSv1.3 . localhost\n", "body")
    assert(s:setkeepalive())
end)

if env.REDIS_TLS_PORT then
    t.both("redis-server over TLS (--tls-port)", function(mode)
        local s = connected(tonumber(env.REDIS_TLS_PORT), { pool = "tls-redis-" .. mode })
        assert(s:settrustedstore(CA))
        assert(s:sslhandshake(false, "localhost", true))
        local key = "cosocket:tls:" .. tostring(math.random(1e9))
        local cmd = "*3\r\n$3\r\nSET\r\n$" .. #key .. "\r\n" .. key .. "\r\n$5\r\nhello\r\n"
        assert(s:send(cmd))
        t.rets("SET", { "+OK" }, s:receive())
        assert(s:send("*2\r\n$3\r\nGET\r\n$" .. #key .. "\r\n" .. key .. "\r\n"))
        t.rets("len", { "$5" }, s:receive())
        t.rets("value", { "hello" }, s:receive())
        assert(s:send("*2\r\n$3\r\nDEL\r\n$" .. #key .. "\r\n" .. key .. "\r\n"))
        t.rets("DEL", { ":1" }, s:receive())
        assert(s:setkeepalive())
    end)
end

finish()
