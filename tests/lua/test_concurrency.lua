-- 1000 coroutines, each doing 20 round trips, concurrently on one OS thread
-- against a lineecho peer. Checks every reply, and that the coroutines'
-- connections were open at the same time (their waits overlapped instead of
-- running one after the other). The wall times of the concurrent run and of
-- the same coroutines run one after the other are printed, not asserted:
-- timings belong in bench/, not in tests.

local t = require "t"
local cosocket = require "cosocket"

local H = "127.0.0.1"
local N = tonumber(os.getenv("COSOCKET_CONC_N")) or 1000
local ROUNDS = 20
local peer = t.peer(nil, "--mode lineecho --quiet")

-- connections open right now, and the most seen at once
local open, most = 0, 0

local function worker(i)
    local s = cosocket.tcp()
    s:settimeout(10000)
    local ok, err = s:connect(H, peer.port)
    if not ok then
        error("connect " .. i .. ": " .. err)
    end
    open = open + 1
    if open > most then
        most = open
    end
    local good = 0
    for j = 1, ROUNDS do
        local msg = "coroutine " .. i .. " round " .. j
        local n, e = s:send(msg .. "\n")
        if not n then
            error("send " .. i .. "/" .. j .. ": " .. e)
        end
        local line, e2 = s:receive()
        if line ~= msg then
            error(("reply %d/%d: got %s (%s)"):format(i, j, tostring(line),
                                                     tostring(e2)))
        end
        good = good + 1
    end
    s:close()
    open = open - 1
    return good
end

-- each coroutine alone, one after the other: the sum of their times
local function sequential()
    local sum = 0
    for i = 1, N do
        local t0 = t.clock()
        local ok, good = cosocket.run(worker, i)
        sum = sum + (t.clock() - t0)
        t.eq(ok, true, good)
        t.eq(good, ROUNDS, "round trips of " .. i)
    end
    return sum
end

-- all at once: the wall time
local function concurrent()
    local t0 = t.clock()
    local ok, total = cosocket.run(function()
        local ths = {}
        for i = 1, N do
            ths[i] = cosocket.spawn(worker, i)
        end
        local sum = 0
        for i = 1, N do
            local okw, good = cosocket.wait(ths[i])
            if not okw then
                error(good, 0)
            end
            sum = sum + good
        end
        return sum
    end)
    local wall = t.clock() - t0
    t.eq(ok, true, total)
    t.eq(total, N * ROUNDS, "all replies correct")
    return wall
end

t.test(N .. " coroutines x " .. ROUNDS .. " round trips overlap", function()
    local seq = sequential()
    t.eq(most, 1, "one after the other: one connection at a time")
    most = 0
    local conc = concurrent()
    -- Every coroutine connects before its first wait returns, and each needs
    -- 20 more waits to finish: the connections overlap. Half is a bound no
    -- event order can miss; a scheduler that ran them in turn would see 1.
    t.ok(most >= N / 2, ("%d of %d connections open at once"):format(most, N))
    t.eq(open, 0, "all closed")
    print(("# %d coroutines x %d round trips: concurrent %.3f s, sequential "
           .. "sum %.3f s, %.0f round trips/s concurrently, %d connections at once")
          :format(N, ROUNDS, conc, seq, N * ROUNDS / conc, most))
end)

t.done()
