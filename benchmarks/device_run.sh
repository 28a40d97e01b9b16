#!/usr/bin/env bash
# One prepared run on a bigger x86 machine (no Swift toolchain needed there): native kernel conformance
# (AVX-512 where present), kernel benches per backend, the sparse bench, and thread scaling of the
# streaming decode pass. Expects build/ from scripts/build.sh and build/devlibs/ holding the shared
# libraries the CLI needs (libhwloc, libnuma, libudev), copied by `benchmarks/device_run.sh --prepare`.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ "${1:-}" = "--prepare" ]; then
    mkdir -p build/devlibs build/tests
    for lib in $(ldd build/bin/bittern-cli | awk '/hwloc|numa|udev/ {print $3}'); do cp -L "$lib" build/devlibs/; done
    mapfile -t kernels < <(ls Sources/BitternKernels/*.c Sources/BitternKernels/*/*.c | grep -v '/float/')
    cc -O2 -static -std=c11 -D_GNU_SOURCE -o build/tests/kernel_conformance_static Tests/c/kernel_conformance.c "${kernels[@]}"
    exit 0
fi
export LD_LIBRARY_PATH="$root/build/devlibs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
out=${OUT:-build/device}
mkdir -p "$out"
{
    echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo
    grep -m1 -o -w -E 'avx512f|avx512bw|avx512_vnni' /proc/cpuinfo | sort -u | tr '\n' ' '; echo
    echo "== conformance (native)"; build/tests/kernel_conformance_static
    echo "== backends"; build/bin/bittern backends
    echo "== bench kernels (1 thread per kernel; streaming with all cores)"
    timeout 240 build/bin/bittern bench kernels --quick
    for t in 1 2 4 8 16; do
        echo "== streaming, $t threads"
        timeout 60 build/bin/bittern bench kernels --quick --stream-only --threads "$t" | tail -3
    done
    echo "== bench sparse"; timeout 150 build/bin/bittern bench sparse --quick --layers 4
} 2>&1 | tee "$out/device_run.txt"
