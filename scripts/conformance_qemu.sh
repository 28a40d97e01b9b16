#!/usr/bin/env bash
# Kernel conformance for aarch64: cross-compiles the tester with every built-in backend (the x86-only
# ones compile to nothing) and runs it under QEMU user mode twice -- `-cpu max` has dotprod (both NEON
# backends run), `-cpu cortex-a57` has not (neon runs, neon_dotprod must be reported skipped), which
# also exercises the getauxval feature probe. QEMU is correctness only, never a benchmark.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

CC=${AARCH64_CC:-aarch64-linux-gnu-gcc}
QEMU=${QEMU_AARCH64:-qemu-aarch64-static}
for tool in "$CC" "$QEMU"; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "conformance_qemu: '$tool' not found; install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static" >&2
        exit 1
    }
done

mkdir -p build/tests
bin=build/tests/kernel_conformance_aarch64
# Every kernel source except the float helpers the tester does not use; the registry decides what is in.
mapfile -t kernels < <(ls Sources/BitternKernels/*.c Sources/BitternKernels/*/*.c | grep -v '/float/')
"$CC" -O2 -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -static -DBTK_HOW='"qemu"' \
    -o "$bin" Tests/c/kernel_conformance.c "${kernels[@]}"

run() { # $1 = QEMU cpu model, $2 = backend that must be reported skipped (or "")
    local log=build/tests/conformance_qemu_$1.txt
    echo "== qemu-aarch64 -cpu $1"
    "$QEMU" -cpu "$1" "$bin" | tee "$log"
    tail -n 1 "$log" | grep -Eq '^conformance: [1-9][0-9]* passed, 0 failed$' || { echo "FAIL: -cpu $1" >&2; exit 1; }
    grep -Eq '^neon +qemu +bit-exact$' "$log" || { echo "FAIL: neon did not run bit-exact on -cpu $1" >&2; exit 1; }
    if [ -n "$2" ]; then
        grep -Eq "^$2 +qemu +skipped" "$log" || { echo "FAIL: $2 not skipped on -cpu $1" >&2; exit 1; }
    else
        grep -Eq '^neon_dotprod +qemu +bit-exact$' "$log" || { echo "FAIL: neon_dotprod did not run on -cpu $1" >&2; exit 1; }
    fi
}
run max ""
run cortex-a57 neon_dotprod
