#!/usr/bin/env bash
# Starts and stops the real servers of the end-to-end suites, on free loopback
# ports, with all state in a temporary directory; never touches system
# services, and stops only the processes it started (by their recorded PID).
#
#   tests/e2e/servers.sh start DIR [NAME...]   # NAME: redis memcached http postgres mysql
#                                               # (default), websocket
#   tests/e2e/servers.sh stop DIR
#
# `start` writes DIR/servers.env (shell assignments, also read by the Lua
# tests through the environment):
#   E2E_REDIS_PORT, E2E_REDIS_SOCKET (unix), E2E_MEMCACHED_PORT, E2E_MEMCACHED_IDLE_PORT (idle_timeout=1),
#   E2E_HTTP_PORT, E2E_HTTP_ROOT, E2E_POSTGRES_PORT/_USER/_PASSWORD/_DB,
#   E2E_MYSQL_PORT/_USER/_PASSWORD/_DB, E2E_WEBSOCKET_PORT
# and, for a server that could not be started, E2E_<NAME>_MISSING="reason".
# DIR/pids lists "name pid" for `stop`. Exit status: 0 when every requested
# server started, 1 otherwise (the env file then says which are missing).
set -uo pipefail

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR [NAME...]" >&2; exit 2; }
shift 2

log() { echo "servers: $*" >&2; }
here=$(cd "$(dirname "$0")" && pwd)

# A port nobody listens on now (a server that still fails to bind is retried).
free_port() {
  local p i
  for i in $(seq 1 50); do
    # below the kernel's ephemeral range (32768-60999), whose ports our
    # own outgoing connections hold
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# Waits until 127.0.0.1:$2 accepts connections while pid $1 lives (10 s).
wait_port() {
  local pid=$1 port=$2 i
  for i in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  return 1
}

env_set() { printf '%s=%q\n' "$1" "$2" >>"$dir/servers.env"; }
pid_add() { echo "$1 $2" >>"$dir/pids"; }
missing() {
  local name=$1 reason=$2
  log "$name: $reason"
  env_set "E2E_$(echo "$name" | tr a-z A-Z)_MISSING" "$reason"
  status=1
}

# start_simple NAME LOGFILE CMD... ; CMD may contain the word @PORT@.
# Sets $started_port on success.
start_simple() {
  local name=$1 logf=$2
  shift 2
  local try port args a pid
  for try in 1 2 3 4 5; do
    port=$(free_port) || break
    args=()
    for a in "$@"; do args+=("${a//@PORT@/$port}"); done
    "${args[@]}" >>"$logf" 2>&1 &
    pid=$!
    if wait_port "$pid" "$port"; then
      pid_add "$name" "$pid"
      started_port=$port
      return 0
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  return 1
}

start_redis() {
  command -v redis-server >/dev/null || { missing redis "redis-server not installed"; return; }
  mkdir -p "$dir/redis"
  if start_simple redis "$dir/redis/log" redis-server --port @PORT@ --bind 127.0.0.1 \
    --save '' --appendonly no --daemonize no --dir "$dir/redis" --protected-mode yes \
    --maxclients 1000 --unixsocket "$dir/redis/redis.sock" --unixsocketperm 700; then
    env_set E2E_REDIS_PORT "$started_port"
    env_set E2E_REDIS_SOCKET "$dir/redis/redis.sock"
  else
    missing redis "redis-server did not start (see $dir/redis/log)"
  fi
}

start_memcached() {
  command -v memcached >/dev/null || { missing memcached "memcached not installed"; return; }
  local user=()
  [ "$(id -u)" = 0 ] && user=(-u nobody)
  if start_simple memcached "$dir/memcached.log" memcached -l 127.0.0.1 -p @PORT@ -U 0 -c 1024 "${user[@]}"; then
    env_set E2E_MEMCACHED_PORT "$started_port"
  else
    missing memcached "memcached did not start (see $dir/memcached.log)"
    return
  fi
  # A second instance that closes connections idle for 1 s (server-side kill).
  if start_simple memcached-idle "$dir/memcached-idle.log" memcached -l 127.0.0.1 -p @PORT@ -U 0 \
    -o idle_timeout=1 "${user[@]}"; then
    env_set E2E_MEMCACHED_IDLE_PORT "$started_port"
  else
    missing memcached "memcached -o idle_timeout did not start (see $dir/memcached-idle.log)"
  fi
}

# nginx as a plain HTTP/1.1 server: static files with Content-Length, SSI
# pages (chunked, since SSI drops the length), keepalive. One process, no
# master, so it needs no user switch and no system paths.
start_http() {
  local nginx
  nginx=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null) || { missing http "nginx not installed"; return; }
  local p=$dir/nginx
  mkdir -p "$p/logs" "$p/tmp" "$p/html"
  printf 'hello, cosocket\n' >"$p/html/hello.txt"
  # 105000 bytes of known text: line i is "line NNNNN .........\n" (21 bytes).
  awk 'BEGIN { for (i = 0; i < 5000; i++) printf "line %05d .........\n", i }' >"$p/html/big.txt"
  # SSI page: chunked transfer encoding with a body of several pieces.
  {
    printf 'chunk-begin\n'
    printf '<!--# include file="/big.txt" -->'
    printf 'middle\n'
    printf '<!--# include file="/hello.txt" -->'
    printf 'chunk-end\n'
  } >"$p/html/chunked.shtml"
  printf '' >"$p/html/empty.txt"
  local try port pid
  for try in 1 2 3 4 5; do
    port=$(free_port) || break
    cat >"$p/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $p/nginx.pid;
error_log $p/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $p/tmp/body;
    proxy_temp_path $p/tmp/proxy;
    fastcgi_temp_path $p/tmp/fastcgi;
    uwsgi_temp_path $p/tmp/uwsgi;
    scgi_temp_path $p/tmp/scgi;
    default_type text/plain;
    keepalive_timeout 60s;
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:$port;
        root $p/html;
        location ~ \.shtml$ { ssi on; ssi_types text/plain; chunked_transfer_encoding on; }
        location = /close { keepalive_timeout 0; try_files /hello.txt =404; }
        location = /short-keepalive { keepalive_timeout 1s; try_files /hello.txt =404; }
        location = /echo { return 200 "\$request_method \$uri \$args\n"; }
        location = /status { stub_status; }
        location /slow/ { alias $p/html/; limit_rate 100k; }
    }
}
EOF
    "$nginx" -p "$p" -c "$p/nginx.conf" -e "$p/logs/error.log" >>"$p/logs/stdout.log" 2>&1 &
    pid=$!
    if wait_port "$pid" "$port"; then
      pid_add http "$pid"
      env_set E2E_HTTP_PORT "$port"
      env_set E2E_HTTP_ROOT "$p/html"
      return
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  missing http "nginx did not start (see $p/logs/error.log)"
}

# A WebSocket echo server (tests/e2e/ws_echo.py), for resty_websocket.lua
# only: not in the default list.
start_websocket() {
  command -v python3 >/dev/null || { missing websocket "python3 not installed"; return; }
  if start_simple websocket "$dir/websocket.log" python3 "$here/ws_echo.py" @PORT@; then
    env_set E2E_WEBSOCKET_PORT "$started_port"
  else
    missing websocket "ws_echo.py did not start (see $dir/websocket.log)"
  fi
}

# PostgreSQL with md5 password authentication over TCP. The cluster belongs
# to the `postgres` system user when we are root (postgres refuses root).
start_postgres() {
  local bindir=""
  if command -v initdb >/dev/null && command -v postgres >/dev/null; then
    bindir=$(dirname "$(command -v postgres)")
  else
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  fi
  [ -n "$bindir" ] && [ -x "$bindir/initdb" ] || { missing postgres "PostgreSQL server not installed"; return; }
  local as=() p=$dir/pg
  mkdir -p "$p"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || { missing postgres "no postgres user to run the server as"; return; }
    as=(runuser -u postgres --)
    chmod 755 "$dir"
    chown postgres "$p"
  fi
  if ! "${as[@]}" "$bindir/initdb" -D "$p/data" -U postgres --auth=trust -E UTF8 >"$p/initdb.log" 2>&1; then
    missing postgres "initdb failed (see $p/initdb.log)"
    return
  fi
  cat >"$p/data/pg_hba.conf" <<EOF
local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 md5
EOF
  local try port pid
  for try in 1 2 3 4 5; do
    port=$(free_port) || break
    "${as[@]}" "$bindir/postgres" -D "$p/data" -p "$port" -k "$p" -c listen_addresses=127.0.0.1 \
      -c password_encryption=md5 -c fsync=off -c max_connections=100 -c shared_buffers=16MB \
      >>"$p/log" 2>&1 &
    pid=$!
    if wait_port "$pid" "$port"; then
      # $pid may be runuser's: stop uses the postmaster's own PID file too.
      pid_add postgres "$pid"
      echo "postgres-data $p/data" >>"$dir/pids"
      break
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    port=""
  done
  [ -n "$port" ] || { missing postgres "postgres did not start (see $p/log)"; return; }
  local psql=$bindir/psql
  [ -x "$psql" ] || psql=$(command -v psql)
  if ! "${as[@]}" "$psql" -h "$p" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
    -c "CREATE USER cosocket PASSWORD 'cosocket-pass'" -c "CREATE DATABASE cosocket OWNER cosocket" \
    >>"$p/log" 2>&1; then
    missing postgres "could not create the test user (see $p/log)"
    return
  fi
  env_set E2E_POSTGRES_PORT "$port"
  env_set E2E_POSTGRES_USER cosocket
  env_set E2E_POSTGRES_PASSWORD cosocket-pass
  env_set E2E_POSTGRES_DB cosocket
}

# MariaDB (or MySQL) with a mysql_native_password user over TCP.
start_mysql() {
  local server="" installdb=""
  server=$(command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd /usr/sbin/mysqld 2>/dev/null | head -1) || true
  installdb=$(command -v mariadb-install-db || command -v mysql_install_db) || true
  [ -n "$server" ] && [ -n "$installdb" ] || { missing mysql "MariaDB server not installed"; return; }
  local p=$dir/mysql user
  user=$(id -un)
  mkdir -p "$p/data"
  if ! "$installdb" --no-defaults --datadir="$p/data" --user="$user" --auth-root-authentication-method=normal \
    --skip-test-db >"$p/install.log" 2>&1; then
    missing mysql "mariadb-install-db failed (see $p/install.log)"
    return
  fi
  local try port pid client
  client=$(command -v mariadb || command -v mysql) || { missing mysql "no mariadb client"; return; }
  for try in 1 2 3 4 5; do
    port=$(free_port) || break
    "$server" --no-defaults --datadir="$p/data" --port="$port" --bind-address=127.0.0.1 \
      --socket="$p/mysql.sock" --pid-file="$p/mysqld.pid" --user="$user" --skip-log-bin \
      --innodb-buffer-pool-size=16M --log-error="$p/error.log" >>"$p/log" 2>&1 &
    pid=$!
    if wait_port "$pid" "$port"; then
      pid_add mysql "$pid"
      break
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    port=""
  done
  [ -n "$port" ] || { missing mysql "mariadbd did not start (see $p/error.log)"; return; }
  if ! "$client" --no-defaults -uroot --socket="$p/mysql.sock" -e "
      CREATE DATABASE cosocket;
      CREATE USER 'cosocket'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('cosocket-pass');
      CREATE USER 'cosocket'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('cosocket-pass');
      GRANT ALL ON cosocket.* TO 'cosocket'@'127.0.0.1';
      GRANT ALL ON cosocket.* TO 'cosocket'@'localhost';" >>"$p/log" 2>&1; then
    missing mysql "could not create the test user (see $p/log)"
    return
  fi
  env_set E2E_MYSQL_PORT "$port"
  env_set E2E_MYSQL_USER cosocket
  env_set E2E_MYSQL_PASSWORD cosocket-pass
  env_set E2E_MYSQL_DB cosocket
}

stop_all() {
  [ -f "$dir/pids" ] || return 0
  local name pid i pm
  while read -r name pid; do
    if [ "$name" = postgres-data ]; then
      # The postmaster (our child's child when started through runuser).
      pm=$(head -1 "$pid/postmaster.pid" 2>/dev/null) || continue
      [ -n "$pm" ] && kill -INT "$pm" 2>/dev/null
      for i in $(seq 1 100); do kill -0 "$pm" 2>/dev/null || break; sleep 0.05; done
      continue
    fi
    kill -TERM "$pid" 2>/dev/null || continue
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  done < <(tac "$dir/pids")
  rm -f "$dir/pids"
}

case $cmd in
start)
  mkdir -p "$dir"
  : >"$dir/servers.env"
  status=0
  [ $# -gt 0 ] || set -- redis memcached http postgres mysql
  for name in "$@"; do
    case $name in
    redis) start_redis ;;
    memcached) start_memcached ;;
    http) start_http ;;
    postgres) start_postgres ;;
    mysql) start_mysql ;;
    websocket) start_websocket ;;
    *) log "unknown server $name"; status=1 ;;
    esac
  done
  exit $status
  ;;
stop)
  stop_all
  ;;
*)
  echo "usage: $0 start|stop DIR [NAME...]" >&2
  exit 2
  ;;
esac
