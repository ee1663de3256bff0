-- udp_helper: starts udp_responder.lua (a separate LuaJIT process with raw
-- FFI sockets) for the UDP suites and stops it by PID.
--
--   local R = require "udp_helper"
--   local r = R.start{ unix = true }   -- r.port, r.port6 (0: no IPv6), r.path
--   ...
--   R.done()                           -- stops responders, then t.done()

local t = require "t"

local fmt = string.format

local R = {}
local running = {}

local function readall(path)
    local f = io.open(path, "rb")
    if not f then
        return ""
    end
    local s = f:read("*a")
    f:close()
    return s
end

-- The interpreter running this test (arg[-1] when run as `luajit file`).
local function interpreter()
    local i = -1
    local exe
    while arg and arg[i] do
        exe = arg[i]
        i = i - 1
    end
    return exe or "luajit"
end

local seq = 0

function R.start(opts)
    opts = opts or {}
    seq = seq + 1
    local log = os.tmpname()
    local path
    local extra = ""
    if opts.unix then
        path = fmt("/tmp/cosocket-udp-lua-%s-%d.sock",
                   tostring(log):match("[^/]+$"), seq)
        extra = "--unix " .. t.shq(path)
    end
    local cmd = fmt("echo $$; exec %s %s %s > %s 2>&1", t.shq(interpreter()),
                    t.shq(t.dir .. "/udp_responder.lua"), extra, t.shq(log))
    local h = assert(io.popen(cmd, "r"))
    local pid = tonumber(h:read("*l"))
    assert(pid, "responder did not start: " .. cmd)
    local self = { pid = pid, h = h, log = log, path = path }
    running[#running + 1] = self
    local deadline = t.clock() + 10
    while true do
        local out = readall(log)
        if out:find("ready\n", 1, true) then
            self.port = tonumber(out:match("port (%d+)\n"))
            self.port6 = tonumber(out:match("port6 (%d+)\n"))
            break
        end
        if t.clock() > deadline then
            error("responder did not start: " .. out)
        end
        t.msleep(5)
    end
    return self
end

function R.stop_all()
    for _, r in ipairs(running) do
        os.execute("kill " .. r.pid .. " 2>/dev/null")
        r.h:close()
        os.remove(r.log)
        if r.path then
            os.remove(r.path)
        end
    end
    running = {}
end

function R.done()
    R.stop_all()
    t.done()
end

--- A port on 127.0.0.1 that nobody listens on (UDP).
function R.dead_port(base)
    -- the responder's own port + 1 .. : probe with a throwaway bind
    local ffi = require "ffi"
    if not pcall(function() return ffi.C.cosocket_h_socket end) then
        ffi.cdef [[
int cosocket_h_socket(int, int, int) __asm__("socket");
int cosocket_h_bind(int, const void *, unsigned int) __asm__("bind");
int cosocket_h_getsockname(int, void *, unsigned int *) __asm__("getsockname");
int cosocket_h_close(int) __asm__("close");
]]
    end
    local C = ffi.C
    local fd = C.cosocket_h_socket(2, 2, 0)
    local a = ffi.new("uint8_t[16]")
    a[0] = 2
    a[4], a[5], a[6], a[7] = 127, 0, 0, 1
    assert(C.cosocket_h_bind(fd, a, 16) == 0)
    local len = ffi.new("unsigned int[1]", 16)
    C.cosocket_h_getsockname(fd, a, len)
    local port = a[2] * 256 + a[3]
    C.cosocket_h_close(fd)
    return port
end

return R
