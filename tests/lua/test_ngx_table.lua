-- cosocket.ngx(): every entry of the compatibility table (issue 5), the
-- global install, logging, time, timers, threads, sockets and the harmless
-- request-bound entries.

local t = require "t"
local cosocket = require "cosocket"
local ffi = require "ffi"

local LUAJIT = os.getenv("LUAJIT") or "luajit"

local function capture_log(opts)
    local lines = {}
    opts = opts or {}
    opts.log = function(level, msg) lines[#lines + 1] = { level, msg } end
    return cosocket.ngx(opts), lines
end

-- Runs a Lua snippet in a fresh luajit, returns its stdout and stderr.
local function run_snippet(code, env)
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    -- the same module search paths as this process, however they were set
    f:write(string.format("package.path = %q; package.cpath = %q\n", package.path, package.cpath))
    f:write(code)
    f:close()
    local errpath = os.tmpname()
    local h = assert(io.popen(string.format("%s %s %s 2>%s", env or "", LUAJIT, path, errpath)))
    local out = h:read("*a")
    h:close()
    local ef = io.open(errpath, "rb")
    local err = ef:read("*a")
    ef:close()
    os.remove(path)
    os.remove(errpath)
    return out, err
end

t.test("every entry of issue 5 is there, with its type", function()
    local ngx = cosocket.ngx()
    local want = {
        "socket.tcp", "socket.stream", "socket.connect", "sleep", "now", "time",
        "update_time", "today", "localtime", "utctime", "http_time", "cookie_time",
        "parse_http_time", "log", "thread.spawn", "thread.wait", "thread.kill", "timer.at",
        "timer.every", "timer.running_count", "timer.pending_count", "worker.exiting",
        "worker.pid", "worker.id", "worker.count", "get_phase", "config.prefix", "sha1_bin",
        "md5", "md5_bin", "crc32_short", "crc32_long", "hmac_sha1", "encode_base64",
        "decode_base64", "escape_uri", "unescape_uri", "encode_args", "decode_args",
        "quote_sql_str", "re.match", "re.find", "re.gmatch", "re.sub", "re.gsub", "print",
        "say", "flush", "exit", "req.get_headers", "req.get_uri_args", "req.read_body",
        "req.get_body_data", "req.get_method", "req.http_version", "req.start_time",
        "req.socket",
    }
    for _, path in ipairs(want) do
        local v = ngx
        for part in path:gmatch("[^.]+") do
            v = v[part]
        end
        t.eq(type(v), "function", "ngx." .. path)
    end
    for _, name in ipairs { "ctx", "var", "header", "shared", "arg", "req", "config", "worker",
                            "thread", "timer", "socket", "re" } do
        t.eq(type(ngx[name]), "table", "ngx." .. name)
    end
    local levels = { STDERR = 0, EMERG = 1, ALERT = 2, CRIT = 3, ERR = 4, WARN = 5,
                     NOTICE = 6, INFO = 7, DEBUG = 8 }
    for k, v in pairs(levels) do
        t.eq(ngx[k], v, "ngx." .. k)
    end
    t.eq(ngx.OK, 0, "OK")
    t.eq(ngx.ERROR, -1, "ERROR")
    t.eq(ngx.HTTP_OK, 200, "HTTP_OK")
    t.eq(ngx.HTTP_GET, 2, "HTTP_GET")
    t.eq(ngx.status, 0, "status")
    t.eq(ngx.socket.tcp, cosocket.tcp, "socket.tcp is the binding's")
    t.eq(ngx.socket.stream, cosocket.tcp, "socket.stream")
    t.eq(ngx.socket.udp, cosocket.udp, "socket.udp")
    t.eq(ngx.thread.spawn, cosocket.spawn, "thread.spawn")
    t.eq(ngx.thread.wait, cosocket.wait, "thread.wait")
    t.eq(ngx.thread.kill, cosocket.kill, "thread.kill")
    t.eq(ngx.sleep, cosocket.sleep, "sleep")
end)

t.test("ngx.null: a unique lightuserdata, not nil", function()
    local a, b = cosocket.ngx(), cosocket.ngx()
    t.eq(type(a.null), "userdata", "type")
    t.ok(a.null ~= nil, "not equal to nil")
    t.eq(a.null, b.null, "same value in every table")
    t.ok(a.null ~= false and a.null ~= 0 and a.null ~= "", "not a plain value")
    local ok, cjson = pcall(require, "cjson")
    if ok then
        t.eq(a.null, cjson.null, "cjson.null when lua-cjson is there")
    end
end)

t.test("config, worker, get_phase", function()
    local ngx = cosocket.ngx { prefix = "/srv/app/" }
    t.eq(ngx.config.subsystem, "http", "subsystem")
    t.eq(ngx.config.ngx_lua_version, 10026, "ngx_lua_version")
    t.eq(ngx.config.nginx_version, 1025003, "nginx_version")
    t.eq(ngx.config.debug, false, "debug")
    t.eq(ngx.config.prefix(), "/srv/app/", "prefix option")
    t.eq(cosocket.ngx().config.prefix():sub(-1), "/", "default prefix ends with /")
    pcall(ffi.cdef, "int getpid(void);")
    t.eq(ngx.worker.pid(), ffi.C.getpid(), "pid")
    t.eq(ngx.worker.id(), 0, "id")
    t.eq(ngx.worker.count(), 1, "count")
    t.eq(ngx.worker.exiting(), false, "exiting")
    t.eq(ngx.get_phase(), "content", "outside the scheduler")
    local _, inside = cosocket.run(function() return ngx.get_phase() end)
    t.eq(inside, "content", "in a thread")
end)

t.test("time: now, time, update_time, today, localtime, utctime", function()
    local ngx = cosocket.ngx()
    local now = ngx.now()
    t.ok(math.abs(now - os.time()) < 2, "now is the epoch time")
    t.ok(now * 1000 == math.floor(now * 1000 + 0.5), "millisecond precision")
    t.eq(ngx.time(), math.floor(ngx.time()), "time is an integer")
    t.ok(math.abs(ngx.time() - os.time()) <= 1, "time")
    ngx.update_time()
    t.ok(ngx.today():match("^%d%d%d%d%-%d%d%-%d%d$"), "today " .. ngx.today())
    t.ok(ngx.localtime():match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$"), "localtime")
    t.ok(ngx.utctime():match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$"), "utctime")
    t.eq(ngx.utctime(), os.date("!%Y-%m-%d %H:%M:%S"), "utctime value")
    t.eq(ngx.http_time(1290079655), "Thu, 18 Nov 2010 11:27:35 GMT", "http_time")
    t.eq(ngx.cookie_time(1290079655), "Thu, 18-Nov-10 11:27:35 GMT", "cookie_time")
    t.eq(ngx.cookie_time(4102444800), "Fri, 01-Jan-2100 00:00:00 GMT", "cookie_time after 2037")
    t.eq(ngx.parse_http_time("Thu, 18 Nov 2010 11:27:35 GMT"), 1290079655, "parse_http_time")
    t.eq(ngx.parse_http_time("nonsense"), nil, "parse_http_time bad")
    -- inside the scheduler now() is cached and refreshed by update_time
    cosocket.run(function()
        local a = ngx.now()
        t.msleep(30)
        t.eq(ngx.now(), a, "cached while the thread runs")
        ngx.update_time()
        t.ok(ngx.now() >= a + 0.02, "update_time refreshes")
        ngx.sleep(0.01)
        t.ok(ngx.now() >= a + 0.03, "a wake-up refreshes")
    end)
end)

t.test("log: levels, threshold, format, argument rules", function()
    local ngx, lines = capture_log()
    ngx.log(ngx.ERR, "a", 1, nil, true, false, ngx.null, 2.5)
    ngx.log(ngx.WARN, "filtered by the default ERR threshold")
    ngx.log(ngx.STDERR, "stderr always")
    t.eq(#lines, 2, "default level is ERR")
    t.eq(lines[1][1], ngx.ERR, "level passed to the sink")
    local msg = lines[1][2]
    t.ok(msg:match("^%d%d%d%d/%d%d/%d%d %d%d:%d%d:%d%d %[error%] %d+#0: %[lua%] "), msg)
    t.ok(msg:find("test_ngx_table.lua:%d+: "), "source position: " .. msg)
    t.ok(msg:find("a1niltruefalsenull2.5\n$"), "arguments: " .. msg)
    t.ok(lines[2][2]:find("%[stderr%]"), lines[2][2])
    local obj = setmetatable({}, { __tostring = function() return "OBJ" end })
    ngx.log(ngx.ERR, obj)
    t.ok(lines[3][2]:find("OBJ\n$"), "__tostring")
    t.raises("bad argument #2 to 'log' (expected table to have __tostring metamethod)",
             ngx.log, ngx.ERR, {})
    t.raises("bad argument #1 to 'log' (number expected, got string)", ngx.log, "x")
    t.raises("bad argument #3 to 'log' (string, number, boolean, or nil expected, got function)",
             ngx.log, ngx.ERR, "x", print)
    local dbg, dlines = capture_log { log_level = "debug" }
    dbg.log(dbg.DEBUG, "d")
    dbg.log(dbg.INFO, "i")
    t.eq(#dlines, 2, "debug level shows everything")
    t.ok(dlines[1][2]:find("%[debug%]"), dlines[1][2])
    local warn, wlines = capture_log { log_level = cosocket.ngx().WARN }
    warn.log(warn.NOTICE, "no")
    warn.log(warn.WARN, "yes")
    t.eq(#wlines, 1, "numeric threshold")
    t.raises("unknown log_level loud", cosocket.ngx, { log_level = "loud" })
    -- without a sink: one line on stderr
    local _, err = run_snippet([[
        local ngx = require("cosocket").ngx()
        ngx.log(ngx.ERR, "to stderr")
        ngx.log(ngx.INFO, "not shown")
    ]])
    t.ok(err:find("%[error%] %d+#0: %[lua%] [^\n]*to stderr\n$"), "stderr: " .. err)
    t.ok(not err:find("not shown"), "threshold on stderr")
end)

t.test("print, say, flush, exit, status: to stdout, harmless", function()
    local out = run_snippet([[
        local ngx = require("cosocket").ngx()
        ngx.print("a", 1, { "b", { "c" } }, nil, true)
        ngx.say(" d", ngx.null)
        ngx.flush()
        ngx.exit(404)
        ngx.say("after exit; status ", ngx.status)
    ]])
    t.eq(out, "a1bcniltrue dnull\nafter exit; status 404\n", "stdout")
    local ngx = cosocket.ngx()
    t.raises("bad argument #1 to 'say' (string, number, boolean, nil, ngx.null, or array table expected, got function)",
             ngx.say, print)
end)

t.test("request-bound entries are harmless", function()
    local ngx = cosocket.ngx()
    t.eq(next(ngx.var), nil, "var is empty")
    t.eq(ngx.var.http_traceparent, nil, "any variable reads nil")
    t.eq(next(ngx.ctx), nil, "ctx is a table")
    ngx.ctx.foo = 1
    t.eq(ngx.ctx.foo, 1, "ctx keeps values")
    t.eq(next(ngx.header), nil, "header is a table")
    t.eq(next(ngx.shared), nil, "no shared dicts")
    t.eq(next(ngx.req.get_headers()), nil, "no request headers")
    t.eq(next(ngx.req.get_uri_args()), nil, "no uri args")
    t.eq(ngx.req.get_body_data(), nil, "no body")
    t.eq(ngx.req.read_body(), nil, "read_body")
    t.eq(ngx.req.get_method(), "GET", "method")
    t.eq(ngx.req.http_version(), 1.1, "http_version")
    t.eq(type(ngx.req.start_time()), "number", "start_time")
    t.rets("req.socket", { nil, "no request" }, ngx.req.socket())
end)

t.test("without PCRE2, ngx.re.* raise when used, the rest works", function()
    local out, err = run_snippet([[
        local ngx = require("cosocket").ngx()
        print(ngx.md5("a"), type(ngx.re))
        local ok, e = pcall(function() return ngx.re.match("a", "a") end)
        print(ok, e)
    ]], "COSOCKET_PCRE2_LIB=/nonexistent/libpcre2.so")
    t.ok(out:find("^0cc175b9c0f1b6a831c399e269772661\ttable\nfalse\t[^\n]*no support for 'ngx.re.match': cannot load PCRE2 %(tried /nonexistent/libpcre2.so;"),
         out .. err)
end)

t.test("table.new and table.clear are requirable", function()
    local new = require "table.new"
    local clear = require "table.clear"
    local tab = new(4, 4)
    tab[1], tab.x = 1, 2
    clear(tab)
    t.eq(next(tab), nil, "cleared")
end)

t.test("no globals unless asked; global = true sets _G.ngx and coroutine.*", function()
    local before = rawget(_G, "ngx")
    local saved = {}
    for k, v in pairs(coroutine) do saved[k] = v end
    local ngx = cosocket.ngx()
    t.eq(rawget(_G, "ngx"), before, "_G.ngx untouched")
    t.eq(coroutine.wrap, saved.wrap, "coroutine untouched")
    local g = cosocket.ngx { global = true }
    t.eq(rawget(_G, "ngx"), g, "_G.ngx set")
    for _, k in ipairs { "create", "resume", "wrap", "yield", "status", "running" } do
        t.eq(coroutine[k], cosocket.coroutine[k], "aware coroutine." .. k .. " installed")
    end
    t.ok(ngx ~= g, "a fresh table per call")
    _G.ngx = before
    for k, v in pairs(saved) do coroutine[k] = v end
end)

t.test("sleep yields to other threads", function()
    local ngx = cosocket.ngx()
    local order = {}
    cosocket.run(function()
        local a = ngx.thread.spawn(function()
            order[#order + 1] = "a1"
            ngx.sleep(0.02)
            order[#order + 1] = "a2"
        end)
        local b = ngx.thread.spawn(function()
            order[#order + 1] = "b1"
            ngx.sleep(0.01)
            order[#order + 1] = "b2"
        end)
        ngx.thread.wait(a)
        ngx.thread.wait(b)
    end)
    t.eq(table.concat(order, " "), "a1 b1 b2 a2", "interleaved")
end)

t.test("thread.spawn/wait/kill through the table", function()
    local ngx = cosocket.ngx()
    cosocket.run(function()
        local th = ngx.thread.spawn(function(x) ngx.sleep(0.001) return x * 2 end, 21)
        t.rets("wait", { true, 42 }, ngx.thread.wait(th))
        local th2 = ngx.thread.spawn(function() ngx.sleep(10) end)
        t.rets("kill", { 1 }, ngx.thread.kill(th2))
    end)
end)

t.test("timer.at: a new light thread, later, premature false, phase timer", function()
    local ngx, lines = capture_log()
    local got = {}
    cosocket.run(function()
        local ok = ngx.timer.at(0.01, function(premature, a, b)
            got.premature, got.a, got.b = premature, a, b
            got.phase = ngx.get_phase()
            got.time = ngx.now()
            -- inside a user coroutine of the callback too
            got.inner_phase = coroutine.wrap(function() return ngx.get_phase() end)()
        end, "x", nil)
        t.eq(ok, true, "timer.at returns true")
        t.eq(ngx.timer.pending_count(), 1, "pending")
        t.eq(got.a, nil, "not run synchronously")
        got.start = ngx.now()
        local ok0 = ngx.timer.at(0, function() got.zero = ngx.get_phase() end)
        t.eq(ok0, true, "zero delay")
        t.eq(got.zero, nil, "zero delay is still later")
        ngx.timer.at(0, function() error("boom") end)
    end)
    t.eq(got.premature, false, "premature")
    t.eq(got.a, "x", "argument")
    t.eq(got.b, nil, "nil argument")
    t.eq(got.phase, "timer", "phase")
    t.eq(got.zero, "timer", "zero-delay timer ran")
    t.ok(got.time - got.start >= 0.009, "after the delay")
    t.eq(ngx.timer.pending_count(), 0, "none pending")
    t.eq(ngx.timer.running_count(), 0, "none running")
    t.eq(#lines, 1, "an error in a callback is logged")
    t.ok(lines[1][2]:find("lua entry thread aborted: runtime error: .*boom"), lines[1][2])
    t.raises("bad argument #1 to 'at' (number expected, got string)", ngx.timer.at, "1", print)
    t.raises("bad argument #2 to 'at' (function expected, got nil)", ngx.timer.at, 1)
    t.raises("bad argument #1 to 'at' (delay must not be negative)", ngx.timer.at, -1, print)
end)

t.test("timer.every and the worker exit: premature = true", function()
    local ngx = cosocket.ngx()
    local calls = {}
    cosocket.run(function()
        t.eq(ngx.timer.every(0.005, function(premature, tag)
            calls[#calls + 1] = tostring(premature) .. ":" .. tag
        end, "e"), true, "every")
        ngx.timer.at(100, function(premature) calls[#calls + 1] = "at:" .. tostring(premature) end)
        ngx.sleep(0.03)
        ngx.cosocket_exit_worker()
        t.eq(ngx.worker.exiting(), true, "exiting")
        t.rets("no new timers", { nil, "process exiting" }, ngx.timer.at(0, print))
    end)
    t.ok(#calls >= 3, "every ran several times: " .. table.concat(calls, " "))
    t.eq(calls[1], "false:e", "first call")
    local premature = {}
    for _, c in ipairs(calls) do
        if c:find("^true") or c == "at:true" then
            premature[#premature + 1] = c
        end
    end
    table.sort(premature)
    t.eq(table.concat(premature, " "), "at:true true:e", "both cancelled with premature")
    t.raises("bad argument #1 to 'every' (delay cannot be zero)", cosocket.ngx().timer.every, 0, print)
end)

t.test("worker exit ends timers created by another thread (not killable)", function()
    local ngx = cosocket.ngx()
    local got
    local t0 = t.clock()
    cosocket.run(function()
        local th = ngx.thread.spawn(function()
            ngx.timer.at(30, function(premature) got = premature end)
        end)
        ngx.thread.wait(th)
        ngx.sleep(0.01)
        ngx.cosocket_exit_worker()
    end)
    t.eq(got, true, "premature callback")
    t.ok(t.clock() - t0 < 3, "run returned soon")
end)

t.test("socket.tcp, socket.connect against a peer", function()
    local ngx = cosocket.ngx()
    local p = t.peer("send hello\\r\\nworld\\n;line;send got it\\n", "--conns 2")
    local sock = ngx.socket.tcp()
    sock:settimeout(2000)
    t.rets("connect", { 1 }, sock:connect("127.0.0.1", p.port))
    t.rets("line 1", { "hello" }, sock:receive())
    t.rets("line 2", { "world" }, sock:receive("*l"))
    t.rets("send", { 5 }, sock:send({ "p", { "in" }, "g\n" }))
    t.rets("reply", { "got it" }, sock:receive())
    sock:close()
    local s2, err = ngx.socket.connect("127.0.0.1", p.port)
    t.ok(s2, "socket.connect: " .. tostring(err))
    t.rets("first line", { "hello" }, s2:receive())
    s2:close()
    local refused = t.peer(nil, "--mode refuse")
    t.rets("refused", { nil, "connection refused" }, ngx.socket.connect("127.0.0.1", refused.port))
end)

t.test("a receive inside the library's own coroutine.wrap (lua-resty-http style)", function()
    local saved_ngx = rawget(_G, "ngx")
    local saved = {}
    for k, v in pairs(coroutine) do saved[k] = v end
    local ngx = cosocket.ngx { global = true }
    -- the way lua-resty-http builds its body reader: coroutine.wrap around
    -- receives, yielding chunks to the caller
    local co_wrap, co_yield = coroutine.wrap, coroutine.yield
    local p = t.peer("send 5\\r\\nhello\\r\\n;sleep 30;send 6\\r\\n world\\r\\n;sleep 30;send 0\\r\\n\\r\\n",
                     "--conns 2")
    local chunks = {}
    cosocket.run(function()
        -- another thread keeps running while the reader waits
        local ticks = 0
        local ticker = ngx.thread.spawn(function()
            for _ = 1, 5 do
                ngx.sleep(0.01)
                ticks = ticks + 1
            end
        end)
        local sock = ngx.socket.tcp()
        sock:settimeout(2000)
        assert(sock:connect("127.0.0.1", p.port))
        local reader = co_wrap(function()
            while true do
                local line = assert(sock:receive("*l"))
                local n = tonumber(line, 16)
                if n == 0 then
                    return nil
                end
                local data = assert(sock:receive(n))
                assert(sock:receive(2))
                co_yield(data)
            end
        end)
        while true do
            local c = reader()
            if not c then
                break
            end
            chunks[#chunks + 1] = c
        end
        ngx.thread.wait(ticker)
        t.ok(ticks == 5, "the other thread ran")
        sock:close()
    end)
    _G.ngx = saved_ngx
    for k, v in pairs(saved) do coroutine[k] = v end
    t.eq(table.concat(chunks, "|"), "hello| world", "chunks")
end)

t.done()
