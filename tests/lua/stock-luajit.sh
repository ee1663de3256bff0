#!/bin/sh
# Runs the LuaJIT suites on Debian's stock `luajit` package (Mike Pall's
# 2.1.0~beta3 snapshot) instead of OpenResty's luajit2.
#
#   tests/lua/stock-luajit.sh [FILE...]
#
# `luajit` and `luajit2` both ship /usr/bin/luajit and cannot be installed
# together, so the stock packages are fetched with `apt-get download` and
# unpacked into a temporary directory (nothing is installed); a wrapper runs
# that interpreter with its own shared library and jit.* modules.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM

(cd "$dir" && apt-get download luajit libluajit-5.1-2 libluajit-5.1-common \
    >/dev/null 2>&1) || {
    echo "stock-luajit: apt-get download failed (run apt-get update?)" >&2
    exit 1
}
for deb in "$dir"/*.deb; do
    dpkg-deb -x "$deb" "$dir/root"
done
libdir=$(dirname "$(find "$dir/root" -name 'libluajit-5.1.so.2' | head -1)")
jitdir=$(find "$dir/root/usr/share" -maxdepth 1 -name 'luajit-*' | head -1)

cat >"$dir/luajit" <<WRAP
#!/bin/sh
LD_LIBRARY_PATH="$libdir\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
LUA_PATH="$jitdir/?.lua;\${LUA_PATH:-;;}"
export LD_LIBRARY_PATH LUA_PATH
exec "$dir/root/usr/bin/luajit" "\$@"
WRAP
chmod +x "$dir/luajit"

echo "# stock LuaJIT: $("$dir/luajit" -v)"
LUAJIT="$dir/luajit" "$here/run.sh" "$@"
