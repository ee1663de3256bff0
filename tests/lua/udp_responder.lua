-- udp_responder: the scripted UDP peer of the LuaJIT UDP suites, a separate
-- LuaJIT process with raw sockets through the FFI (it does not use
-- cosocket, so it tests nothing of ours by accident).
--
--   luajit udp_responder.lua [--unix PATH]
--
-- Listens on 127.0.0.1:P (UDP and TCP, the same port), [::1]:P6 (UDP, when
-- the host has IPv6) and, with --unix, a unix datagram socket at PATH;
-- prints "port P", "port6 P6" (or "port6 0"), "unix PATH" and "ready" on
-- stdout, then serves until killed (or until its parent exits: it stops
-- when stdout breaks or after 300 s).
--
-- Datagram commands (replies go to the sender):
--   anything else      echoed back
--   "burst"            four datagrams: "a", "bb", "", "ccc"
--   "big N"            one datagram of N bytes "x"
--   "delay MS TEXT"    TEXT after MS milliseconds
--   "silent..."        no reply
--   "stranger TEXT"    TEXT from another socket (a connected client drops it),
--                      then "peer"
--   "count"            the number of datagrams received so far on this socket
--   a DNS query        answered from the zone below (DNS mode: any datagram
--                      of >= 12 bytes whose flags say "query", class IN)
--
-- DNS zone (names are case-insensitive):
--   a.test       A 10.0.0.1, AAAA 2001:db8::1
--   alias.test   CNAME a.test (+ the A/AAAA of a.test)
--   nx.test      NXDOMAIN
--   big.test     over UDP: TC bit, no answers; over TCP: 40 A records
--                10.1.0.1 .. 10.1.0.40
--   wrongid.test first a reply with a wrong id, then the right one
-- TCP: length-prefixed queries, answered in full, the connection closed
-- after each answer.

local ffi = require "ffi"
local bit = require "bit"

ffi.cdef [[
typedef unsigned int socklen_t;
struct cosocket_r_pollfd { int fd; short events; short revents; };
int socket(int domain, int type, int protocol);
int bind(int fd, const void *addr, socklen_t len);
int listen(int fd, int backlog);
int accept(int fd, void *addr, socklen_t *len);
int getsockname(int fd, void *addr, socklen_t *len);
int setsockopt(int fd, int level, int name, const void *val, socklen_t len);
long recvfrom(int fd, void *buf, size_t len, int flags, void *addr, socklen_t *alen);
long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, socklen_t alen);
long recv(int fd, void *buf, size_t len, int flags);
long send(int fd, const void *buf, size_t len, int flags);
int close(int fd);
int unlink(const char *path);
int poll(struct cosocket_r_pollfd *fds, unsigned long n, int timeout);
int getppid(void);
]]

local C = ffi.C
local AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
local SOCK_STREAM, SOCK_DGRAM = 1, 2
local SOL_SOCKET, SO_REUSEADDR = 1, 2
local POLLIN = 1
local MSG_NOSIGNAL = 0x4000

local function htons(p)
    return bit.bor(bit.lshift(bit.band(p, 0xff), 8), bit.rshift(p, 8))
end

local function sockaddr_in(ip4, port)
    local a = ffi.new("uint8_t[16]")
    ffi.cast("uint16_t *", a)[0] = AF_INET
    ffi.cast("uint16_t *", a + 2)[0] = htons(port)
    for i = 1, 4 do
        a[3 + i] = ip4[i]
    end
    return a, 16
end

local function sockaddr_in6_loopback(port)
    local a = ffi.new("uint8_t[28]")
    ffi.cast("uint16_t *", a)[0] = AF_INET6
    ffi.cast("uint16_t *", a + 2)[0] = htons(port)
    a[8 + 15] = 1
    return a, 28
end

local function sockaddr_un(path)
    local a = ffi.new("uint8_t[110]")
    ffi.cast("uint16_t *", a)[0] = AF_UNIX
    ffi.copy(a + 2, path)
    return a, 2 + #path + 1
end

local function bound_port(fd)
    local a = ffi.new("uint8_t[128]")
    local len = ffi.new("socklen_t[1]", 128)
    assert(C.getsockname(fd, a, len) == 0)
    local p = ffi.cast("uint16_t *", a + 2)[0]
    return htons(p)
end

local function open(family, kind, addr, alen)
    local fd = C.socket(family, kind, 0)
    assert(fd >= 0, "socket")
    if kind == SOCK_STREAM then
        local one = ffi.new("int[1]", 1)
        C.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one, 4)
    end
    if C.bind(fd, addr, alen) ~= 0 then
        C.close(fd)
        return nil
    end
    return fd
end

---------------------------------------------------------------- sockets

local unix_path
do
    local i = 1
    while arg[i] do
        if arg[i] == "--unix" then
            unix_path = arg[i + 1]
            i = i + 1
        end
        i = i + 1
    end
end

-- UDP and TCP on the same 127.0.0.1 port (retry until both bind).
local u4, t4, port
for _ = 1, 50 do
    u4 = open(AF_INET, SOCK_DGRAM, sockaddr_in({ 127, 0, 0, 1 }, 0))
    port = bound_port(u4)
    t4 = open(AF_INET, SOCK_STREAM, sockaddr_in({ 127, 0, 0, 1 }, port))
    if t4 then
        break
    end
    C.close(u4)
end
assert(t4, "no port free for UDP and TCP at once")
assert(C.listen(t4, 512) == 0)

local u6 = open(AF_INET6, SOCK_DGRAM, sockaddr_in6_loopback(0))
local port6 = u6 and bound_port(u6) or 0

local ux
if unix_path then
    C.unlink(unix_path)
    ux = assert(open(AF_UNIX, SOCK_DGRAM, sockaddr_un(unix_path)), "unix bind")
end

io.stdout:write("port ", port, "\nport6 ", port6, "\n")
if ux then
    io.stdout:write("unix ", unix_path, "\n")
end
io.stdout:write("ready\n")
io.stdout:flush()

---------------------------------------------------------------- DNS

local char, byte, sub = string.char, string.byte, string.sub

local function u16(s, i)
    return byte(s, i) * 256 + byte(s, i + 1)
end

local function be16(n)
    return char(bit.rshift(n, 8), bit.band(n, 0xff))
end

local function be32(n)
    return be16(bit.rshift(n, 16)) .. be16(bit.band(n, 0xffff))
end

local function encode_name(name)
    local out = {}
    for label in name:gmatch("[^.]+") do
        out[#out + 1] = char(#label) .. label
    end
    out[#out + 1] = "\0"
    return table.concat(out)
end

-- Parses the question: name (lower case), qtype, end offset.
local function question(q)
    local labels = {}
    local p = 13
    while true do
        local n = byte(q, p)
        if not n then
            return nil
        end
        if n == 0 then
            p = p + 1
            break
        end
        labels[#labels + 1] = sub(q, p + 1, p + n):lower()
        p = p + n + 1
    end
    if #q < p + 3 then
        return nil
    end
    return table.concat(labels, "."), u16(q, p), p + 4
end

local function rr(name, rtype, rdata)
    return encode_name(name) .. be16(rtype) .. be16(1) .. be32(300)
        .. be16(#rdata) .. rdata
end

local A, CNAME, AAAA = 1, 5, 28

local function records(name, qtype, over_tcp)
    local out = {}
    if name == "alias.test" then
        out[#out + 1] = rr(name, CNAME, encode_name("a.test"))
        name = "a.test"
    end
    if name == "a.test" then
        if qtype == A then
            out[#out + 1] = rr(name, A, char(10, 0, 0, 1))
        elseif qtype == AAAA then
            out[#out + 1] = rr(name, AAAA, char(0x20, 0x01, 0x0d, 0xb8)
                               .. ("\0"):rep(11) .. "\1")
        end
        return out, 0
    end
    if name == "big.test" then
        if not over_tcp then
            return out, 0, true
        end
        for i = 1, 40 do
            out[#out + 1] = rr(name, A, char(10, 1, 0, i))
        end
        return out, 0
    end
    if name == "wrongid.test" then
        out[#out + 1] = rr(name, A, char(10, 2, 0, 1))
        return out, 0
    end
    return out, 3   -- NXDOMAIN
end

-- The answer to query `q` (nil if it is not a DNS query), and for
-- wrongid.test a first answer with a wrong id.
local function dns_answer(q, over_tcp)
    if #q < 17 then
        return nil
    end
    local flags = u16(q, 3)
    if bit.band(flags, 0x8000) ~= 0 or u16(q, 5) ~= 1 then
        return nil
    end
    local name, qtype, qend = question(q)
    if not name then
        return nil
    end
    local id = u16(q, 1)
    local ans, rcode, tc = records(name, qtype, over_tcp)
    -- QR, opcode 0, AA, TC?, RD copied, RA, rcode
    local f = 0x8000 + 0x0400 + bit.band(flags, 0x0100) + 0x0080 + rcode
    if tc then
        f = f + 0x0200
    end
    local function msg(mid)
        return be16(mid) .. be16(f) .. be16(1) .. be16(#ans) .. be16(0)
            .. be16(0) .. sub(q, 13, qend - 1) .. table.concat(ans)
    end
    if name == "wrongid.test" and not over_tcp then
        return msg(id), msg(bit.band(id + 1, 0xffff))
    end
    return msg(id)
end

---------------------------------------------------------------- serving

local buf = ffi.new("uint8_t[?]", 70000)
local from = ffi.new("uint8_t[128]")
local fromlen = ffi.new("socklen_t[1]")
local counts = {}
local timed = {}   -- { at, fd, data, addr, alen }

local function now_ms()
    return os.clock() * 0   -- replaced below
end
do
    ffi.cdef "struct cosocket_r_ts { long s; long ns; }; int clock_gettime(int, struct cosocket_r_ts *);"
    local ts = ffi.new("struct cosocket_r_ts")
    now_ms = function()
        C.clock_gettime(1, ts)
        return tonumber(ts.s) * 1000 + tonumber(ts.ns) / 1e6
    end
end

local function reply(fd, data, addr, alen)
    C.sendto(fd, data, #data, MSG_NOSIGNAL, addr or from, alen or fromlen[0])
end

local function copy_from()
    local a = ffi.new("uint8_t[128]")
    ffi.copy(a, from, 128)
    return a, fromlen[0]
end

local function on_datagram(fd)
    fromlen[0] = 128
    local n = C.recvfrom(fd, buf, 70000, 0, from, fromlen)
    if n < 0 then
        return
    end
    counts[fd] = (counts[fd] or 0) + 1
    local d = ffi.string(buf, n)
    local q1, q2 = dns_answer(d, false)
    if q1 then
        if q2 then
            reply(fd, q2)
        end
        reply(fd, q1)
        return
    end
    if d == "burst" then
        for _, s in ipairs({ "a", "bb", "", "ccc" }) do
            reply(fd, s)
        end
    elseif d:match("^big %d+$") then
        reply(fd, ("x"):rep(tonumber(d:match("%d+"))))
    elseif d:match("^delay %d+ ") then
        local ms, text = d:match("^delay (%d+) (.*)$")
        local a, alen = copy_from()
        timed[#timed + 1] = { now_ms() + tonumber(ms), fd, text, a, alen }
    elseif d:match("^silent") then
        return
    elseif d:match("^stranger ") then
        local fam = ffi.cast("uint16_t *", from)[0]
        local s = C.socket(fam, SOCK_DGRAM, 0)
        if s >= 0 then
            local text = d:sub(10)
            C.sendto(s, text, #text, 0, from, fromlen[0])
            C.close(s)
        end
        local a, alen = copy_from()
        timed[#timed + 1] = { now_ms() + 30, fd, "peer", a, alen }
    elseif d == "count" then
        reply(fd, tostring(counts[fd]))
    else
        reply(fd, d)
    end
end

local function recv_exact(fd, n)
    local out = {}
    local got = 0
    while got < n do
        local r = C.recv(fd, buf, n - got, 0)
        if r <= 0 then
            return nil
        end
        out[#out + 1] = ffi.string(buf, r)
        got = got + r
    end
    return table.concat(out)
end

local function on_tcp()
    local fd = C.accept(t4, nil, nil)
    if fd < 0 then
        return
    end
    local pfd = ffi.new("struct cosocket_r_pollfd[1]")
    pfd[0].fd, pfd[0].events = fd, POLLIN
    if C.poll(pfd, 1, 5000) > 0 then
        local lenb = recv_exact(fd, 2)
        local q = lenb and recv_exact(fd, u16(lenb, 1))
        local a = q and dns_answer(q, true)
        if a then
            local m = be16(#a) .. a
            C.send(fd, m, #m, MSG_NOSIGNAL)
        end
    end
    C.close(fd)
end

local fds = { u4, t4 }
if u6 then
    fds[#fds + 1] = u6
end
if ux then
    fds[#fds + 1] = ux
end
local pfds = ffi.new("struct cosocket_r_pollfd[?]", #fds)
for i, fd in ipairs(fds) do
    pfds[i - 1].fd = fd
    pfds[i - 1].events = POLLIN
end

local ppid = C.getppid()
local stop_at = now_ms() + 300000
while now_ms() < stop_at and C.getppid() == ppid do
    local wait = 200
    local t = now_ms()
    for _, e in ipairs(timed) do
        wait = math.min(wait, math.max(0, math.ceil(e[1] - t)))
    end
    C.poll(pfds, #fds, wait)
    for i, fd in ipairs(fds) do
        if bit.band(pfds[i - 1].revents, POLLIN) ~= 0 then
            if fd == t4 then
                on_tcp()
            else
                on_datagram(fd)
            end
        end
        pfds[i - 1].revents = 0
    end
    t = now_ms()
    local keep = {}
    for _, e in ipairs(timed) do
        if e[1] <= t then
            reply(e[2], e[3], e[4], e[5])
        else
            keep[#keep + 1] = e
        end
    end
    timed = keep
end
if ux then
    C.unlink(unix_path)
end
