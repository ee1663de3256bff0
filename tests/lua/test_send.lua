-- send: data types, number formatting, nested tables, raise-vs-return,
-- empty sends, send timeout (reference §2.4, §3).

local t = require "t"
local cosocket = require "cosocket"
local ffi = require "ffi"

local H = "127.0.0.1"

-- sends each value with one send() and returns what the peer read
local function sent_bytes(values)
    local p = t.peer("drain")
    local s = cosocket.tcp()
    s:settimeout(2000)
    assert(s:connect(H, p.port))
    local counts = {}
    for i = 1, values.n or #values do
        counts[i] = assert(s:send(values[i]))
    end
    s:close()
    p:wait("^eof 1")
    return p:received(1), counts
end

t.test("send argument count and closed sockets", function()
    local s = cosocket.tcp()
    t.raises("expecting 2 arguments (including the object), but got 1",
             function() local a, b = s:send() return a, b end)
    t.raises("expecting 2 arguments (including the object), but got 3",
             function() local a, b = s:send("a", "b") return a, b end)
    t.rets("never connected", { nil, "closed" }, s:send("x"))
    -- closed is checked before the data type
    t.rets("closed beats bad type", { nil, "closed" }, s:send(print))
    t.rets("closed beats bad table", { nil, "closed" }, s:send({ true }))
    t.rets("closed beats empty", { nil, "closed" }, s:send(""))
end)

t.both("strings, scalars and number formatting", function()
    local got, counts = sent_bytes { n = 19,
        "hello", "|", 3.14159265357939723846, "|", 31415926, "|", 2 ^ 40,
        "|", 1e20, "|", -0.5, "|", 1 / 0, "|", -1 / 0, "|", 0 / 0, "|",
        true,
    }
    t.eq(got, "hello|3.1415926535794|31415926|1099511627776|1e+20|-0.5|"
         .. "inf|-inf|-nan|true", "bytes")
    t.eq(counts[3], 15, "count of a formatted number")
    got = sent_bytes { n = 15, false, nil, 2 ^ 31, " ", -2 ^ 31, " ", -0.0, " ",
                       -(0 / 0), " ", 123456789012345, " ", 2 ^ 53, " ", 0.1 }
    -- glibc rounds the exact tie ...12345 to even; LuaJIT's tostring would not
    t.eq(got, "falsenil2147483648 -2147483648 0 nan 1.2345678901234e+14 "
         .. "9.007199254741e+15 0.1", "bytes")
end)

t.both("nested array tables", function()
    local req = { "GET", " ", "/foo", " HTTP/", 1, ".", 0, "\r\n",
                  { "Host: ", { "localhost" }, "\r\n" }, {}, "\r\n" }
    local got, counts = sent_bytes { req, { 3.1415926, "|", { { { "deep" } } } } }
    t.eq(got, "GET /foo HTTP/1.0\r\nHost: localhost\r\n\r\n3.1415926|deep",
         "bytes")
    t.eq(counts[1], 38, "count")
    t.eq(counts[2], 14, "count")
    -- many pieces (the gather list grows)
    local big, want = {}, {}
    for i = 1, 3000 do
        big[i] = (i % 3 == 0) and i or ("s" .. i)
        want[i] = tostring(big[i])
    end
    got, counts = sent_bytes { big }
    t.eq(got, table.concat(want), "3000 pieces")
    t.eq(counts[1], #table.concat(want), "count")
end)

t.both("empty sends return 0 without I/O", function()
    local p = t.peer("line")
    local s = cosocket.tcp()
    s:settimeout(2000)
    assert(s:connect(H, p.port))
    t.rets("empty string", { 0 }, s:send(""))
    t.rets("empty table", { 0 }, s:send({}))
    t.rets("nested empties", { 0 }, s:send({ "", {}, { {} } }))
    t.rets("still usable", { 3 }, s:send("ok\n"))
    p:wait("^recv 1 ok")
end)

t.both("bad table contents raise (socket open)", function()
    local p = t.peer("drain")
    local s = cosocket.tcp()
    s:settimeout(2000)
    assert(s:connect(H, p.port))
    t.raises("bad argument #1 to 'send' (bad data type nil found)",
             function() local a, b = s:send({ "a", nil, "c" }) return a, b end)
    t.raises("bad argument #1 to 'send' (bad data type boolean found)",
             function() local a, b = s:send({ "a", { true } }) return a, b end)
    t.raises("bad argument #1 to 'send' (bad data type userdata found)",
             function() local a, b = s:send({ newproxy() }) return a, b end)
    t.raises("bad argument #1 to 'send' (bad data type cdata found)",
             function() local a, b = s:send({ ffi.new("int", 1) }) return a, b end)
    t.raises("bad argument #1 to 'send' (bad data type function found)",
             function() local a, b = s:send({ print }) return a, b end)
    t.raises("bad argument #1 to 'send' (non-array table found)",
             function() local a, b = s:send({ a = 1 }) return a, b end)
    t.raises("bad argument #1 to 'send' (non-array table found)",
             function() local a, b = s:send({ [0] = "x" }) return a, b end)
    t.raises("bad argument #1 to 'send' (non-array table found)",
             function() local a, b = s:send({ "x", { [1.5] = "y" } }) return a, b end)
    t.raises("bad argument #1 to 'send' (string, number, boolean, nil, or array table expected, got function)",
             function() local a, b = s:send(print) return a, b end)
    t.raises("bad argument #1 to 'send' (string, number, boolean, nil, or array table expected, got thread)",
             function() local a, b = s:send(coroutine.create(print)) return a, b end)
    t.raises("bad argument #2 to '?' (bad data type boolean found)",
             s.send, s, { false })
    -- nothing was sent by the failed calls
    t.rets("usable", { 2 }, s:send("ok"))
    s:close()
    p:wait("^eof 1")
    t.eq(p:received(1), "ok", "bytes")
end)

t.both("large sends complete", function()
    local p = t.peer("drain")
    local s = cosocket.tcp()
    s:settimeout(5000)
    assert(s:connect(H, p.port))
    local blob = string.rep("0123456789abcdef", 65536)   -- 1 MiB
    t.rets("1 MiB", { #blob }, s:send(blob))
    t.rets("1 MiB in pieces", { #blob * 2 }, s:send({ blob, { blob } }))
    s:close()
    p:wait("^eof 1")
end)

t.both("send timeout closes the write half only", function()
    local p = t.peer("send hello\\n;noread", "--rcvbuf 4096")
    local s = cosocket.tcp()
    s:settimeouts(2000, 150, 2000)
    assert(s:connect(H, p.port))
    t.eq(s:receive(), "hello", "read before")
    local blob = string.rep("x", 16 * 1024 * 1024)
    local t0 = t.clock()
    t.rets("timeout", { nil, "timeout" }, s:send(blob))
    t.ok(t.clock() - t0 < 3, "timed out in time")
    t.rets("write half closed", { nil, "closed" }, s:send("more"))
    s:settimeout(100)
    t.rets("reading still works", { nil, "timeout", "" }, s:receive())
    t.rets("close", { 1 }, s:close())
    t.rets("closed now", { nil, "closed" }, s:close())
end)

t.both("peer reset: send fails, then closed", function()
    local p = t.peer("sleep 100;reset")
    local s = cosocket.tcp()
    s:settimeout(2000)
    assert(s:connect(H, p.port))
    p:wait("^closed 1")
    t.msleep(20)
    local ok, err
    for _ = 1, 20 do
        ok, err = s:send("x")
        if not ok then
            break
        end
        t.msleep(10)
    end
    t.eq(ok, nil, "send failed")
    t.ok(err == "connection reset by peer" or err == "broken pipe", err)
    t.rets("then closed", { nil, "closed" }, s:send("x"))
end)

t.done()
