-- receiveuntil and its iterator (reference §2.7, §5.5).

local t = require "t"
local cosocket = require "cosocket"

local H = "127.0.0.1"

local function connected(script, timeout)
    local p = t.peer(script)
    local s = cosocket.tcp()
    s:settimeout(timeout or 2000)
    assert(s:connect(H, p.port))
    return s, p
end

t.test("receiveuntil argument checks", function()
    local s = cosocket.tcp()
    t.raises("expecting 2 or 3 arguments (including the object), but got 1",
             function() local a, b = s:receiveuntil() return a, b end)
    t.raises("expecting 2 or 3 arguments (including the object), but got 4",
             function() local a, b = s:receiveuntil("x", {}, 1) return a, b end)
    t.raises("bad argument #2 to 'receiveuntil' (table expected, got string)",
             function() local a, b = s:receiveuntil("x", "y") return a, b end)
    t.raises('bad "inclusive" option value type: string',
             function() local a, b = s:receiveuntil("x", { inclusive = "yes" }) return a, b end)
    t.raises("bad argument #1 to 'receiveuntil' (string expected, got nil)",
             function() local a, b = s:receiveuntil(nil) return a, b end)
    t.rets("empty", { nil, "pattern is empty" }, s:receiveuntil(""))
    -- no I/O and no state check at creation; the call sees "closed"
    local reader = s:receiveuntil("--")
    t.eq(type(reader), "function", "iterator")
    t.rets("closed", { nil, "closed" }, reader())
    t.rets("closed sized", { nil, "closed" }, reader(4))
    t.raises("expecting 0 or 1 argument, but seen 2",
             function() local a, b = reader(1, 2) return a, b end)
    t.raises("bad argument #1 to 'reader' (number expected, got string)",
             function() local a, b = reader("x") return a, b end)
    t.raises("bad argument #1 to 'reader' (number expected, got nil)",
             function() local a, b = reader(nil) return a, b end)
    t.eq(type(s:receiveuntil(12)), "function", "number pattern")
end)

t.both("pattern found; next search hits EOF", function()
    local s = connected("send hello, world ----abc\\n")
    local reader = s:receiveuntil("abc\n")
    t.rets("before", { "hello, world ----" }, reader())
    t.rets("eof", { nil, "closed", "" }, reader())
end)

t.both("sized chunks end with nil, nil, nil", function()
    local s = connected("send hello, world ----abc\\n")
    local reader = s:receiveuntil("--abc")
    t.rets("1", { "hell" }, reader(4))
    t.rets("2", { "o, w" }, reader("4"))
    t.rets("3", { "orld" }, reader(4))
    t.rets("4", { " --" }, reader(4))
    t.rets("done", { nil, nil, nil, n = 3 }, reader(4))
    t.rets("new search", { nil, "closed", "\n" }, reader(4))
end)

t.both("README example with size", function()
    local s = connected("send hello, world! -agentzh\\r\\n--abcedhb blah blah")
    local reader = s:receiveuntil("\r\n--abcedhb")
    local got = {}
    while true do
        local data, err, partial = reader(4)
        if not data then
            t.eq(err, nil, "read done")
            t.eq(partial, nil, "no partial")
            break
        end
        got[#got + 1] = data
    end
    t.eq(table.concat(got, ","), "hell,o, w,orld,! -a,gent,zh", "chunks")
    t.rets("rest", { " blah blah" }, s:receiveany(100))
end)

t.both("pattern at the start; negative size means none", function()
    local s = connected("send --ab--xy--")
    local reader = s:receiveuntil("--")
    t.rets("empty", { "" }, reader())
    t.rets("ab", { "ab" }, reader(-3))
    t.rets("sized xy", { "xy" }, reader(10))
    t.rets("done", { nil, nil, nil, n = 3 }, reader(10))
end)

t.both("inclusive", function()
    local s = connected("send abcabcabdabcabd\\n")
    local reader = s:receiveuntil("abcabd", { inclusive = true })
    t.rets("1", { "abcabcabd" }, reader())
    t.rets("2", { "abcabd" }, reader())
    t.rets("eof", { nil, "closed", "\n" }, reader())
    local s2 = connected("send hello, world ----abc\\n")
    local r2 = s2:receiveuntil("--abc", { inclusive = true })
    local chunks = {}
    for _ = 1, 4 do
        chunks[#chunks + 1] = r2(4)
    end
    t.eq(table.concat(chunks, "|"), "hell|o, w|orld| ----abc", "sized inclusive")
    t.rets("done", { nil, nil, nil, n = 3 }, r2(4))
end)

t.both("self-overlapping patterns", function()
    local cases = {
        { "abcabcabd\n", "abcabd", "abc" },
        { "abcabcaad\n", "aa", "abcabc" },
        { "abaabcaaaef\n", "aaa", "abaabc" },
        { "baaaaaaaaeaaaaaaadf\n", "aaaaad", "baaaaaaaaeaa" },
    }
    for _, c in ipairs(cases) do
        local s = connected("send " .. c[1]:gsub("\n", "\\n"))
        local reader = s:receiveuntil(c[2])
        t.rets(c[2], { c[3] }, reader())
    end
end)

t.both("EOF while holding a partial match drops the held bytes", function()
    local s = connected("send xx--ab")
    local reader = s:receiveuntil("--abc")
    t.rets("eof", { nil, "closed", "xx" }, reader())
    t.rets("closed", { nil, "closed" }, reader())
end)

t.both("iterator timeout is not fatal; then other readers continue", function()
    local s = connected("send 2\\r\\nhi\\r\\n;sleep 300;send 5\\r\\nworld\\r\\n", 100)
    local reader = s:receiveuntil("no-such-terminator")
    t.rets("timeout", { nil, "timeout", "2\r\nhi\r\n" }, reader())
    cosocket.sleep(0.3)
    local lines = s:receiveuntil("\r\n")
    t.rets("5", { "5" }, lines())
    t.rets("world", { "world" }, lines())
end)

t.both("iterators interleave with receive", function()
    local s = connected("send a\\;b\\;c\\nd\\;e\\n")
    local semi = s:receiveuntil(";")
    t.rets("a", { "a" }, semi())
    t.rets("line", { "b;c" }, s:receive())
    t.rets("d", { "d" }, semi())
    t.rets("e", { "e" }, s:receive())
end)

t.done()
