#!/usr/bin/env bash
# Side-by-side benchmarks (issue 6): bench/run.sh [smoke|quick|full]
#
#   smoke  seconds, tiny counts, no thresholds: checks that every
#          implementation still runs (exit 1 if one crashes or errs)
#   quick  3 interleaved repetitions, under 3 minutes once built (~2.5 min here)
#   full   7 interleaved repetitions, larger counts
#
# Installs what is missing (Debian packages), builds (cargo build --release;
# cc -O2), then for each workload runs every implementation interleaved
# (A B C A B C ...), each against a fresh line-echo server (bench/server.c)
# on 127.0.0.1, and prints a table of medians, min-max, the ratio to raw C
# from the same repetition, and client CPU per operation.
# Only loopback traffic; every loop is bounded; it kills only PIDs it started.
set -uo pipefail

MODE=${1:-quick}
case "$MODE" in smoke | quick | full) ;; *)
  echo "usage: bench/run.sh [smoke|quick|full]" >&2
  exit 2
  ;;
esac

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
BUILD=$BENCH/build
mkdir -p "$BUILD/lib" "$BUILD/tmp"
TMP=$BUILD/tmp
TSV=$BUILD/results-$MODE.tsv
LOG=$BUILD/run-$MODE.log
: >"$LOG"
note() { echo "$*" | tee -a "$LOG" >&2; }

# ---- parameters --------------------------------------------------------------
case "$MODE" in
smoke)
  REPS=1 PP=300 PP1=300 RC=100 POOL=300 K64=5 K512=2 CBIG=1000 KBIG=1 BULK=1 MEM=200 TMO=60
  ;;
quick)
  REPS=3 PP=6000 PP1=15000 RC=2000 POOL=12000 K64=300 K512=40 CBIG=10000 KBIG=2 BULK=4 MEM=10000 TMO=120
  ;;
full)
  REPS=7 PP=30000 PP1=60000 RC=8000 POOL=60000 K64=1000 K512=120 CBIG=10000 KBIG=5 BULK=16 MEM=10000 TMO=300
  ;;
esac

# ---- install -----------------------------------------------------------------
install_deps() {
  local pkgs=(gcc libc6-dev curl python3 luajit2 lua-socket nginx libnginx-mod-http-lua
    lua-resty-core lua-cqueues lua-luv lua-copas util-linux)
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || {
      note "bench: need root to install ${missing[*]}"
      return 1
    }
    sudo=sudo
  fi
  note "bench: installing ${missing[*]}"
  # Package scripts must not start system services (nginx on :80).
  local policy=/usr/sbin/policy-rc.d made=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && made=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1
  local rc=$?
  [ -n "$made" ] && $sudo rm -f "$policy"
  return $rc
}

build() {
  (cd "$ROOT" && cargo build --release -q) || return 1
  # A private copy: other builds of the shared target dir cannot change the
  # library under a running benchmark.
  cp "$ROOT/target/release/libcosocket.so" "$BUILD/lib/libcosocket.so"
  local soname
  soname=$(readelf -d "$BUILD/lib/libcosocket.so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
  [ -n "$soname" ] && ln -sf libcosocket.so "$BUILD/lib/$soname"
  cc -O2 -Wall -o "$BUILD/server" "$BENCH/server.c" &&
    cc -O2 -Wall -o "$BUILD/raw" "$BENCH/raw.c" &&
    cc -O2 -Wall -o "$BUILD/cosocket_c" "$BENCH/cosocket_c.c" -I"$ROOT/include" \
      -L"$BUILD/lib" -lcosocket -Wl,-rpath,"$BUILD/lib"
}

install_deps || note "bench: some packages could not be installed (rows will be missing)"
build || {
  note "bench: build failed"
  exit 1
}
export COSOCKET_LIB=$BUILD/lib/libcosocket.so
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt 10500 ] && [ "$CBIG" -ge 10000 ]; then
  note "bench: RLIMIT_NOFILE is $NOFILE; 10,000 connections need ~10,100 fds per process"
fi

NCPU=$(nproc)
if [ "$NCPU" -ge 2 ]; then CPU_CLIENT=0 CPU_SERVER=1; else CPU_CLIENT=0 CPU_SERVER=0; fi

# ---- which implementations can run -------------------------------------------
declare -A AVAILABLE
AVAILABLE[raw_blocking]=1 AVAILABLE[raw_epoll]=1 AVAILABLE[cosocket_c_blocking]=1 AVAILABLE[cosocket_c_cq]=1
LUA="luajit"
lua_has() { $LUA -e "package.path='$BENCH/lua/?.lua;$ROOT/bindings/lua/?.lua;'..package.path; require '$1'" >/dev/null 2>&1; }
if command -v luajit >/dev/null; then
  if lua_has cosocket; then
    AVAILABLE[lua_cosocket_blocking]=1 AVAILABLE[lua_cosocket_sched]=1
  else
    note "bench: skipping lua_cosocket_*: require \"cosocket\" fails ($(
      $LUA -e "package.path='$ROOT/bindings/lua/?.lua;'..package.path; require 'cosocket'" 2>&1 | head -1
    ))"
  fi
  if lua_has socket; then AVAILABLE[luasocket]=1; else note "bench: skipping luasocket (module does not load)"; fi
  for m in cqueues luv copas; do
    if [ -f "$BENCH/lua/${m}_bench.lua" ] && lua_has "$m"; then
      AVAILABLE[$m]=1
    else
      note "bench: skipping $m (module or bench/lua/${m}_bench.lua missing)"
    fi
  done
else
  note "bench: skipping every Lua row: no luajit"
fi

# ---- nginx + lua-nginx-module ------------------------------------------------
NGX_PID="" NGX_PORT=""
start_nginx() {
  command -v nginx >/dev/null && [ -f /usr/lib/nginx/modules/ngx_http_lua_module.so ] || {
    note "bench: skipping nginx (nginx or libnginx-mod-http-lua missing)"
    return 1
  }
  local prefix=$BUILD/nginx
  rm -rf "$prefix"
  mkdir -p "$prefix/logs" "$prefix/conf"
  local user=""
  [ "$(id -u)" = 0 ] && user="user root;"
  local try
  for try in 1 2 3 4 5; do
    NGX_PORT=$((20000 + RANDOM % 20000))
    cat >"$prefix/conf/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
$user
worker_processes 1;
daemon off;
master_process on;
worker_rlimit_nofile 20000;
error_log $prefix/logs/error.log warn;
pid $prefix/nginx.pid;
events { worker_connections 20000; }
http {
  access_log off;
  lua_package_path "$BENCH/lua/?.lua;;";
  lua_socket_log_errors off;
  server {
    listen 127.0.0.1:$NGX_PORT;
    location /bench {
      content_by_lua_block {
        local W = require "cosocket_workloads"
        local a = ngx.req.get_uri_args()
        local env = {
          impl = "nginx", tcp = ngx.socket.tcp,
          spawn = ngx.thread.spawn, wait = ngx.thread.wait,
          log = function(m) ngx.log(ngx.ERR, m) end,
        }
        local ok, out = pcall(W.run, env, a.w, tonumber(a.port), tonumber(a.n), tonumber(a.k))
        ngx.say(ok and out or ("ERROR " .. tostring(out)))
      }
    }
  }
}
EOF
    nginx -p "$prefix" -c "$prefix/conf/nginx.conf" >>"$LOG" 2>&1 &
    NGX_PID=$!
    local i
    for i in $(seq 50); do
      curl -s -o /dev/null "http://127.0.0.1:$NGX_PORT/" && return 0
      kill -0 "$NGX_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$NGX_PID" 2>/dev/null
    wait "$NGX_PID" 2>/dev/null
    NGX_PID=""
  done
  note "bench: nginx did not start (see $prefix/logs/error.log)"
  return 1
}
nginx_worker() {
  cat "/proc/$NGX_PID/task/$NGX_PID/children" 2>/dev/null | awk '{print $1}'
}
stop_nginx() {
  if [ -n "$NGX_PID" ]; then
    kill -QUIT "$NGX_PID" 2>/dev/null
    local i
    for i in $(seq 50); do
      kill -0 "$NGX_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$NGX_PID" 2>/dev/null
    wait "$NGX_PID" 2>/dev/null
    NGX_PID=""
  fi
}
SRV_PID=""
cleanup() {
  [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null
  stop_nginx
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if start_nginx; then AVAILABLE[nginx]=1; fi

# ---- one measurement ---------------------------------------------------------
# client_cmd IMPL WORKLOAD PORT N [K]: the command line of a client.
client_cmd() {
  local impl=$1 wl=$2 port=$3 n=$4 k=${5:-}
  case "$impl" in
  raw_blocking) echo "$BUILD/raw blocking $wl $port $n" ;;
  raw_epoll) echo "$BUILD/raw epoll $wl $port $n $k" ;;
  cosocket_c_blocking) echo "$BUILD/cosocket_c blocking $wl $port $n" ;;
  cosocket_c_cq) echo "$BUILD/cosocket_c cq $wl $port $n $k" ;;
  lua_cosocket_blocking) echo "$LUA $BENCH/lua/cosocket_bench.lua blocking $wl $port $n $k" ;;
  lua_cosocket_sched) echo "$LUA $BENCH/lua/cosocket_bench.lua sched $wl $port $n $k" ;;
  luasocket) echo "$LUA $BENCH/lua/luasocket_bench.lua $wl $port $n $k" ;;
  cqueues | luv | copas) echo "$LUA $BENCH/lua/${impl}_bench.lua $wl $port $n $k" ;;
  esac
}

# The machine may be shared (other builds, other benchmarks): before each
# measurement wait, up to QUIET_WAIT seconds, until the CPUs are idle.
QUIET_WAIT=${QUIET_WAIT:-10}
QUIET_BUSY=${QUIET_BUSY:-10}
NOISY=0
cpu_busy_pct() { # busy % of all CPUs over 0.15 s
  local a b
  a=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
  sleep 0.15
  b=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " ");
    busy = y[1] - x[1]; idle = y[2] - x[2];
    print (busy + idle > 0) ? int(100 * busy / (busy + idle)) : 0}'
}
wait_quiet() {
  [ "$MODE" = smoke ] && return 0
  local t0=$SECONDS busy
  while :; do
    busy=$(cpu_busy_pct)
    [ "$busy" -le "$QUIET_BUSY" ] && return 0
    if [ $((SECONDS - t0)) -ge "$QUIET_WAIT" ]; then
      NOISY=$((NOISY + 1))
      echo "bench: machine busy (${busy}% CPU used by others) after ${QUIET_WAIT}s; measuring anyway" >>"$LOG"
      return 0
    fi
    sleep 0.5
  done
}

FAILURES=0
echo -e "workload\timpl\trep\tops\tsecs\tcpu_s\tp50_us\terrors\tvalue\tserver_cpu_us\trc" >"$TSV"

# measure WORKLOAD IMPL REP CLIENT_CPU SERVER_CPU N [K]
measure() {
  local wl=$1 impl=$2 rep=$3 ccpu=$4 scpu=$5 n=$6 k=${7:-}
  [ -n "${AVAILABLE[$impl]:-}" ] || return 0
  local out=$TMP/client.out err=$TMP/client.err
  wait_quiet
  : >"$out"
  : >"$err"
  # Truncate first: the background job opens its redirections later, and a
  # stale READY line would point the client at the previous server's port.
  : >"$TMP/server.out"
  : >"$TMP/server.err"
  taskset -c "$scpu" "$BUILD/server" 0 >"$TMP/server.out" 2>"$TMP/server.err" &
  SRV_PID=$!
  local port="" i
  for i in $(seq 100); do
    port=$(awk '/^READY/ {print $2}' "$TMP/server.out" 2>/dev/null)
    [ -n "$port" ] && break
    sleep 0.02
  done
  if [ -z "$port" ]; then
    note "bench: server did not start"
    kill "$SRV_PID" 2>/dev/null
    SRV_PID=""
    FAILURES=$((FAILURES + 1))
    return 0
  fi
  local rc=0 cwl=$wl
  # Clients know the workload, not where it is pinned.
  [ "$wl" = reconnect_1core ] && cwl=reconnect
  if [ "$impl" = nginx ]; then
    local w
    w=$(nginx_worker)
    [ -n "$w" ] && taskset -pc "$ccpu" "$w" >/dev/null
    curl -s --max-time "$TMO" -o "$out" \
      "http://127.0.0.1:$NGX_PORT/bench?w=$cwl&port=$port&n=$n&k=$k" 2>"$err" || rc=$?
    grep -q '^ERROR' "$out" && rc=1
  else
    # shellcheck disable=SC2046
    timeout "$TMO" taskset -c "$ccpu" $(client_cmd "$impl" "$cwl" "$port" "$n" "$k") >"$out" 2>"$err" || rc=$?
  fi
  kill -TERM "$SRV_PID" 2>/dev/null
  wait "$SRV_PID" 2>/dev/null
  SRV_PID=""
  if [ "$rc" = 3 ]; then
    # The client says this workload is beyond it (Copas 1.x: select(2) limit).
    note "bench: $impl $wl: not applicable: $(head -c 200 "$err")"
    return 0
  fi
  local srv
  srv=$(sed -n 's/^SERVER cpu_us=\([0-9]*\).*/\1/p' "$TMP/server.err")
  local got=0 line
  while read -r line; do
    [ -z "$line" ] && continue
    got=1
    local rwl rops rsecs rcpu rp50 rerr rval
    rwl=$(sed -n 's/.* workload=\([^ ]*\).*/\1/p' <<<"$line")
    rops=$(sed -n 's/.* ops=\([^ ]*\).*/\1/p' <<<"$line")
    rsecs=$(sed -n 's/.* secs=\([^ ]*\).*/\1/p' <<<"$line")
    rcpu=$(sed -n 's/.* cpu_s=\([^ ]*\).*/\1/p' <<<"$line")
    rp50=$(sed -n 's/.* p50_us=\([^ ]*\).*/\1/p' <<<"$line")
    rerr=$(sed -n 's/.* errors=\([^ ]*\).*/\1/p' <<<"$line")
    rval=$(sed -n 's/.* value=\([^ ]*\).*/\1/p' <<<"$line")
    # The table's workload name (pooled runs on one core: pooled_1core).
    [ "$wl" != memory ] && rwl=$wl
    echo -e "$rwl\t$impl\t$rep\t$rops\t$rsecs\t$rcpu\t$rp50\t$rerr\t${rval:-0}\t${srv:-0}\t$rc" >>"$TSV"
    if [ "$rc" != 0 ] || [ "$rerr" != 0 ]; then
      note "bench: $impl $wl rep $rep: exit $rc, errors $rerr: $(head -c 400 "$err")"
      FAILURES=$((FAILURES + 1))
    fi
  done < <(grep '^RESULT' "$out")
  if [ $got = 0 ]; then
    note "bench: $impl $wl rep $rep: no result (exit $rc): $(head -c 600 "$err") $(head -c 300 "$out")"
    echo -e "$wl\t$impl\t$rep\t0\t0\t0\t0\t1\t0\t${srv:-0}\t${rc/#0/1}" >>"$TSV"
    FAILURES=$((FAILURES + 1))
  fi
  cat "$out" "$err" >>"$LOG"
}

SEQ_IMPLS="raw_blocking cosocket_c_blocking cosocket_c_cq lua_cosocket_blocking lua_cosocket_sched nginx luasocket cqueues luv copas"
POOL_IMPLS="raw_blocking cosocket_c_blocking cosocket_c_cq lua_cosocket_blocking lua_cosocket_sched nginx"
CONC_IMPLS="raw_epoll cosocket_c_cq lua_cosocket_sched nginx cqueues luv copas"
MEM_IMPLS="cosocket_c_blocking lua_cosocket_blocking nginx"

# workload N K client_cpu server_cpu impls
run_workload() {
  local wl=$1 n=$2 k=$3 ccpu=$4 scpu=$5 impls=$6 rep impl
  note "bench: $wl ($REPS x: $impls)"
  for rep in $(seq "$REPS"); do
    for impl in $impls; do
      measure "$wl" "$impl" "$rep" "$ccpu" "$scpu" "$n" "$k"
    done
  done
}

START=$(date +%s)
run_workload pingpong "$PP" "" "$CPU_CLIENT" "$CPU_SERVER" "$SEQ_IMPLS"
run_workload pingpong_1core "$PP1" "" 0 0 "$SEQ_IMPLS"
run_workload reconnect "$RC" "" "$CPU_CLIENT" "$CPU_SERVER" "$SEQ_IMPLS"
# The same on one CPU: no cross-CPU wake-ups, so far less noise.
run_workload reconnect_1core "$RC" "" 0 0 "$SEQ_IMPLS"
run_workload pooled_1core "$POOL" "" 0 0 "$POOL_IMPLS"
run_workload concurrent_64 64 "$K64" "$CPU_CLIENT" "$CPU_SERVER" "$CONC_IMPLS"
run_workload concurrent_512 512 "$K512" "$CPU_CLIENT" "$CPU_SERVER" "$CONC_IMPLS"
run_workload "concurrent_$CBIG" "$CBIG" "$KBIG" "$CPU_CLIENT" "$CPU_SERVER" "$CONC_IMPLS"
run_workload bulk "$BULK" "" "$CPU_CLIENT" "$CPU_SERVER" "$SEQ_IMPLS"
SAVED_REPS=$REPS
REPS=1
run_workload memory "$MEM" "" "$CPU_CLIENT" "$CPU_SERVER" "$MEM_IMPLS"
REPS=$SAVED_REPS
END=$(date +%s)

echo
echo "## bench/run.sh $MODE: $REPS interleaved repetitions, $((END - START)) s"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
echo
if [ "$MODE" = smoke ]; then
  python3 "$BENCH/summarize.py" "$TSV" --no-targets
else
  python3 "$BENCH/summarize.py" "$TSV"
fi
echo
[ "$NOISY" -gt 0 ] && echo "bench: $NOISY measurements started while other processes used more than ${QUIET_BUSY}% CPU"
echo "raw measurements: $TSV; log: $LOG"

# ---- UDP and TLS rows: their own tools, their own tables ---------------------
# UDP request/response (raw C vs cosocket blocking and event loop) and TLS vs
# plain TCP through the same socket core; each prints same-run ratios.
echo
echo "## UDP request/response: bench/udp.sh $MODE"
if ! "$BENCH/udp.sh" "$MODE" 2>&1 | tee -a "$LOG"; then
  note "bench: bench/udp.sh $MODE failed"
  FAILURES=$((FAILURES + 1))
fi
case "$MODE" in smoke) TLS_N=200 ;; quick) TLS_N=5000 ;; full) TLS_N=30000 ;; esac
echo
echo "## TLS against plain TCP: tls_bench $TLS_N"
if ! (cd "$ROOT" && cargo build --release -q --example tls_bench) ||
  ! timeout "$TMO" "$ROOT/target/release/examples/tls_bench" "$TLS_N" 2>&1 | tee -a "$LOG"; then
  note "bench: tls_bench failed"
  FAILURES=$((FAILURES + 1))
fi
if [ $FAILURES -gt 0 ]; then
  echo "bench: $FAILURES failed measurements (see above)"
  exit 1
fi
exit 0
