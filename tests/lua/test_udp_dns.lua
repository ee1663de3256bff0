-- A DNS exchange over cosocket.udp (with the TCP retry of truncated
-- answers over cosocket.tcp) against the zone of udp_responder.lua: A,
-- AAAA, CNAME, NXDOMAIN, a truncated answer, a reply with the wrong id.
-- The client is written the way lua-resty-dns is (one connected UDP socket
-- per server, send(table), receive(4096) looping on id mismatches, TCP
-- with a 2-byte length on truncation). When lua-resty-dns itself is on
-- package.path (it is not shipped here), it is also run, unmodified,
-- through cosocket.ngx().

local t = require "t"
local R = require "udp_helper"
local cosocket = require "cosocket"

-- cosocket.run(fn), re-raising an error of fn's thread here.
local function run(fn)
    local res = { cosocket.run(fn) }
    if res[1] ~= true then
        error(tostring(res[2]), 2)
    end
end
local bit = require "bit"

local char, byte, sub = string.char, string.byte, string.sub
local band, rshift, lshift = bit.band, bit.rshift, bit.lshift
local concat = table.concat

local r = R.start()

local TYPE_A, TYPE_CNAME, TYPE_AAAA = 1, 5, 28

---------------------------------------------------------------- the client

local function build_request(qname, id, qtype)
    local labels = {}
    for label in qname:gmatch("[^.]+") do
        labels[#labels + 1] = char(#label) .. label
    end
    return {
        char(rshift(id, 8), band(id, 0xff)),
        "\1\0",                   -- flags: RD
        "\0\1\0\0\0\0\0\0",       -- 1 question
        concat(labels), "\0",
        char(rshift(qtype, 8), band(qtype, 0xff)),
        "\0\1",                   -- class IN
    }
end

local function u16(buf, i)
    return lshift(byte(buf, i), 8) + byte(buf, i + 1)
end

-- Decodes a (possibly compressed) name at pos: name, next position.
local function decode_name(buf, pos)
    local labels, nptrs, p, after = {}, 0, pos, nil
    while nptrs < 128 do
        local n = byte(buf, p)
        if not n then
            return nil, "truncated"
        end
        if n == 0 then
            p = p + 1
            break
        end
        if band(n, 0xc0) == 0xc0 then
            after = after or p + 2
            p = band(u16(buf, p), 0x3fff) + 1
            nptrs = nptrs + 1
        else
            labels[#labels + 1] = sub(buf, p + 1, p + n)
            p = p + n + 1
        end
    end
    return concat(labels, "."), after or p
end

local function parse_response(buf, id)
    if #buf < 12 then
        return nil, "truncated"
    end
    if u16(buf, 1) ~= id then
        return nil, "id mismatch"
    end
    local flags = u16(buf, 3)
    if band(flags, 0x0200) ~= 0 then
        return nil, "truncated"
    end
    local rcode = band(flags, 0xf)
    local nqs, nan = u16(buf, 5), u16(buf, 7)
    local answers = {}
    if rcode ~= 0 then
        answers.errcode = rcode
        answers.errstr = rcode == 3 and "name error" or "server failure"
        return answers
    end
    local pos = 13
    for _ = 1, nqs do
        local _, p = decode_name(buf, pos)
        pos = p + 4
    end
    for _ = 1, nan do
        local name, p = decode_name(buf, pos)
        if not name then
            return nil, p
        end
        local typ, len = u16(buf, p), u16(buf, p + 8)
        local rdata = p + 10
        local ans = { name = name, type = typ, ttl = nil }
        if typ == TYPE_A then
            ans.address = concat({ byte(buf, rdata, rdata + 3) }, ".")
        elseif typ == TYPE_AAAA then
            local g = {}
            for i = 0, 7 do
                g[#g + 1] = string.format("%x", u16(buf, rdata + 2 * i))
            end
            ans.address = concat(g, ":")
        elseif typ == TYPE_CNAME then
            ans.cname = decode_name(buf, rdata)
        end
        answers[#answers + 1] = ans
        pos = rdata + len
    end
    return answers
end

local Client = {}
Client.__index = Client

local function new_client(host, port, timeout)
    local sock = cosocket.udp()
    local ok, err = sock:setpeername(host, port)
    if not ok then
        return nil, "failed to set peer name: " .. err
    end
    sock:settimeout(timeout)
    return setmetatable({ sock = sock, host = host, port = port,
                          timeout = timeout, id = 4660, stats = {} }, Client)
end

function Client:tcp_query(query, id)
    local sock = cosocket.tcp()
    sock:settimeout(self.timeout)
    local ok, err = sock:connect(self.host, self.port)
    if not ok then
        return nil, "failed to connect to TCP server: " .. err
    end
    query = concat(query)
    local len = #query
    local bytes
    bytes, err = sock:send({ char(rshift(len, 8)), char(band(len, 0xff)), query })
    if not bytes then
        return nil, err
    end
    local buf
    buf, err = sock:receive(2)
    if not buf then
        return nil, err
    end
    buf, err = sock:receive(u16(buf, 1))
    if not buf then
        return nil, err
    end
    sock:close()
    self.stats.tcp = (self.stats.tcp or 0) + 1
    return parse_response(buf, id)
end

function Client:query(qname, qtype)
    self.id = (self.id + 1) % 65536
    local id = self.id
    local query = build_request(qname, id, qtype or TYPE_A)
    local ok, err = self.sock:send(query)
    if not ok then
        return nil, "failed to send request to UDP server: " .. err
    end
    for _ = 1, 128 do
        local buf
        buf, err = self.sock:receive(4096)
        if err then
            return nil, "failed to receive reply from UDP server: " .. err
        end
        local answers
        answers, err = parse_response(buf, id)
        if err == "truncated" then
            return self:tcp_query(query, id)
        end
        if answers then
            return answers
        end
        if err ~= "id mismatch" then
            return nil, err
        end
        self.stats.skipped = (self.stats.skipped or 0) + 1
    end
    return nil, err
end

---------------------------------------------------------------- tests

local function check_zone(c)
    local a = assert(c:query("a.test"))
    t.eq(#a, 1, "A count")
    t.eq(a[1].address, "10.0.0.1", "A")
    local aaaa = assert(c:query("A.Test", TYPE_AAAA))
    t.eq(aaaa[1].address, "2001:db8:0:0:0:0:0:1", "AAAA")
    local cn = assert(c:query("alias.test"))
    t.eq(cn[1].type, TYPE_CNAME, "CNAME first")
    t.eq(cn[1].cname, "a.test", "CNAME target")
    t.eq(cn[2].address, "10.0.0.1", "A after the CNAME")
    local nx = assert(c:query("nx.test"))
    t.eq(nx.errcode, 3, "NXDOMAIN")
    t.eq(nx.errstr, "name error", "NXDOMAIN text")
    local big = assert(c:query("big.test"))
    t.eq(#big, 40, "all records over TCP after the truncated UDP answer")
    t.eq(big[40].address, "10.1.0.40", "last record")
    t.eq(c.stats.tcp, 1, "one TCP retry")
    local w = assert(c:query("wrongid.test"))
    t.eq(w[1].address, "10.2.0.1", "right answer after the wrong id")
    t.eq(c.stats.skipped, 1, "one reply skipped")
end

t.test("DNS client over cosocket.udp, blocking", function()
    local c = assert(new_client("127.0.0.1", r.port, 2000))
    check_zone(c)
end)

t.test("DNS client over cosocket.udp, in the scheduler, concurrent", function()
    local oks = 0
    run(function()
        local th = {}
        for i = 1, 20 do
            th[i] = cosocket.spawn(function()
                local c = assert(new_client("127.0.0.1", r.port, 2000))
                check_zone(c)
                return true
            end)
        end
        for i = 1, 20 do
            local ok, res = cosocket.wait(th[i])
            if ok and res then
                oks = oks + 1
            end
        end
    end)
    t.eq(oks, 20, "concurrent clients")
end)

t.test("DNS client: a server that never answers times out", function()
    local c = assert(new_client("127.0.0.1", R.dead_port(), 200))
    local answers, err = c:query("a.test")
    t.eq(answers, nil, "no answer")
    t.eq(err, "failed to receive reply from UDP server: connection refused",
         "ICMP refused")
end)

---------------------------------------------------------------- lua-resty-dns

local have_resty_dns = os.getenv("COSOCKET_RESTY_DNS") ~= nil
    or package.searchpath and package.searchpath("resty.dns.resolver",
                                                 package.path) ~= nil

if have_resty_dns then
    t.test("lua-resty-dns, unmodified, through cosocket.ngx()", function()
        local ngx = cosocket.ngx { global = true }
        package.loaded["resty.dns.resolver"] = nil
        local resolver = require "resty.dns.resolver"
        run(function()
            local dns = assert(resolver:new {
                nameservers = { { "127.0.0.1", r.port } },
                retrans = 2, timeout = 2000,
            })
            local a = assert(dns:query("a.test", { qtype = dns.TYPE_A }))
            t.eq(a[1].address, "10.0.0.1", "A")
            local aaaa = assert(dns:query("a.test", { qtype = dns.TYPE_AAAA }))
            t.eq(aaaa[1].address, "2001:db8:0:0:0:0:0:1", "AAAA")
            local cn = assert(dns:query("alias.test"))
            t.eq(cn[1].cname, "a.test", "CNAME")
            t.eq(cn[2].address, "10.0.0.1", "A after CNAME")
            local nx = assert(dns:query("nx.test"))
            t.eq(nx.errcode, 3, "NXDOMAIN")
            t.eq(nx.errstr, "name error", "NXDOMAIN text")
            local big = assert(dns:query("big.test"))
            t.eq(#big, 40, "TCP retry")
            local w = assert(dns:query("wrongid.test"))
            t.eq(w[1].address, "10.2.0.1", "wrong id skipped")
            local tc = assert(dns:tcp_query("a.test"))
            t.eq(tc[1].address, "10.0.0.1", "tcp_query")
            dns:destroy()
        end)
        _G.ngx = nil
        t.ok(ngx, "ngx")
    end)
else
    print("# lua-resty-dns not on package.path: its run is skipped")
end

R.done()
