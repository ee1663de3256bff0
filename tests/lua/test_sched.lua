-- The scheduler: spawn / wait / kill / sleep / now / run, with ngx.thread
-- semantics, error reporting, kill during I/O, busy sockets, full duplex.

local t = require "t"
local cosocket = require "cosocket"

local H = "127.0.0.1"
local spawn, wait, kill, sleep, run = cosocket.spawn, cosocket.wait,
    cosocket.kill, cosocket.sleep, cosocket.run

-- runs fn as the entry thread of run(); fails the test if it fails
local function go(fn)
    cosocket.on_thread_error(function() end)
    local ok, e = run(function()
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

local function quiet(fn)
    local errors = {}
    cosocket.on_thread_error(function(_, msg)
        errors[#errors + 1] = msg
    end)
    local ok, e = pcall(fn, errors)
    cosocket.on_thread_error(nil)
    if not ok then
        error(e, 0)
    end
    return errors
end

t.test("spawn runs the thread at once until it waits; wait returns its results", function()
    local order = {}
    local r = { run(function()
        local th = spawn(function(a, b)
            order[#order + 1] = "child " .. a .. b
            sleep(0.01)
            order[#order + 1] = "child done"
            return "x", nil, 3
        end, 1, 2)
        t.eq(type(th), "thread", "spawn returns a coroutine")
        order[#order + 1] = "parent"
        local res = { n = select("#", wait(th)), wait(th) }
        return table.concat(order, ","), res
    end) }
    t.eq(r[1], true, "run ok")
    t.eq(r[2], "child 12,parent,child done", "order")
end)

t.test("wait: results, errors, first of many, already waited", function()
    quiet(function(errors)
        local ok, err = run(function()
            local th = spawn(function() return 1, nil, "three" end)
            t.rets("results", { true, 1, nil, "three", n = 4 }, wait(th))
            t.rets("again", { nil, "already waited or killed" }, wait(th))

            local bad = spawn(function() error("boom") end)
            local okw, why = wait(bad)
            t.eq(okw, false, "failed thread")
            t.ok(why:find("boom"), why)

            local slow = spawn(function() sleep(0.2) return "slow" end)
            local fast = spawn(function() sleep(0.05) return "fast" end)
            t.rets("first finished", { true, "fast" }, wait(slow, fast))
            t.rets("then the other", { true, "slow" }, wait(fast, slow))

            -- a dead thread is skipped unless it is the last argument
            local z = spawn(function() return "z" end)
            t.rets("zombie", { true, "z" }, wait(fast, z))

            local obj = spawn(function() return { 1 } end)
            local _, tbl = wait(obj)
            t.eq(tbl[1], 1, "table result")
        end)
        t.eq(ok, true, err)
        t.eq(#errors, 1, "one error reported")
        t.ok(errors[1]:find("^lua user thread aborted: runtime error: .*boom"),
             errors[1])
        t.ok(errors[1]:find("stack traceback"), "traceback")
    end)
end)

t.test("a thread body is the first frame of its coroutine (error levels, tracebacks)", function()
    -- As with ngx.thread.spawn: no scheduler frame sits between the
    -- coroutine and the user's function, so error(msg, 2) has no position,
    -- debug.getinfo(2) is nil and tracebacks show no scheduler code.
    quiet(function()
        local ok, err = run(function()
            local lvl2 = spawn(function() error("lvl2", 2) end)
            t.rets("error level 2", { false, "lvl2" }, wait(lvl2))
            local lvl1 = spawn(function() error("lvl1") end)
            local _, why = wait(lvl1)
            t.ok(why:find("^[^\n]*test_sched%.lua:%d+: lvl1$"), why)
            local info = spawn(function()
                sleep(0.001)
                return debug.getinfo(2), debug.traceback("tb")
            end)
            local okw, caller, tb = wait(info)
            t.eq(okw, true, "thread")
            t.eq(caller, nil, "no frame below the thread body")
            t.ok(not tb:find("cosocket[/.]sched"), tb)
            t.ok(tb:find("test_sched%.lua"), tb)
        end)
        t.eq(ok, true, err)
    end)
end)

t.test("wait and kill argument checks", function()
    go(function()
        t.raises("at least one coroutine should be specified", wait)
        t.raises("bad argument #1 to 'wait' (lua thread expected)",
                 function() local a, b = wait(1) return a, b end)
        t.raises("attempt to wait on a coroutine that is not a user thread",
                 wait, coroutine.create(print))
        t.raises("bad argument #1 to 'kill' (lua thread expected)",
                 function() local a, b = kill("x") return a, b end)
        t.rets("kill a plain coroutine", { nil, "not user thread" },
               kill(coroutine.create(print)))
        local child = spawn(function() sleep(0.05) end)
        local other = spawn(function()
            t.raises("only the parent coroutine can wait on the thread", wait, child)
            t.rets("killer not parent", { nil, "killer not parent" }, kill(child))
        end)
        wait(other)
        wait(child)
    end)
end)

t.test("kill: live, finished, killed", function()
    go(function()
        local sleeper = spawn(function() sleep(30) end)
        local t0 = t.clock()
        t.rets("kill", { 1 }, kill(sleeper))
        t.rets("kill again", { nil, "already waited or killed" }, kill(sleeper))
        t.rets("wait killed", { nil, "already waited or killed" }, wait(sleeper))
        local done = spawn(function() return 1 end)
        t.rets("kill zombie", { nil, "already terminated" }, kill(done))
        t.rets("then dead", { nil, "already waited or killed" }, kill(done))
        t.ok(t.clock() - t0 < 1, "no wait for the sleep")
    end)
end)

t.test("a thread killed while waiting in receive: its socket is closed", function()
    local p = t.peer("drain")
    local t0 = t.clock()
    go(function()
        local s = cosocket.tcp()
        s:settimeout(10000)
        local reader = spawn(function()
            assert(s:connect(H, p.port))
            return s:receive()
        end)
        sleep(0.05)
        t.rets("kill", { 1 }, kill(reader))
        p:wait("^eof 1")
        t.rets("socket closed", { nil, "closed" }, s:receive())
        -- the object can connect again
        local p2 = t.peer("send again\\n")
        assert(s:connect(H, p2.port))
        t.eq(s:receive(), "again", "reconnected")
    end)
    t.ok(t.clock() - t0 < 3, "run ended promptly")
end)

t.test("killing the reader wakes the writer of the same socket (closed)", function()
    local p = t.peer("noread", "--rcvbuf 4096")
    go(function()
        local s = cosocket.tcp()
        s:settimeout(5000)
        assert(s:connect(H, p.port))
        local reader = spawn(function() return s:receive() end)
        local writer = spawn(function()
            return s:send(string.rep("x", 16 * 1024 * 1024))
        end)
        sleep(0.05)
        kill(reader)
        t.rets("writer", { true, nil, "closed", n = 3 }, wait(writer))
    end)
end)

t.both("socket busy reading; a writer works meanwhile (full duplex)", function(mode)
    if mode == "blocking" then
        return   -- needs two threads
    end
    local p = t.peer("line;sleep 200;send late\\n;drain")
    local s = cosocket.tcp()
    s:settimeout(2000)
    assert(s:connect(H, p.port))
    local reader = spawn(function() return s:receive() end)
    local other = spawn(function()
        local a, b, c = s:receive()
        local d, e = s:receiveany(10)
        local f, g = s:receiveuntil("x")()
        return a, b, c, d, e, f, g
    end)
    t.rets("second reader", { true, nil, "socket busy reading", nil,
                              nil, "socket busy reading",
                              nil, "socket busy reading", n = 8 }, wait(other))
    t.rets("close while reading", { nil, "socket busy reading" }, s:close())
    t.rets("setkeepalive while reading", { nil, "socket busy reading" },
           s:setkeepalive())
    t.rets("connect while reading", { nil, "socket busy reading" },
           s:connect(H, p.port))
    t.rets("getreusedtimes", { 0 }, s:getreusedtimes())
    t.rets("writer works", { 6 }, s:send("hello\n"))
    t.rets("reader", { true, "late" }, wait(reader))
    t.rets("close", { 1 }, s:close())
end)

t.test("a thread alone makes the blocking TCP calls; with company, asynchronous ones", function()
    local ffi = require "ffi"
    pcall(ffi.cdef, "int fcntl(int fd, int cmd, ...);")
    local F_GETFL, O_NONBLOCK = 3, 2048   -- Linux
    local function nonblocking(s)
        local fd = assert(s:getfd())
        return bit.band(ffi.C.fcntl(fd, F_GETFL), O_NONBLOCK) ~= 0
    end
    local p1 = t.peer("line;sleep 50;send one\\n;drain")
    local p2 = t.peer("line;sleep 50;send two\\n;drain")
    go(function()
        local s = cosocket.tcp()
        s:settimeout(2000)
        assert(s:connect(H, p1.port))
        t.eq(nonblocking(s), false, "alone: the blocking connect's fd")
        local t0 = cosocket.now()
        t.rets("send", { 2 }, s:send("a\n"))
        t.rets("receive, alone", { "one" }, s:receive())
        t.ok(cosocket.now() - t0 >= 0.04, "the cached time is refreshed after the wait")
        t.rets("close", { 1 }, s:close())
        -- A sleeping thread is company: calls go through the loop again.
        local other = spawn(function() sleep(0.3); return "slept" end)
        assert(s:connect(H, p2.port))
        t.eq(nonblocking(s), true, "with company: the asynchronous connect's fd")
        t.rets("send", { 2 }, s:send("b\n"))
        t.rets("receive, with company", { "two" }, s:receive())
        t.rets("close", { 1 }, s:close())
        t.rets("the sleeper", { true, "slept" }, wait(other))
    end)
end)

t.test("socket busy writing", function()
    local p = t.peer("noread", "--rcvbuf 4096")
    go(function()
        local s = cosocket.tcp()
        s:settimeouts(2000, 300, 2000)
        assert(s:connect(H, p.port))
        local w = spawn(function() return s:send(string.rep("x", 16 * 1024 * 1024)) end)
        t.rets("second writer", { nil, "socket busy writing" }, s:send("x"))
        t.rets("close", { nil, "socket busy writing" }, s:close())
        t.rets("first writer times out", { true, nil, "timeout", n = 3 }, wait(w))
    end)
end)

t.test("socket busy connecting", function()
    local p = t.peer(nil, "--mode blackhole")
    go(function()
        local s = cosocket.tcp()
        s:settimeout(200)
        local c = spawn(function() return s:connect(H, p.port) end)
        t.rets("receive", { nil, "socket busy connecting" }, s:receive())
        t.rets("send", { nil, "socket busy connecting" }, s:send("x"))
        t.rets("close", { nil, "socket busy connecting" }, s:close())
        t.rets("connect", { nil, "socket busy connecting" }, s:connect(H, p.port))
        t.rets("getreusedtimes", { 0 }, s:getreusedtimes())
        t.rets("connect times out", { true, nil, "timeout", n = 3 }, wait(c))
        t.rets("then closed", { nil, "closed" }, s:close())
    end)
end)

t.test("errors in threads never stop the scheduler", function()
    local errors = quiet(function()
        local ok, n = run(function()
            local ths = {}
            for i = 1, 10 do
                ths[i] = spawn(function()
                    sleep(0.001 * i)
                    if i % 2 == 0 then
                        error({ code = i })
                    end
                    return i
                end)
            end
            local sum = 0
            for i = 1, 10 do
                local ok, v = wait(ths[i])
                if ok then
                    sum = sum + v
                end
            end
            return sum
        end)
        t.eq(ok, true, "run")
        t.eq(n, 25, "odd threads finished")
    end)
    t.eq(#errors, 5, "five reported")
    -- a failing entry function is returned by run
    quiet(function()
        local ok, err = run(function() error("entry failed", 0) end)
        t.eq(ok, false, "run result")
        t.eq(err, "entry failed", "error")
    end)
end)

t.test("errors are reported on stderr by default", function()
    local cmd = string.format("%s -e %s 2>&1", os.getenv("LUAJIT") or "luajit",
        t.shq([[local c = require "cosocket"
c.run(function() c.spawn(function() c.sleep(0.01) error("kaboom") end) end)
print("survived")]]))
    local f = io.popen(cmd)
    local out = f:read("*a")
    f:close()
    t.ok(out:find("cosocket: lua user thread aborted: runtime error: [^\n]*kaboom"), out)
    t.ok(out:find("stack traceback"), out)
    t.ok(out:find("survived"), out)
end)

t.test("sleep: yields inside, blocks outside; argument checks", function()
    t.raises("attempt to pass 0 arguments, but accepted 1", sleep)
    t.raises("attempt to pass 2 arguments, but accepted 1", sleep, 1, 2)
    t.raises('invalid sleep duration "-1000"', sleep, -1)
    t.raises("bad argument #1 to 'sleep' (number expected, got string)",
             function() local a = sleep("x") return a end)
    local t0 = t.clock()
    t.eq(select("#", sleep(0.05)), 0, "returns nothing")
    t.ok(t.clock() - t0 >= 0.045, "blocked outside")
    t0 = t.clock()
    run(function()
        local a = spawn(sleep, 0.1)
        local b = spawn(sleep, 0.1)
        sleep(0.1)
        wait(a)
        wait(b)
    end)
    local dt = t.clock() - t0
    t.ok(dt >= 0.09 and dt < 0.25, "three 100 ms sleeps overlapped: " .. dt)
    -- sleep(0) and coroutine.yield() let the other threads run
    local order = {}
    run(function()
        local a = spawn(function()
            for i = 1, 3 do
                order[#order + 1] = "a" .. i
                sleep(0)
            end
        end)
        local b = spawn(function()
            for i = 1, 3 do
                order[#order + 1] = "b" .. i
                cosocket.coroutine.yield()
            end
        end)
        wait(a)
        wait(b)
    end)
    t.eq(table.concat(order, " "), "a1 b1 a2 b2 a3 b3", "interleaved")
end)

t.test("now and update_time", function()
    local n = cosocket.now()
    t.eq(type(n), "number", "number")
    t.ok(math.abs(n - os.time()) < 2, "epoch seconds")
    t.eq(n * 1000 % 1 < 1e-3 or n * 1000 % 1 > 1 - 1e-3, true, "ms resolution")
    go(function()
        local a = cosocket.now()
        sleep(0.05)
        local b = cosocket.now()
        t.ok(b - a >= 0.04, "advanced by the sleep")
        t.eq(select("#", cosocket.update_time()), 0, "update_time")
    end)
end)

t.test("run: returns, nests, can be called again; spawn and wait outside it", function()
    t.rets("no threads", {}, run())
    t.rets("results", { true, 1, 2 }, run(function() return 1, 2 end))
    t.rets("args", { true, "ab" }, run(function(a, b) return a .. b end, "a", "b"))
    go(function()
        t.raises("cosocket.run: called from inside a scheduler thread", run)
    end)
    -- spawned outside: runs until it waits, finishes in the next run()
    local log = {}
    local th = spawn(function()
        log[#log + 1] = "started"
        sleep(0.02)
        log[#log + 1] = "finished"
        return "late"
    end)
    t.eq(table.concat(log, ","), "started", "started at once")
    t.eq(coroutine.status(th), "suspended", "waiting")
    run()
    t.eq(table.concat(log, ","), "started,finished", "finished by run()")
    t.rets("wait outside", { true, "late" }, wait(th))
    -- wait outside the scheduler drives it
    local th2 = spawn(function() sleep(0.02) return "driven" end)
    t.rets("wait drives", { true, "driven" }, wait(th2))
    t.eq(cosocket.running(), nil, "no current thread outside")
    go(function()
        t.eq(type(cosocket.running()), "thread", "current thread inside")
    end)
end)

t.test("blocking calls outside and async calls inside use one socket", function()
    local p = t.peer("lineecho")
    local s = cosocket.tcp()
    s:settimeout(2000)
    assert(s:connect(H, p.port))
    assert(s:send("a\n"))
    t.eq(s:receive(), "a", "blocking")
    go(function()
        assert(s:send("b\n"))
        t.eq(s:receive(), "b", "async")
    end)
    assert(s:send("c\n"))
    t.eq(s:receive(), "c", "blocking again")
    s:close()
end)

t.test("a thread alone waits in place, but only when nothing else could run", function()
    -- the order of events must be the one of a yield to the scheduler
    local p = t.peer(nil, "--mode lineecho --quiet")
    local order = {}
    -- a peer that answers tag1..tagn each 20 ms late, so that the first
    -- receive surely waits (on loopback an echo can be there before the
    -- receive asks, and then the thread has not waited yet)
    local function late_peer(tag, n)
        local steps = {}
        for i = 1, n do
            steps[#steps + 1] = ("expect %s%d\\n;sleep 20;send %s%d\\n"):format(tag, i, tag, i)
        end
        return t.peer(table.concat(steps, ";") .. ";noread")
    end
    local function talk(tag, n, peer)
        local c = cosocket.tcp()
        assert(c:connect(H, (peer or p).port))
        for i = 1, n do
            assert(c:send(tag .. i .. "\n"))
            local l = assert(c:receive())
            order[#order + 1] = l
        end
        c:close()
    end
    -- a child's wait gives control back to its parent (spawn returns)
    local cp = late_peer("c", 2)
    go(function()
        local th = spawn(talk, "c", 2, cp)
        order[#order + 1] = "parent"
        talk("p", 1)
        assert(wait(th))
    end)
    t.eq(order[1], "parent", "spawn returned at the child's first wait: "
         .. table.concat(order, ","))
    t.eq(#order, 4, "child and parent")
    -- spawned from the main program: spawn returns at the first wait (a
    -- peer that answers 20 ms late, so the first receive surely waits: on
    -- loopback the echo can otherwise be there before the receive asks)
    order = {}
    local mp = late_peer("m", 2)
    local th = spawn(talk, "m", 2, mp)
    order[#order + 1] = "main"
    assert(wait(th))
    t.eq(table.concat(order, ","), "main,m1,m2", "spawn from main")
    cp:stop()
    mp:stop()
    -- wait() from the main program returns as soon as the awaited thread
    -- finished, while another thread still has waits to do
    order = {}
    local quick = spawn(function() sleep(0) end)
    local sp = late_peer("s", 3)
    local slow = spawn(talk, "s", 3, sp)
    assert(wait(quick))
    order[#order + 1] = "main"
    assert(wait(slow))
    local got = table.concat(order, ",")
    t.ok(got:find("main") < got:find("s3"), "main woke before s3: " .. got)
    sp:stop()
    -- alone, a thread still sees the time advance after its waits
    go(function()
        local c = cosocket.tcp()
        assert(c:connect(H, p.port))
        local t0 = cosocket.now()
        local deadline = t0 + 0.05
        while cosocket.now() < deadline do
            assert(c:send("x\n"))
            assert(c:receive())
        end
        c:close()
    end)
    -- inside a plain coroutine the wait is refused, alone or not (nothing
    -- was sent, so the line echo peer has nothing to answer: it must wait)
    go(function()
        local c = cosocket.tcp()
        assert(c:connect(H, p.port))
        local ok, err = coroutine.resume(coroutine.create(function()
            return c:receive()
        end))
        t.eq(ok, false, "plain coroutine")
        t.ok(tostring(err):find("cannot wait inside a coroutine", 1, true),
             tostring(err))
    end)
    p:stop()
end)

t.done()
