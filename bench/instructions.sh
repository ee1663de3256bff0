#!/usr/bin/env bash
# User-space instructions per operation of each client, by callgrind
# (deterministic, unlike timings on a shared machine):
#   bench/instructions.sh        (after bench/run.sh has built bench/build)
# Each client runs twice, at N1 and N2 operations; the difference of the two
# instruction totals divided by the difference of the operations (warm-up
# included) removes start-up, JIT compilation of the warm-up and exit costs.
# The C pingpong clients also sort their latencies (about 300 instructions
# per operation, the same in every C client). The server runs on CPU 1.
set -uo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
BUILD=$BENCH/build
TMP=$BUILD/tmp
mkdir -p "$TMP"
export COSOCKET_LIB=$BUILD/lib/libcosocket.so
command -v valgrind >/dev/null || {
  echo "valgrind not installed"
  exit 1
}
[ -x "$BUILD/cosocket_c" ] || {
  echo "run bench/run.sh smoke first (builds bench/build)"
  exit 1
}
N1=2000 N2=6000
K1=100 K2=300 C64=64

# shellcheck source=bench/profile_lib.sh
. "$BENCH/profile_lib.sh"

trap stop_server EXIT

irefs() { # cmd... -> total instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
    awk '/Collected :/ {gsub(",", "", $NF); print $NF}'
}

# label ops1 ops2 cmd... (N = the size argument, replaced by N1 / N2)
measure() {
  local label=$1 o1=$2 o2=$3
  shift 3
  local c1=("${@/PORT/$PORT}") c2
  c2=("${c1[@]/#SIZE/$N2}")
  c1=("${c1[@]/#SIZE/$N1}")
  local i1 i2
  i1=$(irefs "${c1[@]}")
  i2=$(irefs "${c2[@]}")
  if [ -z "$i1" ] || [ -z "$i2" ]; then
    echo "| $label | failed |"
    return
  fi
  awk -v l="$label" -v a="$i1" -v b="$i2" -v x="$o1" -v y="$o2" \
    'BEGIN {printf "| %s | %.0f |\n", l, (b - a) / (y - x)}'
}

start_server 1
L="luajit $BENCH/lua"
pp1=$((N1 + $(warm $N1 2000))) pp2=$((N2 + $(warm $N2 2000)))
cy1=$((N1 + $(warm $N1 500))) cy2=$((N2 + $(warm $N2 500)))
echo "| client, workload | instructions/op |"
echo "|---|---|"
measure "raw C, pingpong_1core" $pp1 $pp2 "$BUILD/raw" blocking pingpong_1core PORT SIZE
measure "cosocket C blocking, pingpong_1core" $pp1 $pp2 "$BUILD/cosocket_c" blocking pingpong_1core PORT SIZE
measure "cosocket C completion queue, pingpong_1core" $pp1 $pp2 "$BUILD/cosocket_c" cq pingpong_1core PORT SIZE
measure "cosocket LuaJIT outside scheduler, pingpong_1core" $pp1 $pp2 $L/cosocket_bench.lua blocking pingpong_1core PORT SIZE
measure "cosocket LuaJIT inside scheduler, pingpong_1core" $pp1 $pp2 $L/cosocket_bench.lua sched pingpong_1core PORT SIZE
measure "raw C (kept connection), pooled" $pp1 $pp2 "$BUILD/raw" blocking pooled PORT SIZE
measure "cosocket C blocking, pooled" $cy1 $cy2 "$BUILD/cosocket_c" blocking pooled PORT SIZE
measure "cosocket C completion queue, pooled" $cy1 $cy2 "$BUILD/cosocket_c" cq pooled PORT SIZE
measure "cosocket LuaJIT outside scheduler, pooled" $cy1 $cy2 $L/cosocket_bench.lua blocking pooled PORT SIZE
measure "cosocket LuaJIT inside scheduler, pooled" $cy1 $cy2 $L/cosocket_bench.lua sched pooled PORT SIZE
measure "raw C, reconnect" $cy1 $cy2 "$BUILD/raw" blocking reconnect PORT SIZE
measure "cosocket C blocking, reconnect" $cy1 $cy2 "$BUILD/cosocket_c" blocking reconnect PORT SIZE
measure "cosocket C completion queue, reconnect" $cy1 $cy2 "$BUILD/cosocket_c" cq reconnect PORT SIZE
measure "cosocket LuaJIT outside scheduler, reconnect" $cy1 $cy2 $L/cosocket_bench.lua blocking reconnect PORT SIZE
measure "cosocket LuaJIT inside scheduler, reconnect" $cy1 $cy2 $L/cosocket_bench.lua sched reconnect PORT SIZE
N1=$K1 N2=$K2
measure "raw C epoll, concurrent_64" $((C64 * K1)) $((C64 * K2)) "$BUILD/raw" epoll concurrent_64 PORT $C64 SIZE
measure "cosocket C completion queue, concurrent_64" $((C64 * K1)) $((C64 * K2)) "$BUILD/cosocket_c" cq concurrent_64 PORT $C64 SIZE
measure "cosocket LuaJIT inside scheduler, concurrent_64" $((C64 * K1)) $((C64 * K2)) $L/cosocket_bench.lua sched concurrent_64 PORT $C64 SIZE
