-- cosocket.udp: the UDP cosocket object (ngx.socket.udp).
--
--   local sock = cosocket.udp()
--   sock:settimeout(1000)                          -- ms, receive only
--   assert(sock:setpeername("127.0.0.1", 53))      -- or "unix:/path"
--   assert(sock:send(query))                       -- one datagram; returns 1
--   local data, err = sock:receive(4096)           -- one datagram
--   sock:close()
--
-- A socket is a plain table with a shared metatable, as in OpenResty: [1]
-- holds the native handle (created by the first setpeername or bind), [2]
-- the value given to settimeout. Methods check their arguments in
-- OpenResty's order, raising where it raises and returning nil, err where
-- it returns. Inside a scheduler thread receive (and setpeername with a
-- host name) yields while it waits; outside, it blocks. send never waits.
--
-- Not full duplex, as in OpenResty: while one thread waits in receive,
-- the other methods get nil, "socket busy".

local ffi = require "ffi"
local cdef = require "cosocket.cdef"
local S = require "cosocket.sched"
local sendbuf = require "cosocket.sendbuf"

local C = cdef.C

-- The UDP part of include/cosocket.h (guarded: cdef.lua may declare it too
-- one day; repeating a function declaration is harmless, a type is not).
-- Status returns are int, as in cdef.lua.
if not pcall(ffi.typeof, "cosocket_udp") then
    ffi.cdef "typedef struct cosocket_udp cosocket_udp;"
end
ffi.cdef [[
cosocket_udp *cosocket_udp_new(void);
void cosocket_udp_free(cosocket_udp *sock);
int cosocket_udp_abort(cosocket_udp *sock);
int cosocket_udp_settimeout(cosocket_udp *sock, int64_t ms,
    cosocket_result *out);
int cosocket_udp_bind(cosocket_udp *sock, const char *ip,
    size_t ip_len, int32_t port, cosocket_result *out);
int cosocket_udp_setpeername(cosocket_udp *sock, const char *host,
    size_t host_len, int32_t port, cosocket_result *out);
int cosocket_udp_setpeername_async(cosocket_udp *sock,
    cosocket_loop *lp, uint64_t token, const char *host, size_t host_len,
    int32_t port, cosocket_result *out);
int cosocket_udp_send(cosocket_udp *sock, const uint8_t *data,
    size_t len, cosocket_result *out);
int cosocket_udp_sendv(cosocket_udp *sock,
    const cosocket_iovec *iov, size_t n, cosocket_result *out);
int cosocket_udp_send_async(cosocket_udp *sock, cosocket_loop *lp,
    uint64_t token, const uint8_t *data, size_t len, cosocket_result *out);
int cosocket_udp_sendv_async(cosocket_udp *sock, cosocket_loop *lp,
    uint64_t token, const cosocket_iovec *iov, size_t n, cosocket_result *out);
int cosocket_udp_receive(cosocket_udp *sock, size_t size,
    cosocket_result *out);
int cosocket_udp_receive_async(cosocket_udp *sock,
    cosocket_loop *lp, uint64_t token, size_t size, cosocket_result *out);
int cosocket_udp_result(cosocket_udp *sock, uint32_t op,
    cosocket_result *out);
int cosocket_udp_close(cosocket_udp *sock, cosocket_result *out);
int cosocket_udp_check(cosocket_udp *sock, cosocket_result *out);
int cosocket_udp_getfd(cosocket_udp *sock, cosocket_result *out);
]]

local ffi_new = ffi.new
local ffi_str = ffi.string
local ffi_gc = ffi.gc
local error = error
local select = select
local type = type
local tonumber = tonumber
local tostring = tostring
local setmetatable = setmetatable
local floor = math.floor
local fmt = string.format

local argerror = S.argerror
local wait_io = S.wait_io
local can_yield = S.can_yield

local OK, AGAIN, ERROR = 0, 1, 3
local INVALID_ARGUMENT = 12
local NO_RESULT = 14
local OP_CONNECT, OP_RECEIVE = 0, 2
local MAX_DATAGRAM = 65536

-- the reusable out cells
local res = ffi_new("cosocket_result[1]")

local trunc = sendbuf.trunc
local flatten = sendbuf.flatten
local clear_anchors = sendbuf.clear
local num2str = sendbuf.num2str   -- nginx's ngx_http_lua_write_num, as for TCP

-- The scheduler aborts the socket a killed thread waits on with the abort
-- function given to wait_io (a scheduler without that support would call
-- the TCP abort on our handle: then we do not tell it the handle).
local ABORTABLE = S.wait_abort ~= nil

local function errstr()
    local r = res[0]
    if r.err == nil then
        return "error"
    end
    return ffi_str(r.err, r.err_len)
end

-- A status that is neither OK nor an operation error: raise.
local function raise_status(rc, level)
    if rc == INVALID_ARGUMENT then
        error(errstr(), level + 1)
    end
    local msg = "cosocket: " .. ffi_str(C.cosocket_status_str(rc))
    if res[0].err ~= nil then
        msg = msg .. ": " .. errstr()
    end
    error(msg, level + 1)
end

local function check_self(self)
    if type(self) ~= "table" then
        argerror(2, 1, "table expected, got " .. type(self))
    end
end

-- (int) luaL_checkinteger(v): truncation, then wrap to 32 bits.
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

-- (ngx_int_t) lua_tonumber(v) for settimeout: non-numbers are 0; clamped
-- so the int64_t conversion is defined.
local function timeout_ms(v)
    local n = tonumber(v) or 0
    if n ~= n then
        return 0
    end
    n = trunc(n)
    if n > 4611686018427387904 then
        n = 4611686018427387904
    elseif n < -4611686018427387904 then
        n = -4611686018427387904
    end
    return n
end


---------------------------------------------------------------- I/O cores
-- Each returns the status; results are in res[0].

-- Waits for the operation started with token th.id on handle h.
local function wait(th, h)
    if not can_yield(th) then
        C.cosocket_udp_abort(h)
        error(S.YIELD_ERR, 3)
    end
    if ABORTABLE then
        wait_io(th, h, C.cosocket_udp_abort)
    else
        wait_io(th, nil)
    end
end

local function io_setpeername(h, host, port)
    local th = S.current
    if th == nil then
        return C.cosocket_udp_setpeername(h, host, #host, port, res)
    end
    local rc = C.cosocket_udp_setpeername_async(h, S.loop, th.id, host, #host,
                                               port, res)
    if rc == AGAIN then
        wait(th, h)
        rc = C.cosocket_udp_result(h, OP_CONNECT, res)
        if rc == NO_RESULT then
            return ERROR, "closed"
        end
    end
    return rc
end

local function io_receive(h, size)
    local th = S.current
    if th == nil then
        return C.cosocket_udp_receive(h, size, res)
    end
    local rc = C.cosocket_udp_receive_async(h, S.loop, th.id, size, res)
    if rc == AGAIN then
        wait(th, h)
        rc = C.cosocket_udp_result(h, OP_RECEIVE, res)
        if rc == NO_RESULT then
            return ERROR, "closed"
        end
    end
    return rc
end

-- OpenResty checks closed/busy before validating the data of send and the
-- size of receive: ask the socket, raise only if it is usable.
local function bad_arg(h, narg, msg)
    if h == nil then
        return nil, "closed"
    end
    if C.cosocket_udp_check(h, res) == ERROR then
        return nil, errstr()
    end
    argerror(2, narg, msg)
end


---------------------------------------------------------------- methods

local methods = {}
local mt = { __index = methods }

local function new_handle(self)
    local h = C.cosocket_udp_new()
    if h == nil then
        error("no memory", 3)
    end
    h = ffi_gc(h, C.cosocket_udp_free)
    local t = self[2]
    if t ~= nil then
        C.cosocket_udp_settimeout(h, timeout_ms(t), res)
    end
    self[1] = h
    return h
end

--- ok, err = sock:setpeername(host, port?) | sock:setpeername("unix:/path")
function methods.setpeername(self, ...)
    local n = select("#", ...) + 1
    if n ~= 2 and n ~= 3 then
        error(fmt("ngx.socket.udp setpeername: expecting 2 or 3 arguments "
                  .. "(including the object), but seen %d", n), 2)
    end
    check_self(self)
    local host, port = ...
    local ht = type(host)
    if ht == "number" then
        host = tostring(host)
    elseif ht ~= "string" then
        argerror(1, 2, "string expected, got " .. ht)
    end
    local p = -1
    if n == 3 then
        if tonumber(port) == nil then
            argerror(1, 3, "number expected, got " .. type(port))
        end
        p = toint32(port)
        if p < 0 or p > 65535 then
            return nil, fmt("bad port number: %d", p)
        end
    end
    local h = self[1] or new_handle(self)
    local rc, e = io_setpeername(h, host, p)
    if rc == OK then
        return 1
    elseif rc == ERROR then
        return nil, e or errstr()
    end
    return raise_status(rc, 2)
end

--- ok, err = sock:bind(ip, port?): the local address of the next
-- setpeername (OpenResty >= 0.10.27 takes the IP only; port is ours).
function methods.bind(self, ...)
    local n = select("#", ...) + 1
    if n ~= 2 and n ~= 3 then
        error(fmt("expecting 2 arguments, but got %d", n), 2)
    end
    check_self(self)
    local ip, port = ...
    local it = type(ip)
    if it == "number" then
        ip = tostring(ip)
    elseif it ~= "string" then
        argerror(1, 2, "string expected, got " .. it)
    end
    local p = 0
    if n == 3 and port ~= nil then
        if tonumber(port) == nil then
            argerror(1, 3, "number expected, got " .. type(port))
        end
        p = toint32(port)
        if p < 0 or p > 65535 then
            return nil, fmt("bad port number: %d", p)
        end
    end
    local h = self[1] or new_handle(self)
    local rc = C.cosocket_udp_bind(h, ip, #ip, p, res)
    if rc == OK then
        return 1
    elseif rc == ERROR then
        return nil, errstr()
    end
    return raise_status(rc, 2)
end

--- ok, err = sock:send(data): one datagram; returns 1 (not a byte count).
function methods.send(self, ...)
    local nargs = select("#", ...)
    if nargs ~= 1 then
        error(fmt("expecting 2 arguments (including the object), but got %d",
                  nargs + 1), 2)
    end
    check_self(self)
    local h = self[1]
    if h == nil then
        return nil, "closed"
    end
    local data = ...
    local t = type(data)
    local rc
    if t == "string" then
        rc = C.cosocket_udp_send(h, data, #data, res)
    elseif t == "table" then
        local iov, n = flatten(data, num2str)
        if iov == nil then   -- n is the message
            local a, b = bad_arg(h, 2, n)
            return a, b
        end
        rc = C.cosocket_udp_sendv(h, iov, n, res)
        clear_anchors()
    elseif t == "number" then
        local s = num2str(data)
        rc = C.cosocket_udp_send(h, s, #s, res)
    elseif t == "nil" then
        rc = C.cosocket_udp_send(h, "nil", 3, res)
    elseif t == "boolean" then
        local s = data and "true" or "false"
        rc = C.cosocket_udp_send(h, s, #s, res)
    else
        local a, b = bad_arg(h, 2, "string, number, boolean, nil, "
                             .. "or array table expected, got " .. t)
        return a, b
    end
    if rc == OK then
        return 1
    elseif rc == ERROR then
        return nil, errstr()
    end
    return raise_status(rc, 2)
end

--- data, err = sock:receive(size?): one datagram of at most size bytes
-- (default and maximum 65536; the rest of a longer datagram is discarded).
function methods.receive(self, ...)
    local nargs = select("#", ...)
    if nargs ~= 0 and nargs ~= 1 then
        error(fmt("expecting 1 or 2 arguments (including the object), but "
                  .. "got %d", nargs + 1), 2)
    end
    check_self(self)
    local h = self[1]
    if h == nil then
        return nil, "closed"
    end
    local size = MAX_DATAGRAM
    if nargs == 1 then
        local v = ...
        if v ~= nil then
            local num = tonumber(v)
            if num == nil or type(v) ~= "number" and type(v) ~= "string" then
                local a, b = bad_arg(h, 2, "number expected, got " .. type(v))
                return a, b
            end
            -- (size_t) of a double, then min(size, 65536): negative, NaN
            -- and huge values end up as 65536.
            if num >= 0 and num < MAX_DATAGRAM then
                size = floor(num)
            end
        end
    end
    local rc, e = io_receive(h, size)
    if rc == OK then
        local r = res[0]
        local len = r.data_len
        if len == 0 then
            return ""
        end
        return ffi_str(r.data, len)
    elseif rc == ERROR then
        return nil, e or errstr()
    end
    return raise_status(rc, 2)
end

--- sock:settimeout(ms): the receive timeout; no validation, as in
-- OpenResty (0, negative and non-numbers mean the 60 s default).
function methods.settimeout(self, ...)
    local nargs = select("#", ...)
    if nargs ~= 1 then
        error(fmt("ngx.socket settimeout: expecting at least 2 arguments "
                  .. "(including the object) but seen %d", nargs + 1), 2)
    end
    check_self(self)
    local v = ...
    self[2] = v
    local h = self[1]
    if h ~= nil then
        C.cosocket_udp_settimeout(h, timeout_ms(v), res)
    end
end

--- ok, err = sock:close()
function methods.close(self, ...)
    local nargs = select("#", ...)
    if nargs ~= 0 then
        error(fmt("expecting 1 argument (including the object) but seen %d",
                  nargs + 1), 2)
    end
    check_self(self)
    local h = self[1]
    if h == nil then
        return nil, "closed"
    end
    local rc = C.cosocket_udp_close(h, res)
    if rc == OK then
        return 1
    elseif rc == ERROR then
        return nil, errstr()
    end
    return raise_status(rc, 2)
end

--- fd, err = sock:getfd() (not in OpenResty: for external pollers).
function methods.getfd(self)
    check_self(self)
    local h = self[1]
    if h == nil then
        return nil, "closed"
    end
    if C.cosocket_udp_getfd(h, res) == OK then
        return tonumber(res[0].value)
    end
    return nil, errstr()
end


local M = {}

--- sock = udp(): a new, unconnected UDP socket object.
function M.udp(...)
    local n = select("#", ...)
    if n ~= 0 then
        error(fmt("expecting zero arguments, but got %d", n), 2)
    end
    return setmetatable({}, mt)
end

M.methods = methods
M.mt = mt

return M
