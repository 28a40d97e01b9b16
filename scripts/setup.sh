#!/usr/bin/env bash
# One-time (and idempotent) setup on Debian 12 with Swift at /opt/swift, as root:
# system packages, the release build (build/lib/libbittern.so, build/bin/bittern), the C examples,
# and the Python package (pip install bindings/python).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="/opt/swift/usr/bin:$PATH"

# System packages: only when something is missing, so repeated runs stay fast and offline.
need=()
pkg-config --exists hwloc 2>/dev/null || need+=(libhwloc-dev)
pkg-config --exists numa 2>/dev/null || need+=(libnuma-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v cc >/dev/null || need+=(gcc)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" pkg-config >/dev/null
fi

scripts/build.sh
scripts/build_c_tests.sh

# The Python package (numpy comes from PyPI if absent).
python3 -m pip install -q --disable-pip-version-check bindings/python
echo "setup: done. Try: build/bin/bittern run -p \"It is a truth universally acknowledged\", build/bin/bittern chat, build/examples/generate, python3 examples/python/generate.py"
