-- cosocket.coroutine: coroutine.* that let the scheduler's yields pass
-- through user coroutines, as ngx_lua's coroutine API does.
--
-- A library that reads from a socket inside its own coroutine.wrap (as
-- lua-resty-http does for bodies) works inside a scheduler thread when it
-- uses these functions: when the inner coroutine waits for I/O, the wait is
-- propagated up to the scheduler, and when the I/O completes the inner
-- coroutine is resumed again, invisibly to the code in between. Ordinary
-- yields behave as usual. Outside the scheduler they are plain coroutines.

local S = require "cosocket.sched"

local co_create = coroutine.create
local co_resume = coroutine.resume
local co_yield = coroutine.yield
local co_status = coroutine.status
local co_running = coroutine.running
local co_isyieldable = coroutine.isyieldable
local error = error
local type = type

local SENTINEL = S.SENTINEL
local aware = S.aware
local can_yield = S.can_yield
local yield_ready = S.yield_ready
local argerror = S.argerror

local M = {}

--- create(f): a new coroutine whose I/O waits reach the scheduler.
function M.create(f)
    if type(f) ~= "function" then
        argerror(1, 1, "Lua function expected")
    end
    local co = co_create(f)
    aware[co] = true
    return co
end

-- Passes scheduler yields of `co` up through the running coroutine, then
-- resumes `co` again; returns ordinary results.
local function handle(co, ok, ...)
    if ok and (...) == SENTINEL and co_status(co) == "suspended" then
        local th = S.current
        if th ~= nil then
            if not can_yield(th) then
                error(S.YIELD_ERR, 0)
            end
            co_yield(SENTINEL)
            return handle(co, co_resume(co))
        end
    end
    return ok, ...
end

--- resume(co, ...): like coroutine.resume.
function M.resume(co, ...)
    if type(co) ~= "thread" then
        argerror(1, 1, "coroutine expected")
    end
    aware[co] = true
    return handle(co, co_resume(co, ...))
end

local function wrap_ret(ok, ...)
    if ok then
        return ...
    end
    local e = ...
    if type(e) == "string" then
        -- like LuaJIT's coroutine.wrap: the caller's position is prepended
        -- (wrap_ret is tail-called, so level 2 is the wrapper's caller)
        error(e, 2)
    end
    error(e, 0)
end

--- wrap(f): like coroutine.wrap.
function M.wrap(f)
    local co = M.create(f)
    return function(...)
        local resume = M.resume
        return wrap_ret(resume(co, ...))
    end
end

--- yield(...): like coroutine.yield; in a scheduler thread's own body it
-- lets the other ready threads run first (and returns nothing).
function M.yield(...)
    local th = S.current
    if th ~= nil and co_running() == th.co then
        yield_ready(th)
        return
    end
    return co_yield(...)
end

M.status = co_status
M.running = co_running
M.isyieldable = co_isyieldable or function()
    local co = co_running()
    return co ~= nil
end

return M
