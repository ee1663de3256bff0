# Shared by bench/syscalls.sh and bench/instructions.sh (sourced, not run):
# the clients' warm-up count and a line-echo server started and stopped by
# PID. Expects BUILD and TMP to be set.

# Warm-up operations the clients run before timing (see the clients):
# warm N CAP -> min(N / 10, CAP).
warm() {
  local n=$1 cap=$2 w
  w=$((n / 10))
  [ $w -gt "$cap" ] && w=$cap
  echo $w
}

# start_server CPU: a fresh bench/build/server pinned to CPU; sets SRV (its
# PID) and PORT.
SRV=
start_server() {
  local out=$TMP/profile_server.out
  : >"$out"
  taskset -c "$1" "$BUILD/server" 0 >"$out" 2>/dev/null &
  SRV=$!
  PORT=""
  for _ in $(seq 100); do
    PORT=$(awk '/^READY/ {print $2}' "$out")
    [ -n "$PORT" ] && break
    sleep 0.02
  done
}

stop_server() {
  [ -n "$SRV" ] || return 0
  kill "$SRV" 2>/dev/null
  wait "$SRV" 2>/dev/null
  SRV=
}
