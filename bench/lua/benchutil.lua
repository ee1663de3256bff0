-- Shared helpers of the Lua benchmark clients (plain LuaJIT and nginx):
-- monotonic time, process CPU time, RSS, median, RESULT lines (see ../common.h).
local ffi = require "ffi"

-- Private names (asm labels), so no other cdef of these functions conflicts.
pcall(ffi.cdef, [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  typedef struct { bench_timeval ru_utime; bench_timeval ru_stime; long rest[14]; } bench_rusage;
  int bench_clock_gettime(int clk, bench_timespec *ts) __asm__("clock_gettime");
  int bench_getrusage(int who, bench_rusage *ru) __asm__("getrusage");
  int bench_malloc_trim(size_t pad) __asm__("malloc_trim");
]])

local C = ffi.C
local ts = ffi.new("bench_timespec")
local ru = ffi.new("bench_rusage")
local CLOCK_MONOTONIC = 1

local M = {}

-- The 32-byte request line (31 characters and the newline).
M.LINE = "0123456789abcdefghijklmnopqrstu\n"
M.LINE_BODY = "0123456789abcdefghijklmnopqrstu"
M.BULK_STREAM = 64 * 1024 * 1024
M.BULK_READ = 65536

function M.now()
  C.bench_clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

function M.cpu()
  C.bench_getrusage(0, ru)
  return tonumber(ru.ru_utime.tv_sec) + tonumber(ru.ru_utime.tv_usec) * 1e-6
    + tonumber(ru.ru_stime.tv_sec) + tonumber(ru.ru_stime.tv_usec) * 1e-6
end

-- Resident set size in KiB, after a full GC and returning free heap pages.
function M.rss_kib()
  collectgarbage()
  collectgarbage()
  pcall(function() C.bench_malloc_trim(0) end)
  local f = io.open("/proc/self/status")
  local kib
  for l in f:lines() do
    local v = l:match("^VmRSS:%s*(%d+)")
    if v then kib = tonumber(v) end
  end
  f:close()
  return kib
end

function M.median(v, n)
  n = n or #v
  if n == 0 then return 0 end
  local t = {}
  for i = 1, n do t[i] = v[i] end
  table.sort(t)
  return t[math.floor(n / 2) + 1]
end

-- Ping-pong timing, the same for every client: min(n/10, 2000) untimed
-- calls of step(), then n timed ones. Returns wall and CPU seconds and the
-- median latency of one step in µs.
function M.time_round_trips(n, step)
  for _ = 1, math.min(math.floor(n / 10), 2000) do step() end
  local lat, now = {}, M.now
  local c0, t0 = M.cpu(), now()
  for i = 1, n do
    local a = now()
    step()
    lat[i] = now() - a
  end
  local t1, c1 = now(), M.cpu()
  return t1 - t0, c1 - c0, M.median(lat, n) * 1e6
end

-- Cycle timing (reconnect, pooled): min(n/10, 500) untimed cycles, then n
-- timed ones. Returns wall and CPU seconds.
function M.time_cycles(n, cycle)
  for _ = 1, math.min(math.floor(n / 10), 500) do cycle() end
  local c0, t0 = M.cpu(), M.now()
  for _ = 1, n do cycle() end
  local t1, c1 = M.now(), M.cpu()
  return t1 - t0, c1 - c0
end

function M.result(impl, workload, ops, secs, cpu, p50_us, errors)
  return string.format("RESULT impl=%s workload=%s ops=%.0f secs=%.6f cpu_s=%.6f p50_us=%.2f errors=%d",
    impl, workload, ops, secs, cpu, p50_us or 0, errors or 0)
end

function M.result_value(impl, workload, n, value)
  return string.format("RESULT impl=%s workload=%s ops=%.0f secs=0 cpu_s=0 p50_us=0 errors=0 value=%.1f",
    impl, workload, n, value)
end

return M
