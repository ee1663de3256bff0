-- cosocket.sched: the coroutine scheduler (ngx.thread semantics on one OS
-- thread).
--
-- Threads are coroutines. A socket call made inside one starts the
-- asynchronous C operation with the thread's id as token; when the operation
-- must wait, the thread yields a private sentinel to the scheduler, which
-- waits on the module's cosocket_loop and resumes the thread whose token
-- came out. Outside the scheduler (S.current == nil) the same calls use the
-- blocking C functions.
--
-- The state shared with the socket methods and with cosocket.coroutine lives
-- in the table S (S.current is read on every socket call).

local ffi = require "ffi"
local cdef = require "cosocket.cdef"

local C = cdef.C
local libc = cdef.libc

local co_create = coroutine.create
local co_resume = coroutine.resume
local co_yield = coroutine.yield
local co_status = coroutine.status
local co_running = coroutine.running
local debug_getinfo = debug.getinfo
local debug_traceback = debug.traceback
local error = error
local select = select
local setmetatable = setmetatable
local tonumber = tonumber
local tostring = tostring
local type = type
local unpack = unpack or table.unpack
local pairs = pairs
local floor = math.floor
local ceil = math.ceil
local fmt = string.format
local ffi_gc = ffi.gc
local ffi_new = ffi.new
local ffi_str = ffi.string

local OK = 0
local AGAIN = 1

-- What a thread yields to the scheduler. Never seen by user code.
local SENTINEL = setmetatable({}, { __tostring = function()
    return "cosocket scheduler yield"
end })

-- thread status
local ALIVE, ZOMBIE, DEAD = 1, 2, 3
-- what an ALIVE thread waits for
local W_IO, W_THREAD, W_READY = 1, 2, 3

local S = {
    current = nil,   -- the thread being run (nil: not inside the scheduler)
    loop = nil,      -- cosocket_loop*, created on first spawn
    now = 0,         -- cached time (seconds, ms resolution)
    SENTINEL = SENTINEL,
    -- called with (thread_coroutine, message) instead of printing to stderr
    on_error = nil,
}

local by_id = {}                                   -- id -> live thread
local by_co = setmetatable({}, { __mode = "k" })   -- coroutine -> record
-- coroutines that yield to the scheduler through cosocket.coroutine
local aware = setmetatable({}, { __mode = "k" })
S.aware = aware

local next_id = 0
local nalive = 0   -- threads not finished
local nio = 0      -- threads waiting for a loop token
local ready = {}   -- FIFO of threads to resume
local rhead, rtail = 1, 0
local driving = false
-- The thread the drive loop itself resumed and that is running now (not a
-- thread spawned by it, which runs inside its spawn call).
local toplevel = nil
local main_waiting = false
local main_woken = nil

local TOKCAP = 1024
local tokens = ffi_new("uint64_t[?]", TOKCAP)
local nout = ffi_new("size_t[1]")
local tv = ffi_new("struct timeval")


---------------------------------------------------------------- helpers

local function trunc(x)
    if x >= 0 then
        return floor(x)
    end
    return ceil(x)
end
S.trunc = trunc

-- Raises "bad argument #n to 'name' (msg)" like luaL_argerror: `level` is
-- the API function's level as seen by the caller of argerror (1 = the
-- caller itself); a method call does not count self.
local function argerror(level, narg, msg)
    level = level + 1
    local ar = debug_getinfo(level, "n")
    local name = ar and ar.name or "?"
    if ar and ar.namewhat == "method" then
        narg = narg - 1
        if narg == 0 then
            error(fmt("calling '%s' on bad self (%s)", name, msg), level + 1)
        end
    end
    error(fmt("bad argument #%d to '%s' (%s)", narg, name, msg), level + 1)
end
S.argerror = argerror

local function typename(v)
    return type(v)
end

local function update_time()
    libc.gettimeofday(tv, nil)
    S.now = tonumber(tv.tv_sec) + floor(tonumber(tv.tv_usec) / 1000) / 1000
end
update_time()

local function ensure_loop()
    local lp = S.loop
    if lp == nil then
        lp = C.cosocket_loop_new()
        if lp == nil then
            error("cosocket: cannot create the event loop", 3)
        end
        lp = ffi_gc(lp, C.cosocket_loop_free)
        S.loop = lp
    end
    return lp
end

local function push_ready(th)
    th.waiting = W_READY
    rtail = rtail + 1
    ready[rtail] = th
end

local function report(th, co, err)
    local msg
    if type(err) == "string" then
        msg = err
    elseif err == nil then
        msg = "unknown reason"
    else
        msg = tostring(err)
    end
    msg = fmt("lua %s thread aborted: runtime error: %s",
              th.entry and "entry" or "user", debug_traceback(co, msg))
    local hook = S.on_error
    if hook then
        local ok = pcall(hook, co, msg)
        if ok then
            return
        end
    end
    io.stderr:write("cosocket: ", msg, "\n")
end

local function pack(...)
    return { n = select("#", ...), ... }
end

local function thread_finished(th, co, ok, ...)
    by_id[th.id] = nil
    nalive = nalive - 1
    local res
    if ok then
        res = pack(true, ...)
    else
        local err = ...
        report(th, co, err)
        res = { n = 2, false, err }
    end
    th.co = nil
    th.waiting = nil
    th.status = ZOMBIE
    th.results = res
    if th.waited then
        local p = th.parent
        if p == nil then
            if main_waiting and main_woken == nil then
                main_woken = th
            end
        elseif p.status == ALIVE and p.waiting == W_THREAD then
            th.status = DEAD
            th.results = nil
            p.rargs = res
            push_ready(p)
        end
    end
end

local function after_resume(th, prev, ok, v, ...)
    S.current = prev
    -- The common case first, in few bytecodes (this runs in the
    -- interpreter: a trace cannot continue after a coroutine.resume whose
    -- results are all kept): the thread yielded to wait for something.
    if v == SENTINEL and th.waiting ~= nil and ok then
        return
    end
    local co = th.co
    if co == nil then
        return   -- killed while running (cannot happen) or already finished
    end
    if co_status(co) == "dead" then
        return thread_finished(th, co, ok, v, ...)
    end
    if v ~= SENTINEL and th.waiting == nil then
        -- a plain coroutine.yield() in the thread's own body: run it again
        -- later, like ngx_lua does
        push_ready(th)
    end
end

local function resume_thread(th, ...)
    local prev = S.current
    S.current = th
    return after_resume(th, prev, co_resume(th.co, ...))
end

-- True when the running coroutine may yield to the scheduler: the thread's
-- own coroutine, or one created/resumed by cosocket.coroutine.
local function can_yield(th)
    local co = co_running()
    return co == th.co or aware[co] == true
end

local YIELD_ERR = "cosocket: cannot wait inside a coroutine that is not "
    .. "managed by cosocket.coroutine (use cosocket.coroutine.wrap/resume "
    .. "instead of coroutine.wrap/resume inside scheduler threads)"

-- The solo wait (see wait_io) when the first wait-up did not bring the
-- thread's token: wait until it comes. False when the loop fails.
local function solo_rest(id)
    local lp = S.loop
    while true do
        local rc = C.cosocket_loop_wait(lp, tokens, TOKCAP, -1, nout)
        if rc ~= OK then
            return false
        end
        update_time()
        for i = 0, tonumber(nout[0]) - 1 do
            if tonumber(tokens[i]) == id then
                return true
            end
        end
    end
end

-- Waits for the loop token of `th` (socket `h`, or a sleep when nil).
-- `abort` aborts `h` when the thread is killed (default: the TCP abort;
-- cosocket.udp passes cosocket_udp_abort).
local function wait_io(th, h, abort)
    if not can_yield(th) then
        if h ~= nil then
            (abort or C.cosocket_tcp_abort)(h)
        end
        error(YIELD_ERR, 4)   -- wait_io <- io function <- method <- caller
    end
    -- The solo wait: `th` was resumed by the drive loop, no other thread
    -- waits on the loop or is ready to run, and the main program is not
    -- about to get control back. If `th` yielded now, the drive loop would
    -- wait on the loop and resume `th` as soon as its token came out,
    -- running nothing in between (any other token belongs to no waiting
    -- thread and would be dropped), so wait here instead and save the two
    -- coroutine switches. (Inline, without a loop, so that it is part of
    -- the caller's trace.) When the loop fails, yield: the drive loop
    -- raises the error.
    if toplevel == th and nio == 0 and rhead > rtail and main_woken == nil then
        local rc = C.cosocket_loop_wait(S.loop, tokens, TOKCAP, -1, nout)
        if rc == OK then
            libc.gettimeofday(tv, nil)
            S.now = tonumber(tv.tv_sec)
                + floor(tonumber(tv.tv_usec) / 1000) / 1000
            if (tonumber(nout[0]) == 1 and tonumber(tokens[0]) == th.id)
                    or solo_rest(th.id) then
                return
            end
        end
    end
    th.waiting = W_IO
    th.wait_sock = h
    th.wait_abort = abort
    nio = nio + 1
    co_yield(SENTINEL)
    th.wait_sock = nil
    th.wait_abort = nil
end
S.wait_io = wait_io
S.wait_abort = true   -- wait_io takes an abort function

-- True when `th`, running, is alone: the condition of wait_io's solo wait
-- (nothing else can run until its next wait ends) and it may wait at all.
-- The socket methods then make the blocking call instead of the
-- asynchronous one and a solo wait: the same kernel wait, without the
-- loop's bookkeeping. S.now is refreshed after it (S.update_time).
local function alone(th)
    return toplevel == th and nio == 0 and rhead > rtail and main_woken == nil
        and can_yield(th)
end
S.alone = alone
S.update_time = update_time

-- Yields and runs again after the other ready threads (sleep(0), yield()).
local function yield_ready(th)
    if not can_yield(th) then
        error(YIELD_ERR, 3)
    end
    push_ready(th)
    co_yield(SENTINEL)
end
S.yield_ready = yield_ready
S.can_yield = can_yield

-- True when no thread waits for a loop token or sits in the ready queue:
-- then no thread can still use a socket handle when it resumes (tcp.lua
-- reuses the handles of closed sockets only then).
function S.quiet()
    return nio == 0 and rhead > rtail
end
S.YIELD_ERR = YIELD_ERR

local function run_ready()
    while rhead <= rtail do
        local th = ready[rhead]
        ready[rhead] = nil
        rhead = rhead + 1
        if th.status == ALIVE and th.waiting == W_READY then
            th.waiting = nil
            toplevel = th
            resume_thread(th)
            toplevel = nil
        end
    end
    rhead, rtail = 1, 0
end

-- The threads whose loop tokens the last poll() returned: wake[1..n] (nil
-- where the token's thread is gone).
local wake = {}

-- Waits on the loop and looks the tokens' threads up. A fixed-argument
-- function of its own so that it compiles (as a function trace): the drive
-- loop around it cannot, because the coroutine.resume it makes keeps all
-- of the thread's results, and in the interpreter every FFI call and every
-- cdata access here costs several hundred instructions.
local function poll(lp, timeout)
    local rc = C.cosocket_loop_wait(lp, tokens, TOKCAP, timeout, nout)
    if rc ~= OK then
        return -1, rc
    end
    libc.gettimeofday(tv, nil)
    S.now = tonumber(tv.tv_sec) + floor(tonumber(tv.tv_usec) / 1000) / 1000
    local n = tonumber(nout[0])
    if n == 1 then
        wake[1] = by_id[tonumber(tokens[0])]
    end
    return n
end

-- wake[1..n] for a batch of n > 1 tokens (a loop of its own: a loop inside
-- poll would stop poll from compiling)
local function collect(n)
    for i = 0, n - 1 do
        wake[i + 1] = by_id[tonumber(tokens[i])]
    end
end

local function resume_woken(n)
    for i = 1, n do
        local th = wake[i]
        if th ~= nil then
            wake[i] = nil
            if th.waiting == W_IO then
                th.waiting = nil
                nio = nio - 1
                local prev = S.current
                S.current = th
                toplevel = th
                after_resume(th, prev, co_resume(th.co))
                toplevel = nil
            end
        end
    end
end

-- Runs threads until `stop()` (or, without it, until none is left). Returns
-- false when live threads remain that nothing can ever resume.
local function drive(stop)
    local lp = S.loop
    toplevel = nil
    while true do
        if rhead <= rtail then
            run_ready()
        end
        if stop then
            if stop() then
                return true
            end
        elseif nalive == 0 then
            return true
        end
        if nio == 0 and rhead > rtail then
            return false
        end
        local n, rc = poll(lp, rhead <= rtail and 0 or -1)
        if n < 0 then
            error("cosocket: waiting on the event loop failed: "
                  .. ffi_str(C.cosocket_status_str(rc)))
        end
        if n == 1 then
            -- resume_woken's body, inlined on purpose: this common case stays
            -- straight-line code in poll's own trace (a shared helper measured
            -- no better: 3,416 against 3,185-3,327 instructions per round
            -- trip in bench/instructions.sh's concurrent_64 row).
            local th = wake[1]
            if th ~= nil then
                wake[1] = nil
                if th.waiting == W_IO then
                    th.waiting = nil
                    nio = nio - 1
                    local prev = S.current
                    S.current = th
                    toplevel = th
                    after_resume(th, prev, co_resume(th.co))
                    toplevel = nil
                end
            end
        elseif n > 1 then
            collect(n)
            resume_woken(n)
        end
    end
end

local function stop_main()
    return main_woken ~= nil
end


---------------------------------------------------------------- API

local M = {}

--- spawn(fn, ...) -> thread: starts fn(...) as a light thread; it runs at
-- once until it first waits, then spawn returns (ngx.thread.spawn).
function M.spawn(fn, ...)
    if type(fn) ~= "function" then
        argerror(1, 1, "Lua function expected")
    end
    ensure_loop()
    next_id = next_id + 1
    local co = co_create(fn)
    local th = { id = next_id, co = co, parent = S.current, status = ALIVE }
    by_id[next_id] = th
    by_co[co] = th
    nalive = nalive + 1
    resume_thread(th, ...)
    return co
end

local function clear_waited(...)
    for i = 1, select("#", ...) do
        local th = by_co[(select(i, ...))]
        if th then
            th.waited = nil
        end
    end
end

--- wait(t1, t2, ...) -> true, results... | false, err: waits for the first
-- of the threads to finish (ngx.thread.wait). Only the parent may wait.
function M.wait(...)
    local n = select("#", ...)
    if n == 0 then
        error("at least one coroutine should be specified", 2)
    end
    local me = S.current
    for i = 1, n do
        local co = select(i, ...)
        if type(co) ~= "thread" then
            argerror(1, i, "lua thread expected")
        end
        local th = by_co[co]
        if th == nil then
            error("attempt to wait on a coroutine that is not a user thread", 2)
        end
        if th.parent ~= me then
            error("only the parent coroutine can wait on the thread", 2)
        end
        local st = th.status
        if st == ZOMBIE then
            th.status = DEAD
            local r = th.results
            th.results = nil
            return unpack(r, 1, r.n)
        elseif st == DEAD then
            if i == n then
                return nil, "already waited or killed"
            end
        end
    end
    for i = 1, n do
        local th = by_co[(select(i, ...))]
        if th.status == ALIVE then
            th.waited = true
        end
    end

    local r
    if me == nil then
        if driving then
            error("cosocket.wait: called while the scheduler is running", 2)
        end
        driving = true
        main_waiting = true
        main_woken = nil
        local ok, done = pcall(drive, stop_main)
        driving = false
        main_waiting = false
        local w = main_woken
        main_woken = nil
        clear_waited(...)
        if not ok then
            error(done, 0)
        end
        if w == nil then
            error("cosocket.wait: the threads can never finish", 2)
        end
        w.status = DEAD
        r = w.results
        w.results = nil
    else
        if not can_yield(me) then
            clear_waited(...)
            error(YIELD_ERR, 2)
        end
        me.waiting = W_THREAD
        co_yield(SENTINEL)
        clear_waited(...)
        r = me.rargs
        me.rargs = nil
    end
    return unpack(r, 1, r.n)
end

--- kill(thread) -> 1 | nil, err (ngx.thread.kill). A thread waiting in a
-- socket operation has that socket aborted (closed).
function M.kill(co)
    if type(co) ~= "thread" then
        argerror(1, 1, "lua thread expected")
    end
    local th = by_co[co]
    if th == nil then
        return nil, "not user thread"
    end
    if th.parent ~= S.current then
        return nil, "killer not parent"
    end
    if th.status == ZOMBIE then
        th.status = DEAD
        th.results = nil
        return nil, "already terminated"
    elseif th.status == DEAD then
        return nil, "already waited or killed"
    end
    local h, abort = th.wait_sock, th.wait_abort
    if th.waiting == W_IO then
        nio = nio - 1
    end
    th.waiting = nil
    th.wait_sock = nil
    th.wait_abort = nil
    th.status = DEAD
    th.co = nil
    th.rargs = nil
    by_id[th.id] = nil
    nalive = nalive - 1
    if h ~= nil then
        (abort or C.cosocket_tcp_abort)(h)
        -- the other half's waiter (full duplex) lost its operation too:
        -- wake it; it gets "closed"
        for _, o in pairs(by_id) do
            if o.waiting == W_IO and o.wait_sock == h then
                nio = nio - 1
                o.wait_sock = nil
                push_ready(o)
            end
        end
    end
    return 1
end

local function poll_sleep(ms)
    local deadline = S.mono() + ms / 1000
    while true do
        local left = deadline - S.mono()
        if left <= 0 then
            return
        end
        local chunk = ceil(left * 1000)
        if chunk > 2147483647 then
            chunk = 2147483647
        end
        libc.poll(nil, 0, chunk)
    end
end

local mono_ts = ffi_new("struct timespec")
function S.mono()
    libc.clock_gettime(1, mono_ts)   -- CLOCK_MONOTONIC
    return tonumber(mono_ts.tv_sec) + tonumber(mono_ts.tv_nsec) * 1e-9
end

--- sleep(seconds): yields inside the scheduler, blocks outside it.
function M.sleep(...)
    local n = select("#", ...)
    if n ~= 1 then
        error(fmt("attempt to pass %d arguments, but accepted 1", n), 2)
    end
    local s = ...
    local num = tonumber(s)
    if num == nil then
        argerror(1, 1, "number expected, got " .. typename(s))
    end
    local delay = trunc(num * 1000)
    if not (delay >= 0) then
        error(fmt('invalid sleep duration "%d"', delay == delay and delay or 0),
              2)
    end
    local th = S.current
    if th == nil then
        if delay > 0 then
            poll_sleep(delay)
        end
        update_time()
        return
    end
    if delay == 0 then
        yield_ready(th)
        return
    end
    if not can_yield(th) then
        error(YIELD_ERR, 2)
    end
    C.cosocket_loop_sleep(S.loop, th.id, delay)
    th.waiting = W_IO
    th.wait_sock = nil
    nio = nio + 1
    co_yield(SENTINEL)
end

--- now(): seconds since the epoch with millisecond precision. Inside the
-- scheduler it is the time cached at the last wake-up (ngx.now); outside
-- it reads the clock.
function M.now()
    if S.current == nil and not driving then
        update_time()
    end
    return S.now
end

--- update_time(): refreshes the cached time.
function M.update_time()
    update_time()
end

--- run([fn, ...]): spawns fn(...) if given and runs the scheduler until no
-- thread is left; returns what wait() would return for fn's thread. May be
-- called again later.
function M.run(fn, ...)
    if S.current ~= nil then
        error("cosocket.run: called from inside a scheduler thread", 2)
    end
    if driving then
        error("cosocket.run: the scheduler is already running", 2)
    end
    if fn ~= nil and type(fn) ~= "function" then
        argerror(1, 1, "function expected, got " .. type(fn))
    end
    local co
    if fn ~= nil then
        ensure_loop()
        next_id = next_id + 1
        co = co_create(fn)
        local th = { id = next_id, co = co, status = ALIVE, entry = true }
        by_id[next_id] = th
        by_co[co] = th
        nalive = nalive + 1
        -- The main program only drives the scheduler after this first run:
        -- the entry thread counts as resumed by the drive loop (it may
        -- wait in place, or call the blocking functions, when alone).
        toplevel = th
        resume_thread(th, ...)
        toplevel = nil
    end
    if S.loop ~= nil then
        driving = true
        local ok, done = pcall(drive, nil)
        driving = false
        if not ok then
            error(done, 0)
        end
        if not done then
            error(fmt("cosocket.run: %d thread(s) can never be resumed", nalive),
                  2)
        end
    end
    if co ~= nil then
        local th = by_co[co]
        if th.status == ZOMBIE then
            th.status = DEAD
            local r = th.results
            th.results = nil
            return unpack(r, 1, r.n)
        end
    end
end

--- running(): the current light thread (coroutine) or nil outside it.
function M.current()
    local th = S.current
    return th and th.co
end

--- threads(): number of threads not finished yet.
function M.threads()
    return nalive
end

S.api = M
S.ensure_loop = ensure_loop
S.ALIVE, S.ZOMBIE, S.DEAD = ALIVE, ZOMBIE, DEAD
S.W_IO, S.W_THREAD, S.W_READY = W_IO, W_THREAD, W_READY

return S
