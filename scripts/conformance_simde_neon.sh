#!/usr/bin/env bash
# Kernel conformance for the NEON backends on x86: neon.c built against SIMDe's NEON emulation
# (-DBTK_SIMDE), with a registry of scalar + both NEON backends, run without feature checks
# (-DBTK_EMULATED). Once plain, once under ASan + UBSan (SIMDe's C fallbacks make out-of-bounds loads
# and overflows visible that the real instructions would hide).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

CC=${CC:-gcc}
[ -f /usr/include/simde/arm/neon.h ] || echo | "$CC" -E -include simde/arm/neon.h - >/dev/null 2>&1 || {
    echo "conformance_simde_neon: SIMDe headers (simde/arm/neon.h) not found; install libsimde-dev" >&2
    exit 1
}

mkdir -p build/tests
srcs=(Tests/c/kernel_conformance.c Tests/c/simde_neon_registry.c Sources/BitternKernels/scalar/scalar.c
      Sources/BitternKernels/neon/neon.c)
flags=(-std=c11 -D_GNU_SOURCE -DBTK_EMULATED -DBTK_SIMDE)

check() { # $1 = log file
    tail -n 1 "$1" | grep -Eq '^conformance: [1-9][0-9]* passed, 0 failed$' || { echo "FAIL: $1" >&2; exit 1; }
    for be in neon neon_dotprod; do
        grep -Eq "^$be +SIMDe +bit-exact$" "$1" || { echo "FAIL: $be not bit-exact in $1" >&2; exit 1; }
    done
}

echo "== NEON backends against SIMDe"
"$CC" -O2 -Wall -Wextra -Werror "${flags[@]}" -o build/tests/kernel_conformance_simde_neon "${srcs[@]}"
build/tests/kernel_conformance_simde_neon | tee build/tests/conformance_simde_neon.txt
check build/tests/conformance_simde_neon.txt

echo "== NEON backends against SIMDe, AddressSanitizer + UndefinedBehaviorSanitizer"
"$CC" -O1 -g "${flags[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all \
    -o build/tests/kernel_conformance_simde_neon_asan "${srcs[@]}"
build/tests/kernel_conformance_simde_neon_asan | tee build/tests/conformance_simde_neon_asan.txt
check build/tests/conformance_simde_neon_asan.txt
