-- ngx.re.match/find/gmatch/sub/gsub on PCRE2 (cosocket/ngx_re.lua), with
-- OpenResty's options, captures tables, ctx.pos and replacement templates.
-- tests/lua/test_ngx_oracle.lua holds many more cases checked against real
-- nginx; these spell the behaviours out.

local t = require "t"
local ngx = require("cosocket").ngx()
local re = ngx.re

t.test("match: numbered captures, unmatched groups are false", function()
    local m = re.match("hello, 1234", "([a-z]+).*?([0-9]{2})([0-9]+)")
    t.eq(m[0], "hello, 1234", "m[0]")
    t.eq(m[1], "hello", "m[1]")
    t.eq(m[2], "12", "m[2]")
    t.eq(m[3], "34", "m[3]")
    m = re.match("ab", "(a)(x)?(b)")
    t.eq(m[2], false, "unmatched middle group")
    t.eq(m[3], "b", "group after it")
    m = re.match("a", "(a)(x)?")
    t.eq(m[2], false, "unmatched trailing group")
    t.eq(re.match("hello", "foo"), nil, "no match: nil")
    t.eq(select("#", re.match("hello", "foo")), 1, "no match: one value")
end)

t.test("match: named captures, and D for duplicate names", function()
    local m = re.match("hello, 1234", "(?<word>[a-z]+), (?<num>\\d+)(?<x>x)?")
    t.eq(m.word, "hello", "word")
    t.eq(m.num, "1234", "num")
    t.eq(m[1], "hello", "named groups are numbered too")
    t.eq(m.x, false, "unmatched named group")
    m = re.match("hello, world", "(?<w>[a-z]+), (?<w>[a-z]+)", "D")
    t.eq(type(m.w), "table", "D: an array")
    t.eq(m.w[1] .. "|" .. m.w[2], "hello|world", "D values")
    m = re.match("hello", "(?<w>[a-z]+)(?:, (?<w>[0-9]+))?", "D")
    t.eq(#m.w, 1, "D: only matched ones")
    local _, err = re.match("ab", "(?<w>a)(?<w>b)")
    t.ok(err and err:find("^pcre2_compile%(%) failed: two named subpatterns have the same name"),
         "duplicate names need D: " .. tostring(err))
end)

t.test("match: options i m s x a u U j o J", function()
    t.eq(re.match("HeLLo", "hello", "i")[0], "HeLLo", "i")
    t.eq(re.match("a\nb", "^b", "m")[0], "b", "m")
    t.eq(re.match("a\nb", "^b"), nil, "no m")
    t.eq(re.match("a\nb", "a.b", "s")[0], "a\nb", "s")
    t.eq(re.match("a\nb", "a.b"), nil, "no s")
    t.eq(re.match("abc", "a b  c # comment", "x")[0], "abc", "x")
    t.eq(re.match("xabc", "abc", "a"), nil, "a: anchored")
    t.eq(re.match("abcx", "abc", "a")[0], "abc", "a: at the start")
    t.eq(re.match("héllo", "h.llo", "u")[0], "héllo", "u: . is one character")
    t.eq(re.match("héllo", "h.llo"), nil, "bytes without u")
    t.eq(re.match("héllo", "h.llo", "U")[0], "héllo", "U")
    local _, err = re.match("\255", "a", "u")
    t.ok(err and err:find("^pcre_exec%(%) failed: %-%d+$"), "u checks UTF-8: " .. tostring(err))
    t.eq(re.match("hello", "l+", "jo")[0], "ll", "jo")
    t.eq(re.match("A", "\\u0041", "J")[0], "A", "J: \\u escapes")
    t.raises('unknown flag "Q" (flags "iQ")', re.match, "a", "a", "iQ")
end)

t.test("match: d (DFA) gives the longest match and no captures", function()
    local m = re.match("hello, world", "[a-z]+|[a-z]+, [a-z]+", "d")
    t.eq(m[0], "hello, world", "longest")
    m = re.match("hello", "(h)(e)", "d")
    t.eq(m[0], "he", "whole match")
    t.eq(m[1], nil, "no captures")
end)

t.test("match: ctx.pos and the res table", function()
    local ctx = {}
    t.eq(re.match("1234, hello", "[0-9]+", "", ctx)[0], "1234", "from the start")
    t.eq(ctx.pos, 5, "pos after the match")
    ctx = { pos = 3 }
    t.eq(re.match("1234, hello", "[0-9]+", "", ctx)[0], "34", "from pos 3")
    ctx = {}
    t.eq(re.match("{foobarbaz}", "(?<=foo)bar|(?<=bar)baz", "", ctx)[0], "bar", "look-behind 1")
    t.eq(re.match("{foobarbaz}", "(?<=foo)bar|(?<=bar)baz", "", ctx)[0], "baz",
         "look-behind sees before pos")
    ctx = { pos = 5 }
    t.eq(re.match("abc", "b", "", ctx), nil, "no match")
    t.eq(ctx.pos, 5, "pos unchanged without a match")
    local res = { "stale", "stale", "stale", keep = 1 }
    local m = re.match("ab", "(a)(b)", "", nil, res)
    t.eq(m, res, "the given table is returned")
    t.eq(res[1] .. res[2], "ab", "filled")
    t.eq(res.keep, 1, "other keys stay")
end)

t.test("match: bad regex, non-string subject", function()
    local m, err = re.match("hello", "(abc")
    t.eq(m, nil, "nil")
    t.eq(err, 'pcre2_compile() failed: missing closing parenthesis in "(abc"', "message")
    m, err = re.match("hello", "a{2,1}x")
    t.ok(err:find('^pcre2_compile%(%) failed: .* in "a{2,1}x" at "}x"$'), err)
    t.eq(re.match(12345, "3")[0], "3", "number subject")
    t.eq(re.match(true, "ru")[0], "ru", "boolean subject")
end)

t.test("find: positions, nth, ctx", function()
    t.rets("whole", { 8, 11 }, re.find("hello, 1234", "([0-9]+)"))
    t.rets("nth 2", { 9, 11 }, re.find("hello, 1234", "([0-9])([0-9]+)", "jo", nil, 2))
    t.rets("nth unmatched", { n = 2 }, re.find("hello, 1234", "(x)?([0-9]+)", "", nil, 1))
    t.rets("nth out of bound", { nil, nil, "nth out of bound" },
           re.find("hello, 1234", "([0-9]+)", "", nil, 2))
    t.rets("empty match", { 1, 0 }, re.find("hello", ""))
    t.rets("no match", { n = 1 }, re.find("hello", "[0-9]"))
    local ctx = {}
    t.rets("1st", { 2, 2 }, re.find("aXbXc", "X", nil, ctx))
    t.eq(ctx.pos, 3, "pos")
    t.rets("2nd", { 4, 4 }, re.find("aXbXc", "X", nil, ctx))
    t.rets("bad regex", { nil, nil, 'pcre2_compile() failed: missing terminating ] for character class in "["' },
           re.find("a", "["))
end)

t.test("gmatch: iterator, empty matches, exhaustion", function()
    local out = {}
    for m in re.gmatch("k1=v1, k2=v2", "(?<k>\\w+)=(\\w+)") do
        out[#out + 1] = m.k .. ":" .. m[2]
    end
    t.eq(table.concat(out, " "), "k1:v1 k2:v2", "for loop")
    local it = re.gmatch("abc", "")
    local n = 0
    while it() do
        n = n + 1
    end
    t.eq(n, 4, "empty matches at 4 positions")
    t.eq(it(), nil, "stays exhausted")
    out = {}
    for m in re.gmatch("aaa", "a|") do
        out[#out + 1] = "[" .. m[0] .. "]"
    end
    t.eq(table.concat(out), "[a][a][a][]", "alternation with empty")
    out = {}
    for m in re.gmatch("héllo", ".", "u") do
        out[#out + 1] = m[0]
    end
    t.eq(#out, 5, "u: characters")
    local it2, err = re.gmatch("a", "(")
    t.eq(it2, nil, "bad regex")
    t.ok(err:find("^pcre2_compile"), err)
end)

t.test("sub/gsub: templates $0 $1 ${1} $$ and errors", function()
    t.rets("sub", { "howdy, world", 1 }, re.sub("hello, world", "[a-z]+", "howdy"))
    t.rets("gsub", { "howdy, howdy", 2 }, re.gsub("hello, world", "[a-z]+", "howdy"))
    t.rets("no match", { "hello", 0 }, re.gsub("hello", "[0-9]", "x"))
    t.rets("captures", { "a [b c] [b] [c] [] [] d", 1 },
           re.sub("a b c d", "(b) (c)", "[$0] [$1] [$2] [$3] [$134]"))
    t.rets("brackets", { "[b]x [c]1", 1 }, re.sub("b c", "(b) (c)", "[${1}]x [${2}]1"))
    t.rets("digits run", { "b!", 1 }, re.sub("b", "(b)", "$1!"))
    t.rets("$$", { "$1", 1 }, re.sub("b", "(b)", "$$1"))
    t.rets("trailing $", { nil, nil, "failed to compile the replacement template" },
           re.sub("b", "(b)", "x$"))
    t.rets("unclosed ${", { nil, nil, "failed to compile the replacement template" },
           re.sub("b", "(b)", "${1"))
    t.rets("unknown name", { nil, nil, "failed to compile the replacement template" },
           re.sub("b", "(b)", "$nope"))
    t.rets("empty regex", { "-a-b-c-", 4 }, re.gsub("abc", "", "-"))
    t.rets("x*", { "-a-b-c-", 4 }, re.gsub("abc", "x*", "-"))
    t.rets("u", { "[h][é][l][l][o]", 5 }, re.gsub("héllo", ".", "[$0]", "u"))
    t.rets("m", { ">a\n>b", 2 }, re.gsub("a\nb", "^", ">", "m"))
    t.rets("number replacement", { "a12c", 1 }, re.sub("abc", "b", 12))
    local r, n, err = re.gsub("x", "(", "y")
    t.eq(r, nil, "bad regex")
    t.eq(n, nil, "bad regex n")
    t.ok(err:find("^pcre2_compile"), err)
end)

t.test("sub/gsub: named captures in templates (an extension)", function()
    t.rets("named", { "<hello>, <world>", 2 }, re.gsub("hello, world", "(?<w>[a-z]+)", "<$w>"))
    t.rets("bracketed", { "hello!", 1 }, re.sub("hello", "(?<w>[a-z]+)", "${w}!"))
end)

t.test("sub/gsub with a function", function()
    local seen = {}
    local r, n = re.gsub("hello, world", "([a-z])[a-z]+", function(m)
        seen[#seen + 1] = m[0]
        return m[1]:upper()
    end)
    t.eq(r, "H, W", "result")
    t.eq(n, 2, "count")
    t.eq(table.concat(seen, ","), "hello,world", "captures tables")
    t.rets("named + number return", { "a2b4", 2 },
           re.gsub("a1b2", "(?<d>\\d)", function(m) return tonumber(m.d) * 2 end))
    t.rets("nil return", { "anilc", 1 }, re.gsub("abc", "b", function() return nil end))
    t.rets("sub once", { "H, world", 1 },
           re.sub("hello, world", "([a-z])[a-z]+", function(m) return m[1]:upper() end))
    -- the callback may use ngx.re itself
    t.rets("nested", { "[1][2]", 2 },
           re.gsub("12", "\\d", function(m) return (re.gsub(m[0], ".", "[$0]")) end))
end)

t.test("the o cache returns the same results", function()
    for _ = 1, 3 do
        t.eq(re.match("abc", "b+", "o")[0], "b", "o match")
        t.rets("o gsub", { "aXc", 1 }, re.gsub("abc", "b", "X", "jo"))
    end
end)

t.test('require "ngx.re" (split) after global install', function()
    local saved_ngx, saved_mod = rawget(_G, "ngx"), package.loaded["ngx.re"]
    package.loaded["ngx.re"] = nil
    local saved_co = {}
    for k, v in pairs(coroutine) do saved_co[k] = v end
    require("cosocket").ngx { global = true }
    local ngx_re = require "ngx.re"
    local function sp(...)
        return table.concat(assert(ngx_re.split(...)), "|")
    end
    t.eq(sp("a,b,c", ","), "a|b|c", "simple")
    t.eq(sp("a,b,,c,,", ","), "a|b||c", "trailing empties dropped")
    t.eq(sp("a,b,c,d", ",", nil, nil, 2), "a|b,c,d", "max")
    t.eq(sp("abc", ""), "a|b|c", "empty regex")
    t.eq(sp("a1b2c", "(\\d)"), "a|1|b|2|c", "capture kept")
    t.eq(sp(",a", ","), "|a", "leading empty kept")
    _G.ngx, package.loaded["ngx.re"] = saved_ngx, saved_mod
    for k, v in pairs(saved_co) do coroutine[k] = v end
end)

t.done()
