-- cosocket.tcp: the TCP cosocket object (ngx.socket.tcp).
--
-- A socket is a plain table with a shared metatable, as in OpenResty: [1]
-- holds the native handle (created by the first connect or setclientcert),
-- [2], [4], [5] the connect, send and read timeouts set before it, [6], [7]
-- the client certificate and key, [8] the bind address, [9] the
-- ip-transparent flag, [10] the trusted store, [11] true once sslhandshake
-- was called. User code may store its own fields on it.
--
-- Every method checks its arguments in OpenResty's order, raising where
-- OpenResty raises and returning nil, err where it returns. Inside a
-- scheduler thread each I/O call uses the asynchronous C function and
-- yields while it waits; outside, the blocking one.
--
-- Hot paths use module-level out cells (one cosocket_result here, the
-- iovec array of a send table in cosocket.sendbuf), create no closures or
-- tables, and copy received bytes exactly once (ffi.string).

local ffi = require "ffi"
local cdef = require "cosocket.cdef"
local S = require "cosocket.sched"
local sendbuf = require "cosocket.sendbuf"

local C = cdef.C

local ffi_new = ffi.new
local ffi_str = ffi.string
local ffi_gc = ffi.gc
local error = error
local select = select
local type = type
local tonumber = tonumber
local tostring = tostring
local setmetatable = setmetatable
local fmt = string.format
local byte = string.byte
local sub = string.sub
local lower = string.lower
local find = string.find

local argerror = S.argerror
local wait_io = S.wait_io
local alone = S.alone
local update_time = S.update_time

-- table.new(narr, nhash) (LuaJIT 2.1): a socket object is created with room
-- for [1]..[5], so storing the handle and the timeouts never rehashes it
local ok_tnew, tnew = pcall(require, "table.new")
if not ok_tnew then
    tnew = function() return {} end
end

local OK, AGAIN, DONE, ERROR = 0, 1, 2, 3
local INVALID_ARGUMENT = 12
local NO_RESULT = 14
local LINE, ALL, SIZE, ANY = 0, 1, 2, 3
local OP_CONNECT, OP_SEND, OP_RECEIVE, OP_HANDSHAKE = 0, 1, 2, 3

-- Resolve the C functions of the I/O paths now: a trace that meets one not
-- yet in the library's symbol cache aborts ("symbol not in cache"), and a
-- program may first use the asynchronous ones late (a thread alone on the
-- scheduler makes the blocking calls until it has company).
for _, name in ipairs {
    "cosocket_tcp_connect", "cosocket_tcp_connect_async",
    "cosocket_tcp_send", "cosocket_tcp_send_async",
    "cosocket_tcp_sendv", "cosocket_tcp_sendv_async",
    "cosocket_tcp_receive", "cosocket_tcp_receive_async",
    "cosocket_tcp_receiveuntil", "cosocket_tcp_receiveuntil_async",
    "cosocket_tcp_result", "cosocket_tcp_setkeepalive", "cosocket_tcp_close",
} do
    local _ = C[name]
end

-- the reusable out cells
local res = ffi_new("cosocket_result[1]")
local copts = ffi_new("cosocket_connect_options[1]")

local trunc = sendbuf.trunc
local flatten = sendbuf.flatten
local clear_anchors = sendbuf.clear
local num2str = sendbuf.num2str   -- as nginx's ngx_http_lua_write_num

-- lua_isnumber: numbers and numeric strings
local function isnumber(v)
    local t = type(v)
    return t == "number" or (t == "string" and tonumber(v) ~= nil)
end

-- (int) lua_tointeger(v): truncation, then wrap to 32 bits
local function toint32(v)
    local n = trunc(tonumber(v))
    if n ~= n then
        return -2147483648
    end
    if n < -2147483648 or n > 2147483647 then
        n = n % 4294967296
        if n >= 2147483648 then
            n = n - 4294967296
        end
    end
    return n
end

local function errstr()
    local r = res[0]
    if r.err == nil then
        return "error"
    end
    local e = ffi_str(r.err, r.err_len)
    return e
end

-- A status that is neither OK nor an operation error: raise. Called (not
-- tail-called) by the API function, which is level 2 from here.
local function raise_status(rc, narg)
    if rc == INVALID_ARGUMENT then
        if narg then
            argerror(2, narg, errstr())
        end
        error(errstr(), 3)
    end
    local msg = "cosocket: " .. ffi_str(C.cosocket_status_str(rc))
    if res[0].err ~= nil then
        msg = msg .. ": " .. errstr()
    end
    error(msg, 3)
end


---------------------------------------------------------------- I/O cores
-- Each returns the status; results are in res[0].

-- The thread `th` waits for its pending operation `op` on `h`, then the
-- operation's status (ERROR, "closed" when it was aborted meanwhile).
local function await(th, h, op)
    wait_io(th, h)
    local rc = C.cosocket_tcp_result(h, op, res)
    if rc == NO_RESULT then
        return ERROR, "closed"
    end
    return rc
end

-- Outside the scheduler, and for a thread alone on it (S.alone), the
-- blocking call; a thread then refreshes the cached time after it.
local function io_connect(h, host, port, opts)
    local th = S.current
    if th == nil or alone(th) then
        local r0 = C.cosocket_tcp_connect(h, host, #host, port, opts, res)
        if th ~= nil then
            update_time()
        end
        return r0
    end
    local rc = C.cosocket_tcp_connect_async(h, S.loop, th.id, host, #host,
                                           port, opts, res)
    if rc == AGAIN then
        return await(th, h, OP_CONNECT)
    end
    return rc
end

local function io_send(h, data, len)
    local th = S.current
    if th == nil or alone(th) then
        local r0 = C.cosocket_tcp_send(h, data, len, res)
        if th ~= nil then
            update_time()
        end
        return r0
    end
    local rc = C.cosocket_tcp_send_async(h, S.loop, th.id, data, len, res)
    if rc == AGAIN then
        return await(th, h, OP_SEND)
    end
    return rc
end

local function io_sendv(h, iov, n)
    local th = S.current
    if th == nil or alone(th) then
        local r0 = C.cosocket_tcp_sendv(h, iov, n, res)
        if th ~= nil then
            update_time()
        end
        return r0
    end
    local rc = C.cosocket_tcp_sendv_async(h, S.loop, th.id, iov, n, res)
    if rc == AGAIN then
        return await(th, h, OP_SEND)
    end
    return rc
end

local function io_receive(h, kind, n)
    local th = S.current
    if th == nil or alone(th) then
        local r0 = C.cosocket_tcp_receive(h, kind, n, res)
        if th ~= nil then
            update_time()
        end
        return r0
    end
    local rc = C.cosocket_tcp_receive_async(h, S.loop, th.id, kind, n, res)
    if rc == AGAIN then
        return await(th, h, OP_RECEIVE)
    end
    return rc
end

local function io_until(h, it, size)
    local th = S.current
    if th == nil or alone(th) then
        local r0 = C.cosocket_tcp_receiveuntil(h, it, size, res)
        if th ~= nil then
            update_time()
        end
        return r0
    end
    local rc = C.cosocket_tcp_receiveuntil_async(h, S.loop, th.id, it, size,
                                                 res)
    if rc == AGAIN then
        return await(th, h, OP_RECEIVE)
    end
    return rc
end

-- Lua values of a receive status: data | nil, err, partial | nil, err |
-- nil, nil, nil.
local function read_ret(rc, err)
    local r = res[0]
    if rc == OK then
        local len = r.data_len
        if len == 0 then
            return ""
        end
        local data = ffi_str(r.data, len)
        return data
    elseif rc == ERROR then
        if err then
            return nil, err
        end
        err = errstr()
        if r.data == nil then
            return nil, err
        end
        return nil, err, ffi_str(r.data, r.data_len)
    elseif rc == DONE then
        return nil, nil, nil
    end
    raise_status(rc)   -- (read_ret is tail-called: it stands for the API)
end

-- tail-called by the receive methods (see do_connect)
local function do_receive(h, kind, size)
    return read_ret(io_receive(h, kind, size))
end

local function do_until(h, it, size)
    return read_ret(io_until(h, it, size))
end

-- OpenResty checks closed/busy before validating the argument of receive*:
-- probe with a zero-byte receive (no I/O) and raise only if it passes.
local function bad_read_arg(h, msg)
    if C.cosocket_tcp_receive(h, SIZE, 0, res) == ERROR then
        return nil, errstr()
    end
    argerror(2, 2, msg)
end

local function bad_write_arg(h, msg)
    if C.cosocket_tcp_send(h, nil, 0, res) == ERROR then
        return nil, errstr()
    end
    argerror(2, 2, msg)
end

local function check_self(self)
    if type(self) ~= "table" then
        argerror(2, 1, "table expected, got " .. type(self))
    end
end


---------------------------------------------------------------- methods

local methods = {}
local mt = { __index = methods }

-- Handles of sockets closed by close() or setkeepalive(), reused by the
-- next socket that needs one. A new handle costs its ffi.gc finalizer (a
-- table insert, then a finalizer call from the GC) and the native
-- allocation of the socket and its receive buffer: most of the Lua-side
-- cost of a connect/setkeepalive cycle. The socket object gets CLOSED, a
-- shared handle that was never connected and so answers every method as
-- the closed handle would. Only handles carrying no settings of their own
-- are taken (no client certificate, trusted store, bind address or TLS),
-- and only while no thread waits on any operation (a waiter could still
-- use the handle after it resumes). spare_t[i]: the handle has timeouts
-- to reset.
local SPARE_MAX = 4   -- each keeps its receive buffer (4 KiB once used)
local spare, spare_t, nspare = {}, {}, 0
local CLOSED = nil
local quiet = S.quiet

local function new_handle(self)
    local ct, st, rt = self[2], self[4], self[5]
    local h
    if nspare > 0 then
        h = spare[nspare]
        local dirty = spare_t[nspare]
        spare[nspare] = nil
        nspare = nspare - 1
        if dirty and not (ct or st or rt) then
            C.cosocket_tcp_settimeouts(h, 0, 0, 0, res)
        end
    else
        h = C.cosocket_tcp_new()
        if h == nil then
            error("no memory", 3)
        end
        h = ffi_gc(h, C.cosocket_tcp_free)
    end
    if ct or st or rt then
        C.cosocket_tcp_settimeouts(h, ct or 0, st or 0, rt or 0, res)
    end
    local bind_ip = self[8]
    if bind_ip then
        C.cosocket_tcp_bind(h, bind_ip, #bind_ip, self[9] or 0, res)
    end
    self[1] = h
    return h
end

-- After a successful close() or setkeepalive(): keep the handle for reuse
-- when that is safe (see SPARE_MAX).
local function recycle(self, h)
    if nspare < SPARE_MAX and self[6] == nil and self[8] == nil
            and self[10] == nil and self[11] == nil and quiet() then
        if CLOSED == nil then
            local c = C.cosocket_tcp_new()
            if c == nil then
                return
            end
            CLOSED = ffi_gc(c, C.cosocket_tcp_free)
        end
        nspare = nspare + 1
        spare[nspare] = h
        spare_t[nspare] = (self[2] or self[4] or self[5]) ~= nil
        self[1] = CLOSED
    end
end

local function is_unix(host)
    return #host >= 5 and lower(sub(host, 1, 5)) == "unix:"
end

-- The waiting half of each I/O method is a separate fixed-argument function
-- that the (vararg) method tail-calls once its arguments are checked: a tail
-- call drops the vararg frame, so when a scheduler thread resumes after a
-- wait, the trace recorded from the yield can return to the caller. LuaJIT
-- cannot compile a return through a vararg frame entered before the trace
-- started ("NYI: return to lower frame"), which left every wait's
-- continuation in the interpreter. These run in the method's stack level,
-- so the error levels are the method's.

local function do_connect(h, host, port, opts, narg)
    local rc, e = io_connect(h, host, port, opts)
    if opts then
        copts[0].pool = nil
    end
    if rc == OK then
        return 1
    elseif rc == ERROR then
        return nil, e or errstr()
    end
    raise_status(rc, narg)
end

--- ok, err = sock:connect(host, port, opts?) | sock:connect("unix:/path", opts?)
function methods.connect(...)
    local self = ...
    local n = select("#", ...)   -- lua_gettop: self included
    if n ~= 2 and n ~= 3 and n ~= 4 then
        error(fmt("ngx.socket connect: expecting 2, 3, or 4 arguments "
                  .. "(including the object), but seen %d", n), 2)
    end
    check_self(self)
    local _, host, port_arg = ...
    local ht = type(host)
    if ht == "number" then
        host = tostring(host)
    elseif ht ~= "string" then
        argerror(1, 2, "string expected, got " .. ht)
    end

    local pool, pool_size, backlog = nil, 0, -1
    local custom = false
    local last = select(n, ...)
    if type(last) == "table" then
        local ps = last.pool_size
        if isnumber(ps) then
            pool_size = trunc(tonumber(ps))
            if pool_size <= 0 then
                argerror(1, n, fmt('bad "pool_size" option value: %d',
                                   toint32(pool_size)))
            end
        elseif ps ~= nil then
            argerror(1, n, 'bad "pool_size" option type: ' .. type(ps))
        end
        local bl = last.backlog
        if isnumber(bl) then
            backlog = trunc(tonumber(bl))
            if backlog < 0 then
                argerror(1, n, fmt('bad "backlog" option value: %d',
                                   toint32(backlog)))
            end
            if pool_size == 0 then
                pool_size = 30   -- lua_socket_pool_size
            end
        end
        local p = last.pool
        local pt = type(p)
        if pt == "number" then
            pool = tostring(p)
            custom = true
        elseif pt == "string" then
            pool = p
            custom = true
        elseif pt ~= "nil" then
            argerror(1, n, 'bad "pool" option type: ' .. pt)
        end
        n = n - 1
    end
    if n == 4 then
        n = 3   -- a 4th argument that is not a table is dropped
    end

    local port = -1
    if n == 3 and isnumber(port_arg) then
        port = toint32(port_arg)
        if port < 0 or port > 65535 then
            return nil, "bad port number: " .. port
        end
        -- The key is host..":"..port exactly as passed; the core builds it
        -- from the parsed port (and without it for unix sockets).
        if not custom and (type(port_arg) ~= "number" or port_arg ~= port
                           or is_unix(host)) then
            pool = host .. ":" .. port_arg
        end
        if is_unix(host) then
            port = -1
        end
    elseif not is_unix(host) then
        return nil, "missing the port number"
    end

    local h = self[1]
    if h == nil or h == CLOSED then
        h = new_handle(self)
    end
    local opts = nil
    if pool ~= nil or pool_size ~= 0 or backlog ~= -1 then
        opts = copts
        local o = copts[0]
        o.pool = pool
        o.pool_len = pool and #pool or 0
        o.pool_size = pool_size
        o.backlog = backlog
    end
    return do_connect(h, host, port, opts, n)
end

local function do_send(h, data)
    local t = type(data)
    local rc, e
    if t == "string" then
        rc, e = io_send(h, data, #data)
    elseif t == "table" then
        local iov, n = flatten(data, num2str)
        if iov == nil then   -- n is the message
            local a, b = bad_write_arg(h, n)
            return a, b
        end
        rc, e = io_sendv(h, iov, n)
        clear_anchors()
    elseif t == "number" then
        local s = num2str(data)
        rc, e = io_send(h, s, #s)
    elseif t == "nil" then
        rc, e = io_send(h, "nil", 3)
    elseif t == "boolean" then
        local s = data and "true" or "false"
        rc, e = io_send(h, s, #s)
    else
        local a, b = bad_write_arg(h, "string, number, boolean, nil, "
                                   .. "or array table expected, got " .. t)
        return a, b
    end
    if rc == OK then
        local v = tonumber(res[0].value)
        return v
    elseif rc == ERROR then
        return nil, e or errstr()
    end
    raise_status(rc, 2)
end

--- bytes, err = sock:send(data)
function methods.send(...)
    local self = ...
    local nargs = select("#", ...) - 1   -- after self
    if nargs ~= 1 then
        error(fmt("expecting 2 arguments (including the object), but got %d",
                  nargs + 1), 2)
    end
    check_self(self)
    local h = self[1]
    if h == nil then
        return nil, "closed"
    end
    local _, data = ...
    return do_send(h, data)
end

--- data, err, partial = sock:receive(pattern?)  "*l" | "*a" | size
function methods.receive(...)
    local self = ...
    local nargs = select("#", ...) - 1   -- after self
    if nargs < 0 or nargs > 1 then
        error(fmt("expecting 1 or 2 arguments (including the object), "
                  .. "but got %d", nargs + 1), 2)
    end
    check_self(self)
    local h = self[1]
    if h == nil then
        return nil, "closed"
    end
    local kind, size = LINE, 0
    if nargs == 1 then
        local _, pat = ...
        local tp = type(pat)
        local num
        if tp == "number" then
            num = pat
        elseif tp == "string" then
            -- the patterns first: tonumber() of a string that is not a
            -- number is not compiled (it ends the trace)
            if pat == "*l" then
                kind = LINE
            elseif pat == "*a" then
                kind = ALL
            else
                num = tonumber(pat)
                if num == nil then
                    if #pat ~= 2 or byte(pat, 1) ~= 42 then
                        local z = find(pat, "\0", 1, true)
                        if z then
                            pat = sub(pat, 1, z - 1)
                        end
                        local a, b = bad_read_arg(h, "bad pattern argument: "
                                                  .. pat)
                        return a, b
                    end
                    local a, b = bad_read_arg(h, "bad pattern argument")
                    return a, b
                end
            end
        else
            local a, b = bad_read_arg(h, "bad argument")
            return a, b
        end
        if num ~= nil then
            size = trunc(num)
            if not (size >= 0 and size < 2 ^ 63) then
                local a, b = bad_read_arg(h, "bad number argument")
                return a, b
            end
            kind = SIZE
        end
    end
    return do_receive(h, kind, size)
end

--- data, err = sock:receiveany(max)
function methods.receiveany(...)
    local self = ...
    local nargs = select("#", ...) - 1   -- after self
    if nargs ~= 1 then
        error(fmt("expecting 2 arguments (including the object), but got %d",
                  nargs + 1), 2)
    end
    check_self(self)
    local h = self[1]
    if h == nil then
        return nil, "closed"
    end
    local _, max = ...
    local num = isnumber(max) and trunc(tonumber(max)) or 0
    if not (num > 0 and num < 2 ^ 63) then
        local a, b = bad_read_arg(h, "bad max argument")
        return a, b
    end
    return do_receive(h, ANY, num)
end

--- iterator = sock:receiveuntil(pattern, {inclusive = bool}?)
-- data, err, partial = iterator(size?)
function methods.receiveuntil(...)
    local self = ...
    local nargs = select("#", ...) - 1   -- after self
    if nargs ~= 1 and nargs ~= 2 then
        error(fmt("expecting 2 or 3 arguments (including the object), "
                  .. "but got %d", nargs + 1), 2)
    end
    local _, pat, opts = ...
    local inclusive = false
    if nargs == 2 then
        if type(opts) ~= "table" then
            argerror(1, 3, "table expected, got " .. type(opts))
        end
        local inc = opts.inclusive
        local it = type(inc)
        if it == "boolean" then
            inclusive = inc
        elseif it ~= "nil" then
            error(fmt('bad "inclusive" option value type: %s', it), 2)
        end
    end
    check_self(self)
    local pt = type(pat)
    if pt == "number" then
        pat = tostring(pat)
    elseif pt ~= "string" then
        argerror(1, 2, "string expected, got " .. pt)
    end
    if #pat == 0 then
        return nil, "pattern is empty"
    end
    local it = C.cosocket_until_new(pat, #pat, inclusive)
    if it == nil then
        return nil, "failed to compile pattern"
    end
    it = ffi_gc(it, C.cosocket_until_free)

    return function(...)
        local n = select("#", ...)
        if n > 1 then
            error(fmt("expecting 0 or 1 argument, but seen %d", n), 2)
        end
        local size = 0
        if n == 1 then
            local v = ...
            if not isnumber(v) then
                argerror(1, 1, "number expected, got "
                         .. (v == nil and "nil" or type(v)))
            end
            size = trunc(tonumber(v))
            if size < 0 then
                size = 0
            end
        end
        local h = self[1]
        if h == nil then
            return nil, "closed"
        end
        return do_until(h, it, size)
    end
end

--- ok, err = sock:close()
function methods.close(...)
    local self = ...
    local nargs = select("#", ...) - 1   -- after self
    if nargs ~= 0 then
        error(fmt("expecting 1 argument (including the object) but seen %d",
                  nargs + 1), 2)
    end
    check_self(self)
    local h = self[1]
    if h == nil then
        return nil, "closed"
    end
    local rc = C.cosocket_tcp_close(h, res)
    if rc == OK then
        recycle(self, h)
        return 1
    elseif rc == ERROR then
        return nil, errstr()
    end
    raise_status(rc)
end

local function timeout_value(v)
    local n = tonumber(v) or 0
    n = trunc(n)
    if not (n >= 0 and n < 2147483648) then
        error("bad timeout value", 3)
    end
    return n
end

--- sock:settimeout(ms)
function methods.settimeout(...)
    local self = ...
    local nargs = select("#", ...) - 1   -- after self
    if nargs ~= 1 then
        error(fmt("ngx.socket settimeout: expecting 2 arguments (including "
                  .. "the object) but seen %d", nargs + 1), 2)
    end
    local ms = timeout_value((select(2, ...)))
    self[2], self[4], self[5] = ms, ms, ms
    local h = self[1]
    if h ~= nil and h ~= CLOSED then
        C.cosocket_tcp_settimeout(h, ms, res)
    end
end

--- sock:settimeouts(connect_ms, send_ms, read_ms)
function methods.settimeouts(...)
    local self = ...
    local nargs = select("#", ...) - 1   -- after self
    if nargs ~= 3 then
        error(fmt("ngx.socket settimeouts: expecting 4 arguments (including "
                  .. "the object) but seen %d", nargs + 1), 2)
    end
    local _, c, s, r = ...
    c = timeout_value(c)
    s = timeout_value(s)
    r = timeout_value(r)
    self[2], self[4], self[5] = c, s, r
    local h = self[1]
    if h ~= nil and h ~= CLOSED then
        C.cosocket_tcp_settimeouts(h, c, s, r, res)
    end
end

-- luaL_checkinteger for setkeepalive's arguments
local function checkinteger(v, narg)
    if not isnumber(v) then
        argerror(2, narg, "number expected, got " .. type(v))
    end
    return trunc(tonumber(v))
end

--- ok, err = sock:setkeepalive(timeout_ms?, size?)
function methods.setkeepalive(...)
    local self = ...
    local nargs = select("#", ...) - 1   -- after self
    if nargs < 0 or nargs > 2 then
        error(fmt("expecting 1 to 3 arguments (including the object), "
                  .. "but got %d", nargs + 1), 2)
    end
    check_self(self)
    local _, timeout, size = ...
    if timeout == nil then
        timeout = -1   -- lua_socket_keepalive_timeout (60 s)
    else
        timeout = checkinteger(timeout, 2)
        if timeout < 0 then
            timeout = 0   -- nginx casts to an unsigned msec: "forever"
        end
    end
    local given
    if size == nil then
        size = -1      -- lua_socket_pool_size (30)
    else
        size = checkinteger(size, 3)
        if size <= 0 then
            -- The C ABI reads any negative size as "the default"; 0 is
            -- refused exactly when a negative size must be (a pool created
            -- now), so pass 0 and report the caller's value.
            given = size
            size = 0
        end
    end
    local h = self[1]
    if h == nil then
        return nil, "closed"
    end
    local rc = C.cosocket_tcp_setkeepalive(h, timeout, size, res)
    if rc == OK then
        recycle(self, h)
        return 1
    elseif rc == ERROR then
        return nil, errstr()
    end
    if rc == INVALID_ARGUMENT and given then
        argerror(1, nargs + 1, fmt('bad "pool_size" option value: %d', given))
    end
    raise_status(rc, nargs + 1)
end

--- count, err = sock:getreusedtimes()
function methods.getreusedtimes(...)
    local self = ...
    local nargs = select("#", ...) - 1   -- after self
    if nargs ~= 0 then
        error(fmt("expecting 1 argument (including the object), but got %d",
                  nargs + 1), 2)
    end
    check_self(self)
    local h = self[1]
    if h == nil then
        return nil, "closed"
    end
    local rc = C.cosocket_tcp_getreusedtimes(h, res)
    if rc == OK then
        local v = tonumber(res[0].value)
        return v
    elseif rc == ERROR then
        return nil, errstr()
    end
    raise_status(rc)
end

local option_index = {
    ["keepalive"] = true,
    ["reuseaddr"] = true,
    ["tcp-nodelay"] = true,
    ["sndbuf"] = true,
    ["rcvbuf"] = true,
    ["keepintvl"] = true,
    ["keepcnt"] = true,
}

local function get_handle(self)
    local h = self[1]
    if h == nil then
        error("socket is never created nor connected", 3)
    end
    return h
end

--- ok, err = sock:setoption(name, value)  (lua-resty-core)
function methods.setoption(self, option, value)
    if option == nil then
        return nil, 'missing the "option" argument'
    end
    if value == nil then
        return nil, 'missing the "value" argument'
    end
    if option == "ip-transparent" then
        self[9] = value
        return true
    end
    local h = get_handle(self)
    if not option_index[option] then
        return nil, "unsupported option " .. tostring(option)
    end
    if type(value) == "boolean" then
        value = value and 1 or 0
    elseif type(value) == "number" then
        value = trunc(value)
    end
    local rc = C.cosocket_tcp_setoption(h, option, #option, value, res)
    if rc == OK then
        return true
    elseif rc == ERROR or rc == INVALID_ARGUMENT then
        return nil, errstr()
    end
    raise_status(rc)
end

--- value, err = sock:getoption(name)  (lua-resty-core)
function methods.getoption(self, option)
    local h = get_handle(self)
    if option == nil then
        return nil, 'missing the "option" argument'
    end
    if not option_index[option] then
        return nil, "unsupported option " .. tostring(option)
    end
    local rc = C.cosocket_tcp_getoption(h, option, #option, res)
    if rc == OK then
        local v = tonumber(res[0].value)
        return v
    elseif rc == ERROR or rc == INVALID_ARGUMENT then
        return nil, errstr()
    end
    raise_status(rc)
end

--- fd, err = sock:getfd()  (lua-resty-core)
function methods.getfd(self)
    if not self then
        error("ngx.socket getfd: expecting the cosocket object, but seen none",
              2)
    end
    local h = get_handle(self)
    local rc = C.cosocket_tcp_getfd(h, res)
    if rc == OK then
        local v = tonumber(res[0].value)
        return v
    elseif rc == ERROR then
        return nil, errstr()
    end
    raise_status(rc)
end

--- ok, err = sock:bind(ip, port?): later connects originate from `ip`
--- (OpenResty HEAD's tcpsock:bind, like proxy_bind).
function methods.bind(...)
    local n = select("#", ...)   -- lua_gettop: self included
    if n ~= 2 and n ~= 3 then
        error(fmt("expecting 2 or 3 arguments, but got %d", n), 2)
    end
    local self, ip, port = ...
    check_self(self)
    local p = 0
    if n == 3 then
        if not isnumber(port) then
            -- nginx's message, missing space included.
            return nil, "expecting port to be anumber but got type: "
                        .. type(port)
        end
        p = trunc(tonumber(port))
        if p < 0 or p > 65535 then
            return nil, fmt("bad port number: %d", p)
        end
    end
    local it = type(ip)
    if it == "number" then
        ip = tostring(ip)
    elseif it ~= "string" then
        argerror(1, 2, "string expected, got " .. it)
    end
    -- Validate now (a C handle may not exist before the first connect).
    local probe = self[1]
    if probe == nil or probe == CLOSED then
        probe = new_handle(self)
    end
    local rc = C.cosocket_tcp_bind(probe, ip, #ip, p, res)
    if rc ~= OK then
        return nil, errstr()
    end
    self[8], self[9] = ip, p
    return true
end

---------------------------------------------------------------- TLS

local sess_cell = ffi_new("cosocket_ssl_session *[1]")

-- The handshake; on OK, res[0].value is 1 (done now) or 2 (the connection
-- was TLS already) and sess_cell[0] the new session handle, if any.
local function io_handshake(h, sess, name, nlen, verify, want)
    sess_cell[0] = nil
    local th = S.current
    if th == nil then
        local r0 = C.cosocket_tcp_sslhandshake(h, sess, name, nlen, verify,
                                               want, sess_cell, res)
        return r0
    end
    local rc = C.cosocket_tcp_sslhandshake_async(h, S.loop, th.id, sess, name,
                                                 nlen, verify, want,
                                                 sess_cell, res)
    if rc == AGAIN then
        wait_io(th, h)
        rc = C.cosocket_tcp_result(h, OP_HANDSHAKE, res)
        if rc == NO_RESULT then
            return ERROR, "closed"
        end
        if rc == OK and want then
            local v = res[0].value
            if C.cosocket_tcp_getsslsession(h, sess_cell, res) ~= OK then
                sess_cell[0] = nil
            end
            res[0].value = v
        end
    end
    return rc
end

-- tail-called by sslhandshake (see do_connect)
local function do_handshake(h, reused_session, sess, server_name, nlen,
                            verify)
    local rc, e = io_handshake(h, sess, server_name, nlen, verify,
                               reused_session ~= false)
    if rc == OK then
        if reused_session == false then
            return true
        end
        if res[0].value == 2 and sess ~= nil then
            return reused_session   -- already TLS: the caller's own session
        end
        local s = sess_cell[0]
        sess_cell[0] = nil
        if s == nil then
            return nil
        end
        return ffi_gc(s, C.cosocket_ssl_session_free)
    elseif rc == ERROR then
        return nil, e or errstr()
    end
    raise_status(rc)
end

--- session, err = sock:sslhandshake(reused_session?, server_name?, verify?,
--  send_status_req?)  (lua-resty-core)
-- reused_session: a session from an earlier handshake (resumption); false:
-- return true instead of a session. send_status_req is accepted: rustls
-- always asks for a stapled OCSP response and, like OpenResty, nothing in
-- the handshake validates it.
function methods.sslhandshake(self, reused_session, server_name, ssl_verify,
                              send_status_req, ...)
    local n = select("#", ...)
    if not self or n > 0 then
        error("ngx.socket sslhandshake: expecting 1 ~ 5 arguments "
              .. "(including the object), but seen "
              .. (self and 5 + n or 0), 2)
    end
    local h = get_handle(self)
    local sess = nil
    if type(reused_session) == "cdata" then
        sess = reused_session
    end
    local nlen = 0
    if server_name then
        if type(server_name) ~= "string" then
            argerror(1, 3, "string expected, got " .. type(server_name))
        end
        nlen = #server_name
    else
        server_name = nil
    end
    self[11] = true   -- TLS state: never recycle this handle
    return do_handshake(h, reused_session, sess, server_name, nlen,
                        ssl_verify and true or false)
end

--- ok, err = sock:setclientcert(cert_pem, key_pem)  (lua-resty-core)
-- Takes PEM strings (OpenResty takes the cdata of ngx.ssl.parse_pem_*);
-- both nil clears. Kept by the object across connections.
function methods.setclientcert(self, cert, pkey)
    check_self(self)
    if not cert and not pkey then
        local h = self[1]
        if h ~= nil and h ~= CLOSED then
            C.cosocket_tcp_setclientcert(h, nil, 0, nil, 0, res)
        end
        self[6], self[7] = nil, nil
        return true
    end
    if not cert or not pkey then
        return nil, "client certificate must be supplied with corresponding "
                    .. "private key"
    end
    if type(cert) ~= "string" then
        return nil, "bad cert arg: string expected, got " .. type(cert)
    end
    if type(pkey) ~= "string" then
        return nil, "bad pkey arg: string expected, got " .. type(pkey)
    end
    local h = self[1]
    if h == nil or h == CLOSED then
        h = new_handle(self)
    end
    local rc = C.cosocket_tcp_setclientcert(h, cert, #cert, pkey, #pkey, res)
    if rc == OK then
        self[6], self[7] = cert, pkey
        return true
    elseif rc == ERROR then
        return nil, errstr()
    end
    raise_status(rc)
end

--- ok, err = sock:settrustedstore(pem?)  (lua-resty-core)
-- Takes PEM CA certificates (OpenResty takes an X509_STORE cdata); nil
-- goes back to the system store. As in OpenResty: needs a connection, is
-- refused once it is TLS, and serves the next handshake only.
function methods.settrustedstore(self, store)
    if store ~= nil and type(store) ~= "string" then
        return nil, "bad store arg: string expected, got " .. type(store)
    end
    local h = get_handle(self)
    local rc = C.cosocket_tcp_settrustedstore(h, store, store and #store or 0,
                                              res)
    if rc == OK then
        self[10] = store
        return true
    elseif rc == ERROR then
        return nil, errstr()
    end
    raise_status(rc)
end

--- session, err = sock:getsslsession()  (lua-resty-core)
function methods.getsslsession(self)
    local h = get_handle(self)
    sess_cell[0] = nil
    local rc = C.cosocket_tcp_getsslsession(h, sess_cell, res)
    if rc == OK then
        local s = sess_cell[0]
        sess_cell[0] = nil
        return ffi_gc(s, C.cosocket_ssl_session_free)
    elseif rc == ERROR then
        return nil, errstr()
    end
    raise_status(rc)
end

local M = {}

--- sock = tcp(): a new, unconnected socket object.
function M.tcp(...)
    local n = select("#", ...)
    if n ~= 0 then
        error(fmt("expecting zero arguments, but got %d", n), 2)
    end
    return setmetatable(tnew(5, 0), mt)
end

M.methods = methods
M.mt = mt

return M
