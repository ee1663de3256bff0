#!/usr/bin/env bash
# Installs what the test suites need on Debian 12 (run as root, or with sudo
# available). Already-installed packages are skipped, so it is cheap to rerun.
set -euo pipefail

pkgs=(
  gcc g++ make pkg-config valgrind   # C suites
  luajit2                            # OpenResty's LuaJIT branch: /usr/bin/luajit
  libpcre2-8-0                       # ngx.re (PCRE2 through the FFI)
  lua-socket                         # LuaSocket, a benchmark peer
  nginx libnginx-mod-http-lua lua-resty-core   # the OpenResty oracle
  redis-server memcached             # real servers for end-to-end tests
  openssl                            # certificates for the TLS suites (tests/lua/tls_servers.sh)
  postgresql mariadb-server mariadb-client   # SQL servers for end-to-end tests
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Package scripts must not start system services (nginx on :80, redis, memcached):
# the tests start their own instances on loopback ports.
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  made_policy=1
fi
trap '[ -n "$made_policy" ] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
