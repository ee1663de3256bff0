-- cosocket.ngx(): an `ngx` table for plain LuaJIT, enough for OpenResty's
-- client libraries (lua-resty-redis, -memcached, -mysql, -http, -websocket,
-- pgmoon) to run unmodified inside the cosocket scheduler.
--
--   local ngx = require("cosocket").ngx()             -- a table, no globals
--   require("cosocket").ngx{ global = true }          -- also _G.ngx and the
--                                                     -- cosocket-aware coroutine.*
--   require("cosocket").ngx{ log_level = "debug" }    -- ngx.log threshold
--
-- What differs from nginx is listed in docs/ngx.md. Digests, base64, URI
-- escaping and SQL quoting are done by libcosocket (src/codec); ngx.re is
-- PCRE2 through the FFI (cosocket/ngx_re.lua).

local ffi = require "ffi"

local ffi_new, ffi_string = ffi.new, ffi.string
local type, tostring, tonumber, error, select, pairs, ipairs =
    type, tostring, tonumber, error, select, pairs, ipairs
local setmetatable, rawget, pcall, xpcall = setmetatable, rawget, pcall, xpcall
local concat, sort = table.concat, table.sort
local floor = math.floor
local os_date, os_time, io_stderr, io_stdout = os.date, os.time, io.stderr, io.stdout
local co_running = coroutine.running

-- LuaJIT 2.1 has table.new and table.clear; shims for builds without them.
if not pcall(require, "table.new") then
    package.preload["table.new"] = function()
        return function() return {} end
    end
end
if not pcall(require, "table.clear") then
    package.preload["table.clear"] = function()
        return function(t)
            for k in pairs(t) do
                t[k] = nil
            end
        end
    end
end

-- libc and libcosocket under private names (asm labels): never clashes with
-- the binding's or a user's cdef of the same symbols.
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } cosocket_ngx_timespec;
int cosocket_ngx_clock_gettime(int clk, cosocket_ngx_timespec *ts) __asm__("clock_gettime");
int cosocket_ngx_getpid(void) __asm__("getpid");

bool cosocket_ngx_sha1_bin(const char *src, size_t len, unsigned char *dst)
    __asm__("cosocket_sha1_bin");
bool cosocket_ngx_md5_bin(const char *src, size_t len, unsigned char *dst)
    __asm__("cosocket_md5_bin");
bool cosocket_ngx_md5_hex(const char *src, size_t len, unsigned char *dst)
    __asm__("cosocket_md5_hex");
bool cosocket_ngx_hmac_sha1(const char *key, size_t key_len, const char *src,
    size_t len, unsigned char *dst) __asm__("cosocket_hmac_sha1");
uint32_t cosocket_ngx_crc32(const char *src, size_t len) __asm__("cosocket_crc32");
size_t cosocket_ngx_base64_encoded_length(size_t len, bool no_padding)
    __asm__("cosocket_base64_encoded_length");
size_t cosocket_ngx_base64_encode(const char *src, size_t len, unsigned char *dst,
    bool no_padding) __asm__("cosocket_base64_encode");
size_t cosocket_ngx_base64_decoded_length(size_t len)
    __asm__("cosocket_base64_decoded_length");
bool cosocket_ngx_base64_decode(const char *src, size_t len, unsigned char *dst,
    size_t *dlen) __asm__("cosocket_base64_decode");
size_t cosocket_ngx_uri_escaped_length(const char *src, size_t len, int32_t type)
    __asm__("cosocket_uri_escaped_length");
size_t cosocket_ngx_escape_uri(const char *src, size_t len, unsigned char *dst,
    int32_t type) __asm__("cosocket_escape_uri");
size_t cosocket_ngx_unescape_uri(const char *src, size_t len, unsigned char *dst)
    __asm__("cosocket_unescape_uri");
size_t cosocket_ngx_quote_sql_str_length(const char *src, size_t len)
    __asm__("cosocket_quote_sql_str_length");
size_t cosocket_ngx_quote_sql_str(const char *src, size_t len, unsigned char *dst)
    __asm__("cosocket_quote_sql_str");
]]

local libc = ffi.C

-- The binding's library handle when it exposes one; else the same search
-- order as the binding: $COSOCKET_LIB, next to the binding, package.cpath,
-- the system linker.
local function load_lib(cosocket)
    if type(cosocket) == "table" then
        for _, k in ipairs { "C", "lib", "_lib", "clib" } do
            local v = rawget(cosocket, k)
            if type(v) == "userdata" then
                local ok = pcall(function() return v.cosocket_ngx_sha1_bin end)
                if ok then
                    return v
                end
            end
        end
    end
    local tried = {}
    local function try(path)
        if not path or path == "" then
            return nil
        end
        local ok, lib = pcall(ffi.load, path)
        if ok then
            return lib
        end
        tried[#tried + 1] = path
    end
    local lib = try(os.getenv("COSOCKET_LIB"))
    if lib then
        return lib
    end
    local src = debug.getinfo(1, "S").source
    local dir = src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/cosocket/[^/]*$")
    if dir then
        lib = try(dir .. "/libcosocket.so") or try(dir .. "/libcosocket.dylib")
        if lib then
            return lib
        end
    end
    local path = package.searchpath and package.searchpath("cosocket", package.cpath)
    lib = try(path) or try("cosocket")
    if lib then
        return lib
    end
    error("cosocket.ngx: cannot load libcosocket (tried " .. concat(tried, ", ") .. ")", 3)
end

local C -- libcosocket, loaded by the first new()

-- One growing output buffer for the string helpers.
local buf, buf_size = nil, 0
local function get_buf(n)
    if n > buf_size then
        buf_size = n > 4096 and n or 4096
        buf = ffi_new("unsigned char[?]", buf_size)
    end
    return buf
end
local size_cell = ffi_new("size_t[1]")
local ts = ffi_new("cosocket_ngx_timespec")

-- OpenResty's ngx.null is lightuserdata(NULL), the same value as cjson.null.
-- Plain LuaJIT cannot make a NULL lightuserdata, so: cjson.null when lua-cjson
-- is installed (then ngx.null == cjson.null, as in OpenResty), else a unique
-- lightuserdata of our own (debug.upvalueid). Either way type() is
-- "userdata" and it is not equal to nil (an FFI NULL would be).
local null
do
    local ok, cjson = pcall(require, "cjson")
    if ok and type(cjson) == "table" and type(cjson.null) == "userdata" then
        null = cjson.null
    else
        local anchor = {}
        null = debug.upvalueid(function() return anchor end, 1)
    end
end

local function str_arg(s)
    if type(s) ~= "string" then
        if not s then
            return ""
        end
        return tostring(s)
    end
    return s
end

local LEVELS = {
    STDERR = 0, EMERG = 1, ALERT = 2, CRIT = 3, ERR = 4,
    WARN = 5, NOTICE = 6, INFO = 7, DEBUG = 8,
}
local LEVEL_NAMES = { [0] = "stderr", "emerg", "alert", "crit", "error",
                      "warn", "notice", "info", "debug" }

local HTTP = {
    HTTP_GET = 2, HTTP_HEAD = 4, HTTP_POST = 8, HTTP_PUT = 16, HTTP_DELETE = 32,
    HTTP_MKCOL = 64, HTTP_COPY = 128, HTTP_MOVE = 256, HTTP_OPTIONS = 512,
    HTTP_PROPFIND = 1024, HTTP_PROPPATCH = 2048, HTTP_LOCK = 4096,
    HTTP_UNLOCK = 8192, HTTP_PATCH = 16384, HTTP_TRACE = 32768,
    HTTP_CONNECT = 65536,
    HTTP_CONTINUE = 100, HTTP_SWITCHING_PROTOCOLS = 101, HTTP_OK = 200,
    HTTP_CREATED = 201, HTTP_ACCEPTED = 202, HTTP_NO_CONTENT = 204,
    HTTP_PARTIAL_CONTENT = 206, HTTP_SPECIAL_RESPONSE = 300,
    HTTP_MOVED_PERMANENTLY = 301, HTTP_MOVED_TEMPORARILY = 302,
    HTTP_SEE_OTHER = 303, HTTP_NOT_MODIFIED = 304,
    HTTP_TEMPORARY_REDIRECT = 307, HTTP_PERMANENT_REDIRECT = 308,
    HTTP_BAD_REQUEST = 400, HTTP_UNAUTHORIZED = 401, HTTP_PAYMENT_REQUIRED = 402,
    HTTP_FORBIDDEN = 403, HTTP_NOT_FOUND = 404, HTTP_NOT_ALLOWED = 405,
    HTTP_NOT_ACCEPTABLE = 406, HTTP_REQUEST_TIMEOUT = 408, HTTP_CONFLICT = 409,
    HTTP_GONE = 410, HTTP_UPGRADE_REQUIRED = 426, HTTP_TOO_MANY_REQUESTS = 429,
    HTTP_CLOSE = 444, HTTP_ILLEGAL = 451, HTTP_INTERNAL_SERVER_ERROR = 500,
    HTTP_METHOD_NOT_IMPLEMENTED = 501, HTTP_BAD_GATEWAY = 502,
    HTTP_SERVICE_UNAVAILABLE = 503, HTTP_GATEWAY_TIMEOUT = 504,
    HTTP_VERSION_NOT_SUPPORTED = 505, HTTP_INSUFFICIENT_STORAGE = 507,
    OK = 0, ERROR = -1, AGAIN = -2, DONE = -4, DECLINED = -5,
}

local WEEK = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" }
local MONTHS = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
                 "Sep", "Oct", "Nov", "Dec" }
local MONTH_NUM = {}
for i, m in ipairs(MONTHS) do
    MONTH_NUM[m:lower()] = i
end

-- Seconds since the epoch of a UTC calendar date (days-from-civil; no
-- time zone involved).
local function timegm(y, mo, d, h, mi, s)
    if mo <= 2 then
        y = y - 1
    end
    local era = floor(y / 400)
    local yoe = y - era * 400
    local mp = (mo + 9) % 12
    local doy = floor((153 * mp + 2) / 5) + d - 1
    local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
    local days = era * 146097 + doe - 719468
    return ((days * 24 + h) * 60 + mi) * 60 + s
end

local function now()
    libc.cosocket_ngx_clock_gettime(0, ts) -- CLOCK_REALTIME
    return tonumber(ts.tv_sec) + floor(tonumber(ts.tv_nsec) / 1e6) / 1000
end

local function flatten(out, v, fname, argn)
    local t = type(v)
    if t == "string" then
        out[#out + 1] = v
    elseif t == "number" then
        out[#out + 1] = tostring(v)
    elseif t == "nil" then
        out[#out + 1] = "nil"
    elseif t == "boolean" then
        out[#out + 1] = v and "true" or "false"
    elseif v == null then
        out[#out + 1] = "null"
    elseif t == "table" then
        for i = 1, #v do
            flatten(out, v[i], fname, argn)
        end
    else
        error("bad argument #" .. argn .. " to '" .. fname
              .. "' (string, number, boolean, nil, ngx.null, or array table expected, got "
              .. t .. ")", 3)
    end
end

local M = {}

--- Builds a fresh ngx table over the binding `cosocket`.
-- opts: global (bool), log_level (number or name), prefix (string),
--       log (function(level, msg) replacing the stderr writer).
function M.new(cosocket, opts)
    opts = opts or {}
    if not C then
        C = load_lib(cosocket)
    end
    local re = require "cosocket.ngx_re"

    local ngx = {}
    for k, v in pairs(LEVELS) do
        ngx[k] = v
    end
    for k, v in pairs(HTTP) do
        ngx[k] = v
    end
    ngx.null = null

    ---------------------------------------------------------------- sockets
    local tcp = cosocket.tcp
    ngx.socket = {
        tcp = tcp,
        stream = tcp,
        udp = rawget(cosocket, "udp"),
        connect = function(host, port, ...)
            local sock, err = tcp()
            if not sock then
                return nil, err
            end
            local ok
            ok, err = sock:connect(host, port, ...)
            if not ok then
                return nil, err
            end
            return sock
        end,
    }

    ---------------------------------------------------------------- threads
    local spawn, wait, kill, sleep = cosocket.spawn, cosocket.wait, cosocket.kill, cosocket.sleep
    ngx.thread = { spawn = spawn, wait = wait, kill = kill }
    ngx.sleep = sleep
    -- The light thread running now (even inside a user coroutine), or nil.
    local current = cosocket.running or co_running

    ---------------------------------------------------------------- log
    local log_level = opts.log_level or LEVELS.ERR
    if type(log_level) == "string" then
        local name = log_level:upper()
        log_level = LEVELS[name == "ERROR" and "ERR" or name == "WARNING" and "WARN" or name]
        if not log_level then
            error("cosocket.ngx: unknown log_level " .. tostring(opts.log_level), 2)
        end
    end
    local log_sink = opts.log or function(_, msg)
        io_stderr:write(msg)
        io_stderr:flush()
    end
    local pid_cache

    local function log(level, ...)
        if type(level) ~= "number" then
            error("bad argument #1 to 'log' (number expected, got " .. type(level) .. ")", 2)
        end
        if level > log_level and level ~= 0 then
            return
        end
        if level < 0 or level > 8 then
            error("bad log level: " .. level, 2)
        end
        local parts = {}
        for i = 1, select("#", ...) do
            local v = select(i, ...)
            local t = type(v)
            if t == "string" then
                parts[#parts + 1] = v
            elseif t == "number" then
                parts[#parts + 1] = tostring(v)
            elseif t == "nil" then
                parts[#parts + 1] = "nil"
            elseif t == "boolean" then
                parts[#parts + 1] = v and "true" or "false"
            elseif v == null then
                parts[#parts + 1] = "null"
            elseif t == "table" then
                local mt = getmetatable(v)
                if not (mt and mt.__tostring) then
                    error("bad argument #" .. (i + 1)
                          .. " to 'log' (expected table to have __tostring metamethod)", 2)
                end
                parts[#parts + 1] = tostring(v)
            else
                error("bad argument #" .. (i + 1)
                      .. " to 'log' (string, number, boolean, or nil expected, got "
                      .. t .. ")", 2)
            end
        end
        local info = debug.getinfo(2, "Sln")
        local where = ""
        if info then
            where = info.short_src .. ":" .. (info.currentline or 0) .. ": "
            if info.name then
                where = where .. info.name .. "(): "
            end
        end
        pid_cache = pid_cache or libc.cosocket_ngx_getpid()
        log_sink(level, os_date("%Y/%m/%d %H:%M:%S") .. " [" .. LEVEL_NAMES[level] .. "] "
                 .. pid_cache .. "#0: [lua] " .. where .. concat(parts) .. "\n")
    end
    ngx.log = log

    ---------------------------------------------------------------- output
    ngx.print = function(...)
        local out = {}
        for i = 1, select("#", ...) do
            flatten(out, (select(i, ...)), "print", i)
        end
        io_stdout:write(concat(out))
        return 1
    end
    ngx.say = function(...)
        local out = {}
        for i = 1, select("#", ...) do
            flatten(out, (select(i, ...)), "say", i)
        end
        out[#out + 1] = "\n"
        io_stdout:write(concat(out))
        return 1
    end
    ngx.flush = function()
        io_stdout:flush()
        return 1
    end
    ngx.eof = function() return 1 end
    ngx.send_headers = function() return 1 end
    ngx.headers_sent = false
    ngx.status = 0
    ngx.exit = function(status)
        if type(status) ~= "number" then
            error("bad argument #1 to 'exit' (number expected, got " .. type(status) .. ")", 2)
        end
        if status >= 200 then
            ngx.status = status
        end
    end
    ngx.header = {}
    ngx.ctx = {}
    ngx.var = {}
    ngx.arg = {}
    ngx.shared = {}
    ngx.is_subrequest = false
    ngx.req = {
        get_headers = function() return {} end,
        get_uri_args = function() return {} end,
        get_post_args = function() return {} end,
        get_method = function() return "GET" end,
        http_version = function() return 1.1 end,
        raw_header = function() return "" end,
        read_body = function() end,
        discard_body = function() end,
        get_body_data = function() return nil end,
        get_body_file = function() return nil end,
        init_body = function() end,
        append_body = function() end,
        finish_body = function() end,
        set_header = function() end,
        clear_header = function() end,
        set_uri = function() end,
        set_uri_args = function() end,
        set_method = function() end,
        set_body_data = function() end,
        set_body_file = function() end,
        is_internal = function() return false end,
        socket = function() return nil, "no request" end,
        start_time = function() return cosocket.now and cosocket.now() or now() end,
    }
    ngx.resp = { get_headers = function() return {} end }
    ngx.location = {
        capture = function() return nil, "no subrequests outside nginx" end,
        capture_multi = function() return nil, "no subrequests outside nginx" end,
    }
    ngx.redirect = function() end
    ngx.exec = function() end
    ngx.on_abort = function() return nil, "no request" end

    ---------------------------------------------------------------- time
    -- Cached like nginx's (refreshed when the scheduler wakes up) when the
    -- binding provides it; else read from the clock on every call.
    local cached_now = cosocket.now or now
    ngx.now = cached_now
    ngx.time = function() return floor(cached_now()) end
    ngx.update_time = cosocket.update_time or function() end
    ngx.today = function() return os_date("%Y-%m-%d") end
    ngx.localtime = function() return os_date("%Y-%m-%d %H:%M:%S") end
    ngx.utctime = function() return os_date("!%Y-%m-%d %H:%M:%S") end
    ngx.http_time = function(sec)
        sec = tonumber(sec)
        if not sec then
            error("bad argument #1 to 'http_time' (number expected)", 2)
        end
        local t = os_date("!*t", sec)
        return string.format("%s, %02d %s %4d %02d:%02d:%02d GMT", WEEK[t.wday], t.day,
                             MONTHS[t.month], t.year, t.hour, t.min, t.sec)
    end
    ngx.cookie_time = function(sec)
        sec = tonumber(sec)
        if not sec then
            error("bad argument #1 to 'cookie_time' (number expected)", 2)
        end
        local t = os_date("!*t", sec)
        -- nginx's ngx_http_cookie_time: a 2-digit year (Netscape 3) until 2037.
        local year = t.year > 2037 and tostring(t.year) or string.format("%02d", t.year % 100)
        return string.format("%s, %02d-%s-%s %02d:%02d:%02d GMT", WEEK[t.wday], t.day,
                             MONTHS[t.month], year, t.hour, t.min, t.sec)
    end
    ngx.parse_http_time = function(str)
        if type(str) ~= "string" then
            error("string argument only", 2)
        end
        local d, mon, y, h, mi, s
        -- RFC 1123: "Sun, 06 Nov 1994 08:49:37 GMT"
        d, mon, y, h, mi, s = str:match("^%a+, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
        if not d then
            -- RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" (and 4-digit years)
            d, mon, y, h, mi, s = str:match("^%a+, (%d%d)%-(%a%a%a)%-(%d+) (%d%d):(%d%d):(%d%d) GMT$")
        end
        if not d then
            -- asctime: "Sun Nov  6 08:49:37 1994"
            mon, d, h, mi, s, y = str:match("^%a+ (%a%a%a) +(%d+) (%d%d):(%d%d):(%d%d) (%d%d%d%d)$")
        end
        if not d then
            return nil
        end
        local m = MONTH_NUM[mon:lower()]
        y, d, h, mi, s = tonumber(y), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
        if #tostring(y) == 2 then
            y = y + (y < 70 and 2000 or 1900)
        end
        if not m or d < 1 or d > 31 or h > 23 or mi > 59 or s > 59 then
            return nil
        end
        return timegm(y, m, d, h, mi, s)
    end

    ---------------------------------------------------------------- phases, timers
    local timer_threads = setmetatable({}, { __mode = "k" })
    local exiting = false
    local pending, running = 0, 0
    local pending_timers = {} -- [thread] = { cb, args }

    ngx.get_phase = function()
        local co = current()
        if co and timer_threads[co] then
            return "timer"
        end
        return "content"
    end

    local function run_callback(cb, premature, ...)
        running = running + 1
        local ok, err = xpcall(cb, debug.traceback, premature, ...)
        running = running - 1
        if not ok then
            log(LEVELS.ERR, "lua entry thread aborted: runtime error: ", tostring(err))
        end
    end

    local function timer_body(delay, every, cb, ...)
        local me = current()
        timer_threads[me] = true
        repeat
            -- Always yield first: a timer never runs inside timer.at(). Long
            -- delays sleep in slices of a second, so that a worker exit that
            -- could not kill this thread (only its parent may) ends it soon.
            local left = delay
            repeat
                local step = left > 1 and 1 or left
                sleep(step)
                left = left - step
            until left <= 0 or exiting
            if exiting then
                break
            end
            pending = pending - 1
            pending_timers[me] = nil
            run_callback(cb, false, ...)
            if every and not exiting then
                pending = pending + 1
                pending_timers[me] = { cb, ... }
            end
        until not every or exiting
    end

    local function check_timer_args(fname, delay, cb)
        if type(delay) ~= "number" then
            error("bad argument #1 to '" .. fname .. "' (number expected, got "
                  .. type(delay) .. ")", 3)
        end
        if delay < 0 then
            error("bad argument #1 to '" .. fname .. "' (delay must not be negative)", 3)
        end
        if type(cb) ~= "function" then
            error("bad argument #2 to '" .. fname .. "' (function expected, got "
                  .. type(cb) .. ")", 3)
        end
    end

    local function new_timer(delay, every, cb, ...)
        if exiting then
            return nil, "process exiting"
        end
        local th = spawn(timer_body, delay, every, cb, ...)
        if not th then
            return nil, "failed to create timer"
        end
        pending = pending + 1
        pending_timers[th] = { cb, ... }
        return true
    end

    ngx.timer = {
        at = function(delay, cb, ...)
            check_timer_args("at", delay, cb)
            return new_timer(delay, false, cb, ...)
        end,
        every = function(delay, cb, ...)
            check_timer_args("every", delay, cb)
            if delay == 0 then
                error("bad argument #1 to 'every' (delay cannot be zero)", 2)
            end
            return new_timer(delay, true, cb, ...)
        end,
        running_count = function() return running end,
        pending_count = function() return pending end,
    }

    ---------------------------------------------------------------- worker, config
    ngx.worker = {
        exiting = function() return exiting end,
        pid = function() return libc.cosocket_ngx_getpid() end,
        id = function() return 0 end,
        count = function() return 1 end,
    }
    local prefix = opts.prefix or ((os.getenv("PWD") or ".") .. "/")
    ngx.config = {
        subsystem = "http",
        ngx_lua_version = 10026,
        nginx_version = 1025003,
        debug = false,
        is_console = false,
        prefix = function() return prefix end,
        nginx_configure = function() return "" end,
    }

    --- Not in nginx: ends the "worker". exiting() becomes true, pending
    -- timers are cancelled and their callbacks run with premature = true,
    -- as nginx does on shutdown; new timers are refused.
    ngx.cosocket_exit_worker = function()
        if exiting then
            return
        end
        exiting = true
        local list = {}
        for th, t in pairs(pending_timers) do
            list[#list + 1] = { th, t }
        end
        pending_timers = {}
        for _, e in ipairs(list) do
            pcall(kill, e[1])
            pending = pending - 1
            local t = e[2]
            local th = spawn(function(...)
                timer_threads[current()] = true
                run_callback(...)
            end, t[1], true, unpack(t, 2, table.maxn(t)))
            if th then
                timer_threads[th] = true
            end
        end
    end

    ---------------------------------------------------------------- digests, codecs
    ngx.md5_bin = function(s)
        s = str_arg(s)
        local out = get_buf(16)
        C.cosocket_ngx_md5_bin(s, #s, out)
        return ffi_string(out, 16)
    end
    ngx.md5 = function(s)
        s = str_arg(s)
        local out = get_buf(32)
        C.cosocket_ngx_md5_hex(s, #s, out)
        return ffi_string(out, 32)
    end
    ngx.sha1_bin = function(s)
        s = str_arg(s)
        local out = get_buf(20)
        C.cosocket_ngx_sha1_bin(s, #s, out)
        return ffi_string(out, 20)
    end
    ngx.hmac_sha1 = function(key, s)
        if type(key) ~= "string" then
            if type(key) ~= "number" then
                error("bad argument #1 to 'hmac_sha1' (string expected, got " .. type(key) .. ")", 2)
            end
            key = tostring(key)
        end
        if type(s) ~= "string" then
            if type(s) ~= "number" then
                error("bad argument #2 to 'hmac_sha1' (string expected, got " .. type(s) .. ")", 2)
            end
            s = tostring(s)
        end
        local out = get_buf(20)
        C.cosocket_ngx_hmac_sha1(key, #key, s, #s, out)
        return ffi_string(out, 20)
    end
    ngx.crc32_short = function(s)
        s = str_arg(s)
        return tonumber(C.cosocket_ngx_crc32(s, #s))
    end
    ngx.crc32_long = ngx.crc32_short

    ngx.encode_base64 = function(s, no_padding)
        s = str_arg(s)
        if no_padding and no_padding ~= true then
            error("bad no_padding: boolean expected, got " .. type(no_padding), 2)
        end
        local np = no_padding == true
        local n = tonumber(C.cosocket_ngx_base64_encoded_length(#s, np))
        local out = get_buf(n)
        n = tonumber(C.cosocket_ngx_base64_encode(s, #s, out, np))
        return ffi_string(out, n)
    end
    ngx.decode_base64 = function(s)
        if type(s) ~= "string" then
            error("string argument only", 2)
        end
        local out = get_buf(tonumber(C.cosocket_ngx_base64_decoded_length(#s)))
        if not C.cosocket_ngx_base64_decode(s, #s, out, size_cell) then
            return nil
        end
        return ffi_string(out, size_cell[0])
    end

    local function escape_uri(s, esc_type)
        s = str_arg(s)
        if esc_type == nil then
            esc_type = 2
        else
            if type(esc_type) ~= "number" then
                error("\"type\" is not a number", 2)
            end
            if esc_type < 0 or esc_type > 6 then
                error("\"type\" " .. esc_type .. " out of range", 2)
            end
        end
        local n = tonumber(C.cosocket_ngx_uri_escaped_length(s, #s, esc_type))
        if n == #s then
            return s
        end
        local out = get_buf(n)
        C.cosocket_ngx_escape_uri(s, #s, out, esc_type)
        return ffi_string(out, n)
    end
    ngx.escape_uri = escape_uri

    local function unescape_uri(s)
        s = str_arg(s)
        local out = get_buf(#s)
        local n = tonumber(C.cosocket_ngx_unescape_uri(s, #s, out))
        return ffi_string(out, n)
    end
    ngx.unescape_uri = unescape_uri

    ngx.quote_sql_str = function(s)
        if type(s) ~= "string" then
            if type(s) ~= "number" then
                error("bad argument #1 to 'quote_sql_str' (string expected, got " .. type(s) .. ")", 2)
            end
            s = tostring(s)
        end
        local n = tonumber(C.cosocket_ngx_quote_sql_str_length(s, #s))
        local out = get_buf(n)
        C.cosocket_ngx_quote_sql_str(s, #s, out)
        return ffi_string(out, n)
    end

    ngx.encode_args = function(args)
        if type(args) ~= "table" then
            error("bad argument #1 to 'encode_args' (table expected, got " .. type(args) .. ")", 2)
        end
        local out = {}
        for k, v in pairs(args) do
            if type(k) ~= "string" then
                error("attempt to use a non-string key in the \"args\" option table", 2)
            end
            local key = escape_uri(k, 2)
            local t = type(v)
            if t == "string" or t == "number" then
                out[#out + 1] = key .. "=" .. escape_uri(tostring(v), 2)
            elseif t == "boolean" then
                if v then
                    out[#out + 1] = key
                end
            elseif t == "table" then
                for _, item in pairs(v) do
                    local it = type(item)
                    if it == "boolean" then
                        if item then
                            out[#out + 1] = key
                        end
                    elseif it == "string" or it == "number" then
                        out[#out + 1] = key .. "=" .. escape_uri(tostring(item), 2)
                    else
                        error("attempt to use " .. it .. " as query arg value", 2)
                    end
                end
            else
                error("attempt to use " .. t .. " as query arg value", 2)
            end
        end
        return concat(out, "&")
    end

    ngx.decode_args = function(str, max_args)
        if type(str) ~= "string" then
            if type(str) ~= "number" then
                error("bad argument #1 to 'decode_args' (string expected, got " .. type(str) .. ")", 2)
            end
            str = tostring(str)
        end
        max_args = max_args or 100
        -- ngx_http_lua_parse_args: pairs split on "&", the first "=" splits
        -- key and value, a key alone is true, empty keys are skipped (but
        -- counted), repeated keys collect their values in an array.
        local res = {}
        local count = 0
        local len = #str
        local i = 1
        while true do
            local amp = str:find("&", i, true)
            local piece = str:sub(i, (amp or len + 1) - 1)
            if amp or piece ~= "" then
                local k, v
                local eq = piece:find("=", 1, true)
                if eq then
                    k, v = unescape_uri(piece:sub(1, eq - 1)), unescape_uri(piece:sub(eq + 1))
                else
                    k, v = unescape_uri(piece), true
                end
                if k ~= "" then
                    local old = res[k]
                    if old == nil then
                        res[k] = v
                    elseif type(old) == "table" then
                        old[#old + 1] = v
                    else
                        res[k] = { old, v }
                    end
                end
            end
            if not amp then
                break
            end
            count = count + 1
            if max_args > 0 and count == max_args then
                return res, "truncated"
            end
            i = amp + 1
        end
        return res
    end

    ---------------------------------------------------------------- ngx.re
    if re.no_pcre then
        -- Without PCRE2 every ngx.re.* raises when used (not when looked up
        -- here), as in OpenResty built without PCRE.
        ngx.re = re
    else
        ngx.re = {
            match = re.match,
            find = re.find,
            gmatch = re.gmatch,
            sub = re.sub,
            gsub = re.gsub,
        }
    end

    ---------------------------------------------------------------- globals
    if opts.global then
        _G.ngx = ngx
        local co = rawget(cosocket, "coroutine")
        if type(co) ~= "table" then
            local ok, mod = pcall(require, "cosocket.coroutine")
            co = ok and mod or nil
        end
        if type(co) == "table" then
            for _, name in ipairs { "create", "resume", "wrap", "yield", "status",
                                    "running", "isyieldable" } do
                if co[name] then
                    coroutine[name] = co[name]
                end
            end
        end
        if not re.no_pcre then
            package.loaded["ngx.re"] = package.loaded["ngx.re"] or re.module
        end
    end
    return ngx
end

M.null = null

return M
