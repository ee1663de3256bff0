#!/usr/bin/env bash
# Syscalls and context switches per operation of each client, counted by
# perf's syscall tracepoints (no ptrace slowdown, unlike strace):
#   bench/syscalls.sh        (after bench/run.sh has built bench/build)
# Client and server both on CPU 0, as in the *_1core rows.
set -uo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
BUILD=$BENCH/build
TMP=$BUILD/tmp
mkdir -p "$TMP"
export COSOCKET_LIB=$BUILD/lib/libcosocket.so
command -v perf >/dev/null || {
  echo "perf not installed"
  exit 1
}
perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1 || {
  echo "perf cannot count syscall tracepoints here"
  exit 1
}
ulimit -n 20000 2>/dev/null || true
EVENTS=raw_syscalls:sys_enter,context-switches
N_PP=20000
N_POOL=20000
C64=64 K64=300

# shellcheck source=bench/profile_lib.sh
. "$BENCH/profile_lib.sh"


count() { # label ops cmd...
  local label=$1 ops=$2
  shift 2
  start_server 0
  local cmd=("${@/PORT/$PORT}")
  perf stat -x, -e "$EVENTS" -o "$TMP/sc_perf.txt" -- taskset -c 0 "${cmd[@]}" >/dev/null 2>"$TMP/sc_err.txt"
  stop_server
  awk -F, -v l="$label" -v n="$ops" '
    $3 == "raw_syscalls:sys_enter" {s = $1}
    $3 == "context-switches" {c = $1}
    END {printf "| %s | %.2f | %.2f |\n", l, s / n, c / n}' "$TMP/sc_perf.txt"
}

echo "| client, workload | syscalls/op | context switches/op |"
echo "|---|---|---|"
pp_ops=$((N_PP + $(warm $N_PP 2000)))
pool_ops=$((N_POOL + $(warm $N_POOL 500)))
L="luajit $BENCH/lua"
count "raw C, pingpong_1core" $pp_ops "$BUILD/raw" blocking pingpong_1core PORT $N_PP
count "cosocket C blocking, pingpong_1core" $pp_ops "$BUILD/cosocket_c" blocking pingpong_1core PORT $N_PP
count "cosocket C completion queue, pingpong_1core" $pp_ops "$BUILD/cosocket_c" cq pingpong_1core PORT $N_PP
count "cosocket LuaJIT outside scheduler, pingpong_1core" $pp_ops $L/cosocket_bench.lua blocking pingpong_1core PORT $N_PP
count "cosocket LuaJIT inside scheduler, pingpong_1core" $pp_ops $L/cosocket_bench.lua sched pingpong_1core PORT $N_PP
count "LuaSocket, pingpong_1core" $pp_ops $L/luasocket_bench.lua pingpong_1core PORT $N_PP
count "cqueues, pingpong_1core" $pp_ops $L/cqueues_bench.lua pingpong_1core PORT $N_PP
count "luv, pingpong_1core" $pp_ops $L/luv_bench.lua pingpong_1core PORT $N_PP
count "Copas, pingpong_1core" $pp_ops $L/copas_bench.lua pingpong_1core PORT $N_PP
count "raw C (kept connection), pooled_1core" $((N_POOL + $(warm $N_POOL 2000))) "$BUILD/raw" blocking pooled PORT $N_POOL
count "cosocket C blocking, pooled_1core" $pool_ops "$BUILD/cosocket_c" blocking pooled PORT $N_POOL
count "cosocket C completion queue, pooled_1core" $pool_ops "$BUILD/cosocket_c" cq pooled PORT $N_POOL
count "cosocket LuaJIT outside scheduler, pooled_1core" $pool_ops $L/cosocket_bench.lua blocking pooled PORT $N_POOL
count "cosocket LuaJIT inside scheduler, pooled_1core" $pool_ops $L/cosocket_bench.lua sched pooled PORT $N_POOL
count "raw C, reconnect_1core" $pool_ops "$BUILD/raw" blocking reconnect PORT $N_POOL
count "cosocket C blocking, reconnect_1core" $pool_ops "$BUILD/cosocket_c" blocking reconnect PORT $N_POOL
count "cosocket C completion queue, reconnect_1core" $pool_ops "$BUILD/cosocket_c" cq reconnect PORT $N_POOL
count "cosocket LuaJIT outside scheduler, reconnect_1core" $pool_ops $L/cosocket_bench.lua blocking reconnect PORT $N_POOL
count "cosocket LuaJIT inside scheduler, reconnect_1core" $pool_ops $L/cosocket_bench.lua sched reconnect PORT $N_POOL
count "raw C epoll, concurrent_64" $((C64 * K64)) "$BUILD/raw" epoll concurrent_64 PORT $C64 $K64
count "cosocket C completion queue, concurrent_64" $((C64 * K64)) "$BUILD/cosocket_c" cq concurrent_64 PORT $C64 $K64
count "cosocket LuaJIT inside scheduler, concurrent_64" $((C64 * K64)) $L/cosocket_bench.lua sched concurrent_64 PORT $C64 $K64
