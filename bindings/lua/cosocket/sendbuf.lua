-- cosocket.sendbuf: turning the data of send into bytes, shared by
-- cosocket.tcp and cosocket.udp.
--
--   local iov, n = sendbuf.flatten(t, sendbuf.num2str)  -- or nil, msg
--   ... C call that reads iov[0 .. n-1] ...
--   sendbuf.clear()
--
-- JIT-friendly like the rest of the hot path: one module-level iovec array,
-- reused by every send (it doubles when full and never shrinks), and no
-- closures, tables or recursion per call. The strings made from numbers
-- while flattening are kept in `anchors` until clear(), so that the
-- pointers in iov[] stay valid during the C call.

local ffi = require "ffi"
local cdef = require "cosocket.cdef"

local libc = cdef.libc

local ffi_new = ffi.new
local ffi_str = ffi.string
local ffi_copy = ffi.copy
local type = type
local tostring = tostring
local rawget = rawget
local next = next
local floor = math.floor
local ceil = math.ceil

local IOV_SIZE = ffi.sizeof("cosocket_iovec")

local iov_cap = 32
local iov = ffi_new("cosocket_iovec[?]", iov_cap)
local niov = 0
local anchors = {}     -- strings made while flattening a send table
local nanchors = 0

local function trunc(x)
    local r
    if x >= 0 then
        r = floor(x)
    else
        r = ceil(x)
    end
    return r
end

-- Numbers are sent as nginx prints them (ngx_http_lua_write_num): int32
-- values with %d, everything else with glibc's snprintf("%.14g"), which
-- rounds exact ties to even ("1.2345678901234e+14") and prints NaN with its
-- sign ("-nan"); LuaJIT's own formatter differs on both. TCP and UDP
-- send both use it (ngx_http_lua_write_num in both socket modules).
local numbuf = ffi_new("char[32]")

local function num2str(v)
    if v == trunc(v) and v >= -2147483648 and v <= 2147483647 then
        if v == 0 then
            return "0"   -- also -0
        end
        local str = tostring(v)
        return str
    end
    local n = libc.snprintf(numbuf, 32, "%.14g", v)
    local str = ffi_str(numbuf, n)
    return str
end

-- Flattens a send table into iov[], like ngx_http_lua_calc_strlen_in_table
-- (strict): only positive integer keys, elements 1..max, strings, numbers
-- and nested tables.
local function grow_iov()
    local cap = iov_cap * 2
    local new = ffi_new("cosocket_iovec[?]", cap)
    ffi_copy(new, iov, IOV_SIZE * niov)
    iov, iov_cap = new, cap
end

local function push_str(s)
    local len = #s
    if len == 0 then
        return
    end
    if niov == iov_cap then
        grow_iov()
    end
    local e = iov[niov]
    e.base = s
    e.len = len
    niov = niov + 1
end

-- The largest key of an array table, or nil when a key is not a positive
-- integer.
local function array_max(t)
    local max = 0
    for k in next, t do
        if type(k) ~= "number" or k < 1 or floor(k) ~= k then
            return nil
        end
        if k > max then
            max = k
        end
    end
    return max
end

local function clear()
    for i = 1, nanchors do
        anchors[i] = nil
    end
    nanchors = 0
end

-- Iterative (recursion would abort JIT traces): `stack` holds the tables
-- being walked, their next index and their size, three slots per level.
local stack = {}

-- Gives up: empties the stack and the anchors, returns nil, msg.
local function unwind(depth, msg)
    for k = 1, depth * 3 do
        stack[k] = nil
    end
    clear()
    return nil, msg
end

--- iov, n = flatten(root, fmt): the pieces of root in the module's iovec
-- array, numbers formatted with fmt (num2str); or nil, msg (the
-- error of ngx_http_lua_calc_strlen_in_table). Call clear() once the C
-- call that reads iov[] has returned.
local function flatten(root, fmt)
    niov = 0
    local t, i, max = root, 1, array_max(root)
    if max == nil then
        return unwind(0, "non-array table found")
    end
    local depth = 0
    while true do
        if i <= max then
            local v = rawget(t, i)
            i = i + 1
            local tv = type(v)
            if tv == "string" then
                push_str(v)
            elseif tv == "number" then
                local str = fmt(v)
                nanchors = nanchors + 1
                anchors[nanchors] = str
                push_str(str)
            elseif tv == "table" then
                local m = array_max(v)
                if m == nil then
                    return unwind(depth, "non-array table found")
                end
                local b = depth * 3
                stack[b + 1], stack[b + 2], stack[b + 3] = t, i, max
                depth = depth + 1
                t, i, max = v, 1, m
            else
                return unwind(depth, "bad data type " .. tv .. " found")
            end
        elseif depth == 0 then
            return iov, niov
        else
            depth = depth - 1
            local b = depth * 3
            t, i, max = stack[b + 1], stack[b + 2], stack[b + 3]
            stack[b + 1] = nil
        end
    end
end

return {
    flatten = flatten,
    clear = clear,
    num2str = num2str,
    trunc = trunc,
}
