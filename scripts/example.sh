#!/usr/bin/env bash
# Builds cosocket and runs the main example, the LuaJIT client of examples/,
# against a line-echo server this script starts (and stops) itself.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v luajit >/dev/null || scripts/install-deps.sh
cargo build --release --quiet

# Our scripted peer as the server: it echoes each line back.
coproc PEER { exec target/release/cosocket-peer --mode lineecho; }
trap 'kill "$PEER_PID" 2>/dev/null || true' EXIT
read -r _ port <&"${PEER[0]}"
echo "server: line echo on 127.0.0.1:$port (pid $PEER_PID)"

export COSOCKET_LIB=$PWD/target/release/libcosocket.so
export LUA_PATH="$PWD/bindings/lua/?.lua;$PWD/bindings/lua/?/init.lua;;"
if [ -f examples/client.lua ]; then
  luajit examples/client.lua 127.0.0.1 "$port"
else
  # -lcosocket records the versioned SONAME (libcosocket.so.MAJOR.MINOR): provide it.
  (cd target/release && ln -sf libcosocket.so "$(readelf -d libcosocket.so | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')")
  cc -Wall -O2 -Iinclude examples/client.c -Ltarget/release -lcosocket -Wl,-rpath,"$PWD/target/release" -o target/release/example-client
  target/release/example-client 127.0.0.1 "$port"
fi
