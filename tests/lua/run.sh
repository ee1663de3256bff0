#!/bin/sh
# Runs the LuaJIT suites: every tests/lua/test_*.lua, then jit_trace.lua.
#
#   tests/lua/run.sh [FILE...]        (from anywhere)
#
# Environment: LUAJIT (default luajit), COSOCKET_LIB (default: the newer of
# target/release and target/debug libcosocket.so), COSOCKET_PEER (default
# target/debug/cosocket-peer). Missing binaries are built with cargo.
# Prints each file's results, then a last line "N passed, M failed"; exits
# non-zero when anything failed.

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
LUAJIT=${LUAJIT:-luajit}

case "$(uname -s)" in
    Darwin) libname=libcosocket.dylib ;;
    *) libname=libcosocket.so ;;
esac

rel="$root/target/release/$libname"
dbg="$root/target/debug/$libname"
if [ -z "${COSOCKET_LIB:-}" ]; then
    if [ ! -e "$rel" ] && [ ! -e "$dbg" ]; then
        (cd "$root" && cargo build --lib --quiet) || exit 1
    fi
    if [ -e "$rel" ] && { [ ! -e "$dbg" ] || [ "$rel" -nt "$dbg" ]; }; then
        COSOCKET_LIB=$rel
    else
        COSOCKET_LIB=$dbg
    fi
fi
if [ -z "${COSOCKET_PEER:-}" ]; then
    COSOCKET_PEER="$root/target/debug/cosocket-peer"
    if [ ! -x "$COSOCKET_PEER" ]; then
        (cd "$root" && cargo build --bin cosocket-peer --quiet) || exit 1
    fi
fi
LUA_PATH="$root/bindings/lua/?.lua;$root/bindings/lua/?/init.lua;$here/?.lua;;"
export LUAJIT COSOCKET_LIB COSOCKET_PEER LUA_PATH

# 1000 concurrent connections need more than the usual 1024 descriptors
ulimit -n 8192 2>/dev/null || ulimit -n 4096 2>/dev/null || true

if [ $# -gt 0 ]; then
    files=""
    for f in "$@"; do
        case "$f" in
            /*) files="$files $f" ;;
            *) files="$files $PWD/$f" ;;
        esac
    done
else
    files=$(ls "$here"/test_*.lua; echo "$here/jit_trace.lua")
fi

if command -v timeout >/dev/null 2>&1; then
    limit="timeout 600"
else
    limit=""
fi

echo "# luajit: $(command -v "$LUAJIT") ($("$LUAJIT" -v 2>&1 | head -1))"
echo "# library: $COSOCKET_LIB"
echo "# peer: $COSOCKET_PEER"

passed=0
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT INT TERM
for f in $files; do
    name=$(basename "$f")
    echo "## $name"
    (cd "$here" && $limit "$LUAJIT" "$f") >"$out" 2>&1
    rc=$?
    cat "$out"
    summary=$(grep '^# .*: [0-9]* passed, [0-9]* failed$' "$out" | tail -1)
    if [ -n "$summary" ]; then
        p=$(echo "$summary" | sed 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\1/')
        m=$(echo "$summary" | sed 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\2/')
        passed=$((passed + p))
        failed=$((failed + m))
        if [ "$rc" -ne 0 ] && [ "$m" -eq 0 ]; then
            echo "not ok - $name exited with status $rc"
            failed=$((failed + 1))
        fi
    else
        echo "not ok - $name did not finish (status $rc)"
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
