#!/usr/bin/env bash
# Differential suite: every tests/nginx/scenarios/*.lua runs once inside real
# nginx + lua-nginx-module (the oracle) and once under cosocket on plain
# LuaJIT, each side against its own fresh scripted peer(s); the two outputs
# must be identical, line for line, except for the lines listed in
# tests/nginx/known-differences.txt.  See tests/nginx/README.md.
#
#   tests/nginx/run.sh [--show] [--nginx-only] [SCENARIO...]
#
#   --show        print both outputs of every scenario
#   --nginx-only  run only the nginx side and print its output (writing
#                 scenarios); exits 0 unless nginx itself fails
#   SCENARIO      names (file names without .lua) to run; default: all
#
# Environment: CI=true turns a missing nginx / lua module / luajit into a
# failure (otherwise the suite reports the skip and exits 0); KEEP=1 keeps the
# temporary directory; NGINX, NGINX_LUA_MODULE, LUAJIT override the binaries;
# NO_BUILD=1 skips `cargo build`.
#
# Only processes started here are stopped (by PID), only loopback is used,
# and every wait is bounded.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
HERE=$ROOT/tests/nginx

show=0
nginx_only=0
selected=()
for a in "$@"; do
  case $a in
    --show) show=1 ;;
    --nginx-only) nginx_only=1 ;;
    -h | --help)
      sed -n '2,20p' "$0"
      exit 0
      ;;
    -*)
      echo "unknown option $a" >&2
      exit 2
      ;;
    *) selected+=("${a%.lua}") ;;
  esac
done

# --- prerequisites ---------------------------------------------------------

missing() {
  # A prerequisite is missing: fatal under CI, a visible skip otherwise.
  if [ "${CI:-}" = true ]; then
    echo "not ok - prerequisite missing: $*"
    echo "0 passed, 1 failed"
    exit 1
  fi
  echo "1..0 # SKIP prerequisite missing: $* (install: scripts/install-deps.sh)"
  exit 0
}

NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[ -x "$NGINX" ] || missing "nginx (Debian package nginx)"
LUA_MODULE=${NGINX_LUA_MODULE:-/usr/lib/nginx/modules/ngx_http_lua_module.so}
[ -f "$LUA_MODULE" ] || missing "$LUA_MODULE (Debian package libnginx-mod-http-lua)"
NDK_MODULE=$(dirname "$LUA_MODULE")/ndk_http_module.so
LUAJIT=${LUAJIT:-$(command -v luajit || echo /usr/bin/luajit)}
[ -x "$LUAJIT" ] || missing "luajit (Debian package luajit2)"
RESTY_CORE_DIR=""
for d in /usr/share/lua/5.1 /usr/local/share/lua/5.1 /usr/local/openresty/lualib; do
  if [ -f "$d/resty/core.lua" ]; then
    RESTY_CORE_DIR=$d
    break
  fi
done
[ -n "$RESTY_CORE_DIR" ] || missing "resty/core.lua (Debian package lua-resty-core)"
CURL=${CURL-$(command -v curl || true)}

if [ "${NO_BUILD:-}" != 1 ]; then
  cargo build --quiet --lib --bin cosocket-peer || {
    echo "not ok - cargo build failed"
    echo "0 passed, 1 failed"
    exit 1
  }
fi
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PEER=$TARGET_DIR/debug/cosocket-peer
COSOCKET_LIB=${COSOCKET_LIB:-$TARGET_DIR/debug/libcosocket.so}
[ -x "$PEER" ] || {
  echo "not ok - $PEER not built"
  exit 1
}

# --- temporary directory and cleanup --------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cosocket-nginx.XXXXXX") || exit 1
NGINX_PID=""
PEER_PIDS=()

stop_pid() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

stop_peers() {
  local pid
  for pid in "${PEER_PIDS[@]}"; do
    stop_pid "$pid"
  done
  PEER_PIDS=()
}

cleanup() {
  stop_peers
  [ -n "$NGINX_PID" ] && stop_pid "$NGINX_PID"
  if [ "${KEEP:-}" = 1 ]; then
    echo "# kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- HTTP GET over loopback -----------------------------------------------

# fetch PORT PATH_AND_QUERY OUTFILE [SECONDS] → prints the HTTP status code.
fetch() {
  local port=$1 path=$2 out=$3 max=${4:-10}
  if [ -n "$CURL" ]; then
    "$CURL" -s -o "$out" -w '%{http_code}' --max-time "$max" "http://127.0.0.1:$port$path"
    return
  fi
  # Fallback without curl: HTTP/1.0 over bash's /dev/tcp, bounded by timeout.
  timeout "$max" bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$2" >&3
    cat <&3 >"$3.raw"' _ "$port" "$path" "$out" || {
    echo 000
    return
  }
  "$LUAJIT" "$HERE/lib/tool.lua" split-http "$out.raw" "$out"
}

urlencode() {
  "$LUAJIT" "$HERE/lib/tool.lua" urlencode "$1"
}

# --- nginx ------------------------------------------------------------------

start_nginx() {
  local dir=$WORK/nginx try port i
  mkdir -p "$dir/logs" "$dir/tmp"
  for ((try = 0; try < 20; try++)); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    local ndk=""
    [ -f "$NDK_MODULE" ] && ndk="load_module $NDK_MODULE;"
    cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $dir/logs/error.log info;
pid $dir/nginx.pid;
$ndk
load_module $LUA_MODULE;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  lua_package_path "$HERE/lib/?.lua;$RESTY_CORE_DIR/?.lua;$RESTY_CORE_DIR/?/init.lua;;";
  lua_socket_log_errors off;
  server {
    listen 127.0.0.1:$port;
    location = /ping { content_by_lua_block { ngx.say("pong") } }
    location = /run {
      content_by_lua_block { require("difftest_nginx").run() }
    }
  }
}
EOF
    : >"$dir/logs/error.log"
    "$NGINX" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/logs/error.log" </dev/null >"$dir/stdout" 2>&1 &
    NGINX_PID=$!
    for ((i = 0; i < 100; i++)); do
      if ! kill -0 "$NGINX_PID" 2>/dev/null; then
        break
      fi
      if [ "$(fetch "$port" /ping "$dir/ping.out" 2>/dev/null)" = 200 ]; then
        NGINX_PORT=$port
        return 0
      fi
      sleep 0.05
    done
    stop_pid "$NGINX_PID"
    NGINX_PID=""
    grep -q "Address already in use" "$dir/logs/error.log" "$dir/stdout" 2>/dev/null && continue
    echo "not ok - nginx did not start:"
    sed 's/^/#   /' "$dir/stdout" "$dir/logs/error.log" | tail -20
    return 1
  done
  echo "not ok - nginx: no free port found"
  return 1
}

# --- peers ------------------------------------------------------------------

# start_peers SCENARIO_FILE DIR → sets PEERS_SPEC ("name=tcp:PORT,...").
start_peers() {
  local file=$1 dir=$2 line rest name opts script log i first kind where
  PEERS_SPEC=""
  mkdir -p "$dir"
  while IFS= read -r line; do
    [[ $line =~ ^--\ peer([^:]*):\ ?(.*)$ ]] || continue
    rest=${BASH_REMATCH[1]}
    script=${BASH_REMATCH[2]}
    read -r first opts_rest <<<"$rest"
    name=main
    opts=$rest
    if [ -n "$first" ] && [[ $first != --* ]]; then
      name=$first
      opts=${opts_rest:-}
    fi
    local args=()
    for o in $opts; do
      if [ "$o" = --unix ]; then
        args+=(--unix "$dir/$name.sock")
      elif [ "$o" = --ipv6 ]; then
        args+=(--listen "[::1]:0")
      else
        args+=("$o")
      fi
    done
    [ -n "$script" ] && args+=("$script")
    log=$dir/peer-$name.log
    "$PEER" --no-stdin-exit --parent-exit "${args[@]}" </dev/null >"$log" 2>"$dir/peer-$name.err" &
    PEER_PIDS+=($!)
    kind=""
    for ((i = 0; i < 400; i++)); do
      read -r kind where 2>/dev/null <"$log"
      [ "$kind" = port ] || [ "$kind" = unix ] && break
      kill -0 "${PEER_PIDS[-1]}" 2>/dev/null || break
      sleep 0.025
    done
    case $kind in
      port) PEERS_SPEC+="${PEERS_SPEC:+,}$name=tcp:$where" ;;
      unix) PEERS_SPEC+="${PEERS_SPEC:+,}$name=unix:$where" ;;
      *)
        echo "peer $name did not start: $(cat "$dir/peer-$name.err")" >&2
        return 1
        ;;
    esac
  done <"$file"
  return 0
}

# --- one side of a scenario -------------------------------------------------

run_nginx_side() {
  local file=$1 dir=$2 out=$3 code
  start_peers "$file" "$dir" 2>"$out.err" || {
    cat "$out.err" >"$out"
    touch "$out.peerfail"
    stop_peers
    return
  }
  local q="/run?scenario=$(urlencode "$file")&peers=$(urlencode "$PEERS_SPEC")&tmp=$(urlencode "$dir")"
  local before
  before=$(wc -l <"$WORK/nginx/logs/error.log")
  code=$(fetch "$NGINX_PORT" "$q" "$out" "$(scenario_timeout "$file")")
  [ "$code" = 200 ] || echo "http status $code" >>"$out"
  # Lua errors nginx logged while running the scenario (e.g. in a light thread)
  tail -n +"$((before + 1))" "$WORK/nginx/logs/error.log" | grep -E '\[(error|alert|crit)\]' >"$out.log" || true
  stop_peers
}

# The time a side may take: "-- timeout: SECONDS" in the header, default 30.
scenario_timeout() {
  local t
  t=$(sed -n 's/^-- timeout: *\([0-9][0-9]*\).*/\1/p' "$1" | head -1)
  echo "${t:-30}"
}

run_cosocket_side() {
  local file=$1 dir=$2 out=$3
  start_peers "$file" "$dir" 2>"$out.err" || {
    cat "$out.err" >"$out"
    touch "$out.peerfail"
    stop_peers
    return
  }
  LUA_PATH="$ROOT/bindings/lua/?.lua;$ROOT/bindings/lua/?/init.lua;$HERE/lib/?.lua;;" \
    COSOCKET_LIB="$COSOCKET_LIB" \
    timeout "$(scenario_timeout "$file")" "$LUAJIT" "$HERE/run_cosocket.lua" "$file" "$PEERS_SPEC" "$dir" >"$out" 2>"$out.log" </dev/null
  local rc=$?
  [ $rc = 0 ] || echo "luajit exit status $rc" >>"$out"
  stop_peers
}

# --- main ---------------------------------------------------------------------

files=()
if [ ${#selected[@]} -gt 0 ]; then
  for s in "${selected[@]}"; do
    f=$HERE/scenarios/$s.lua
    [ -f "$f" ] || {
      echo "no scenario $f" >&2
      exit 2
    }
    files+=("$f")
  done
else
  for f in "$HERE"/scenarios/*.lua; do
    [ -f "$f" ] && files+=("$f")
  done
fi
[ ${#files[@]} -gt 0 ] || {
  echo "no scenarios"
  exit 1
}

start_nginx || {
  echo "0 passed, 1 failed"
  exit 1
}

if [ $nginx_only = 0 ] && [ ! -f "$ROOT/bindings/lua/cosocket.lua" ]; then
  echo "# bindings/lua/cosocket.lua is missing: every cosocket side will fail"
fi

indent() { sed 's/^/#   /'; }

echo "1..${#files[@]}"
passed=0
failed=0
n=0
for f in "${files[@]}"; do
  n=$((n + 1))
  name=$(basename "$f" .lua)
  d=$WORK/$name
  mkdir -p "$d/nginx" "$d/cosocket"
  run_nginx_side "$f" "$d/nginx" "$d/nginx.out"
  if [ $nginx_only = 1 ]; then
    echo "# --- $name (nginx)"
    cat "$d/nginx.out"
    [ -s "$d/nginx.out.log" ] && indent <"$d/nginx.out.log"
    continue
  fi
  run_cosocket_side "$f" "$d/cosocket" "$d/cosocket.out"
  "$LUAJIT" "$HERE/lib/known.lua" "$HERE/known-differences.txt" "$name" \
    <"$d/nginx.out" >"$d/nginx.expected" 2>"$d/known.txt"
  known_rc=$?
  if [ $show = 1 ]; then
    echo "# --- $name: nginx"
    indent <"$d/nginx.out"
    echo "# --- $name: cosocket"
    indent <"$d/cosocket.out"
  fi
  if [ -e "$d/nginx.out.peerfail" ] || [ -e "$d/cosocket.out.peerfail" ]; then
    failed=$((failed + 1))
    echo "not ok $n - $name (a peer did not start)"
    cat "$d/nginx.out" "$d/cosocket.out" 2>/dev/null | indent
    continue
  fi
  if [ $known_rc = 0 ] && diff -q "$d/nginx.expected" "$d/cosocket.out" >/dev/null; then
    passed=$((passed + 1))
    if grep -q '^known difference' "$d/known.txt"; then
      echo "ok $n - $name (known difference)"
      indent <"$d/known.txt"
    else
      echo "ok $n - $name"
    fi
  else
    failed=$((failed + 1))
    echo "not ok $n - $name"
    [ -s "$d/known.txt" ] && indent <"$d/known.txt"
    diff -u --label nginx --label cosocket "$d/nginx.expected" "$d/cosocket.out" | indent
    if [ -s "$d/nginx.out.log" ]; then
      echo "#   nginx error.log:"
      indent <"$d/nginx.out.log" | head -20
    fi
    if [ -s "$d/cosocket.out.log" ]; then
      echo "#   luajit stderr:"
      indent <"$d/cosocket.out.log" | head -20
    fi
  fi
done

[ $nginx_only = 1 ] && exit 0
echo "$passed passed, $failed failed"
[ $failed = 0 ]
