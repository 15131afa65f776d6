#!/usr/bin/env bash
# Makes sure the tools the C side of the tests needs are on PATH: a C compiler, make,
# pkg-config, readelf (binutils) and valgrind (capi/tests/c_abi.rs, tests/live_scribble.rs),
# nats-server for the nats:// tests, and ip (iproute2) for the bridge test across network
# namespaces (cli/tests/cli_bridge_netns.rs; unshare and nsenter come with util-linux).
# Installs the missing ones with apt-get (Debian/Ubuntu, as root or through sudo); on other
# systems it names what to install and fails. scripts/demo.sh and scripts/test-all.sh run it.
set -euo pipefail

missing=()
command -v "${CC:-cc}" >/dev/null || missing+=(gcc libc6-dev)
command -v make >/dev/null || missing+=(make)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v readelf >/dev/null || missing+=(binutils)
command -v valgrind >/dev/null || missing+=(valgrind)
# The nats:// tests (tests/nats_transport.rs, cli/tests/cli_bridge.rs) start their own server.
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing+=(iproute2)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps.sh: installing ${missing[*]}" >&2
if ! command -v apt-get >/dev/null; then
    echo "deps.sh: no apt-get here; install these yourself: ${missing[*]}" >&2
    exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq || true
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
