-- Probe cases for the ngx compatibility table, run twice: inside real nginx
-- with lua-nginx-module (tests/lua/ngx_oracle.sh records the output in
-- tests/lua/data/ngx_oracle.txt) and on plain LuaJIT through cosocket.ngx()
-- (tests/lua/test_ngx_oracle.lua compares against that record).
--
-- Each case prints one line "name<TAB>results", results serialized in a
-- stable form (tables with sorted keys, strings %q-quoted). Only the global
-- `ngx` is used, so the same file runs in both worlds.
--
-- Cases whose result legitimately differs between the oracle (Debian 12:
-- nginx 1.22.1, lua-nginx-module 0.10.23 on PCRE1) and cosocket (PCRE2)
-- normalize it: PCRE compile errors are reduced to "compile failed".

local ngx = ngx

local function ser(v, seen)
    local t = type(v)
    if t == "string" then
        -- ASCII only, one line: the record stays a text file.
        return (string.format("%q", v):gsub("\n", "n"):gsub("[\128-\255]", function(c)
            return "\\" .. c:byte()
        end))
    elseif t == "number" then
        if v == math.floor(v) and math.abs(v) < 2 ^ 53 then
            return string.format("%d", v)
        end
        return string.format("%.6f", v)
    elseif t == "table" then
        seen = seen or {}
        if seen[v] then
            return "<cycle>"
        end
        seen[v] = true
        local keys = {}
        for k in pairs(v) do
            keys[#keys + 1] = k
        end
        table.sort(keys, function(a, b)
            local ta, tb = type(a), type(b)
            if ta ~= tb then
                return ta < tb
            end
            return a < b
        end)
        local out = {}
        for _, k in ipairs(keys) do
            out[#out + 1] = "[" .. ser(k) .. "]=" .. ser(v[k], seen)
        end
        return "{" .. table.concat(out, ",") .. "}"
    elseif v == ngx.null then
        return "null"
    else
        return tostring(v)
    end
end

local function norm_err(e)
    if type(e) == "string" and e:find("^pcre2?_compile%(%) failed") then
        return "compile failed"
    end
    if type(e) == "string" and e:find("^pcre_exec%(%) failed: %-%d+$") then
        -- PCRE1 and PCRE2 number their errors differently.
        return "pcre_exec() failed"
    end
    return e
end

local function pack(...)
    return { n = select("#", ...), ... }
end

local cases = {}
local function case(name, fn)
    cases[#cases + 1] = { name, fn }
end

local function all_bytes()
    local t = {}
    for i = 0, 255 do
        t[#t + 1] = string.char(i)
    end
    return table.concat(t)
end

local function hex(s)
    return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

---------------------------------------------------------------- codecs

case("escape_uri every byte (default type)", function()
    local out = {}
    for i = 0, 255 do
        out[#out + 1] = ngx.escape_uri(string.char(i))
    end
    return table.concat(out, " ")
end)
case("escape_uri every byte (type 0)", function()
    local out = {}
    for i = 0, 255 do
        out[#out + 1] = ngx.escape_uri(string.char(i), 0)
    end
    return table.concat(out, " ")
end)
case("escape_uri every byte (type 2)", function()
    local out = {}
    for i = 0, 255 do
        out[#out + 1] = ngx.escape_uri(string.char(i), 2)
    end
    return table.concat(out, " ")
end)
case("escape_uri strings", function()
    return ngx.escape_uri("a b&c=d/e?f#g"), ngx.escape_uri("-_.!~*'()"), ngx.escape_uri(""),
        ngx.escape_uri(nil), ngx.escape_uri(1234), ngx.escape_uri("☃ ü"),
        ngx.escape_uri("https://www.google.com/query?q=test", 0)
end)
case("escape_uri bad type", function()
    local ok1 = pcall(ngx.escape_uri, "a", 7)
    local ok2 = pcall(ngx.escape_uri, "a", "x")
    local ok3 = pcall(ngx.escape_uri, "a", -1)
    return ok1, ok2, ok3
end)
case("unescape_uri", function()
    return ngx.unescape_uri("a%20b+c"), ngx.unescape_uri("%e2%98%83%E2%98%83"),
        ngx.unescape_uri("100%"), ngx.unescape_uri("%4"), ngx.unescape_uri("%zz%41"),
        ngx.unescape_uri("%%41"), ngx.unescape_uri("a?b%3Fc"), ngx.unescape_uri(""),
        ngx.unescape_uri(nil), ngx.unescape_uri(42), ngx.unescape_uri("%00x%0a%FF")
end)
case("unescape_uri of escape_uri of all bytes", function()
    return ngx.unescape_uri(ngx.escape_uri(all_bytes())) == all_bytes()
end)
case("unescape_uri every %XX", function()
    local out = {}
    for i = 0, 255 do
        out[#out + 1] = hex(ngx.unescape_uri(string.format("%%%02X%%%02x", i, i)))
    end
    return table.concat(out, " ")
end)
case("encode_base64", function()
    local out = {}
    for n = 0, 10 do
        out[#out + 1] = ngx.encode_base64(("foobarbazq"):sub(1, n))
        out[#out + 1] = ngx.encode_base64(("foobarbazq"):sub(1, n), true)
    end
    out[#out + 1] = ngx.encode_base64(all_bytes())
    out[#out + 1] = ngx.encode_base64(nil)
    out[#out + 1] = ngx.encode_base64(3.5)
    out[#out + 1] = ngx.encode_base64(true)
    return table.concat(out, " ")
end)
case("encode_base64 bad no_padding", function()
    return (pcall(ngx.encode_base64, "a", 1))
end)
case("decode_base64", function()
    local inputs = { "", "Zg==", "Zg", "Zm8=", "Zm8", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy",
                     "Zg==garbage!", "Zm9v=Zm9v", "=", "==", "Zh==", "Zm9v!", "Zm 9v",
                     "Zm9v\n", "-_8=", "+/8=", "Z", "Zm9vY", "Zm9vY===", "YWJj\0", "////",
                     "AAAA", "QUJD\r\n" }
    local out = {}
    for _, s in ipairs(inputs) do
        local r = ngx.decode_base64(s)
        out[#out + 1] = r and hex(r) or "nil"
    end
    out[#out + 1] = ngx.decode_base64(ngx.encode_base64(all_bytes())) == all_bytes()
    out[#out + 1] = (pcall(ngx.decode_base64, nil))
    out[#out + 1] = (pcall(ngx.decode_base64, 12))
    return out
end)
case("md5 sha1 hmac crc32", function()
    local out = {}
    for _, s in ipairs { "", "a", "abc", "message digest", all_bytes(), ("x"):rep(1000) } do
        out[#out + 1] = ngx.md5(s)
        out[#out + 1] = hex(ngx.md5_bin(s))
        out[#out + 1] = hex(ngx.sha1_bin(s))
        out[#out + 1] = hex(ngx.hmac_sha1("key", s))
        out[#out + 1] = hex(ngx.hmac_sha1(("k"):rep(100), s))
        out[#out + 1] = ngx.crc32_short(s)
        out[#out + 1] = ngx.crc32_long(s)
    end
    out[#out + 1] = ngx.md5(nil)
    out[#out + 1] = ngx.md5(123)
    out[#out + 1] = hex(ngx.sha1_bin(123))
    out[#out + 1] = ngx.crc32_short(nil)
    out[#out + 1] = hex(ngx.hmac_sha1("", ""))
    out[#out + 1] = hex(ngx.hmac_sha1(1, 2))
    return out
end)
case("quote_sql_str", function()
    local out = {}
    for i = 0, 255 do
        out[#out + 1] = ngx.quote_sql_str(string.char(i))
    end
    return table.concat(out, " "), ngx.quote_sql_str(""), ngx.quote_sql_str("it's \"q\""),
        ngx.quote_sql_str(123), ngx.quote_sql_str("é\0")
end)
case("encode_args", function()
    return ngx.encode_args({}), ngx.encode_args({ a = "b" }), ngx.encode_args({ a = "b c&d=é" }),
        ngx.encode_args({ ["a b"] = 1 }), ngx.encode_args({ a = true }),
        ngx.encode_args({ a = false }), ngx.encode_args({ a = { "1", "2", true, false, 3 } }),
        ngx.encode_args({ a = 3.25 }), ngx.encode_args({ a = "" }), ngx.encode_args({ a = {} }),
        ngx.encode_args({ ["-_.!~*'()"] = "-_.!~*'()" })
end)
case("encode_args errors", function()
    local ok1 = pcall(ngx.encode_args, { [1] = "a" })
    local ok2 = pcall(ngx.encode_args, { a = function() end })
    local ok3 = pcall(ngx.encode_args, "a")
    return ok1, ok2, ok3
end)
case("decode_args", function()
    local out = {}
    for _, s in ipairs { "", "a=1", "a=1&b=2", "a", "a&b", "a=", "=b", "a=1&a=2&a=3",
                         "a&a=1", "a+b=c+d", "a%20b=%41%42", "&&a=1&&", "a=b=c", "a=1&",
                         "&", "=", "a=%zz", "%3D=%26" } do
        out[#out + 1] = { ngx.decode_args(s) }
    end
    return out
end)
case("decode_args max", function()
    return { ngx.decode_args("a=1&b=2&c=3&d=4", 2) }, { ngx.decode_args("a=1&b=2&c=3", 3) },
        { ngx.decode_args("a=1&b=2&c=3", 0) }, { ngx.decode_args("a=1&&b=2&c=3", 2) },
        { ngx.decode_args("a=1&b=2&", 2) }
end)
case("http_time cookie_time", function()
    local out = {}
    for _, t in ipairs { 0, 1, 1290079655, 951782400, 2147483647, 4102444800 } do
        out[#out + 1] = ngx.http_time(t)
        out[#out + 1] = ngx.cookie_time(t)
    end
    return out
end)
case("parse_http_time", function()
    local out = {}
    for _, s in ipairs { "Thu, 18 Nov 2010 11:27:35 GMT", "Thursday, 18-Nov-10 11:27:35 GMT",
                         "Thu Nov 18 11:27:35 2010", "Thu, 01 Jan 1970 00:00:00 GMT",
                         "Tue, 29 Feb 2000 12:00:00 GMT", "garbage", "" } do
        out[#out + 1] = ngx.parse_http_time(s) or "nil"
    end
    return out
end)
case("constants", function()
    return ngx.STDERR, ngx.EMERG, ngx.ALERT, ngx.CRIT, ngx.ERR, ngx.WARN, ngx.NOTICE,
        ngx.INFO, ngx.DEBUG, ngx.OK, ngx.ERROR, ngx.AGAIN, ngx.DONE, ngx.DECLINED,
        ngx.HTTP_OK, ngx.HTTP_NOT_FOUND, ngx.HTTP_GET, ngx.HTTP_POST,
        ngx.HTTP_INTERNAL_SERVER_ERROR
end)
case("types", function()
    return type(ngx.null), ngx.null == nil, type(ngx.config.subsystem), ngx.config.subsystem,
        type(ngx.config.ngx_lua_version), type(ngx.config.nginx_version), type(ngx.config.debug),
        type(ngx.config.prefix()), type(ngx.worker.pid()), ngx.worker.exiting(),
        type(ngx.now()), type(ngx.time()), type(ngx.today()), #ngx.today(),
        #ngx.localtime(), #ngx.utctime(), type(ngx.ctx), type(ngx.shared),
        type(ngx.req.get_headers), type(ngx.thread.spawn), type(ngx.timer.at),
        type(ngx.socket.tcp), type(ngx.socket.connect), type(ngx.socket.stream)
end)

---------------------------------------------------------------- ngx.re

local function m(...)
    local r, err = ngx.re.match(...)
    return r or "nil", norm_err(err)
end

case("match basics", function()
    return { m("hello, 1234", "([0-9]+)") }, { m("hello, 1234", "(\\d+)") },
        { m("hello, 1234", "([0-9]{2})[0-9]+") },
        { m("hello, 1234", "([a-z]+).*?([0-9]{2})[0-9]+", "") },
        { m("hello, 1234", "([a-z]+).*?([0-9]{2})[0-9]+", "o") },
        { m("hello, 1234", "foo") }, { m("hello, 1234", "HELLO") },
        { m("hello, 1234", "HELLO", "i") }, { m("hello, 1234", "HELLO", "ij") },
        { m("hello, 1234", "HELLO", "jo") }
end)
case("match options", function()
    return { m("hello\nworld", "^world", "m") }, { m("hello\nworld", ".*", "m") },
        { m("hello\nworld", "^world", "s") }, { m("hello\nworld", ".*", "s") },
        { m("hello\nworld", "\\w     \\w", "x") }, { m("hello, world", "(world)|(hello)", "x") },
        { m("hello, 1234", "([0-9]+)", "a") }, { m("1234, hello", "([0-9]+)", "a") },
        { m("hello, world", "[a-z]+|[a-z]+, [a-z]+", "d") },
        { m("hello, world", "(?<w>[a-z]+)", "d") },
        { m("héllo", "h.llo", "u") }, { m("héllo", "h.llo") }, { m("héllo", "h..llo") },
        { m("héllo", "h.llo", "U") }, { m("HéLLO", "é", "iu") },
        { m("A", "\\u0041", "J") }, { m("aXbX", "(?:X)", "jo") }
end)
case("match bad regex and flags", function()
    local ok, err = pcall(ngx.re.match, "a", "a", "Q")
    return { m("hello", "(abc") }, { m("hello", "[") }, { m("hello", "a{2,1}") }, ok,
        (tostring(err):gsub("^.-:%d+: ", ""))
end)
case("match ctx.pos", function()
    local ctx = {}
    local r1 = { m("1234, hello", "([0-9]+)", "", ctx) }
    local p1 = ctx.pos
    ctx = { pos = 3 }
    local r2 = { m("1234, hello", "([0-9]+)", "", ctx) }
    local p2 = ctx.pos
    ctx = { pos = 100 }
    local r3 = { m("1234", "([0-9]+)", "", ctx) }
    local p3 = ctx.pos
    ctx = {}
    local r4 = { m("{foobarbaz}", "(?<=foo)bar|(?<=bar)baz", "", ctx) }
    local r5 = { m("{foobarbaz}", "(?<=foo)bar|(?<=bar)baz", "", ctx) }
    ctx = { pos = 0 }
    local r6 = { m("abc", "b", "", ctx) }
    ctx = { pos = 2 }
    local r7 = { m("abc", "^b", "", ctx) }
    local r8 = { m("abab", "\\Gb", "", { pos = 2 }) }
    return r1, p1, r2, p2, r3, p3, r4, r5, ctx.pos, r6, r7, r8
end)
case("match named captures", function()
    return { m("hello, 1234", "(?<first>[a-z]+), (?<second>[0-9]+)") },
        { m("hello, 1234", "(?<first>[a-z]+), (?<second>[0-9]+)(?<third>x)?") },
        { m("hello, world", "(?<w>[a-z]+), (?<w>[a-z]+)", "D") },
        { m("hello, world", "(?<w>[a-z]+)(?:, (?<w>[0-9]+))?", "D") },
        { m("world", "(?:(?<w>[0-9]+)|(?<w>[a-z]+))", "D") },
        { m("ab", "(?<x>a)(b)") }, { m("hello, world", "(?<w>[a-z]+), (?<w>[a-z]+)") }
end)
case("match unmatched groups and res table", function()
    local res = { "old", "old", "old", foo = "bar" }
    local r = ngx.re.match("ab", "(a)(x)?(b)", "", nil, res)
    return { m("ab", "(a)(x)?(b)") }, { m("a", "(a)|(b)") }, { m("b", "(a)|(b)") },
        { m("a", "(a)(x)?") }, r == res, res
end)
case("match non-string subject", function()
    return { m(12345, "3") }, { m(true, "ru") }, { m(12.5, "\\.") }
end)

local function f(...)
    return { ngx.re.find(...) }
end

case("find", function()
    return f("hello, 1234", "([0-9]+)"), f("hello, 1234", "([0-9]+)", "jo"),
        f("hello, 1234", "([0-9])([0-9]+)", "", nil, 2), f("hello, 1234", "([0-9])([0-9]+)", "", nil, 1),
        f("hello, 1234", "([0-9])([0-9]+)", "", nil, 0), f("hello, 1234", "([0-9])([0-9]+)", "", nil, 3),
        f("hello, 1234", "(x)?([0-9]+)", "", nil, 1), f("hello", "[0-9]"), f("", "^$"),
        f("hello", ""), f("hello, 1234", "([0-9]+)", "", nil, -1)
end)
case("find ctx", function()
    local ctx = {}
    local a = f("aXbXc", "X", nil, ctx)
    local p1 = ctx.pos
    local b = f("aXbXc", "X", nil, ctx)
    local p2 = ctx.pos
    local c = f("aXbXc", "X", nil, ctx)
    local p3 = ctx.pos
    return a, p1, b, p2, c, p3
end)
case("find bad regex", function()
    local a, b, err = ngx.re.find("hello", "(abc")
    return a, b, norm_err(err)
end)

local function gm(...)
    local it, err = ngx.re.gmatch(...)
    if not it then
        return { "nil", norm_err(err) }
    end
    local out = {}
    for i = 1, 50 do
        local r, e = it()
        if not r then
            out[#out + 1] = e or "done"
            break
        end
        out[#out + 1] = r
    end
    -- an exhausted iterator stays exhausted
    out[#out + 1] = it() == nil
    return out
end

case("gmatch", function()
    return gm("hello, world", "[a-z]+"), gm("hello, world", "([a-z])[a-z]+"),
        gm("hello, world", "[A-Z]+"), gm("hello, world", "[A-Z]+", "i"),
        gm("abc", ""), gm("", ""), gm("hello", "(?<c>l)", "jo"), gm("abc", "x*"),
        gm("a\nb\nc", "^\\w$", "m"), gm("aaa", "a|"), gm("hello", "(abc"),
        gm("héllo", ".", "u"), gm("a1b2", "(?<l>[a-z])(?<d>\\d)")
end)
case("gmatch in for loop", function()
    local out = {}
    for mm in ngx.re.gmatch("k1=v1, k2=v2", "(\\w+)=(\\w+)") do
        out[#out + 1] = mm[1] .. ":" .. mm[2]
    end
    return out
end)

local function s(fn, ...)
    local r, n, err = ngx.re[fn](...)
    return { r or "nil", n or "nil", norm_err(err) }
end

case("sub templates", function()
    return s("sub", "hello, world", "[a-z]+", "howdy"),
        s("sub", "hello, world", "[A-Z]+", "howdy"),
        s("sub", "a b c d", "(b) (c)", "[$0] [$1] [$2] [$3] [$134]"),
        s("sub", "a b c d", "(b) (c)", "[$0] [$1] [$2] [$3] [$hello]"),
        s("sub", "a b c d", "(b) (c)", "[$0] [$1] [$2] [$3] [${hello}]"),
        s("sub", "b c d", "(b) (c)", "[$0] [$1] [${2}] [$3] [${134}]"),
        s("sub", "b c d", "(b) (c)", "[$0] [$1] [${2}] [$3] [${134]"),
        s("sub", "b c d", "(b) (c)", "[$0] [$1] [${2}] [$3] [${134"),
        s("sub", "b c d", "(b) (c)", "[$0] [$1] [${2}] [$3] [${"),
        s("sub", "b c d", "(b) (c)", "[$0] [$1] [${2}] [$3] [$"),
        s("sub", "b c d", "(b) (c)", "$$ $$1 $ 1"),
        s("sub", "b c d", "(b) (c)", "[$$]"),
        s("sub", "b c d", "(b) (c)", "$1a ${1}a $12"),
        s("sub", "b c d", "(b) (c)", "${ 1}"),
        s("sub", "abc", "b", 12), s("sub", "abc", "", "-"), s("sub", 123, "2", "x"),
        s("sub", "hello", "(abc", "x")
end)
case("gsub templates", function()
    return s("gsub", "hello, world", "[a-z]+", "howdy"),
        s("gsub", "hello, world", "([a-z])[a-z]+", "[$0,$1]"),
        s("gsub", "hello, world", "[A-Z]+", "x"), s("gsub", "abc", "", "-"),
        s("gsub", "abc", "x*", "-"), s("gsub", "", "", "-"), s("gsub", "", "a", "-"),
        s("gsub", "aaa", "a", "$0$0"), s("gsub", "a.b.c", "\\.", "\\"),
        s("gsub", "héllo", ".", "[$0]", "u"), s("gsub", "hello world", "o", "0", "jo"),
        s("gsub", "hello, world", "(?<w>[a-z]+)", "<$1>"),
        s("gsub", "hello\nworld", "^", ">", "m"), s("gsub", "hello", "(abc", "x")
end)
case("sub and gsub with a function", function()
    local calls = {}
    local r1 = s("gsub", "hello, world", "([a-z])[a-z]+", function(mm)
        calls[#calls + 1] = mm
        return "[" .. mm[0] .. "," .. mm[1] .. "]"
    end)
    local r2 = s("sub", "hello, world", "([a-z])[a-z]+", function(mm) return mm[1]:upper() end)
    local r3 = s("gsub", "a1b2", "(?<d>\\d)", function(mm) return tonumber(mm.d) * 2 end)
    local r4 = s("gsub", "abc", "", function() return "-" end)
    local r5 = s("gsub", "abc", "b", function() return nil end)
    local r6 = s("gsub", "abc", "(x)?b", function(mm) return tostring(mm[1]) end)
    return r1, calls, r2, r3, r4, r5, r6
end)
case("dfa", function()
    return { m("hello", "(h)(e)", "d") }, f("hello, world", "[a-z]+|[a-z]+, [a-z]+", "d"),
        gm("aaa", "a+?", "d"), s("gsub", "aaa", "a+?", "x", "d")
end)

case("escape_uri types 1 3 4 5 6", function()
    local out = {}
    for _, ty in ipairs { 1, 3, 4, 5, 6 } do
        local parts = {}
        for i = 0, 255 do
            local ok, r = pcall(ngx.escape_uri, string.char(i), ty)
            parts[#parts + 1] = ok and r or "ERR"
        end
        out[#out + 1] = table.concat(parts, " ")
    end
    return out
end)
case("re: more PCRE", function()
    return { m("abcabc", "(abc)\\1") }, { m("foobar", "foo(?=bar)") }, { m("foobaz", "foo(?!bar)") },
        { m("aaa", "a++a") }, { m("AbC", "(?i)abc") }, { m("a.b", "a\\.b") },
        { m("x=1,y=2", "(?<k>\\w)=(?<v>\\d)(?:,(?&k)=(\\d))?") },
        { m("ÉCOLE école", "école", "iu") }, { m("日本語", "^.{3}$", "u") },
        { m("日本語", "^.{3}$") }, { m("ab\ncd", "^cd$", "m") }, { m("ab\ncd", "b$") },
        { m("ab\n", "b$") }, { m("ab", "(?<n>a)|(?<n>b)", "D") },
        { m("2024-01-15", "(\\d+)-(\\d+)-(\\d+)", "jo") },
        { m("  trim  ", "^\\s*(.*?)\\s*$") }, { m("", "^$") }, { m("abc", "") },
        { m("abc", "c", "a") }, { m("a\0b", "\\0") }, { m("a\0b", "a.b", "s") }
end)
case("re: more sub/gsub", function()
    return s("gsub", "a,b,,c", ",", ";"), s("gsub", "hello world", "(\\w+)", "<$1>", "jo"),
        s("gsub", "aaa", "^a", "b"), s("gsub", "aaa", "a*", "-"), s("gsub", "abc", "$", "!"),
        s("gsub", "abc", "\\b", "|"), s("sub", "abc", "(?<x>b)", "[${1}${0}]"),
        s("gsub", "x1y22z333", "\\d+", function(mm) return #mm[0] end),
        s("gsub", "日本", ".", "<$0>", "u"), s("gsub", ("ab"):rep(1000), "b", "c"),
        s("gsub", "a\nb", ".", "x", "s"), s("gsub", "AbC", "[a-z]", "_", "i"),
        s("sub", "abc", "b", "$$$$"), s("sub", "abc", "b", "$00"), s("sub", "abc", "(b)", "${01}")
end)
case("re: more gmatch and find", function()
    return gm("a1b22c333", "\\d+"), gm("aXbXc", "X", "jo"), gm("ab\ncd", "^\\w", "m"),
        gm("日本語", ".", "u"), f("日本語", "本", "u"), f("abc", "c", "", { pos = 3 }),
        f("abc", "a", "", { pos = 2 }), f("abcabc", "(b)(c)", "jo", nil, 2)
end)

---------------------------------------------------------------- run

return function(write)
    for _, c in ipairs(cases) do
        local r = pack(pcall(c[2]))
        local out = {}
        if not r[1] then
            out[1] = "ERROR " .. tostring(r[2]):gsub("^.-:%d+: ", "")
        else
            for i = 2, r.n do
                out[#out + 1] = ser(r[i])
            end
        end
        write(c[1] .. "\t" .. table.concat(out, " ") .. "\n")
    end
end
