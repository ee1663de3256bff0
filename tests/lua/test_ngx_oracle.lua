-- The ngx table against real nginx: tests/lua/ngx_probe.lua run through
-- cosocket.ngx() must print what it printed inside nginx with
-- lua-nginx-module (recorded in tests/lua/data/ngx_oracle.txt by
-- tests/lua/ngx_oracle.sh): escaping of every byte, base64 edge cases,
-- digests, args, times, and ngx.re on PCRE.

local t = require "t"
local cosocket = require "cosocket"

local record = {}
local order = {}
do
    local f = assert(io.open(t.dir .. "/data/ngx_oracle.txt", "rb"))
    for line in f:lines() do
        if line:sub(1, 1) ~= "#" then
            local name, rest = line:match("^([^\t]*)\t(.*)$")
            assert(name, "bad record line: " .. line)
            record[name] = rest
            order[#order + 1] = name
        end
    end
    f:close()
end

local saved = rawget(_G, "ngx")
_G.ngx = cosocket.ngx()
local got = {}
local got_order = {}
dofile(t.dir .. "/ngx_probe.lua")(function(s)
    local name, rest = s:match("^([^\t]*)\t(.*)\n$")
    got[name] = rest
    got_order[#got_order + 1] = name
end)
_G.ngx = saved

t.test("the probe and the record have the same cases", function()
    t.eq(#got_order, #order, "number of cases (re-run tests/lua/ngx_oracle.sh?)")
    for i, name in ipairs(order) do
        t.eq(got_order[i], name, "case " .. i)
    end
end)

-- Shows where two long lines part.
local function first_diff(a, b)
    local i = 1
    while i <= #a and a:sub(i, i) == b:sub(i, i) do
        i = i + 1
    end
    local from = math.max(1, i - 60)
    return string.format("at byte %d:\n      nginx:    ...%s\n      cosocket: ...%s", i,
                         a:sub(from, i + 60), b:sub(from, i + 60))
end

for _, name in ipairs(order) do
    t.test("as nginx: " .. name, function()
        local want, have = record[name], got[name]
        if have == nil then
            error("case missing from the probe run", 0)
        end
        if want ~= have then
            error(first_diff(want, have), 0)
        end
    end)
end

t.done()
