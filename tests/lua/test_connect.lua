-- connect, the socket object, options, fd, reuse count, TLS stub
-- (reference cosocket-api.md §1, §2.1, §2.2, §2.10, §2.12, §2.13).

local t = require "t"
local cosocket = require "cosocket"

local H = "127.0.0.1"

t.test("tcp() returns a plain table with shared methods; stream == tcp", function()
    local a, b = cosocket.tcp(), cosocket.tcp()
    t.eq(type(a), "table", "type")
    t.eq(getmetatable(a), getmetatable(b), "shared metatable")
    t.eq(a.connect, b.connect, "shared methods")
    t.eq(cosocket.stream, cosocket.tcp, "stream == tcp")
    a.my_field = 42
    t.eq(a.my_field, 42, "user field")
    t.raises("expecting zero arguments, but got 1", cosocket.tcp, 1)
end)

t.test("connect argument count and host type raise", function()
    local s = cosocket.tcp()
    t.raises("ngx.socket connect: expecting 2, 3, or 4 arguments (including the object), but seen 1",
             function() local a, b = s:connect() return a, b end)
    t.raises("ngx.socket connect: expecting 2, 3, or 4 arguments (including the object), but seen 5",
             function() local a, b = s:connect(H, 1, {}, 4) return a, b end)
    t.raises("bad argument #1 to 'connect' (string expected, got nil)",
             function() local a, b = s:connect(nil, 80) return a, b end)
    t.raises("bad argument #1 to 'connect' (string expected, got table)",
             function() local a, b = s:connect({}, 80) return a, b end)
    -- not called as a method: self counts
    t.raises("bad argument #2 to '?' (string expected, got boolean)",
             s.connect, s, true, 80)
end)

t.test("missing and bad port numbers are returned", function()
    local s = cosocket.tcp()
    t.rets("no port", { nil, "missing the port number" }, s:connect(H))
    t.rets("nil port", { nil, "missing the port number" }, s:connect(H, nil))
    t.rets("opts only", { nil, "missing the port number" }, s:connect(H, {}))
    t.rets("nil port + opts", { nil, "missing the port number" },
           s:connect(H, nil, {}))
    t.rets("path without unix:", { nil, "missing the port number" },
           s:connect("/tmp/x.sock"))
    t.rets("non-numeric port", { nil, "missing the port number" },
           s:connect(H, "http"))
    t.rets("65536", { nil, "bad port number: 65536" }, s:connect(H, 65536))
    t.rets("-1", { nil, "bad port number: -1" }, s:connect(H, -1))
    t.rets("string 70000", { nil, "bad port number: 70000" },
           s:connect(H, "70000"))
    t.rets("still closed", { nil, "closed" }, s:send("x"))
end)

t.test("pool options: raised type and value errors", function()
    local s = cosocket.tcp()
    t.raises([[bad argument #3 to 'connect' (bad "pool" option type: boolean)]],
             function() local a, b = s:connect(H, 1, { pool = true }) return a, b end)
    t.raises([[bad argument #2 to 'connect' (bad "pool" option type: table)]],
             function() local a, b = s:connect("unix:/x", { pool = {} }) return a, b end)
    t.raises([[bad argument #3 to 'connect' (bad "pool_size" option value: 0)]],
             function() local a, b = s:connect(H, 1, { pool_size = 0 }) return a, b end)
    t.raises([[bad argument #3 to 'connect' (bad "pool_size" option value: -3)]],
             function() local a, b = s:connect(H, 1, { pool_size = -3.5 }) return a, b end)
    t.raises([[bad argument #3 to 'connect' (bad "pool_size" option type: string)]],
             function() local a, b = s:connect(H, 1, { pool_size = "x" }) return a, b end)
    t.raises([[bad argument #3 to 'connect' (bad "backlog" option value: -1)]],
             function() local a, b = s:connect(H, 1, { backlog = -1 }) return a, b end)
    t.raises([[bad argument #4 to '?' (bad "pool" option type: boolean)]],
             s.connect, s, H, 1, { pool = false })
end)

t.both("connect, options accepted, 4th non-table argument dropped", function()
    local p = t.peer("send hi\\n", "--conns 6")
    local s = cosocket.tcp()
    s:settimeout(2000)
    t.rets("plain", { 1 }, s:connect(H, p.port))
    t.eq(s:receive(), "hi", "data")
    t.rets("port + nil", { 1 }, s:connect(H, p.port, nil))
    t.rets("port + string", { 1 }, s:connect(H, p.port, "ignored"))
    t.rets("backlog non-number ignored", { 1 },
           s:connect(H, p.port, { backlog = "x", pool = 3.14 }))
    t.rets("numeric string port", { 1 }, s:connect(H, tostring(p.port)))
    t.rets("fractional port truncated", { 1 }, s:connect(H, p.port + 0.7))
    t.eq(s:receive(), "hi", "data")
    t.rets("close", { 1 }, s:close())
end)

t.both("connect to a closed port: connection refused, then closed", function()
    local p = t.peer(nil, "--mode refuse")
    local s = cosocket.tcp()
    t.rets("connect", { nil, "connection refused" }, s:connect(H, p.port))
    t.rets("send", { nil, "closed" }, s:send("x"))
    t.rets("receive", { nil, "closed" }, s:receive())
    t.rets("close", { nil, "closed" }, s:close())
    t.rets("reused", { nil, "closed" }, s:getreusedtimes())
    t.rets("setkeepalive", { nil, "closed" }, s:setkeepalive())
end)

t.both("connect timeout (SYN never answered)", function(mode)
    local p = t.peer(nil, "--mode blackhole")
    local s = cosocket.tcp()
    s:settimeout(150)
    local t0 = t.clock()
    t.rets("connect", { nil, "timeout" }, s:connect(H, p.port))
    local dt = t.clock() - t0
    t.ok(dt >= 0.12 and dt < 2, "took " .. dt)
    t.rets("then closed", { nil, "closed" }, s:receive())
    -- settimeouts: only the connect timeout applies
    s:settimeouts(100, 5000, 5000)
    t0 = t.clock()
    t.rets("connect", { nil, "timeout" }, s:connect(H, p.port))
    t.ok(t.clock() - t0 < 2, "connect timeout from settimeouts")
end)

t.both("connect again closes the previous connection", function()
    local p = t.peer("line", "--conns 2")
    local s = cosocket.tcp()
    s:settimeout(2000)
    t.rets("first", { 1 }, s:connect(H, p.port))
    t.rets("second", { 1 }, s:connect(H, p.port))
    p:wait("^closed 1")
    t.rets("send", { 6 }, s:send("hello\n"))
    p:wait("^recv 2 hello")
    t.rets("close", { 1 }, s:close())
    -- a closed object can be connected again
    local p2 = t.peer("send x\\n")
    t.rets("reconnect", { 1 }, s:connect(H, p2.port))
    t.eq(s:receive(), "x", "data after reconnect")
end)

t.both("host:port quirk: the embedded port wins", function()
    local p = t.peer("send quirk\\n")
    local s = cosocket.tcp()
    s:settimeout(2000)
    t.rets("connect", { 1 }, s:connect(H .. ":" .. p.port, 80))
    t.eq(s:receive(), "quirk", "data")
end)

t.both("names are resolved (localhost)", function()
    local p = t.peer("send name\\n")
    local s = cosocket.tcp()
    s:settimeout(2000)
    t.rets("connect", { 1 }, s:connect("localhost", p.port))
    t.eq(s:receive(), "name", "data")
end)

t.both("unix domain sockets", function()
    local path = os.tmpname()
    os.remove(path)
    local p = t.peer("send unix\\n;expect ping;send pong\\n", "--unix " .. path)
    local s = cosocket.stream()
    s:settimeout(2000)
    t.rets("connect", { 1 }, s:connect("unix:" .. p.path))
    t.eq(s:receive(), "unix", "data")
    t.eq(s:send("ping"), 4, "send")
    t.eq(s:receive(), "pong", "reply")
    s:close()
    t.rets("port ignored", { 1 }, s:connect("UNIX:" .. p.path, 1234))
    s:close()
    local s2 = cosocket.tcp()
    t.rets("no file", { nil, "no such file or directory" },
           s2:connect("unix:/nonexistent/cosocket.sock"))
end)

t.both("cosocket.connect", function()
    local p = t.peer("send c\\n")
    local s, err = cosocket.connect(H, p.port)
    t.ok(s, err)
    t.eq(s:receive(), "c", "data")
    local r = t.peer(nil, "--mode refuse")
    t.rets("refused", { nil, "connection refused" }, cosocket.connect(H, r.port))
    t.rets("missing port", { nil, "missing the port number" },
           cosocket.connect(H))
end)

t.test("getreusedtimes", function()
    local p = t.peer("line")
    local s = cosocket.tcp()
    t.rets("never connected", { nil, "closed" }, s:getreusedtimes())
    t.raises("expecting 1 argument (including the object), but got 2",
             function() local a, b = s:getreusedtimes(1) return a, b end)
    s:settimeout(2000)
    assert(s:connect(H, p.port))
    t.rets("fresh", { 0 }, s:getreusedtimes())
    s:close()
    t.rets("closed", { nil, "closed" }, s:getreusedtimes())
end)

t.test("getfd, setoption, getoption", function()
    local s = cosocket.tcp()
    t.raises("socket is never created nor connected", s.getfd, s)
    t.raises("socket is never created nor connected", s.getoption, s, "keepalive")
    t.raises("socket is never created nor connected", s.setoption, s, "keepalive", 1)
    t.rets("ip-transparent stored", { true }, s:setoption("ip-transparent", true))
    t.rets("missing option", { nil, 'missing the "option" argument' }, s:setoption())
    t.rets("missing value", { nil, 'missing the "value" argument' },
           s:setoption("keepalive"))
    local p = t.peer("line")
    s:settimeout(2000)
    assert(s:connect(H, p.port))
    local fd = s:getfd()
    t.eq(type(fd), "number", "fd")
    t.ok(fd > 2, "fd > 2")
    t.rets("keepalive on", { true }, s:setoption("keepalive", true))
    t.rets("keepalive get", { 1 }, s:getoption("keepalive"))
    t.rets("keepalive off", { true }, s:setoption("keepalive", false))
    t.rets("keepalive get", { 0 }, s:getoption("keepalive"))
    t.rets("nodelay", { true }, s:setoption("tcp-nodelay", 1))
    t.rets("nodelay get", { 1 }, s:getoption("tcp-nodelay"))
    t.rets("sndbuf", { true }, s:setoption("sndbuf", 65536))
    t.ok(s:getoption("sndbuf") >= 65536, "sndbuf")
    t.rets("unsupported", { nil, "unsupported option foo" }, s:setoption("foo", 1))
    t.rets("unsupported get", { nil, "unsupported option foo" }, s:getoption("foo"))
    t.rets("get missing", { nil, 'missing the "option" argument' }, s:getoption())
    s:close()
    t.rets("fd after close", { nil, "closed" }, s:getfd())
    t.rets("getoption after close", { nil, "closed" }, s:getoption("keepalive"))
end)

t.test("sslhandshake argument checks (the handshake itself: test_tls.lua)", function()
    local s = cosocket.tcp()
    t.raises("socket is never created nor connected", s.sslhandshake, s)
    t.raises("ngx.socket sslhandshake: expecting 1 ~ 5 arguments (including the object), but seen 6",
             s.sslhandshake, s, 1, 2, 3, 4, 5)
end)

t.test("calls without self count it like lua_gettop", function()
    local s = cosocket.tcp()
    t.raises("ngx.socket connect: expecting 2, 3, or 4 arguments (including the object), but seen 0",
             s.connect)
    t.raises("expecting 2 arguments (including the object), but got 0", s.send)
    t.raises("expecting 1 or 2 arguments (including the object), but got 0", s.receive)
    t.raises("expecting 2 arguments (including the object), but got 0", s.receiveany)
    t.raises("expecting 2 or 3 arguments (including the object), but got 0", s.receiveuntil)
    t.raises("expecting 1 argument (including the object) but seen 0", s.close)
    t.raises("ngx.socket settimeout: expecting 2 arguments (including the object) but seen 0",
             s.settimeout)
    t.raises("ngx.socket settimeouts: expecting 4 arguments (including the object) but seen 0",
             s.settimeouts)
    t.raises("expecting 1 to 3 arguments (including the object), but got 0", s.setkeepalive)
    t.raises("expecting 1 argument (including the object), but got 0", s.getreusedtimes)
    t.raises("bad argument #1 to '?' (table expected, got nil)", s.close, nil)
    t.raises("bad argument #1 to '?' (table expected, got string)", s.receive, "*l")
    local u = newproxy(true)
    getmetatable(u).__index = { send = s.send }
    t.raises("calling 'send' on bad self (table expected, got userdata)",
             function() local a, b = u:send("y") return a, b end)
end)

t.done()
