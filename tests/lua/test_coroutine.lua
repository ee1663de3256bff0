-- cosocket.coroutine: scheduler waits pass through user coroutines, as in
-- ngx_lua (a library reading inside its own coroutine.wrap still works).

local t = require "t"
local cosocket = require "cosocket"

local co = cosocket.coroutine
local H = "127.0.0.1"

local function go(fn)
    cosocket.on_thread_error(function() end)
    local ok, e = cosocket.run(function()
        local ok, e = xpcall(fn, debug.traceback)
        if not ok then
            error(e, 0)
        end
    end)
    cosocket.on_thread_error(nil)
    if not ok then
        error(e, 0)
    end
end

-- a lua-resty-http style body reader: a wrapped coroutine that yields
-- chunks it receives from the socket
local function body_reader(sock, size)
    return co.wrap(function()
        while true do
            local chunk, err, partial = sock:receive(size)
            if not chunk then
                if partial and partial ~= "" then
                    co.yield(partial)
                end
                return nil, err
            end
            co.yield(chunk)
        end
    end)
end

t.test("receive inside coroutine.wrap inside a scheduler thread", function()
    local p = t.peer("chunks 50 aaaa|bbbb|cc;close")
    go(function()
        local s = cosocket.tcp()
        s:settimeout(2000)
        assert(s:connect(H, p.port))
        local ticks = 0
        local ticker = cosocket.spawn(function()
            for _ = 1, 5 do
                cosocket.sleep(0.02)
                ticks = ticks + 1
            end
        end)
        local reader = body_reader(s, 4)
        local got = {}
        while true do
            local chunk, err = reader()
            if not chunk then
                t.eq(err, "closed", "end")
                break
            end
            got[#got + 1] = chunk
        end
        t.eq(table.concat(got, "|"), "aaaa|bbbb|cc", "chunks")
        t.ok(ticks >= 3, "other threads ran while the wrapped reader waited")
        cosocket.wait(ticker)
    end)
end)

t.test("waits pass through nested coroutines; values still flow", function()
    local p = t.peer("lineecho")
    go(function()
        local s = cosocket.tcp()
        s:settimeout(2000)
        assert(s:connect(H, p.port))
        local outer = co.create(function(a)
            local inner = co.wrap(function(b)
                assert(s:send(b .. "\n"))
                local l = s:receive()
                local c = co.yield(l .. "!")
                assert(s:send(c .. "\n"))
                return s:receive()
            end)
            local r1 = inner(a)
            local x = co.yield(r1)
            return inner(x), "done"
        end)
        t.rets("first", { true, "ping!" }, co.resume(outer, "ping"))
        t.eq(co.status(outer), "suspended", "status")
        t.rets("second", { true, "pong", "done" }, co.resume(outer, "pong"))
        t.eq(co.status(outer), "dead", "status")
        t.rets("dead", { false, "cannot resume dead coroutine" },
               co.resume(outer))
    end)
end)

t.test("many threads each reading through a wrapped coroutine", function()
    local p = t.peer(nil, "--mode lineecho --quiet")
    go(function()
        local ths = {}
        for i = 1, 50 do
            ths[i] = cosocket.spawn(function()
                local s = cosocket.tcp()
                s:settimeout(2000)
                assert(s:connect(H, p.port))
                local gen = co.wrap(function()
                    for j = 1, 5 do
                        assert(s:send(i .. ":" .. j .. "\n"))
                        co.yield((s:receive()))
                    end
                end)
                local all = {}
                for _ = 1, 5 do
                    all[#all + 1] = gen()
                end
                s:close()
                return table.concat(all, " ")
            end)
        end
        for i = 1, 50 do
            t.rets("thread " .. i, { true, ("%d:1 %d:2 %d:3 %d:4 %d:5"):format(i, i, i, i, i) },
                   cosocket.wait(ths[i]))
        end
    end)
end)

t.test("errors and wrap semantics match coroutine.wrap", function()
    local f = co.wrap(function() error("x") end)
    local ok, e = pcall(function() local a = f() return a end)
    t.eq(ok, false, "raised")
    t.ok(e:find("^.-test_coroutine%.lua:%d+: .-test_coroutine%.lua:%d+: x$"), e)
    local obj = {}
    ok, e = pcall(co.wrap(function() error(obj) end))
    t.eq(e, obj, "non-string error passed as is")
    t.raises("bad argument #1 to 'create' (Lua function expected)",
             function() local a = co.create(1) return a end)
    t.raises("bad argument #1 to 'resume' (coroutine expected)",
             function() local a, b = co.resume(1) return a, b end)
end)

t.test("outside the scheduler they are plain coroutines", function()
    local p = t.peer("send 1\\n2\\n3\\n;close")
    local s = cosocket.tcp()
    s:settimeout(2000)
    assert(s:connect(H, p.port))
    local gen = co.wrap(function()
        while true do
            local l = s:receive()
            if not l then
                return
            end
            co.yield(l)
        end
    end)
    t.eq(gen() .. gen() .. gen(), "123", "blocking reads inside wrap")
    local c = co.create(function(...) return co.yield(...) end)
    t.rets("yield", { true, 1, 2 }, co.resume(c, 1, 2))
    t.rets("return", { true, "r" }, co.resume(c, "r"))
    t.eq(co.running(), coroutine.running(), "running")
    t.eq(co.isyieldable(), false, "main is not yieldable")
end)

t.test("yield in a thread's own body lets the others run", function()
    local order = {}
    go(function()
        local a = cosocket.spawn(function()
            for i = 1, 2 do
                order[#order + 1] = "a" .. i
                t.eq(select("#", co.yield("ignored")), 0, "returns nothing")
            end
        end)
        local b = cosocket.spawn(function()
            for i = 1, 2 do
                order[#order + 1] = "b" .. i
                co.yield()
            end
        end)
        t.eq(co.isyieldable(), true, "thread is yieldable")
        cosocket.wait(a)
        cosocket.wait(b)
    end)
    t.eq(table.concat(order, " "), "a1 b1 a2 b2", "interleaved")
end)

t.test("a stock coroutine cannot wait inside a scheduler thread", function()
    local p = t.peer("sleep 200;send late\\n")
    go(function()
        local s = cosocket.tcp()
        s:settimeout(2000)
        assert(s:connect(H, p.port))
        local f = coroutine.wrap(function() return s:receive() end)
        t.raises("^.-cannot wait inside a coroutine that is not managed by "
                 .. "cosocket%.coroutine", f)
        -- the socket was aborted rather than left busy
        t.rets("closed", { nil, "closed" }, s:receive())
    end)
end)

t.test("the ngx table installs them as coroutine.*", function()
    if not pcall(require, "cosocket.ngx") then
        return
    end
    local saved = {}
    for k, v in pairs(coroutine) do
        saved[k] = v
    end
    local ngx = cosocket.ngx { global = true }
    local installed = coroutine.wrap == co.wrap
    for k, v in pairs(saved) do
        coroutine[k] = v
    end
    _G.ngx = nil
    t.ok(ngx, "ngx table")
    t.ok(installed, "coroutine.wrap replaced")
end)

t.done()
