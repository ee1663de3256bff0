-- The native handle of a socket closed by close() or setkeepalive() is
-- reused by the next socket that connects (tcp.lua, recycle()). Nothing of
-- that may be visible: the old object keeps answering as a closed socket,
-- the new one starts with the defaults, and a handle some thread may still
-- use after it resumes is never given away.

local t = require "t"
local cosocket = require "cosocket"

local H = "127.0.0.1"

local function round_trip(s, msg)
    t.rets("send " .. msg, { #msg + 1 }, s:send(msg .. "\n"))
    t.rets("receive " .. msg, { msg }, s:receive())
end

t.both("the old object of a reused handle answers closed", function()
    local p = t.peer(nil, "--mode lineecho --quiet")
    for _, finish in ipairs { "close", "setkeepalive" } do
        local a = cosocket.tcp()
        assert(a:connect(H, p.port))
        round_trip(a, "a")
        local reader = a:receiveuntil("\n")
        t.rets(finish, { 1 }, a[finish](a))
        local b = cosocket.tcp()
        assert(b:connect(H, p.port))
        round_trip(b, "b")
        -- every method of a: as a closed socket, and b is untouched
        t.rets("send", { nil, "closed" }, a:send("x"))
        t.rets("receive", { nil, "closed" }, a:receive())
        t.rets("receiveany", { nil, "closed" }, a:receiveany(1))
        t.rets("iterator", { nil, "closed" }, reader())
        t.rets("getreusedtimes", { nil, "closed" }, a:getreusedtimes())
        t.rets("getfd", { nil, "closed" }, a:getfd())
        t.rets("getoption", { nil, "closed" }, a:getoption("keepalive"))
        t.rets("setoption", { nil, "closed" }, a:setoption("keepalive", true))
        t.rets("sslhandshake", { nil, "closed" }, a:sslhandshake())
        t.rets("setkeepalive", { nil, "closed" }, a:setkeepalive())
        t.rets("close", { nil, "closed" }, a:close())
        a:settimeout(1)
        a:settimeouts(1, 1, 1)
        round_trip(b, "b2")
        t.ok(b:getfd() > 0, "b's fd")
        -- a connects again (with its 1 ms timeouts: a's own)
        a:settimeout(5000)
        assert(a:connect(H, p.port))
        round_trip(a, "a2")
        round_trip(b, "b3")
        assert(a:close())
        assert(b:close())
    end
end)

t.both("timeouts of a closed socket do not carry over", function()
    local p = t.peer("sleep 300;send late\\n;drain", "--conns 2")
    local a = cosocket.tcp()
    a:settimeout(50)
    assert(a:connect(H, p.port))
    assert(a:close())
    local b = cosocket.tcp()
    assert(b:connect(H, p.port))
    t.rets("default timeout, not 50 ms", { "late" }, b:receive())
    assert(b:close())
end)

-- White-box: a thread that waits may hold a handle it uses when it
-- resumes (the result of its operation), so none is reused meanwhile.
t.test("no handle is reused while a thread waits", function()
    local p = t.peer(nil, "--mode lineecho --quiet")
    local ok, err = cosocket.run(function()
        local sleeper = cosocket.spawn(function() cosocket.sleep(0.05) end)
        local s = cosocket.tcp()
        assert(s:connect(H, p.port))
        local h = s[1]
        assert(s:close())
        t.ok(s[1] == h, "kept while another thread waits")
        cosocket.wait(sleeper)
        assert(s:connect(H, p.port))
        h = s[1]
        assert(s:close())
        t.ok(s[1] ~= h, "reused once no thread waits")
        local s2 = cosocket.tcp()
        assert(s2:connect(H, p.port))
        t.ok(s2[1] == h, "the next socket got it")
        round_trip(s2, "reused")
        assert(s2:close())
        return true
    end)
    t.eq(ok, true, err)
end)

t.done()
