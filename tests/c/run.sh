#!/usr/bin/env bash
# C test suite: builds every tests/c/test_*.c (and test_cxx.cpp when a C++
# compiler exists) with `cc -Wall -Wextra -Werror` against include/cosocket.h
# and target/debug/libcosocket.so, plus examples/client.c, then runs them
#   1. plain,
#   2. under valgrind (--error-exitcode=1 --leak-check=full
#      --errors-for-leak-kinds=definite, suppressions: tests/c/valgrind.supp),
#   3. rebuilt with AddressSanitizer (-fsanitize=address; LeakSanitizer on).
# Each test program starts the scripted peers it needs (tests/peer, via
# $COSOCKET_PEER); this script also starts a line-echo peer for the example.
# Prints one line per run and finally exactly "N passed, M failed"; exits
# non-zero on any failure. Under CI=true a missing tool (valgrind, g++) is a
# failure, not a skip.
#
# Environment: CC (default cc), CXX (default g++), COSOCKET_SKIP_BUILD=1 (do
# not run cargo build), C_TESTS_NO_VALGRIND=1 / C_TESTS_NO_ASAN=1 (skip a
# pass outside CI), C_TESTS_VERBOSE=1 (print every TAP line).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
LIBDIR=$ROOT/target/debug
OUT=$ROOT/target/c-tests
CC=${CC:-cc}
CXX=${CXX:-g++}
CI=${CI:-}

passed=0
failed=0
failures=()

pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); failures+=("$*"); echo "FAIL $*"; }
skip() {
  if [ "$CI" = true ]; then
    fail "$* (cannot be skipped under CI=true)"
  else
    echo "SKIP $*"
  fi
}

if [ "${COSOCKET_SKIP_BUILD:-}" != 1 ]; then
  cargo build --quiet || { echo "cargo build failed"; echo "0 passed, 1 failed"; exit 1; }
fi
if [ ! -f "$LIBDIR/libcosocket.so" ] || [ ! -x "$LIBDIR/cosocket-peer" ]; then
  echo "missing $LIBDIR/libcosocket.so or cosocket-peer"
  echo "0 passed, 1 failed"
  exit 1
fi
# The cdylib's SONAME is versioned (libcosocket.so.MAJOR.MINOR): programs linked
# with -lcosocket look for that name, so provide it next to the library.
soname=$(readelf -d "$LIBDIR/libcosocket.so" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
if [ -n "$soname" ] && [ "$soname" != libcosocket.so ]; then
  ln -sf libcosocket.so "$LIBDIR/$soname"
fi

mkdir -p "$OUT/plain" "$OUT/asan"
export COSOCKET_PEER=$LIBDIR/cosocket-peer

CFLAGS=(-std=c11 -g -O1 -Wall -Wextra -Werror -pedantic -Iinclude -Itests/c)
CXXFLAGS=(-std=c++11 -g -O1 -Wall -Wextra -Werror -pedantic -Iinclude)
LDFLAGS=(-L"$LIBDIR" -lcosocket -Wl,-rpath,"$LIBDIR" -pthread)
ASANFLAGS=(-fsanitize=address -fno-omit-frame-pointer)

tests=()
for src in tests/c/test_*.c; do
  tests+=("$(basename "$src" .c)")
done

# ---------------------------------------------------------------- build
built=()
build() { # name variant compiler flags... -- sources
  local name=$1 variant=$2
  shift 2
  local log=$OUT/$variant/$name.build.log
  if "$@" >"$log" 2>&1; then
    built+=("$variant/$name")
    return 0
  fi
  fail "build $variant/$name"
  sed 's/^/    /' "$log"
  return 1
}

for t in "${tests[@]}"; do
  build "$t" plain "$CC" "${CFLAGS[@]}" "tests/c/$t.c" -o "$OUT/plain/$t" "${LDFLAGS[@]}" &&
    pass "build plain/$t"
done
if command -v "$CXX" >/dev/null 2>&1; then
  build test_cxx plain "$CXX" "${CXXFLAGS[@]}" tests/c/test_cxx.cpp -o "$OUT/plain/test_cxx" "${LDFLAGS[@]}" &&
    pass "build plain/test_cxx (C++)"
  tests+=(test_cxx)
else
  skip "C++ compatibility build: no $CXX"
fi
build example-client plain "$CC" -std=c11 -Wall -Wextra -Werror -Iinclude examples/client.c \
  -o "$OUT/plain/example-client" "${LDFLAGS[@]}" && pass "build examples/client.c"

# ---------------------------------------------------------------- run
is_built() {
  local x
  for x in "${built[@]}"; do [ "$x" = "$1" ] && return 0; done
  return 1
}

run_one() { # label log command...
  local label=$1 log=$2
  shift 2
  local rc
  timeout 300 "$@" >"$log" 2>&1
  rc=$?
  local checks notok
  checks=$(grep -c '^ok ' "$log")
  notok=$(grep -c '^not ok ' "$log")
  if [ "${C_TESTS_VERBOSE:-}" = 1 ]; then
    sed 's/^/    /' "$log"
  fi
  if [ $rc -eq 0 ] && [ "$notok" -eq 0 ]; then
    pass "$label ($checks checks)"
  else
    fail "$label (exit $rc, $notok failed checks)"
    grep -v '^ok ' "$log" | sed 's/^/    /' | head -200
  fi
}

# The example against a line-echo peer started here.
run_example() { # label prefix...
  local label=$1
  shift
  local port line
  coproc PEER { exec "$COSOCKET_PEER" --no-stdin-exit --mode lineecho; }
  read -r _ port <&"${PEER[0]}"
  local log=$OUT/${label//[^A-Za-z0-9_.-]/_}.log
  timeout 120 "$@" "$OUT/plain/example-client" 127.0.0.1 "$port" >"$log" 2>&1
  local rc=$?
  kill "$PEER_PID" 2>/dev/null
  wait "$PEER_PID" 2>/dev/null
  line=$(grep -c '^received: I am nginx$' "$log")
  if [ $rc -eq 0 ] && [ "$line" -eq 1 ]; then
    pass "$label"
  else
    fail "$label (exit $rc)"
    sed 's/^/    /' "$log"
  fi
}

for t in "${tests[@]}"; do
  is_built "plain/$t" && run_one "run plain/$t" "$OUT/plain/$t.log" "$OUT/plain/$t"
done
is_built plain/example-client && run_example "run examples/client.c"

# ---------------------------------------------------------------- valgrind
# Suppressions cover one-time allocations of runtimes we do not own (see the
# comments in valgrind.supp); everything of cosocket's own must be clean.
if [ "${C_TESTS_NO_VALGRIND:-}" = 1 ] && [ "$CI" != true ]; then
  echo "SKIP valgrind pass (C_TESTS_NO_VALGRIND=1)"
elif command -v valgrind >/dev/null 2>&1; then
  VG=(valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite
      --show-leak-kinds=definite --suppressions=tests/c/valgrind.supp --gen-suppressions=all)
  for t in "${tests[@]}"; do
    is_built "plain/$t" && run_one "valgrind plain/$t" "$OUT/plain/$t.valgrind.log" "${VG[@]}" "$OUT/plain/$t"
  done
  is_built plain/example-client && run_example "valgrind examples/client.c" "${VG[@]}"
else
  skip "valgrind pass: valgrind not installed"
fi

# ---------------------------------------------------------------- ASan
# The test programs are instrumented; libcosocket.so (Rust) is not, but the
# ASan runtime, linked first into the executable, intercepts the malloc/free
# and memcpy family the library uses, so its heap (and our handling of the
# pointers it returns) is checked as well. LeakSanitizer runs at exit.
if [ "${C_TESTS_NO_ASAN:-}" = 1 ] && [ "$CI" != true ]; then
  echo "SKIP ASan pass (C_TESTS_NO_ASAN=1)"
else
  # No LeakSanitizer suppressions are needed: it treats live threads (the
  # runtime's) as roots, so their one-time allocations are not leaks.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=23}
  for t in "${tests[@]}"; do
    if [ "$t" = test_cxx ]; then
      build "$t" asan "$CXX" "${CXXFLAGS[@]}" "${ASANFLAGS[@]}" tests/c/test_cxx.cpp -o "$OUT/asan/$t" "${LDFLAGS[@]}" || continue
    else
      build "$t" asan "$CC" "${CFLAGS[@]}" "${ASANFLAGS[@]}" "tests/c/$t.c" -o "$OUT/asan/$t" "${LDFLAGS[@]}" || continue
    fi
    run_one "asan $t" "$OUT/asan/$t.log" "$OUT/asan/$t"
  done
fi

echo
if [ $failed -gt 0 ]; then
  printf 'failed: %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
