#!/usr/bin/env bash
# End-to-end suites against real servers on loopback: starts redis-server,
# memcached, nginx (HTTP/1.1), PostgreSQL and MariaDB in a temporary
# directory (tests/e2e/servers.sh), runs every tests/e2e/test_*.lua (or the
# files given as arguments) with luajit, stops the servers, and ends with
# the line "N passed, M failed" (test cases). Installs nothing: run
# scripts/install-deps.sh first. Under CI=true a missing server, binding or
# interpreter is a failure, never a skip.
#
#   E2E_SERVERS="redis memcached"  tests/e2e/run.sh tests/e2e/test_redis.lua
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CI=${CI:-}

passed=0
failed=0
skipped=0
finish() {
  echo "e2e: $skipped skipped"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}
fail_setup() {
  echo "e2e: $*"
  if [ "$CI" = true ]; then failed=$((failed + 1)); else echo "e2e: skipped (not under CI)"; fi
  finish
}

LUAJIT=${LUAJIT:-$(command -v luajit || true)}
[ -n "$LUAJIT" ] || fail_setup "luajit not found (scripts/install-deps.sh installs it)"
[ -f bindings/lua/cosocket.lua ] || [ -f bindings/lua/cosocket/init.lua ] ||
  fail_setup "the LuaJIT binding bindings/lua/cosocket.lua is missing"

export COSOCKET_LIB=${COSOCKET_LIB:-$ROOT/target/debug/libcosocket.so}
if [ ! -f "$COSOCKET_LIB" ]; then
  cargo build --quiet || fail_setup "cargo build failed"
fi
export LUA_PATH="${E2E_EXTRA_LUA_PATH:+$E2E_EXTRA_LUA_PATH;}$ROOT/bindings/lua/?.lua;$ROOT/bindings/lua/?/init.lua;$ROOT/tests/lua/?.lua;$ROOT/tests/e2e/?.lua;;"

tmp=$(mktemp -d /tmp/cosocket-e2e.XXXXXX)
chmod 755 "$tmp"
cleanup() {
  tests/e2e/servers.sh stop "$tmp"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2086
if ! tests/e2e/servers.sh start "$tmp" ${E2E_SERVERS:-redis memcached http postgres mysql}; then
  echo "e2e: some servers did not start:"
  grep _MISSING= "$tmp/servers.env" | sed 's/^/e2e:   /'
  if [ "$CI" = true ]; then failed=$((failed + 1)); fi
fi
set -a
# shellcheck disable=SC1091
. "$tmp/servers.env"
set +a

files=("$@")
[ ${#files[@]} -gt 0 ] || files=(tests/e2e/test_*.lua)
for f in "${files[@]}"; do
  [ -f "$f" ] || { echo "e2e: no such file $f"; failed=$((failed + 1)); continue; }
  echo "=== e2e: $f"
  out=$tmp/out.$(basename "$f")
  timeout -k 5 "${E2E_FILE_TIMEOUT:-300}" "$LUAJIT" "$f" >"$out" 2>&1
  rc=$?
  cat "$out"
  summary=$(grep -a '^e2e-summary:' "$out" | tail -1)
  if [ -z "$summary" ]; then
    echo "=== e2e: $f crashed or timed out (exit $rc) before its summary"
    # cases that finished still count; the crash is one more failure
    p=$(grep -ac '^ok - ' "$out")
    n=$(grep -ac '^not ok - ' "$out")
    passed=$((passed + p))
    failed=$((failed + n + 1))
    continue
  fi
  p=$(sed -n 's/.*passed=\([0-9]*\).*/\1/p' <<<"$summary")
  n=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$summary")
  s=$(sed -n 's/.*skipped=\([0-9]*\).*/\1/p' <<<"$summary")
  passed=$((passed + p))
  failed=$((failed + n))
  skipped=$((skipped + s))
  if [ "$rc" -ne 0 ] && [ "$n" -eq 0 ]; then
    echo "=== e2e: $f exited $rc after its summary"
    failed=$((failed + 1))
  fi
done

if [ "$failed" -gt 0 ]; then
  for l in "$tmp"/redis/log "$tmp"/memcached*.log "$tmp"/nginx/logs/error.log "$tmp"/pg/log "$tmp"/mysql/error.log; do
    [ -s "$l" ] && { echo "--- tail of $l"; tail -n 15 "$l"; }
  done
fi
finish
