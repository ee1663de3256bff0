-- cosocket.udp(): every behaviour of reference/udp-api.md (§1-§7) through
-- the LuaJIT binding, blocking and inside the scheduler, against
-- udp_responder.lua.

local t = require "t"
local R = require "udp_helper"
local cosocket = require "cosocket"

-- cosocket.run(fn), re-raising an error of fn's thread here.
local function run(fn)
    local res = { cosocket.run(fn) }
    if res[1] ~= true then
        error(tostring(res[2]), 2)
    end
end

local H = "127.0.0.1"
local r = R.start { unix = true }

local function connected(timeout)
    local s = cosocket.udp()
    s:settimeout(timeout or 2000)
    t.rets("setpeername", { 1 }, s:setpeername(H, r.port))
    return s
end

---------------------------------------------------------------- §1 object

t.test("udp() returns a plain table with shared methods", function()
    local a, b = cosocket.udp(), cosocket.udp()
    t.eq(type(a), "table", "type")
    t.eq(getmetatable(a), getmetatable(b), "shared metatable")
    t.eq(a.send, b.send, "shared methods")
    for _, m in ipairs { "setpeername", "send", "receive", "settimeout",
                         "close", "bind" } do
        t.eq(type(a[m]), "function", m)
    end
    t.eq(a.sendto, nil, "no sendto")
    t.eq(a.setkeepalive, nil, "no setkeepalive")
    t.raises("expecting zero arguments, but got 1", cosocket.udp, 1)
    t.raises("expecting zero arguments, but got 2", cosocket.udp, nil, nil)
end)

t.test("methods check self", function()
    local s = cosocket.udp()
    t.raises("bad argument #1 to 'send' (table expected, got string)",
             function() local a, b = s.send("x", 1) return a, b end)
    t.raises("bad argument #1 to 'setpeername' (table expected, got string)",
             function() local a, b = s.setpeername("x", H) return a, b end)
    t.raises("bad argument #1 to 'receive' (table expected, got number)",
             function() local a, b = s.receive(1) return a, b end)
    t.raises("bad argument #1 to 'close' (table expected, got string)",
             function() local a, b = s.close("x") return a, b end)
    -- nginx crashes here; we raise
    t.raises("table expected, got string)", function() s.settimeout("x", 1) end)
end)

---------------------------------------------------------------- §2 setpeername

t.test("setpeername argument checks", function()
    local s = cosocket.udp()
    t.raises("ngx.socket.udp setpeername: expecting 2 or 3 arguments "
             .. "(including the object), but seen 1",
             function() local a, b = s:setpeername() return a, b end)
    t.raises("ngx.socket.udp setpeername: expecting 2 or 3 arguments "
             .. "(including the object), but seen 4",
             function() local a, b = s:setpeername(H, 1, 2) return a, b end)
    t.raises("(string expected, got table)",
             function() local a, b = s:setpeername({}, 53) return a, b end)
    t.raises("(string expected, got nil)",
             function() local a, b = s:setpeername(nil, 53) return a, b end)
    t.raises("(number expected, got string)",
             function() local a, b = s:setpeername(H, "abc") return a, b end)
    t.raises("(number expected, got nil)",
             function() local a, b = s:setpeername(H, nil) return a, b end)
    t.rets("port -1", { nil, "bad port number: -1" }, s:setpeername(H, -1))
    t.rets("port 65536", { nil, "bad port number: 65536" },
           s:setpeername(H, 65536))
    -- checked before anything else: a connected object stays connected
    s:settimeout(2000)
    t.rets("connect", { 1 }, s:setpeername(H, r.port))
    t.rets("bad port", { nil, "bad port number: 70000" }, s:setpeername(H, 70000))
    t.rets("still connected", { 1 }, s:send("kept"))
    t.rets("echo", { "kept" }, s:receive())
end)

t.test("setpeername address forms", function()
    local s = cosocket.udp()
    s:settimeout(2000)
    t.rets("ipv4", { 1 }, s:setpeername(H, r.port))
    t.rets("numeric string port", { 1 }, s:setpeername(H, tostring(r.port)))
    t.rets("fraction truncated", { 1 }, s:setpeername(H, r.port + 0.9))
    t.rets("send", { 1 }, s:send("frac"))
    t.rets("receive", { "frac" }, s:receive())
    t.rets("no port: port 0", { 1 }, s:setpeername(H))
    t.rets("::1", { nil, 'failed to parse host name "::1": invalid port' },
           s:setpeername("::1", 53))
    t.rets("empty", { nil, 'failed to parse host name "": no host' },
           s:setpeername("", 53))
    t.rets("unix:", { nil, 'failed to parse host name "unix:": no path in '
                      .. "the unix domain socket" }, s:setpeername("unix:"))
    t.rets("parse error leaves it unconnected", { nil, "closed" }, s:send("x"))
    if r.port6 > 0 then
        t.rets("[::1]", { 1 }, s:setpeername("[::1]", r.port6))
        t.rets("send v6", { 1 }, s:send("six"))
        t.rets("receive v6", { "six" }, s:receive())
    end
    t.rets("host:port", { 1 }, s:setpeername(H .. ":" .. r.port, 9))
    t.rets("send", { 1 }, s:send("embedded"))
    t.rets("receive", { "embedded" }, s:receive())
    t.rets("localhost", { 1 }, s:setpeername("localhost", r.port))
    local ok, err = s:setpeername("no-such-host.invalid", 53)
    t.rets("unknown name", { nil, "no-such-host.invalid could not be resolved "
                             .. "(3: Host not found)" }, ok, err)
    -- a number host is converted to a string (not a type error)
    t.ok(pcall(s.setpeername, s, 12, 1), "number host")
end)

t.test("unix datagram sockets: autobind, errors, recovery", function()
    local s = cosocket.udp()
    s:settimeout(2000)
    t.rets("setpeername", { 1 }, s:setpeername("unix:" .. r.path))
    t.rets("send", { 1 }, s:send("over unix"))
    t.rets("receive", { "over unix" }, s:receive())
    t.rets("missing file", { nil, "no such file or directory" },
           s:setpeername("unix:/nonexistent/cosocket-none.sock"))
    -- nginx's half-made socket (without its crash on receive)
    t.rets("send after failed setpeername",
           { nil, "transport endpoint is not connected" }, s:send("x"))
    t.rets("receive after failed setpeername",
           { nil, "transport endpoint is not connected" }, s:receive())
    t.rets("close after failed setpeername", { 1 }, s:close())
    t.rets("closed", { nil, "closed" }, s:close())
    t.rets("recovers", { 1 }, s:setpeername("unix:" .. r.path))
    t.rets("send", { 1 }, s:send("again"))
    t.rets("receive", { "again" }, s:receive())
end)

t.test("setpeername on a connected object gets a new local port", function()
    local s = connected()
    t.rets("count 1", { 1 }, s:send("count"))
    local n1 = tonumber(s:receive())
    s:setpeername(H, r.port)
    s:send("delay 100 late")   -- answered to the new port
    t.rets("late to the new socket", { "late" }, s:receive())
    t.ok(n1 >= 1, "count")
end)

t.test("timeout set before setpeername applies", function()
    local s = cosocket.udp()
    s:settimeout(50)
    s:setpeername(H, r.port)
    s:send("silent")
    local t0 = t.clock()
    t.rets("timeout", { nil, "timeout" }, s:receive())
    t.ok(t.clock() - t0 < 1.5, "quick timeout")
end)

---------------------------------------------------------------- §3 send

t.test("send argument checks and data types", function()
    local s = connected()
    t.raises("expecting 2 arguments (including the object), but got 1",
             function() local a, b = s:send() return a, b end)
    t.raises("expecting 2 arguments (including the object), but got 3",
             function() local a, b = s:send("a", "b") return a, b end)
    local cases = {
        { "str", "str" },
        { 1 / 3, "0.33333333333333" },
        { 2 ^ 53, "9.007199254741e+15" },
        { 42, "42" },
        { true, "true" },
        { false, "false" },
        { nil, "nil" },
        { { "a", { "b", 1, {} }, "c" }, "ab1c" },
        { "", "" },
        { {}, "" },
    }
    for _, c in ipairs(cases) do
        t.rets("send " .. tostring(c[2]), { 1 }, s:send(c[1]))
        t.rets("echo " .. tostring(c[2]), { c[2] }, s:receive())
    end
    t.raises("bad argument #1 to 'send' (bad data type boolean found)",
             function() local a, b = s:send({ "a", true }) return a, b end)
    t.raises("(bad data type nil found)",
             function() local a, b = s:send({ "a", nil, "b" }) return a, b end)
    t.raises("(bad data type function found)",
             function() local a, b = s:send({ print }) return a, b end)
    t.raises("(string, number, boolean, nil, or array table expected, got function)",
             function() local a, b = s:send(print) return a, b end)
end)

t.test("send on closed and never-connected objects; message too long", function()
    local s = cosocket.udp()
    t.rets("never connected", { nil, "closed" }, s:send("x"))
    t.rets("closed beats a bad type", { nil, "closed" }, s:send(print))
    s = connected()
    t.rets("too long", { nil, "message too long" }, s:send(("x"):rep(65508)))
    t.rets("still usable", { 1 }, s:send("big 65507"))
    local d = s:receive()
    t.eq(#d, 65507, "largest IPv4 datagram")
    t.rets("close", { 1 }, s:close())
    t.rets("closed", { nil, "closed" }, s:send("x"))
end)

---------------------------------------------------------------- §4 receive

t.test("receive argument checks and sizes", function()
    local s = connected()
    t.raises("expecting 1 or 2 arguments (including the object), but got 3",
             function() local a, b = s:receive(1, 2) return a, b end)
    t.raises("(number expected, got string)",
             function() local a, b = s:receive("abc") return a, b end)
    t.raises("(number expected, got string)",
             function() local a, b = s:receive("*l") return a, b end)
    t.raises("(number expected, got table)",
             function() local a, b = s:receive({}) return a, b end)
    local sizes = {
        { nil, 10, 10 }, { "5", 10, 5 }, { 1.9, 10, 1 }, { -1, 100, 100 },
        { 100000, 65507, 65507 }, { 4, 10, 4 }, { 0 / 0, 20, 20 },
    }
    for _, c in ipairs(sizes) do
        s:send("big " .. c[2])
        local d, err = s:receive(c[1])
        t.eq(d and #d, c[3], "receive(" .. tostring(c[1]) .. ") " .. tostring(err))
    end
    -- the 65536 cap, on a unix datagram socket (IPv4 stops at 65507)
    local u = cosocket.udp()
    u:settimeout(2000)
    u:setpeername("unix:" .. r.path)
    for _, size in ipairs { -1, 100000, 2 ^ 80 } do
        u:send("big 70000")
        local d, err = u:receive(size)
        t.eq(d and #d, 65536, "receive(" .. size .. ") " .. tostring(err))
    end
    u:send("big 70000")
    local d, err = u:receive()
    t.eq(d and #d, 65536, "receive() " .. tostring(err))
    -- receive(0) consumes a whole datagram and returns ""
    s:send("burst")
    t.rets("first", { "a" }, s:receive())
    t.rets("receive(0)", { "" }, s:receive(0))
    t.rets("empty datagram", { "" }, s:receive())
    t.rets("boundaries kept", { "ccc" }, s:receive())
    -- truncation discards the rest
    s:send("big 10")
    t.rets("truncated", { "xxx" }, s:receive(3))
    s:send("next")
    t.rets("rest discarded", { "next" }, s:receive())
    local c = cosocket.udp()
    t.rets("closed beats a bad size", { nil, "closed" }, c:receive("abc"))
end)

t.test("only the connected peer is heard", function()
    local s = connected()
    s:send("stranger hello")
    t.rets("the peer's datagram, not the stranger's", { "peer" }, s:receive())
end)

---------------------------------------------------------------- §5 settimeout

t.test("settimeout: arguments, no validation, non-fatal timeouts", function()
    local s = connected()
    t.raises("ngx.socket settimeout: expecting at least 2 arguments "
             .. "(including the object) but seen 1", function() s:settimeout() end)
    t.raises("ngx.socket settimeout: expecting at least 2 arguments "
             .. "(including the object) but seen 3", function() s:settimeout(1, 2) end)
    t.rets("returns nothing", {}, s:settimeout(100))
    for _, v in ipairs { -5, "abc", 2 ^ 40, 0 } do
        t.rets("accepts " .. tostring(v), {}, s:settimeout(v))
    end
    t.rets("nil accepted", {}, s:settimeout(nil))
    s:settimeout("150")
    s:send("delay 400 late")
    local t0 = t.clock()
    t.rets("timeout: two values", { nil, "timeout" }, s:receive())
    local dt = t.clock() - t0
    t.ok(dt >= 0.12 and dt < 1, "150 ms timeout, took " .. dt)
    s:settimeout(2000)
    t.rets("late datagram next", { "late" }, s:receive())
    t.rets("usable", { 1 }, s:send("ok"))
    t.rets("echo", { "ok" }, s:receive())
end)

---------------------------------------------------------------- §6 close

t.test("close", function()
    local s = cosocket.udp()
    t.raises("expecting 1 argument (including the object) but seen 2",
             function() local a, b = s:close(1) return a, b end)
    t.rets("never connected", { nil, "closed" }, s:close())
    s = connected()
    t.rets("close", { 1 }, s:close())
    t.rets("again", { nil, "closed" }, s:close())
    t.rets("send", { nil, "closed" }, s:send("x"))
    t.rets("receive", { nil, "closed" }, s:receive())
    t.rets("setpeername again", { 1 }, s:setpeername(H, r.port))
    t.rets("send", { 1 }, s:send("back"))
    t.rets("receive", { "back" }, s:receive())
end)

---------------------------------------------------------------- ICMP

t.test("ICMP port unreachable: reported once, by receive or send", function()
    local s = cosocket.udp()
    s:settimeout(200)
    t.rets("setpeername to a dead port", { 1 }, s:setpeername(H, R.dead_port()))
    t.rets("send", { 1 }, s:send("anyone?"))
    t.rets("receive", { nil, "connection refused" }, s:receive())
    t.rets("once", { nil, "timeout" }, s:receive())
    s:send("again")
    t.msleep(50)
    t.rets("next send reports it", { nil, "connection refused" }, s:send("x"))
    t.rets("then clear", { 1 }, s:send("y"))
end)

---------------------------------------------------------------- §7 bind

t.test("bind", function()
    local s = cosocket.udp()
    t.raises("expecting 2 arguments, but got 1",
             function() local a, b = s:bind() return a, b end)
    t.rets("bad address", { nil, "bad address" }, s:bind("nope"))
    t.rets("bad address (brackets)", { nil, "bad address" }, s:bind("[::1]"))
    t.rets("ip", { 1 }, s:bind(H))
    s:settimeout(2000)
    t.rets("setpeername", { 1 }, s:setpeername(H, r.port))
    t.rets("send", { 1 }, s:send("bound"))
    t.rets("receive", { "bound" }, s:receive())
    local p = R.dead_port()
    local a = cosocket.udp()
    t.rets("ip and port (extension)", { 1 }, a:bind(H, p))
    t.rets("setpeername", { 1 }, a:setpeername(H, r.port))
    local b = cosocket.udp()
    b:bind(H, p)
    t.rets("port taken", { nil, "address already in use" },
           b:setpeername(H, r.port))
end)

---------------------------------------------------------------- scheduler

t.test("inside the scheduler receive yields; the busy rule", function()
    local s = connected()
    local log = {}
    run(function()
        local reader = cosocket.spawn(function()
            s:send("delay 150 done")
            return s:receive()
        end)
        log[#log + 1] = { s:send("x") }
        log[#log + 1] = { s:receive() }
        log[#log + 1] = { s:close() }
        log[#log + 1] = { s:setpeername(H, r.port) }
        log[#log + 1] = { cosocket.wait(reader) }
    end)
    for i = 1, 4 do
        t.eq(log[i][1], nil, "busy " .. i)
        t.eq(log[i][2], "socket busy", "busy " .. i)
    end
    t.eq(log[5][1], true, "reader ok")
    t.eq(log[5][2], "done", "reader data")
    t.rets("free again", { 1 }, s:send("y"))
    t.rets("echo", { "y" }, s:receive())
end)

t.test("killing a thread that waits in receive closes its socket", function()
    local s = connected()
    local after
    run(function()
        local th = cosocket.spawn(function()
            s:send("silent")
            return s:receive()
        end)
        cosocket.sleep(0.02)
        t.rets("kill", { 1 }, cosocket.kill(th))
        after = { s:send("x") }
    end)
    t.eq(after[1], nil, "send after kill")
    t.eq(after[2], "closed", "send after kill")
    t.rets("setpeername works again", { 1 }, s:setpeername(H, r.port))
    t.rets("send", { 1 }, s:send("z"))
    t.rets("receive", { "z" }, s:receive())
end)

t.test("scheduler: timeouts, ICMP and names without blocking others", function()
    run(function()
        local s = cosocket.udp()
        s:settimeout(80)
        t.rets("name", { 1 }, s:setpeername("localhost", r.port))
        s:send("silent")
        local ticks = 0
        local ticker = cosocket.spawn(function()
            for _ = 1, 5 do
                cosocket.sleep(0.01)
                ticks = ticks + 1
            end
        end)
        t.rets("timeout", { nil, "timeout" }, s:receive())
        cosocket.wait(ticker)
        t.ok(ticks == 5, "others ran while receive waited")
        local d = cosocket.udp()
        d:settimeout(500)
        d:setpeername(H, R.dead_port())
        d:send("x")
        t.rets("refused", { nil, "connection refused" }, d:receive())
    end)
end)

t.test("many coroutines on separate UDP sockets", function()
    local N, ROUNDS = 100, 10
    local ok_count = 0
    run(function()
        local threads = {}
        for i = 1, N do
            threads[i] = cosocket.spawn(function()
                local s = cosocket.udp()
                s:settimeout(5000)
                assert(s:setpeername(H, r.port))
                for j = 1, ROUNDS do
                    local msg = i .. ":" .. j
                    if j % 3 == 0 then
                        msg = "delay " .. (j % 7) .. " " .. msg
                    end
                    assert(s:send(msg))
                    local d, err = s:receive()
                    assert(d == (msg:match("^delay %d+ (.*)$") or msg),
                           tostring(d) .. " " .. tostring(err))
                end
                s:close()
                return true
            end)
        end
        for i = 1, N do
            local ok, res = cosocket.wait(threads[i])
            if ok and res then
                ok_count = ok_count + 1
            end
        end
    end)
    t.eq(ok_count, N, "threads that finished every round")
end)

t.test("ngx compatibility table exposes socket.udp", function()
    local ngx = cosocket.ngx()
    t.eq(ngx.socket.udp, cosocket.udp, "ngx.socket.udp")
    local s = ngx.socket.udp()
    s:settimeout(1000)
    t.rets("setpeername", { 1 }, s:setpeername(H, r.port))
    t.rets("send", { 1 }, s:send("ngx"))
    t.rets("receive", { "ngx" }, s:receive())
end)

R.done()
