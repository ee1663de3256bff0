-- The binding's ffi.cdef mirrors include/cosocket.h: every function is
-- declared (and exported by the library), every struct has the header's
-- fields in the header's order, every enum constant has the header's value.

local t = require "t"
local ffi = require "ffi"
local cdef = require "cosocket.cdef"

local f = assert(io.open(t.dir .. "/../../include/cosocket.h", "rb"))
local header = f:read("*a")
f:close()
header = header:gsub("/%*.-%*/", ""):gsub("//[^\n]*", "")

t.test("library loaded", function()
    t.ok(cdef.path, "path")
    t.eq(type(cdef.C), "userdata", "clib")
end)

t.test("every function of the header is declared and exported", function()
    local missing = {}
    local n = 0
    for name in header:gmatch("(cosocket_[%w_]+)%s*%(") do
        n = n + 1
        if not pcall(function() return cdef.C[name] end) then
            missing[#missing + 1] = name
        end
    end
    t.ok(n > 40, "found the functions (" .. n .. ")")
    t.eq(table.concat(missing, ", "), "", "missing")
end)

t.test("structs have the header's fields in order", function()
    local n = 0
    for name, body in header:gmatch("typedef struct (cosocket_[%w_]+) {(.-)}") do
        n = n + 1
        local last = -1
        for decl in body:gmatch("[^;]+") do
            local field = decl:match("([%w_]+)%s*$")
            if field then
                local off = ffi.offsetof(name, field)
                t.ok(off, name .. "." .. field .. " declared")
                t.ok(off > last, name .. "." .. field .. " in order")
                last = off
            end
        end
    end
    t.ok(n >= 4, "found the structs")
end)

t.test("enum constants have the header's values", function()
    local n = 0
    for name, body in header:gmatch("typedef enum (cosocket_[%w_]+) {(.-)}") do
        for const, value in body:gmatch("([%u%d_]+)%s*=%s*(%d+)") do
            n = n + 1
            t.eq(tonumber(ffi.cast(name, const)), tonumber(value), const)
        end
    end
    t.ok(n >= 15, "found the constants")
end)

t.done()
