-- Many coroutines, one OS thread: each light thread connects, does a few
-- request/reply round trips with plain sequential code, and returns its
-- connection to the pool; the scheduler overlaps all their waits.
--
--   luajit examples/concurrent.lua [HOST] [PORT] [THREADS] [ROUNDS]
--
-- Needs a server that echoes lines, e.g.
--   target/debug/cosocket-peer --mode lineecho --quiet
-- (it prints "port N"; pass that port).

local dir = (arg and arg[0] or ""):match("^(.*)[/\\][^/\\]*$") or "."
package.path = dir .. "/../bindings/lua/?.lua;" .. package.path

local cosocket = require "cosocket"

local host = arg[1] or "127.0.0.1"
local port = tonumber(arg[2]) or 1234
local threads = tonumber(arg[3]) or 200
local rounds = tonumber(arg[4]) or 10

local function client(id)
    local sock = cosocket.tcp()
    sock:settimeout(5000)
    local ok, err = sock:connect(host, port)
    if not ok then
        return nil, "connect: " .. err
    end
    for i = 1, rounds do
        local msg = ("thread %d says hello #%d"):format(id, i)
        local _, err = sock:send(msg .. "\n")
        if err then
            return nil, "send: " .. err
        end
        local reply, err = sock:receive()
        if not reply then
            return nil, "receive: " .. err
        end
        if reply ~= msg then
            return nil, "unexpected reply: " .. reply
        end
    end
    sock:setkeepalive()
    return rounds
end

local started = cosocket.now()
cosocket.update_time()
local ok, done, failed = cosocket.run(function()
    local ths = {}
    for i = 1, threads do
        ths[i] = cosocket.spawn(client, i)
    end
    local done, failed = 0, 0
    for i = 1, threads do
        local ok, n, err = cosocket.wait(ths[i])
        if ok and n then
            done = done + n
        else
            failed = failed + 1
            print(("thread %d failed: %s"):format(i, tostring(err or n)))
        end
    end
    return done, failed
end)
cosocket.update_time()
local elapsed = cosocket.now() - started

if not ok then
    print("scheduler error: " .. tostring(done))
    os.exit(1)
end
print(("%d threads x %d round trips on one OS thread: %d done, %d threads "
       .. "failed, %.3f s"):format(threads, rounds, done, failed, elapsed))
os.exit(failed == 0 and 0 or 1)
