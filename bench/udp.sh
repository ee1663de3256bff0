#!/usr/bin/env bash
# UDP request/response benchmark row (issue 8): bench/udp.sh [smoke|quick|full]
#
# Builds libcosocket (release) into a private copy and bench/udp_bench.c,
# then runs raw C vs cosocket C (blocking and event-loop) round trips of
# 32-byte datagrams against a forked UDP echo server on 127.0.0.1, with
# interleaved repetitions; the ratio to raw C comes from the same run.
# Output: RESULT lines (bench/common.h format; workloads udp_pp_cross and
# udp_pp_same) and a summary table. bench/run.sh runs it after its main table.
# Only loopback traffic; bounded loops; the server child is killed by PID.
set -euo pipefail

MODE=${1:-quick}
case "$MODE" in
smoke) REPS=1 N=300 ;;
quick) REPS=3 N=10000 ;;
full) REPS=11 N=60000 ;;
*)
  echo "usage: bench/udp.sh [smoke|quick|full]" >&2
  exit 2
  ;;
esac

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
OUT=$BENCH/build/udp
mkdir -p "$OUT/lib"

(cd "$ROOT" && cargo build --release -q)
cp "$ROOT/target/release/libcosocket.so" "$OUT/lib/libcosocket.so"
soname=$(readelf -d "$OUT/lib/libcosocket.so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
[ -n "$soname" ] && ln -sf libcosocket.so "$OUT/lib/$soname"
cc -O2 -Wall -o "$OUT/udp_bench" "$BENCH/udp_bench.c" -I"$ROOT/include" \
  -L"$OUT/lib" -lcosocket -Wl,-rpath,"$OUT/lib"

NCPU=$(nproc)
if [ "$NCPU" -ge 2 ]; then CPUS="0 1"; else CPUS="0 0"; fi
# shellcheck disable=SC2086
exec timeout 600 "$OUT/udp_bench" "$REPS" "$N" $CPUS
