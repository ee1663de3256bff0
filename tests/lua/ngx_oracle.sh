#!/usr/bin/env bash
# Regenerates tests/lua/data/ngx_oracle.txt: runs tests/lua/ngx_probe.lua
# inside real nginx with lua-nginx-module (Debian 12: nginx, libnginx-mod-
# http-lua, lua-resty-core) and records its output. test_ngx_oracle.lua runs
# the same probe through cosocket.ngx() and compares line by line.
#
#   tests/lua/ngx_oracle.sh            # rewrite the record
#   tests/lua/ngx_oracle.sh --check    # print the diff against the record
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
LUA_MODULE=${LUA_MODULE:-/usr/lib/nginx/modules/ngx_http_lua_module.so}
NDK_MODULE=${NDK_MODULE:-/usr/lib/nginx/modules/ndk_http_module.so}
RESTY_CORE_DIR=
for d in /usr/share/lua/5.1 /usr/local/share/lua/5.1 /usr/local/openresty/lualib; do
  if [ -f "$d/resty/core.lua" ]; then RESTY_CORE_DIR=$d; break; fi
done
[ -x "$NGINX" ] && [ -f "$LUA_MODULE" ] && [ -n "$RESTY_CORE_DIR" ] || {
  echo "ngx_oracle: needs nginx, $LUA_MODULE and resty/core.lua" >&2
  exit 1
}

dir=$(mktemp -d /tmp/cosocket-ngx-oracle.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/logs" "$dir/tmp"
ndk=""
[ -f "$NDK_MODULE" ] && ndk="load_module $NDK_MODULE;"
out=$dir/out.txt
for try in $(seq 20); do
  port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
  cat >"$dir/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
error_log $dir/logs/error.log info;
pid $dir/nginx.pid;
$ndk
load_module $LUA_MODULE;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  lua_package_path "$RESTY_CORE_DIR/?.lua;$RESTY_CORE_DIR/?/init.lua;;";
  server {
    listen 127.0.0.1:$port;
    location = /probe {
      content_by_lua_block {
        local run = dofile("$ROOT/tests/lua/ngx_probe.lua")
        local out = {}
        run(function(s) out[#out + 1] = s end)
        ngx.print(table.concat(out))
      }
    }
  }
}
CONF
  "$NGINX" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/logs/error.log" </dev/null >"$dir/stdout" 2>&1 &
  pid=$!
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      break
    fi
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    break
  fi
  wait "$pid" 2>/dev/null || true
  pid=
done
[ -n "$pid" ] || { echo "ngx_oracle: nginx did not start" >&2; cat "$dir/logs/error.log" >&2; exit 1; }

exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /probe HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
# Body only: everything after the blank line of the response head.
sed '1,/^\r$/d' <&3 >"$out"
exec 3<&-
[ -s "$out" ] || { echo "ngx_oracle: empty response" >&2; cat "$dir/logs/error.log" >&2; exit 1; }

{
  echo "# Recorded by tests/lua/ngx_oracle.sh from real nginx: $("$NGINX" -v 2>&1 | sed 's/.*: //'), $(basename "$LUA_MODULE")"
  cat "$out"
} >"$dir/record.txt"
if [ "${1:-}" = --check ]; then
  diff tests/lua/data/ngx_oracle.txt "$dir/record.txt" && echo "ngx_oracle: record is current"
else
  cp "$dir/record.txt" tests/lua/data/ngx_oracle.txt
  echo "ngx_oracle: $(grep -vc '^#' tests/lua/data/ngx_oracle.txt) cases recorded"
fi
