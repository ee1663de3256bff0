-- ngx.* digests, base64, CRC32, URI escaping, SQL quoting and args against
-- published vectors and independent oracles (libcosocket's src/codec).

local t = require "t"
local ngx = require("cosocket").ngx()

local function hex(s)
    return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function unhex(s)
    return (s:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

local ALL = {}
for i = 0, 255 do
    ALL[#ALL + 1] = string.char(i)
end
ALL = table.concat(ALL)

t.test("md5 and md5_bin: RFC 1321 vectors", function()
    local v = {
        [""] = "d41d8cd98f00b204e9800998ecf8427e",
        a = "0cc175b9c0f1b6a831c399e269772661",
        abc = "900150983cd24fb0d6963f7d28e17f72",
        ["message digest"] = "f96b697d7cb7938d525a2f31aaf161d0",
        abcdefghijklmnopqrstuvwxyz = "c3fcd3d76192e4007dfb496cca67e13b",
        ["12345678901234567890123456789012345678901234567890123456789012345678901234567890"] =
            "57edf4a22be3c955ac49da2e2107b67a",
    }
    for input, want in pairs(v) do
        t.eq(ngx.md5(input), want, "md5 " .. input)
        t.eq(hex(ngx.md5_bin(input)), want, "md5_bin " .. input)
    end
    t.eq(ngx.md5(nil), v[""], "nil is the empty string")
    t.eq(ngx.md5(123), ngx.md5("123"), "numbers are strings")
end)

t.test("sha1_bin: FIPS 180 vectors", function()
    t.eq(hex(ngx.sha1_bin("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709", "empty")
    t.eq(hex(ngx.sha1_bin("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d", "abc")
    t.eq(hex(ngx.sha1_bin("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
         "84983e441c3bd26ebaae4aa1f95129e5e54670f1", "448 bits")
    t.eq(hex(ngx.sha1_bin(("a"):rep(1000000))), "34aa973cd4c4daa4f61eeb2bdbad27316534016f",
         "a million a")
    t.eq(#ngx.sha1_bin(ALL), 20, "binary input")
end)

t.test("hmac_sha1: RFC 2202 vectors", function()
    t.eq(hex(ngx.hmac_sha1(("\11"):rep(20), "Hi There")),
         "b617318655057264e28bc0b6fb378c8ef146be00", "case 1")
    t.eq(hex(ngx.hmac_sha1("Jefe", "what do ya want for nothing?")),
         "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79", "case 2")
    t.eq(hex(ngx.hmac_sha1(("\170"):rep(20), ("\221"):rep(50))),
         "125d7342b9ac11cd91a39af48aa17b4f63f175d3", "case 3")
    t.eq(hex(ngx.hmac_sha1(unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
                           ("\205"):rep(50))),
         "4c9007f4026250c6bc8414f9bf50c86c2d7235da", "case 4")
    t.eq(hex(ngx.hmac_sha1(("\170"):rep(80), "Test Using Larger Than Block-Size Key - Hash Key First")),
         "aa4ae5e15272d00e95705637ce8a3b55ed402112", "case 6")
    t.raises("bad argument #1 to 'hmac_sha1' (string expected, got nil)", ngx.hmac_sha1, nil, "x")
    t.raises("bad argument #2 to 'hmac_sha1' (string expected, got table)", ngx.hmac_sha1, "k", {})
end)

t.test("crc32_short and crc32_long: the zlib CRC-32", function()
    t.eq(ngx.crc32_short(""), 0, "empty")
    t.eq(ngx.crc32_short("123456789"), 0xcbf43926, "check value")
    t.eq(ngx.crc32_long("123456789"), 0xcbf43926, "long: same value")
    t.eq(ngx.crc32_short("hello"), 907060870, "lua-nginx-module t/042-crc32.t")
    t.eq(ngx.crc32_long("hello"), 907060870, "long hello")
    t.eq(ngx.crc32_long(("x"):rep(100000)), ngx.crc32_short(("x"):rep(100000)), "long input")
    t.eq(ngx.crc32_short(nil), 0, "nil")
end)

t.test("encode_base64 / decode_base64: RFC 4648 vectors, padding or not", function()
    local v = { { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
                { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" } }
    for _, c in ipairs(v) do
        t.eq(ngx.encode_base64(c[1]), c[2], "encode " .. c[1])
        t.eq(ngx.encode_base64(c[1], true), (c[2]:gsub("=", "")), "no padding " .. c[1])
        t.eq(ngx.decode_base64(c[2]), c[1], "decode " .. c[2])
        t.eq(ngx.decode_base64((c[2]:gsub("=", ""))), c[1], "decode unpadded " .. c[1])
    end
    t.eq(ngx.encode_base64(nil), "", "nil")
    t.eq(ngx.encode_base64(12), "MTI=", "number")
    t.raises("bad no_padding: boolean expected, got number", ngx.encode_base64, "a", 1)
    t.raises("string argument only", ngx.decode_base64, nil)
    t.raises("string argument only", ngx.decode_base64, 12)
end)

t.test("base64 round trips of every length and byte", function()
    for n = 0, 256 do
        local s = ALL:sub(1, n)
        t.eq(ngx.decode_base64(ngx.encode_base64(s)), s, "padded, length " .. n)
        t.eq(ngx.decode_base64(ngx.encode_base64(s, true)), s, "unpadded, length " .. n)
    end
    local big = ALL:rep(1000)
    t.eq(ngx.decode_base64(ngx.encode_base64(big)), big, "256000 bytes")
end)

t.test("decode_base64 follows ngx_decode_base64", function()
    t.eq(ngx.decode_base64("Zg==garbage!"), "f", "stops at the first =")
    t.eq(ngx.decode_base64("Zh=="), "f", "trailing bits are ignored")
    t.eq(ngx.decode_base64("+/8="), "\251\255", "standard alphabet")
    t.eq(ngx.decode_base64("-_8="), nil, "URL-safe alphabet is rejected")
    t.eq(ngx.decode_base64("Zm9v!"), nil, "bad byte")
    t.eq(ngx.decode_base64("Zm 9v"), nil, "space")
    t.eq(ngx.decode_base64("Zm9v\n"), nil, "newline")
    t.eq(ngx.decode_base64("Z"), nil, "one dangling character")
    t.eq(ngx.decode_base64("Zm9vY==="), nil, "dangling before padding")
end)

-- The bytes each nginx escape table keeps, spelled out by hand.
local KEEP = {
    [0] = function(b) return b > 32 and b < 127 and not ("#%?"):find(string.char(b), 1, true) end,
    [1] = function(b) return b > 32 and b < 127 and not ("#%?+"):find(string.char(b), 1, true) end,
    [2] = function(b)
        local c = string.char(b)
        return c:find("^[%w]$") ~= nil or ("-._~!*'()"):find(c, 1, true) ~= nil
    end,
    [3] = function(b) return b > 32 and b < 127 and not ("#\"%'"):find(string.char(b), 1, true) end,
    [4] = function(b) return b > 32 and b < 127 and not ("\"'"):find(string.char(b), 1, true) end,
    [5] = function(b) return b > 32 and b ~= 37 end,
    [6] = function(b) return b > 32 and b ~= 37 end,
}

t.test("escape_uri: every byte under every type (0-6)", function()
    for ty = 0, 6 do
        for b = 0, 255 do
            local c = string.char(b)
            local want = KEEP[ty](b) and c or string.format("%%%02X", b)
            t.eq(ngx.escape_uri(c, ty), want, "type " .. ty .. " byte " .. b)
        end
    end
    for b = 0, 255 do
        t.eq(ngx.escape_uri(string.char(b)), ngx.escape_uri(string.char(b), 2),
             "default type is 2, byte " .. b)
    end
end)

t.test("escape_uri: strings, argument checks", function()
    t.eq(ngx.escape_uri("a b&c=d/e?f"), "a%20b%26c%3Dd%2Fe%3Ff", "component")
    t.eq(ngx.escape_uri("-_.~!*'();:@&=+$,/?#", 0), "-_.~!*'();:@&=+$,/%3F%23", "uri")
    t.eq(ngx.escape_uri("☃"), "%E2%98%83", "UTF-8")
    t.eq(ngx.escape_uri(nil), "", "nil")
    t.eq(ngx.escape_uri(3.5), "3.5", "number")
    local s = "plain"
    t.eq(ngx.escape_uri(s), s, "unchanged")
    t.raises('"type" 7 out of range', ngx.escape_uri, "a", 7)
    t.raises('"type" -1 out of range', ngx.escape_uri, "a", -1)
    t.raises('"type" is not a number', ngx.escape_uri, "a", "2")
end)

t.test("unescape_uri: %XX, +, malformed escapes, round trips", function()
    t.eq(ngx.unescape_uri("a%20b+c"), "a b c", "space and plus")
    t.eq(ngx.unescape_uri("%e2%98%83%E2%98%83"), "☃☃", "either case")
    t.eq(ngx.unescape_uri("100%"), "100%", "trailing %")
    t.eq(ngx.unescape_uri("%4"), "%4", "short escape")
    t.eq(ngx.unescape_uri("%zz%41"), "%zzA", "not hex")
    t.eq(ngx.unescape_uri("%%41"), "%A", "% before an escape")
    t.eq(ngx.unescape_uri("a?b%3Fc"), "a?b?c", "? is plain")
    t.eq(ngx.unescape_uri(nil), "", "nil")
    t.eq(ngx.unescape_uri(ngx.escape_uri(ALL)), ALL, "round trip")
    -- type 0 keeps "+", which unescaping turns into a space
    t.eq(ngx.unescape_uri(ngx.escape_uri("a+b c", 0)), "a b c", "type 0 and +")
    for b = 0, 255 do
        t.eq(ngx.unescape_uri(string.format("%%%02x", b)), string.char(b), "byte " .. b)
    end
end)

t.test("quote_sql_str: MySQL escapes", function()
    t.eq(ngx.quote_sql_str(""), "''", "empty")
    t.eq(ngx.quote_sql_str("abc"), "'abc'", "plain")
    t.eq(ngx.quote_sql_str("\0\b\n\r\t\26\\'\""), "'\\0\\b\\n\\r\\t\\Z\\\\\\'\\\"'", "escapes")
    t.eq(ngx.quote_sql_str("é%_\1"), "'é%_\1'", "the rest passes")
    t.eq(ngx.quote_sql_str(12), "'12'", "number")
    for b = 0, 255 do
        local q = ngx.quote_sql_str(string.char(b))
        local special = ("\0\b\n\r\t\26\\'\""):find(string.char(b), 1, true)
        t.eq(#q, special and 4 or 3, "length for byte " .. b)
    end
    t.raises("bad argument #1 to 'quote_sql_str' (string expected, got nil)", ngx.quote_sql_str, nil)
end)

t.test("encode_args", function()
    t.eq(ngx.encode_args({}), "", "empty")
    t.eq(ngx.encode_args({ a = "b c&d=é" }), "a=b%20c%26d%3D%C3%A9", "escaped value")
    t.eq(ngx.encode_args({ ["a b"] = 1 }), "a%20b=1", "escaped key, number")
    t.eq(ngx.encode_args({ a = true }), "a", "true")
    t.eq(ngx.encode_args({ a = false }), "", "false")
    t.eq(ngx.encode_args({ a = { "1", "2", true, false, 3 } }), "a=1&a=2&a&a=3", "multi")
    local s = ngx.encode_args({ x = "1", y = "2" })
    t.ok(s == "x=1&y=2" or s == "y=2&x=1", "two keys: " .. s)
    t.raises('attempt to use a non-string key in the "args" option table', ngx.encode_args, { "a" })
    t.raises("attempt to use function as query arg value", ngx.encode_args, { a = print })
    t.raises("bad argument #1 to 'encode_args' (table expected, got string)", ngx.encode_args, "a")
end)

t.test("decode_args", function()
    local r = ngx.decode_args("a=1&b&c=2&c=3&=x&d=&e=f=g&a%20b=%41+B")
    t.eq(r.a, "1", "a")
    t.eq(r.b, true, "key alone")
    t.eq(type(r.c), "table", "repeated")
    t.eq(r.c[1] .. r.c[2], "23", "repeated values")
    t.eq(r[""], nil, "empty key skipped")
    t.eq(r.d, "", "empty value")
    t.eq(r.e, "f=g", "first = splits")
    t.eq(r["a b"], "A B", "unescaped")
    local r2, err = ngx.decode_args("a=1&b=2&c=3", 2)
    t.eq(err, "truncated", "max_args")
    t.eq(r2.c, nil, "past max_args")
    t.eq(select("#", ngx.decode_args("a=1&b=2", 0)), 1, "0: unlimited")
    -- round trip
    local args = { k = "v w", z = { "1", "2" }, flag = true }
    local back = ngx.decode_args(ngx.encode_args(args))
    t.eq(back.k, "v w", "round trip k")
    t.eq(back.flag, true, "round trip flag")
    t.eq(back.z[2], "2", "round trip z")
end)

t.done()
