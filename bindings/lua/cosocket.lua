-- cosocket: OpenResty's cosocket TCP API (ngx.socket.tcp) for plain LuaJIT.
--
--   local cosocket = require "cosocket"
--   local sock = cosocket.tcp()
--   sock:settimeout(1000)
--   local ok, err = sock:connect("127.0.0.1", 6379)
--   ...
--   cosocket.run(function()             -- many threads on one OS thread
--       local t = cosocket.spawn(worker, 1)
--       local ok, res = cosocket.wait(t)
--   end)
--
-- Socket methods behave like ngx.socket.tcp's (arguments, return values,
-- errors). Inside a scheduler thread (spawn/run) a waiting call yields to
-- the scheduler; outside, it blocks the OS thread with its timeout.

local cdef = require "cosocket.cdef"
local S = require "cosocket.sched"
local tcp = require "cosocket.tcp"
local udp = require "cosocket.udp"
local cocoro = require "cosocket.coroutine"

local ffi = require "ffi"

local api = S.api

local _M = {
    _VERSION = ffi.string(cdef.C.cosocket_version()),
    _LIB = cdef.path,   -- where libcosocket was loaded from
    C = cdef.C,         -- the library namespace (ffi.load)

    tcp = tcp.tcp,
    udp = udp.udp,

    spawn = api.spawn,
    wait = api.wait,
    kill = api.kill,
    sleep = api.sleep,
    now = api.now,
    update_time = api.update_time,
    run = api.run,
    running = api.current,

    coroutine = cocoro,
}

-- ngx.socket.stream is the same function as ngx.socket.tcp.
_M.stream = _M.tcp

--- sock, err = cosocket.connect(host, port?, opts?): ngx.socket.connect.
function _M.connect(...)
    local sock = _M.tcp()
    local ok, err = sock:connect(...)
    if ok then
        return sock
    end
    return nil, err
end

--- ngx = cosocket.ngx(opts?): an ngx-compatible table over this binding
-- (see cosocket/ngx.lua); opts.global = true also sets _G.ngx.
function _M.ngx(opts)
    return require("cosocket.ngx").new(_M, opts)
end

--- cosocket.on_thread_error(fn): fn(thread, message) replaces the report
-- of a thread that died with an error (default: a line on stderr).
function _M.on_thread_error(fn)
    S.on_error = fn
end

return _M
