-- Life cycle: the half-close state table (reference §1.2), close,
-- settimeout(s) (§2.9), setkeepalive and the pool (§2.11, §4), and the
-- finalizer of an unclosed socket.

local t = require "t"
local cosocket = require "cosocket"
local ffi = require "ffi"

local H = "127.0.0.1"

local function connected(script, opts, timeout)
    local p = t.peer(script, opts)
    local s = cosocket.tcp()
    s:settimeout(timeout or 2000)
    assert(s:connect(H, p.port))
    return s, p
end

t.test("never connected: every call is closed", function()
    local s = cosocket.tcp()
    t.rets("receive", { nil, "closed" }, s:receive())
    t.rets("receiveany", { nil, "closed" }, s:receiveany(1))
    t.rets("send", { nil, "closed" }, s:send("x"))
    t.rets("close", { nil, "closed" }, s:close())
    t.rets("setkeepalive", { nil, "closed" }, s:setkeepalive())
    t.rets("getreusedtimes", { nil, "closed" }, s:getreusedtimes())
    t.raises("expecting 1 argument (including the object) but seen 2",
             function() local a, b = s:close(1) return a, b end)
end)

t.both("read half closed (peer FIN): send still works, close returns 1", function()
    local s, p = connected("send bye\\n;shutdown;drain")
    t.rets("line", { "bye" }, s:receive())
    t.rets("eof", { nil, "closed", "" }, s:receive())
    t.rets("receive", { nil, "closed" }, s:receive())
    t.rets("receiveany", { nil, "closed" }, s:receiveany(10))
    t.rets("send", { 5 }, s:send("still"))
    p:wait("^recv 1 still")
    t.rets("setkeepalive", { nil, "closed" }, s:setkeepalive())
    t.rets("getreusedtimes", { 0 }, s:getreusedtimes())
    t.rets("close", { 1 }, s:close())
    t.rets("close again", { nil, "closed" }, s:close())
    t.rets("send after close", { nil, "closed" }, s:send("x"))
end)

t.both("write half closed (send timeout): reads still work, close returns 1", function()
    local s = connected("send a\\n;sleep 400;send b\\n;noread", "--rcvbuf 4096", 150)
    t.rets("timeout", { nil, "timeout" }, s:send(string.rep("x", 16 * 1024 * 1024)))
    t.rets("send", { nil, "closed" }, s:send("x"))
    s:settimeout(2000)
    t.rets("read a", { "a" }, s:receive())
    t.rets("read b", { "b" }, s:receive())
    t.rets("setkeepalive", { nil, "closed" }, s:setkeepalive())
    t.rets("getreusedtimes", { 0 }, s:getreusedtimes())
    t.rets("close", { 1 }, s:close())
    t.rets("closed", { nil, "closed" }, s:receive())
end)

t.both("both halves closed: close and getreusedtimes say closed", function()
    local s = connected("shutdown;noread", "--rcvbuf 4096", 150)
    t.rets("eof", { nil, "closed", "" }, s:receive())
    t.rets("timeout", { nil, "timeout" }, s:send(string.rep("x", 16 * 1024 * 1024)))
    t.rets("close", { nil, "closed" }, s:close())
    t.rets("getreusedtimes", { nil, "closed" }, s:getreusedtimes())
    t.rets("receive", { nil, "closed" }, s:receive())
    t.rets("send", { nil, "closed" }, s:send("x"))
end)

t.test("settimeout / settimeouts arguments", function()
    local s = cosocket.tcp()
    t.raises("ngx.socket settimeout: expecting 2 arguments (including the object) but seen 1",
             function() s:settimeout() end)
    t.raises("ngx.socket settimeout: expecting 2 arguments (including the object) but seen 3",
             function() s:settimeout(1, 2) end)
    t.raises("ngx.socket settimeouts: expecting 4 arguments (including the object) but seen 3",
             function() s:settimeouts(1, 2) end)
    t.raises("bad timeout value", function() s:settimeout(-1) end)
    t.raises("bad timeout value", function() s:settimeout(2 ^ 31) end)
    t.raises("bad timeout value", function() s:settimeouts(0, -1, 0) end)
    t.raises("bad timeout value", function() s:settimeouts(0, 0, 2 ^ 31) end)
    t.eq(select("#", s:settimeout(2 ^ 31 - 1)), 0, "returns nothing")
    t.eq(select("#", s:settimeouts(1, 2, 3)), 0, "returns nothing")
    s:settimeout(nil)      -- default
    s:settimeout("100")    -- numeric string
    s:settimeout("abc")    -- 0: default
    s:settimeout(-0.5)     -- truncated to 0
end)

t.both("timeouts set before connect survive reconnects", function()
    local p = t.peer("sleep 1000", "--conns 2")
    local s = cosocket.tcp()
    s:settimeout(100)
    assert(s:connect(H, p.port))
    local t0 = t.clock()
    t.rets("first", { nil, "timeout", "" }, s:receive())
    assert(s:connect(H, p.port))
    t.rets("second", { nil, "timeout", "" }, s:receive())
    t.ok(t.clock() - t0 < 0.8, "both used 100 ms")
    -- changed on a live connection: applies to the next operation
    s:settimeouts(1000, 1000, 50)
    t0 = t.clock()
    t.rets("third", { nil, "timeout", "" }, s:receive())
    t.ok(t.clock() - t0 < 0.4, "50 ms")
end)

t.test("setkeepalive arguments are checked first", function()
    local s = cosocket.tcp()
    t.raises("expecting 1 to 3 arguments (including the object), but got 4",
             function() local a, b = s:setkeepalive(1, 2, 3) return a, b end)
    t.raises("bad argument #1 to 'setkeepalive' (number expected, got string)",
             function() local a, b = s:setkeepalive("x") return a, b end)
    t.raises("bad argument #2 to 'setkeepalive' (number expected, got boolean)",
             function() local a, b = s:setkeepalive(0, true) return a, b end)
    t.rets("numeric strings", { nil, "closed" }, s:setkeepalive("10", "5"))
    t.rets("nils", { nil, "closed" }, s:setkeepalive(nil, nil))
end)

t.both("setkeepalive: pooled, reused, closed object", function()
    local p = t.peer("lineecho", "--conns 1")
    local s = cosocket.tcp()
    s:settimeout(2000)
    assert(s:connect(H, p.port))
    t.rets("fresh", { 0 }, s:getreusedtimes())
    assert(s:send("one\n"))
    t.eq(s:receive(), "one", "echo")
    t.rets("setkeepalive", { 1 }, s:setkeepalive(10000))
    t.rets("object closed", { nil, "closed" }, s:send("x"))
    t.rets("close", { nil, "closed" }, s:close())
    local s2 = cosocket.tcp()
    s2:settimeout(2000)
    t.rets("connect", { 1 }, s2:connect(H, p.port))
    t.rets("reused", { 1 }, s2:getreusedtimes())
    assert(s2:send("two\n"))
    t.eq(s2:receive(), "two", "same connection")
    t.rets("pool again", { 1 }, s2:setkeepalive(0, 5))
    t.rets("connect", { 1 }, s:connect(H, p.port))
    t.rets("reused twice", { 2 }, s:getreusedtimes())
    s:close()
    local accepts = 0
    for _, line in ipairs(p:lines()) do
        if line:find("^accept ") then
            accepts = accepts + 1
        end
    end
    t.eq(accepts, 1, "accepted connections")
end)

t.both("setkeepalive sizes <= 0 raise only when they create the pool", function()
    local p = t.peer("lineecho")
    local s = cosocket.tcp()
    s:settimeout(2000)
    local opts = { pool = "size-check-" .. p.port }
    assert(s:connect(H, p.port, opts))
    t.raises([[bad argument #2 to 'setkeepalive' (bad "pool_size" option value: -1)]],
             function() local a, b = s:setkeepalive(0, -1) return a, b end)
    t.raises([[bad argument #2 to 'setkeepalive' (bad "pool_size" option value: 0)]],
             function() local a, b = s:setkeepalive(0, 0.5) return a, b end)
    t.rets("still usable", { 2 }, s:send("x\n"))
    t.eq(s:receive(), "x", "echo")
    t.rets("creates the pool", { 1 }, s:setkeepalive(0, 2))
    assert(s:connect(H, p.port, opts))
    t.rets("size ignored: the pool exists", { 1 }, s:setkeepalive(0, -7))
    assert(s:connect(H, p.port, opts))
    t.rets("reused", { 2 }, s:getreusedtimes())
    s:close()
end)

t.both("setkeepalive with unread data keeps the connection open", function()
    local s = connected("send OK\\r\\n;line")
    t.rets("one byte", { "O" }, s:receive(1))
    t.rets("unread", { nil, "unread data in buffer" }, s:setkeepalive())
    t.rets("still usable", { "K" }, s:receive())
    t.rets("send", { 3 }, s:send("x\r\n"))
    t.rets("close", { 1 }, s:close())
end)

t.both("pool keys: host:port as passed, custom names, unix with a port", function()
    local p = t.peer("lineecho")
    local stats = ffi.new("cosocket_pool_stats[1]")
    local function pooled(key)
        return cosocket.C.cosocket_pool_get_stats(key, #key, stats) == 0
            and tonumber(stats[0].idle) or 0
    end
    local s = cosocket.tcp()
    s:settimeout(2000)
    assert(s:connect(H, tostring(p.port)))
    assert(s:setkeepalive())
    t.eq(pooled(H .. ":" .. p.port), 1, "string port, same key")
    assert(s:connect(H, p.port, { pool = "custom" }))
    t.rets("custom pool is empty", { 0 }, s:getreusedtimes())
    assert(s:setkeepalive())
    t.eq(pooled("custom"), 1, "custom key")
    assert(s:connect(H, p.port, { pool = 7 }))
    assert(s:setkeepalive())
    t.eq(pooled("7"), 1, "numeric pool name")
    local path = os.tmpname()
    os.remove(path)
    local u = t.peer("lineecho", "--unix " .. path)
    assert(s:connect("unix:" .. u.path, 8080))
    assert(s:setkeepalive())
    t.eq(pooled("unix:" .. u.path .. ":8080"), 1, "unix key with port")
    assert(s:connect("unix:" .. u.path))
    assert(s:setkeepalive())
    t.eq(pooled("unix:" .. u.path), 1, "unix key")
    -- drain the pools for the next run
    for _, key in ipairs { H .. ":" .. p.port, "custom", "7" } do
        if key == "custom" or key == "7" then
            assert(s:connect(H, p.port, { pool = key }))
        else
            assert(s:connect(H, p.port))
        end
        t.rets(key .. " reused", { 1 }, s:getreusedtimes())
        s:close()
    end
    assert(s:connect("unix:" .. u.path, 8080))
    t.rets("unix:port reused", { 1 }, s:getreusedtimes())
    s:close()
    assert(s:connect("unix:" .. u.path))
    t.rets("unix reused", { 1 }, s:getreusedtimes())
    s:close()
end)

t.test("a dropped unclosed socket is closed by the GC", function()
    local p = t.peer("drain")
    do
        local s = cosocket.tcp()
        s:settimeout(2000)
        assert(s:connect(H, p.port))
        assert(s:send("bye"))
    end
    collectgarbage()
    collectgarbage()
    p:wait("^eof 1")
    p:wait("^closed 1")
    -- an iterator alone keeps its socket alive
    local p2 = t.peer("send a--b--;drain")
    local reader
    do
        local s = cosocket.tcp()
        s:settimeout(2000)
        assert(s:connect(H, p2.port))
        reader = s:receiveuntil("--")
    end
    collectgarbage()
    collectgarbage()
    t.rets("iterator", { "a" }, reader())
    t.rets("iterator", { "b" }, reader())
    reader = nil
    collectgarbage()
    collectgarbage()
    p2:wait("^eof 1")
end)

t.done()
