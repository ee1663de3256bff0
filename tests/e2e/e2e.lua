-- Harness of the end-to-end suites: server lookup (from the environment
-- written by servers.sh), a tiny test runner whose cases run inside the
-- cosocket scheduler, assertions, and small helpers shared by the protocol
-- clients (socket factories for cosocket.tcp() and ngx.socket.tcp(), digests).
--
-- Each test file ends with `T:run()`, which prints one line per case
-- ("ok - name" / "not ok - name: error") and a machine-readable summary
-- "e2e-summary: passed=N failed=M skipped=K" that run.sh adds up.
local cosocket = require "cosocket"
local ffi = require "ffi"

local M = { cosocket = cosocket }

local CI = os.getenv("CI") == "true"
M.CI = CI

-- ngx compatibility table (cosocket.ngx()), when the binding has it.
local ngx_ok, ngx_tbl = false, nil
if type(cosocket.ngx) == "function" then
  ngx_ok, ngx_tbl = pcall(cosocket.ngx)
  if not ngx_ok then
    io.stderr:write("e2e: cosocket.ngx() failed: ", tostring(ngx_tbl), "\n")
    ngx_tbl = nil
  end
end
M.ngx = ngx_tbl

-- The value for nil bulk replies: ngx.null when available, as the real
-- libraries return it.
M.null = ngx_tbl and ngx_tbl.null or setmetatable({}, { __tostring = function() return "null" end })

-- Socket factories: every protocol client takes one, so each suite can run
-- through cosocket.tcp() and through ngx.socket.tcp().
M.factories = { { name = "cosocket.tcp", tcp = cosocket.tcp } }
if ngx_tbl and ngx_tbl.socket and ngx_tbl.socket.tcp then
  M.factories[2] = { name = "ngx.socket.tcp", tcp = ngx_tbl.socket.tcp }
end

---------------------------------------------------------------- servers

-- host, port of a server started by servers.sh, or nil and the reason.
function M.server(name)
  local up = name:upper()
  local port = os.getenv("E2E_" .. up .. "_PORT")
  if port and port ~= "" then
    return "127.0.0.1", tonumber(port)
  end
  return nil, os.getenv("E2E_" .. up .. "_MISSING") or ("E2E_" .. up .. "_PORT not set")
end

function M.getenv(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

---------------------------------------------------------------- scheduler

-- Runs fn inside the scheduler and returns what it returned (errors are
-- re-raised with the scheduler's traceback text).
function M.in_scheduler(fn)
  local res
  local ok, err = pcall(cosocket.run, function()
    res = { xpcall(fn, debug.traceback) }
  end)
  if not ok then error("scheduler: " .. tostring(err), 0) end
  if not res then error("scheduler returned before the test finished", 0) end
  if not res[1] then error(res[2], 0) end
  return unpack(res, 2)
end

M.spawn = cosocket.spawn
M.sleep = cosocket.sleep

-- Waits for every thread of the list; returns the list of their first
-- results, raising the first thread error.
function M.wait_all(threads)
  local out = {}
  for i, th in ipairs(threads) do
    local res = { cosocket.wait(th) }
    if not res[1] then error("thread " .. i .. " failed: " .. tostring(res[2]), 0) end
    out[i] = res[2]
  end
  return out
end

-- Milliseconds since an arbitrary origin (CLOCK_MONOTONIC).
pcall(ffi.cdef, "struct timespec { long tv_sec; long tv_nsec; };")
pcall(ffi.cdef, "int clock_gettime(int clk, struct timespec *tp);")
local ts = ffi.new("struct timespec")
function M.now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

-- Polls cond() (inside the scheduler) every step_ms until it returns a true
-- value or timeout_ms passed; returns its last value.
function M.eventually(cond, timeout_ms, step_ms)
  local deadline = M.now_ms() + (timeout_ms or 3000)
  local v
  repeat
    v = cond()
    if v then return v end
    cosocket.sleep((step_ms or 20) / 1000)
  until M.now_ms() > deadline
  return cond()
end

---------------------------------------------------------------- pool stats

-- Stats of one keepalive pool: a table {size, backlog, idle, in_use, waiting,
-- reuses, evictions}, or nil when the pool does not exist.
local stats_fn
local function find_stats()
  if stats_fn ~= nil then return stats_fn end
  for _, name in ipairs { "pool_stats", "poolstats", "stats" } do
    if type(cosocket[name]) == "function" then
      stats_fn = function(key) return cosocket[name](key) end
      return stats_fn
    end
  end
  -- Fall back to the C function of the library the binding loaded.
  pcall(ffi.cdef, [[
    typedef struct cosocket_pool_stats {
      uint64_t size; int64_t backlog; uint64_t idle; uint64_t in_use;
      uint64_t waiting; uint64_t reuses; uint64_t evictions;
    } cosocket_pool_stats;
    int cosocket_pool_get_stats(const char *key, size_t key_len, cosocket_pool_stats *out);
  ]])
  local lib = cosocket.C or cosocket.lib
  if type(lib) ~= "userdata" then
    local path = os.getenv("COSOCKET_LIB")
    lib = path and ffi.load(path) or ffi.C
  end
  local out = ffi.new("cosocket_pool_stats")
  stats_fn = function(key)
    if lib.cosocket_pool_get_stats(key, #key, out) ~= 0 then return nil end
    return {
      size = tonumber(out.size), backlog = tonumber(out.backlog), idle = tonumber(out.idle),
      in_use = tonumber(out.in_use), waiting = tonumber(out.waiting),
      reuses = tonumber(out.reuses), evictions = tonumber(out.evictions),
    }
  end
  return stats_fn
end

function M.pool_stats(key)
  return find_stats()(key)
end

---------------------------------------------------------------- digests

-- md5 hex / sha1 binary: ngx's when present, else OpenSSL's libcrypto.
local crypto
local function libcrypto()
  if crypto then return crypto end
  pcall(ffi.cdef, [[
    unsigned char *MD5(const unsigned char *d, size_t n, unsigned char *md);
    unsigned char *SHA1(const unsigned char *d, size_t n, unsigned char *md);
    unsigned char *SHA256(const unsigned char *d, size_t n, unsigned char *md);
  ]])
  for _, name in ipairs { "crypto", "libcrypto.so.3", "libcrypto.so.1.1" } do
    local ok, lib = pcall(ffi.load, name)
    if ok then crypto = lib; return lib end
  end
  error("no md5/sha1: neither ngx.md5 nor libcrypto")
end

local function tohex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
M.tohex = tohex

function M.md5_hex(s)
  if ngx_tbl and ngx_tbl.md5 then return ngx_tbl.md5(s) end
  local buf = ffi.new("unsigned char[16]")
  libcrypto().MD5(s, #s, buf)
  return tohex(ffi.string(buf, 16))
end

function M.sha1_bin(s)
  if ngx_tbl and ngx_tbl.sha1_bin then return ngx_tbl.sha1_bin(s) end
  local buf = ffi.new("unsigned char[20]")
  libcrypto().SHA1(s, #s, buf)
  return ffi.string(buf, 20)
end

---------------------------------------------------------------- assertions

local function fmt(v)
  if type(v) == "string" then
    if #v > 200 then v = v:sub(1, 200) .. "...(" .. #v .. " bytes)" end
    return string.format("%q", v)
  end
  if v == M.null then return "null" end
  return tostring(v)
end
M.fmt = fmt

function M.eq(got, want, what)
  if got ~= want then
    error((what or "value") .. ": got " .. fmt(got) .. ", want " .. fmt(want), 2)
  end
  return got
end

function M.ok(v, what, ...)
  if not v then
    local extra = select("#", ...) > 0 and (": " .. fmt((...))) or ""
    error((what or "assertion failed") .. extra, 2)
  end
  return v
end

-- Asserts a cosocket-style result: value, or nil + err.
function M.check(what, v, err, ...)
  if v == nil or v == false then
    error(what .. " failed: " .. fmt(err), 2)
  end
  return v, err, ...
end

function M.le(got, max, what)
  if not (got <= max) then error((what or "value") .. ": got " .. fmt(got) .. ", want <= " .. fmt(max), 2) end
  return got
end

function M.ge(got, min, what)
  if not (got >= min) then error((what or "value") .. ": got " .. fmt(got) .. ", want >= " .. fmt(min), 2) end
  return got
end

-- Figures a test wants in the report (pool sizes, reuse counts...).
function M.note(fmtstr, ...)
  io.stdout:write("# ", string.format(fmtstr, ...), "\n")
  io.stdout:flush()
end

---------------------------------------------------------------- runner

local Suite = {}
Suite.__index = Suite

-- needs: names of servers (redis, memcached, http, postgres, mysql). Each
-- case gets a table with .host/.port of the first and [name] = {host, port}
-- for every one.
function M.suite(name, needs)
  local s = setmetatable({ name = name, cases = {}, needs = needs or {}, addr = {} }, Suite)
  return s
end

function Suite:test(name, fn, opts)
  self.cases[#self.cases + 1] = { name = name, fn = fn, opts = opts or {} }
end

function Suite:run()
  local passed, failed, skipped = 0, 0, 0
  local missing
  for _, need in ipairs(self.needs) do
    local host, port = M.server(need)
    if not host then
      missing = (missing and missing .. "; " or "") .. need .. ": " .. port
    else
      self.addr[need] = { host = host, port = port }
      if not self.addr.host then self.addr.host, self.addr.port = host, port end
    end
  end
  for _, case in ipairs(self.cases) do
    local label = self.name .. ": " .. case.name
    local only = os.getenv("E2E_ONLY")
    if only and only ~= "" and not label:find(only, 1, true) then
      -- not selected: not counted
    elseif missing then
      if CI then
        failed = failed + 1
        print("not ok - " .. label .. ": server missing under CI (" .. missing .. ")")
      else
        skipped = skipped + 1
        print("skip - " .. label .. ": " .. missing)
      end
    elseif case.opts.skip then
      skipped = skipped + 1
      print("skip - " .. label .. ": " .. case.opts.skip)
    else
      local t0 = M.now_ms()
      local ok, err
      if case.opts.outside then -- blocking calls, no scheduler
        ok, err = xpcall(case.fn, debug.traceback, self.addr)
      else
        ok, err = pcall(M.in_scheduler, function() return case.fn(self.addr) end)
      end
      if ok then
        passed = passed + 1
        print(string.format("ok - %s (%.0f ms)", label, M.now_ms() - t0))
      else
        failed = failed + 1
        print("not ok - " .. label .. ": " .. tostring(err))
      end
    end
    io.stdout:flush()
  end
  print(string.format("e2e-summary: passed=%d failed=%d skipped=%d", passed, failed, skipped))
  io.stdout:flush()
  os.exit(failed == 0 and 0 or 1)
end

return M
