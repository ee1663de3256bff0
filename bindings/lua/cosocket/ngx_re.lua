-- ngx.re for plain LuaJIT: OpenResty's ngx.re.match/find/gmatch/sub/gsub
-- (lua-resty-core's resty/core/regex.lua semantics) on real PCRE2, called
-- through the LuaJIT FFI (Debian's libpcre2-8.so.0).
--
-- Options, as in OpenResty: a (anchored), d (DFA: longest match, no
-- captures), D (duplicate names: named captures become arrays), i
-- (caseless), j (JIT), J (JavaScript-compatible), m (multiline), o (compile
-- once: cache the compiled regex), s (dotall), u (UTF-8), U (UTF-8 without
-- validity check), x (extended).
--
-- One extension: replacement templates may name captures ($name or
-- ${name}); OpenResty rejects them ("failed to compile the replacement
-- template"), so no valid OpenResty code changes meaning.

local ffi = require "ffi"
local bit = require "bit"

local ffi_string, ffi_new, ffi_gc = ffi.string, ffi.new, ffi.gc
local bor, band = bit.bor, bit.band
local byte, sub, fmt, find = string.byte, string.sub, string.format, string.find
local concat = table.concat
local type, tostring, tonumber, error, setmetatable = type, tostring, tonumber, error, setmetatable

-- Symbols are bound under private names (asm labels), so these declarations
-- never clash with another module's cdef of the same PCRE2 functions.
ffi.cdef [[
typedef struct cosocket_pcre2_code cosocket_pcre2_code;
typedef struct cosocket_pcre2_match_data cosocket_pcre2_match_data;

cosocket_pcre2_code *cosocket_pcre2_compile(const char *pattern, size_t length,
    uint32_t options, int *errorcode, size_t *erroroffset, void *ccontext)
    __asm__("pcre2_compile_8");
void cosocket_pcre2_code_free(cosocket_pcre2_code *code)
    __asm__("pcre2_code_free_8");
int cosocket_pcre2_pattern_info(const cosocket_pcre2_code *code, uint32_t what,
    void *where) __asm__("pcre2_pattern_info_8");
int cosocket_pcre2_jit_compile(cosocket_pcre2_code *code, uint32_t options)
    __asm__("pcre2_jit_compile_8");
cosocket_pcre2_match_data *cosocket_pcre2_match_data_create(uint32_t ovecsize,
    void *gcontext) __asm__("pcre2_match_data_create_8");
void cosocket_pcre2_match_data_free(cosocket_pcre2_match_data *md)
    __asm__("pcre2_match_data_free_8");
int cosocket_pcre2_match(const cosocket_pcre2_code *code, const char *subject,
    size_t length, size_t startoffset, uint32_t options,
    cosocket_pcre2_match_data *md, void *mcontext) __asm__("pcre2_match_8");
int cosocket_pcre2_dfa_match(const cosocket_pcre2_code *code,
    const char *subject, size_t length, size_t startoffset, uint32_t options,
    cosocket_pcre2_match_data *md, void *mcontext, int *workspace,
    size_t wscount) __asm__("pcre2_dfa_match_8");
size_t *cosocket_pcre2_get_ovector_pointer(cosocket_pcre2_match_data *md)
    __asm__("pcre2_get_ovector_pointer_8");
int cosocket_pcre2_get_error_message(int errorcode, unsigned char *buffer,
    size_t bufflen) __asm__("pcre2_get_error_message_8");
int cosocket_pcre2_config(uint32_t what, void *where) __asm__("pcre2_config_8");
]]

local function load_pcre2()
    local tried = {}
    -- $COSOCKET_PCRE2_LIB, when set, is the only candidate.
    local env = os.getenv("COSOCKET_PCRE2_LIB")
    local names = (env and env ~= "") and { env }
        or { "libpcre2-8.so.0", "pcre2-8", "libpcre2-8.0.dylib", "libpcre2-8.dylib" }
    for i = 1, #names do
        local name = names[i]
        if name and name ~= "" then
            local ok, lib = pcall(ffi.load, name)
            if ok then
                return lib
            end
            tried[#tried + 1] = name
        end
    end
    return nil, "cannot load PCRE2 (tried " .. concat(tried, ", ")
        .. "; set COSOCKET_PCRE2_LIB or install libpcre2-8-0)"
end

local P, load_err = load_pcre2()

local _M = {}

if not P then
    -- As OpenResty built without PCRE: every ngx.re function raises.
    _M.no_pcre = true
    _M.load_error = load_err
    return setmetatable(_M, {
        __index = function(_, key)
            error("no support for 'ngx.re." .. tostring(key) .. "': " .. load_err, 2)
        end,
    })
end

local PCRE2_ANCHORED            = 0x80000000
local PCRE2_NO_UTF_CHECK        = 0x40000000
local PCRE2_ALLOW_EMPTY_CLASS   = 0x00000001
local PCRE2_ALT_BSUX            = 0x00000002
local PCRE2_CASELESS            = 0x00000008
local PCRE2_DOTALL              = 0x00000020
local PCRE2_DUPNAMES            = 0x00000040
local PCRE2_EXTENDED            = 0x00000080
local PCRE2_MATCH_UNSET_BACKREF = 0x00000200
local PCRE2_MULTILINE           = 0x00000400
local PCRE2_UTF                 = 0x00080000
local PCRE2_JAVASCRIPT_COMPAT   = bor(PCRE2_ALT_BSUX, PCRE2_ALLOW_EMPTY_CLASS,
                                      PCRE2_MATCH_UNSET_BACKREF)
local PCRE2_JIT_COMPLETE        = 1
local PCRE2_INFO_CAPTURECOUNT   = 4
local PCRE2_INFO_NAMECOUNT      = 17
local PCRE2_INFO_NAMEENTRYSIZE  = 18
local PCRE2_INFO_NAMETABLE      = 19
local PCRE2_CONFIG_VERSION      = 11
local PCRE2_ERROR_NOMATCH       = -1

local FLAG_COMPILE_ONCE  = 0x01
local FLAG_DFA           = 0x02
local FLAG_JIT           = 0x04
local FLAG_DUPNAMES      = 0x08
local FLAG_NO_UTF8_CHECK = 0x10

-- lua_regex_cache_max_entries' default.
local MAX_CACHE = 1024
local DFA_WORKSPACE = 100

local u32_cell = ffi_new("uint32_t[1]")
local int_cell = ffi_new("int[1]")
local size_cell = ffi_new("size_t[1]")
local ptr_cell = ffi_new("const unsigned char *[1]")
local errbuf = ffi_new("unsigned char[256]")
local dfa_ws = ffi_new("int[?]", DFA_WORKSPACE)

do
    local buf = ffi_new("char[64]")
    P.cosocket_pcre2_config(PCRE2_CONFIG_VERSION, buf)
    _M.pcre_version = ffi_string(buf)
end

local opt_cache = {}

local function parse_opts(opts)
    local t = opt_cache[opts]
    if t then
        return t[1], t[2]
    end
    local flags, pcre_opts = 0, 0
    for i = 1, #opts do
        local c = sub(opts, i, i)
        if c == "o" then
            flags = bor(flags, FLAG_COMPILE_ONCE)
        elseif c == "j" then
            flags = bor(flags, FLAG_JIT)
        elseif c == "i" then
            pcre_opts = bor(pcre_opts, PCRE2_CASELESS)
        elseif c == "s" then
            pcre_opts = bor(pcre_opts, PCRE2_DOTALL)
        elseif c == "m" then
            pcre_opts = bor(pcre_opts, PCRE2_MULTILINE)
        elseif c == "u" then
            pcre_opts = bor(pcre_opts, PCRE2_UTF)
        elseif c == "U" then
            pcre_opts = bor(pcre_opts, PCRE2_UTF)
            flags = bor(flags, FLAG_NO_UTF8_CHECK)
        elseif c == "x" then
            pcre_opts = bor(pcre_opts, PCRE2_EXTENDED)
        elseif c == "d" then
            flags = bor(flags, FLAG_DFA)
        elseif c == "a" then
            pcre_opts = bor(pcre_opts, PCRE2_ANCHORED)
        elseif c == "D" then
            pcre_opts = bor(pcre_opts, PCRE2_DUPNAMES)
            flags = bor(flags, FLAG_DUPNAMES)
        elseif c == "J" then
            pcre_opts = bor(pcre_opts, PCRE2_JAVASCRIPT_COMPAT)
        else
            error(fmt('unknown flag "%s" (flags "%s")', c, opts), 4)
        end
    end
    opt_cache[opts] = { flags, pcre_opts }
    return flags, pcre_opts
end

-- compiled regex: { code, md, ov, ncap, flags, names = {n1, name1, n2, ...},
--                   template = parts or nil }
local cache, cache_size = {}, 0

local function compile(regex, opts)
    if type(regex) ~= "string" then
        regex = tostring(regex)
    end
    local flags, pcre_opts = 0, 0
    if opts then
        flags, pcre_opts = parse_opts(opts)
    else
        opts = ""
    end
    local once = band(flags, FLAG_COMPILE_ONCE) ~= 0
    local key
    if once then
        key = regex .. "\0" .. opts
        local c = cache[key]
        if c then
            return c
        end
    end

    local code = P.cosocket_pcre2_compile(regex, #regex, pcre_opts, int_cell, size_cell, nil)
    if code == nil then
        local n = P.cosocket_pcre2_get_error_message(int_cell[0], errbuf, 256)
        local msg = n > 0 and ffi_string(errbuf, n) or ("error " .. int_cell[0])
        local off = tonumber(size_cell[0])
        if off >= #regex then
            return nil, fmt('pcre2_compile() failed: %s in "%s"', msg, regex)
        end
        return nil, fmt('pcre2_compile() failed: %s in "%s" at "%s"', msg, regex,
                        sub(regex, off + 1))
    end
    code = ffi_gc(code, P.cosocket_pcre2_code_free)

    if band(flags, FLAG_JIT) ~= 0 then
        -- As nginx: a failed JIT compilation only means interpreted matching.
        P.cosocket_pcre2_jit_compile(code, PCRE2_JIT_COMPLETE)
    end

    P.cosocket_pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, u32_cell)
    local ncap = tonumber(u32_cell[0])
    local names
    P.cosocket_pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, u32_cell)
    local name_count = tonumber(u32_cell[0])
    if name_count > 0 then
        P.cosocket_pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, u32_cell)
        local entry = tonumber(u32_cell[0])
        P.cosocket_pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, ptr_cell)
        local tbl = ptr_cell[0]
        names = {}
        for i = 0, name_count - 1 do
            local e = tbl + i * entry
            names[#names + 1] = e[0] * 256 + e[1]
            names[#names + 1] = ffi_string(e + 2)
        end
    end

    local dfa = band(flags, FLAG_DFA) ~= 0
    if dfa then
        -- DFA matching reports only the (longest) whole match.
        ncap = 0
    end
    local md = ffi_gc(P.cosocket_pcre2_match_data_create(ncap + 1, nil),
                      P.cosocket_pcre2_match_data_free)
    if md == nil then
        return nil, "no memory"
    end

    local compiled = {
        code = code,
        md = md,
        -- Offsets read as signed: PCRE2_UNSET (~0) becomes -1.
        ov = ffi.cast("int64_t *", P.cosocket_pcre2_get_ovector_pointer(md)),
        ncap = ncap,
        flags = flags,
        names = names,
        exec_opts = band(flags, FLAG_NO_UTF8_CHECK) ~= 0 and PCRE2_NO_UTF_CHECK or 0,
        dfa = dfa,
    }
    if once and cache_size < MAX_CACHE then
        cache[key] = compiled
        cache_size = cache_size + 1
    end
    return compiled
end

-- Returns rc (number of pairs set, >= 1) or nil, err (nil err: no match).
local function exec(c, subj, len, pos)
    local rc
    if c.dfa then
        rc = P.cosocket_pcre2_dfa_match(c.code, subj, len, pos, c.exec_opts, c.md, nil,
                                        dfa_ws, DFA_WORKSPACE)
        if rc == 0 then
            rc = 1
        end
    else
        rc = P.cosocket_pcre2_match(c.code, subj, len, pos, c.exec_opts, c.md, nil)
        if rc == 0 then
            return nil, "capture size too small"
        end
    end
    if rc == PCRE2_ERROR_NOMATCH then
        return nil
    end
    if rc < 0 then
        return nil, "pcre_exec() failed: " .. rc
    end
    return rc
end


local function collect(c, rc, subj, res)
    local ov = c.ov
    local ncap = c.ncap
    res = res or {}
    for i = 0, ncap do
        if i < rc and tonumber(ov[2 * i]) >= 0 then
            res[i] = sub(subj, tonumber(ov[2 * i]) + 1, tonumber(ov[2 * i + 1]))
        else
            res[i] = false
        end
    end
    local names = c.names
    if names then
        if band(c.flags, FLAG_DUPNAMES) ~= 0 then
            -- Only matched captures are collected, in name-table order.
            for i = 1, #names, 2 do
                local cap = res[names[i]]
                if cap then
                    local name = names[i + 1]
                    local old = res[name]
                    if old then
                        old[#old + 1] = cap
                    else
                        res[name] = { cap }
                    end
                end
            end
        else
            for i = 1, #names, 2 do
                res[names[i + 1]] = res[names[i]]
            end
        end
    end
    return res
end

local function start_pos(ctx)
    if ctx then
        local pos = ctx.pos
        if pos and pos > 0 then
            return pos - 1
        end
    end
    return 0
end

--- ngx.re.match(subject, regex, options?, ctx?, res_table?) -> captures | nil, err
function _M.match(subj, regex, opts, ctx, res)
    subj = tostring(subj)
    local c, err = compile(regex, opts)
    if not c then
        return nil, err
    end
    local rc
    rc, err = exec(c, subj, #subj, start_pos(ctx))
    if not rc then
        if err then
            return nil, err
        end
        return nil -- no match: one value, as lua-resty-core
    end
    if ctx then
        ctx.pos = tonumber(c.ov[1]) + 1
    end
    return collect(c, rc, subj, res)
end

--- ngx.re.find(subject, regex, options?, ctx?, nth?) -> from, to | nil, nil, err
function _M.find(subj, regex, opts, ctx, nth)
    subj = tostring(subj)
    local c, err = compile(regex, opts)
    if not c then
        return nil, nil, err
    end
    local rc
    rc, err = exec(c, subj, #subj, start_pos(ctx))
    if not rc then
        if err then
            return nil, nil, err
        end
        return nil
    end
    local ov = c.ov
    if ctx then
        ctx.pos = tonumber(ov[1]) + 1
    end
    if not nth or nth < 0 then
        nth = 0
    end
    if nth > c.ncap then
        return nil, nil, "nth out of bound"
    end
    if nth >= rc or tonumber(ov[2 * nth]) < 0 then
        return nil, nil
    end
    return tonumber(ov[2 * nth]) + 1, tonumber(ov[2 * nth + 1])
end

local gmatch_mt = {
    __call = function(self)
        local pos = self.pos
        if not pos then
            return nil
        end
        local c, subj, len = self.c, self.subj, self.len
        local rc, err = exec(c, subj, len, pos)
        if not rc then
            self.pos = nil
            return nil, err
        end
        local ov = c.ov
        local to = tonumber(ov[1])
        if to == tonumber(ov[0]) then
            -- An empty match: go on one byte further, as nginx does.
            to = to + 1
            if to > len then
                self.pos = nil
                return collect(c, rc, subj)
            end
        end
        self.pos = to
        return collect(c, rc, subj)
    end,
}

--- ngx.re.gmatch(subject, regex, options?) -> iterator | nil, err
function _M.gmatch(subj, regex, opts)
    subj = tostring(subj)
    local c, err = compile(regex, opts)
    if not c then
        return nil, err
    end
    return setmetatable({ c = c, subj = subj, len = #subj, pos = 0 }, gmatch_mt)
end

-- A replacement template as parts: strings, capture numbers, or
-- { name } for a named capture (the extension). nil, err when malformed.
local template_cache = setmetatable({}, { __mode = "k" })

local function is_word(ch)
    return (ch >= 48 and ch <= 57) or (ch >= 65 and ch <= 90)
        or (ch >= 97 and ch <= 122) or ch == 95
end

local function compile_template(tpl)
    local parts = {}
    local i, n = 1, #tpl
    while i <= n do
        local d = find(tpl, "$", i, true)
        if not d then
            parts[#parts + 1] = sub(tpl, i)
            break
        end
        if d > i then
            parts[#parts + 1] = sub(tpl, i, d - 1)
        end
        i = d + 1
        if i > n then
            return nil
        end
        local ch = byte(tpl, i)
        if ch == 36 then -- "$$"
            parts[#parts + 1] = "$"
            i = i + 1
        else
            local bracket = ch == 123 -- "{"
            if bracket then
                i = i + 1
                if i > n then
                    return nil
                end
                ch = byte(tpl, i)
            end
            local s = i
            local num = ch >= 48 and ch <= 57
            while i <= n do
                ch = byte(tpl, i)
                if num then
                    if not (ch >= 48 and ch <= 57) then
                        break
                    end
                elseif not is_word(ch) then
                    break
                end
                i = i + 1
            end
            local name = sub(tpl, s, i - 1)
            if bracket then
                if i > n or byte(tpl, i) ~= 125 then
                    return nil -- the closing bracket is missing
                end
                i = i + 1
            end
            if name == "" then
                return nil
            end
            parts[#parts + 1] = num and tonumber(name) or { name }
        end
    end
    return parts
end

local function template_for(c, tpl)
    local per = template_cache[c]
    if not per then
        per = {}
        template_cache[c] = per
    end
    local parts = per[tpl]
    if parts == nil then
        parts = compile_template(tpl) or false
        if parts then
            -- Named references must name a group of this regex.
            for i = 1, #parts do
                local p = parts[i]
                if type(p) == "table" then
                    local idx
                    local names = c.names
                    if names then
                        for j = 1, #names, 2 do
                            if names[j + 1] == p[1] then
                                idx = names[j]
                                break
                            end
                        end
                    end
                    if not idx then
                        parts = false
                        break
                    end
                    parts[i] = idx
                end
            end
        end
        per[tpl] = parts
    end
    return parts
end

local function expand(parts, c, rc, subj, out)
    local ov = c.ov
    for i = 1, #parts do
        local p = parts[i]
        if type(p) == "string" then
            out[#out + 1] = p
        elseif p < rc and tonumber(ov[2 * p]) >= 0 then
            out[#out + 1] = sub(subj, tonumber(ov[2 * p]) + 1, tonumber(ov[2 * p + 1]))
        end
    end
end

local function sub_helper(subj, regex, replace, opts, global)
    local c, err = compile(regex, opts)
    if not c then
        return nil, nil, err
    end
    local func = type(replace) == "function"
    local parts
    if not func then
        if type(replace) ~= "string" then
            replace = tostring(replace)
        end
        parts = template_for(c, replace)
        if not parts then
            return nil, nil, "failed to compile the replacement template"
        end
    end

    subj = tostring(subj)
    local len = #subj
    local out = {}
    local count, pos, cp = 0, 0, 0
    while true do
        local rc
        rc, err = exec(c, subj, len, pos)
        if not rc then
            if err then
                return nil, nil, err
            end
            break
        end
        count = count + 1
        local ov = c.ov
        local from, to = tonumber(ov[0]), tonumber(ov[1])
        if from > cp then
            out[#out + 1] = sub(subj, cp + 1, from)
        end
        if func then
            out[#out + 1] = tostring(replace(collect(c, rc, subj)))
        else
            expand(parts, c, rc, subj, out)
        end
        cp = to
        pos = to
        if to == from then
            pos = pos + 1
            if pos > len then
                break
            end
        end
        if not global then
            break
        end
    end
    if count == 0 then
        return subj, 0
    end
    if cp < len then
        out[#out + 1] = sub(subj, cp + 1)
    end
    return concat(out), count
end

--- ngx.re.sub(subject, regex, replace, options?) -> new, n | nil, nil, err
function _M.sub(subj, regex, replace, opts)
    return sub_helper(subj, regex, replace, opts, false)
end

--- ngx.re.gsub(subject, regex, replace, options?) -> new, n | nil, nil, err
function _M.gsub(subj, regex, replace, opts)
    return sub_helper(subj, regex, replace, opts, true)
end

--- The `ngx.re` module of lua-resty-core (require "ngx.re"): split and opt.
local mod = { version = 0 }

local function split_helper(subj, c, ctx)
    local pos = ctx.pos
    if pos < 0 then
        pos = 0
    end
    local rc, err = exec(c, subj, #subj, pos)
    if not rc then
        return nil, nil, nil, err
    end
    local ov = c.ov
    if tonumber(ov[0]) < 0 then
        return nil
    end
    local from, to = tonumber(ov[0]), tonumber(ov[1])
    if from == to then
        ctx.pos = to + 1 -- an empty match: skip to the next character
    else
        ctx.pos = to
    end
    if c.ncap > 0 and rc > 1 then
        -- Only the first capture is kept, as lua-resty-core does.
        return from + 1, to + 1, sub(subj, tonumber(ov[2]) + 1, tonumber(ov[3]))
    end
    return from + 1, to + 1
end

local split_ctx = {}

--- ngx_re.split(subject, regex, options?, ctx?, max?, res?) -> parts | nil, err
-- (lua-resty-core's lib/ngx/re.lua algorithm).
function mod.split(subj, regex, opts, ctx, max, res)
    subj = tostring(subj)
    if not ctx then
        ctx = split_ctx
        ctx.pos = 1
    elseif not ctx.pos then
        ctx.pos = 1
    end
    max = max or 0
    if not res then
        res = {}
    elseif type(res) ~= "table" then
        error("res is not a table", 2)
    end
    local len = #subj
    if ctx.pos > len then
        res[1] = nil
        return res
    end
    local c, err = compile(regex, opts)
    if not c then
        return nil, err
    end
    local sub_idx = ctx.pos
    local res_idx = 0
    local last_empty_match
    ctx.pos = sub_idx - 1
    local count = 1
    while max <= 0 or count < max do
        local from, to, capture
        from, to, capture, err = split_helper(subj, c, ctx)
        if err then
            return nil, err
        end
        if not from then
            break
        end
        if last_empty_match then
            sub_idx = last_empty_match
        end
        if from == to then
            last_empty_match = from
        end
        if from > sub_idx or not last_empty_match then
            count = count + 1
            res_idx = res_idx + 1
            res[res_idx] = sub(subj, sub_idx, from - 1)
            if capture then
                res_idx = res_idx + 1
                res[res_idx] = capture
            end
            sub_idx = to
            if sub_idx > len then
                break
            end
        end
    end
    if max <= 0 and sub_idx > len then
        -- Trailing empty fields are dropped when no max was given.
        for i = res_idx, 1, -1 do
            if res[i] ~= "" then
                res_idx = i
                break
            end
            res[i] = nil
        end
    else
        res_idx = res_idx + 1
        res[res_idx] = sub(subj, sub_idx)
    end
    res[res_idx + 1] = nil
    return res
end

--- ngx_re.opt(name, value): only "jit_stack_size" exists; accepted, ignored.
function mod.opt(option, value)
    if option ~= "jit_stack_size" then
        error("unrecognized option name", 2)
    end
    if type(value) ~= "number" then
        error("bad argument #2 to 'opt' (number expected, got " .. type(value) .. ")", 2)
    end
end

_M.module = mod

return _M
