-- receive and receiveany: patterns, argument checks, partial data,
-- timeouts (reference §2.5, §2.6, §3, §5).

local t = require "t"
local cosocket = require "cosocket"

local H = "127.0.0.1"

local function connected(script, opts, timeout)
    local p = t.peer(script, opts)
    local s = cosocket.tcp()
    s:settimeout(timeout or 2000)
    assert(s:connect(H, p.port))
    return s, p
end

t.test("receive argument count; closed is checked before the pattern", function()
    local s = cosocket.tcp()
    t.raises("expecting 1 or 2 arguments (including the object), but got 3",
             function() local a, b = s:receive("*l", "prefix") return a, b end)
    t.rets("never connected", { nil, "closed" }, s:receive())
    t.rets("bad pattern on a closed socket", { nil, "closed" }, s:receive("x"))
    t.rets("bad type on a closed socket", { nil, "closed" }, s:receive(true))
    t.rets("receiveany", { nil, "closed" }, s:receiveany(0))
    t.raises("expecting 2 arguments (including the object), but got 1",
             function() local a, b = s:receiveany() return a, b end)
    t.raises("expecting 2 arguments (including the object), but got 3",
             function() local a, b = s:receiveany(1, 2) return a, b end)
end)

t.both("bad patterns raise on an open socket", function()
    local s = connected("send x\\n;line")
    t.raises("bad argument #1 to 'receive' (bad pattern argument: l)",
             function() local a, b = s:receive("l") return a, b end)
    t.raises("bad argument #1 to 'receive' (bad pattern argument: *line)",
             function() local a, b = s:receive("*line") return a, b end)
    t.raises("bad argument #1 to 'receive' (bad pattern argument)",
             function() local a, b = s:receive("*x") return a, b end)
    t.raises("bad argument #1 to 'receive' (bad argument)",
             function() local a, b = s:receive(nil) return a, b end)
    t.raises("bad argument #1 to 'receive' (bad argument)",
             function() local a, b = s:receive(false) return a, b end)
    t.raises("bad argument #1 to 'receive' (bad number argument)",
             function() local a, b = s:receive(-1) return a, b end)
    t.raises("bad argument #1 to 'receive' (bad number argument)",
             function() local a, b = s:receive("-5") return a, b end)
    t.raises("bad argument #2 to '?' (bad pattern argument: a)",
             s.receive, s, "a")
    t.raises("bad argument #1 to 'receiveany' (bad max argument)",
             function() local a, b = s:receiveany(0) return a, b end)
    t.raises("bad argument #1 to 'receiveany' (bad max argument)",
             function() local a, b = s:receiveany(0.5) return a, b end)
    t.raises("bad argument #1 to 'receiveany' (bad max argument)",
             function() local a, b = s:receiveany(-1) return a, b end)
    t.raises("bad argument #1 to 'receiveany' (bad max argument)",
             function() local a, b = s:receiveany(nil) return a, b end)
    t.raises("bad argument #1 to 'receiveany' (bad max argument)",
             function() local a, b = s:receiveany("x") return a, b end)
    -- nothing was consumed
    t.eq(s:receive(), "x", "data intact")
end)

t.both("*l drops every CR; empty lines; partial line at EOF", function()
    local s = connected("send foo\\rbar\\nbaz\\r\\n\\rqux\\n\\r\\n\\nlast\\r")
    t.rets("1", { "foobar" }, s:receive())
    t.rets("2", { "baz" }, s:receive("*l"))
    t.rets("3", { "qux" }, s:receive())
    t.rets("4", { "" }, s:receive())
    t.rets("5", { "" }, s:receive())
    t.rets("eof", { nil, "closed", "last" }, s:receive())
    t.rets("read half closed", { nil, "closed" }, s:receive())
    t.rets("close", { 1 }, s:close())
end)

t.both("*a reads to EOF, CRLF intact; then \"\" again", function()
    local s = connected("send HTTP/1.1 200 OK\\r\\nA: b\\r\\n\\r\\nbody;sleep 50;send more\\n")
    t.rets("line", { "HTTP/1.1 200 OK" }, s:receive("*l"))
    t.rets("all", { "A: b\r\n\r\nbodymore\n" }, s:receive("*a"))
    t.rets("all again", { "" }, s:receive("*a"))
    t.rets("line after eof", { nil, "closed", "" }, s:receive())
    t.rets("all after a failed read", { nil, "closed" }, s:receive("*a"))
end)

t.both("sizes: numbers, numeric strings, truncation, 0", function()
    local s = connected("send 0123456789abcdefghij;close")
    t.rets("10", { "0123456789" }, s:receive(10))
    t.rets("'3'", { "abc" }, s:receive("3"))
    t.rets("2.7", { "de" }, s:receive(2.7))
    t.rets("0", { "" }, s:receive(0))
    t.rets("-0.5 truncates to 0", { "" }, s:receive(-0.5))
    t.rets("short at EOF", { nil, "closed", "fghij" }, s:receive(100))
    t.rets("closed", { nil, "closed" }, s:receive(0))
end)

t.both("read timeout is not fatal; partial data is consumed", function()
    local s = connected("send 2\\r\\nhi\\r\\n;sleep 300;send 5\\r\\nworld\\r\\n",
                        nil, 100)
    t.rets("timeout", { nil, "timeout", "2\r\nhi\r\n" }, s:receive(100))
    t.rets("again", { nil, "timeout", "" }, s:receive())
    cosocket.sleep(0.3)
    t.rets("line", { "5" }, s:receive())
    t.rets("line", { "world" }, s:receive())
    t.rets("close", { 1 }, s:close())
end)

t.both("read timeout is an inactivity timeout", function()
    local s = connected("drip 40 0123456789\\n", nil, 150)
    local t0 = t.clock()
    t.rets("dripped line", { "0123456789" }, s:receive())
    t.ok(t.clock() - t0 > 0.3, "waited for the drip")
end)

t.both("receiveany returns what has arrived", function()
    local s = connected("send 1;sleep 100;send 22;sleep 100;send hello world;close")
    t.rets("1", { "1" }, s:receiveany(1024))
    t.rets("22", { "22" }, s:receiveany("1024"))
    t.rets("max", { "hel" }, s:receiveany(3.9))
    t.rets("rest, no I/O", { "lo world" }, s:receiveany(100))
    t.rets("eof", { nil, "closed", "" }, s:receiveany(100))
    t.rets("closed", { nil, "closed" }, s:receiveany(100))
end)

t.both("receiveany timeout; mixing with *l", function()
    local s = connected("send head\\nrest;sleep 300", nil, 100)
    t.rets("line", { "head" }, s:receive())
    t.rets("buffered", { "rest" }, s:receiveany(10))
    t.rets("timeout", { nil, "timeout", "" }, s:receiveany(10))
end)

t.both("connection reset while reading", function()
    local s = connected("send abc;sleep 50;reset")
    t.rets("reset", { nil, "connection reset by peer", "abc" }, s:receive(10))
    t.rets("then closed", { nil, "closed" }, s:receive())
end)

t.both("large reads", function()
    local s = connected("big 3000000;close", nil, 5000)
    local all = s:receive("*a")
    t.eq(#all, 3000000, "length")
    t.eq(all:sub(1, 26), "abcdefghijklmnopqrstuvwxyz", "pattern")
    t.eq(all:sub(-1), string.char(97 + (3000000 - 1) % 26), "last byte")
    local s2 = connected("big 100000;close", nil, 5000)
    t.eq(#s2:receive(99999), 99999, "sized")
    t.rets("rest", { nil, "closed", string.char(97 + 99999 % 26) }, s2:receive(5))
end)

t.done()
