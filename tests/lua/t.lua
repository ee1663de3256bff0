-- t: a tiny test helper for the LuaJIT suites.
--
--   local t = require "t"
--   t.test("name", function() t.eq(1, 1) end)
--   local peer = t.peer("send hello\\n;close")   -- cosocket-peer SCRIPT
--   ... peer.port, peer:wait("^eof 1"), peer:lines() ...
--   t.done()                                      -- summary, exit status
--
-- The peer binary comes from $COSOCKET_PEER, default
-- ../../target/debug/cosocket-peer relative to this directory. Each peer is
-- started with io.popen as `sh -c 'echo $$; exec peer ... > LOG'`, so the
-- shell's PID is the peer's; its events go to a log file read by the
-- helpers; t.done() (or peer:stop()) kills it by PID.

local ffi = require "ffi"

local fmt = string.format

local T = { passed = 0, failed = 0, failures = {} }

local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
T.dir = here

if not pcall(ffi.typeof, "struct timespec") then
    ffi.cdef "struct timespec { long tv_sec; long tv_nsec; };"
end
if not pcall(function() return ffi.C.clock_gettime end) then
    ffi.cdef "int clock_gettime(int clk_id, struct timespec *tp);"
end
if not pcall(function() return ffi.C.poll end) then
    ffi.cdef "int poll(void *fds, unsigned long nfds, int timeout);"
end

local ts = ffi.new("struct timespec")

--- Monotonic clock, seconds.
function T.clock()
    ffi.C.clock_gettime(1, ts)
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

--- Blocks the OS thread for `ms` milliseconds (no scheduler involved).
function T.msleep(ms)
    ffi.C.poll(nil, 0, ms)
end

local function show(v)
    if type(v) == "string" then
        return fmt("%q", v)
    end
    return tostring(v)
end
T.show = show

local function fail(msg, level)
    error(msg, (level or 1) + 1)
end

function T.eq(got, want, what)
    if got ~= want then
        fail(fmt("%s: got %s, want %s", what or "value", show(got), show(want)),
             2)
    end
end

function T.ok(v, what)
    if not v then
        fail((what or "assertion") .. " failed", 2)
    end
    return v
end

--- Compares a list of results: T.same({f()}, {1, nil, "x"}, n)
function T.rets(what, want, ...)
    local n = select("#", ...)
    local wn = want.n or #want
    local got = { ... }
    local parts = {}
    for i = 1, n do
        parts[i] = show(got[i])
    end
    local gs = "(" .. table.concat(parts, ", ") .. ")"
    parts = {}
    for i = 1, wn do
        parts[i] = show(want[i])
    end
    local ws = "(" .. table.concat(parts, ", ") .. ")"
    if n ~= wn then
        fail(fmt("%s: got %d values %s, want %d values %s", what, n, gs, wn, ws),
             2)
    end
    for i = 1, n do
        if got[i] ~= want[i] then
            fail(fmt("%s: got %s, want %s", what, gs, ws), 2)
        end
    end
end

--- Asserts fn(...) raises an error whose message ends with `msg` (a plain
-- string), or matches it when `msg` starts with "^" or "%".
function T.raises(msg, fn, ...)
    local ok, err = pcall(fn, ...)
    if ok then
        fail(fmt("expected an error %s, got none", show(msg)), 2)
    end
    err = tostring(err)
    local good
    if msg:sub(1, 1) == "^" or msg:sub(1, 1) == "%" then
        good = err:find(msg) ~= nil
    else
        good = err:sub(-#msg) == msg
    end
    if not good then
        fail(fmt("expected error %s, got %s", show(msg), show(err)), 2)
    end
    return err
end

local current_test

function T.test(name, fn)
    current_test = name
    local t0 = T.clock()
    local ok, err = xpcall(fn, debug.traceback)
    local dt = T.clock() - t0
    if ok then
        T.passed = T.passed + 1
        print(fmt("ok - %s (%.0f ms)", name, dt * 1000))
    else
        T.failed = T.failed + 1
        T.failures[#T.failures + 1] = name
        print(fmt("not ok - %s\n    %s", name,
                  tostring(err):gsub("\n", "\n    ")))
    end
    io.stdout:flush()
end

--- Runs fn twice: as plain blocking code, and inside a scheduler thread
-- (cosocket.run), where every socket call takes the asynchronous path.
-- fn receives "blocking" or "scheduler".
function T.both(name, fn)
    T.test(name, function()
        fn("blocking")
    end)
    T.test(name .. " [scheduler]", function()
        local cosocket = require "cosocket"
        cosocket.on_thread_error(function() end)
        local ok, err = cosocket.run(function()
            local ok, e = xpcall(fn, debug.traceback, "scheduler")
            if not ok then
                error(e, 0)
            end
        end)
        cosocket.on_thread_error(nil)
        if not ok then
            error(err, 0)
        end
    end)
end

---------------------------------------------------------------- the peer

local peers = {}

local function shq(s)
    return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
T.shq = shq

function T.peer_bin()
    local p = os.getenv("COSOCKET_PEER")
    if p and p ~= "" then
        return p
    end
    return here .. "/../../target/debug/cosocket-peer"
end

local Peer = {}
Peer.__index = Peer

local function readall(path)
    local f = io.open(path, "rb")
    if not f then
        return ""
    end
    local s = f:read("*a")
    f:close()
    return s
end

--- Starts a peer. `script` is the SCRIPT argument (nil for none); `opts` a
-- string of extra options (e.g. "--mode lineecho --quiet").
function T.peer(script, opts)
    local log = os.tmpname()
    local cmd = fmt("echo $$; exec %s --parent-exit --no-stdin-exit %s %s > %s 2>&1",
                    shq(T.peer_bin()), opts or "",
                    script and shq(script) or "", shq(log))
    local h = assert(io.popen(cmd, "r"))
    local pid = tonumber(h:read("*l"))
    assert(pid, "peer did not start: " .. cmd)
    local self = setmetatable({ pid = pid, log = log, h = h }, Peer)
    peers[#peers + 1] = self
    local deadline = T.clock() + 10
    while true do
        local out = readall(log)
        local port = out:match("^port (%d+)\n")
        local path = out:match("^unix ([^\n]+)\n")
        if port then
            self.port = tonumber(port)
            break
        elseif path then
            self.path = path
            break
        end
        if T.clock() > deadline then
            error("peer did not report its port: " .. out)
        end
        T.msleep(5)
    end
    return self
end

--- The peer's event lines so far.
function Peer:lines()
    local out = {}
    for line in readall(self.log):gmatch("[^\n]+") do
        out[#out + 1] = line
    end
    return out
end

--- Waits (blocking) until an event line matches `pattern`; returns it.
function Peer:wait(pattern, timeout)
    local deadline = T.clock() + (timeout or 5)
    while true do
        for _, line in ipairs(self:lines()) do
            if line:find(pattern) then
                return line
            end
        end
        if T.clock() > deadline then
            error(fmt("peer event %s not seen; log:\n%s", show(pattern),
                      table.concat(self:lines(), "\n")), 2)
        end
        T.msleep(5)
    end
end

--- Concatenated bytes the peer received on connection `c` (unescaped).
function Peer:received(c)
    local parts = {}
    local prefix = "recv " .. c .. " "
    for _, line in ipairs(self:lines()) do
        if line:sub(1, #prefix) == prefix then
            parts[#parts + 1] = line:sub(#prefix + 1)
        end
    end
    local s = table.concat(parts)
    s = s:gsub("\\(x%x%x)", function(x)
        return string.char(tonumber(x:sub(2), 16))
    end)
    return (s:gsub("\\(.)", { r = "\r", n = "\n", t = "\t", ["\\"] = "\\",
                              ["0"] = "\0" }))
end

function Peer:stop()
    if self.stopped then
        return
    end
    self.stopped = true
    os.execute("kill " .. self.pid .. " 2>/dev/null")
    self.h:close()
    os.remove(self.log)
end

function T.stop_peers()
    for _, p in ipairs(peers) do
        p:stop()
    end
    peers = {}
end

--- Prints the summary line of this file and exits (non-zero on failure).
function T.done()
    T.stop_peers()
    print(fmt("# %s: %d passed, %d failed", arg and arg[0] or "?",
              T.passed, T.failed))
    io.stdout:flush()
    os.exit(T.failed == 0 and 0 or 1)
end

return T
