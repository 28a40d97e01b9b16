#!/usr/bin/env bash
# Kernel conformance for the AVX-512 backends on any CPU: avx512.c is compiled against SIMDe
# (Debian libsimde-dev, -DBTK_SIMDE) -- the very kernel text the native build runs, with every intrinsic
# emulated -- and checked bit for bit against scalar by the shared tester (-DBTK_EMULATED: no CPU
# feature check). SIMDe is correctness only, never a benchmark.
#   scripts/conformance_simde_x86.sh          plain -O2 build
#   scripts/conformance_simde_x86.sh --asan   ASan + UBSan with exact-size buffers (no read past q's
#                                             64-byte padding or the packed rows goes unnoticed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

CC=${CC:-gcc}
[ -f /usr/include/simde/x86/avx512.h ] || {
    echo "conformance_simde_x86: SIMDe headers not found; apt-get install libsimde-dev" >&2
    exit 1
}

mode=plain
flags=(-O2)
if [ "${1:-}" = "--asan" ]; then
    mode=asan
    flags=(-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -DBTK_TIGHT_ALLOC)
fi
common=(-std=c11 -Wall -Wextra -Werror -Wno-psabi -D_GNU_SOURCE -DBTK_EMULATED -DBTK_SIMDE)

mkdir -p build/tests
bin=build/tests/kernel_conformance_simde_x86_$mode
log=build/tests/conformance_simde_x86_$mode.txt
# -fno-gcse: gcc's PRE pass spends half of a ~40 s compile on the emulated vector bodies, for no benefit
# to a correctness test.
"$CC" "${flags[@]}" "${common[@]}" -fno-gcse -c Sources/BitternKernels/avx512/avx512.c -o "$bin.avx512.o"
"$CC" "${flags[@]}" "${common[@]}" -o "$bin" Tests/c/kernel_conformance.c Tests/c/simde_x86_registry.c \
    Sources/BitternKernels/cpu_features.c Sources/BitternKernels/scalar/scalar.c "$bin.avx512.o"

echo "== SIMDe x86 ($mode): AVX-512 backends emulated, vs scalar"
"$bin" | tee "$log"
for be in avx512_bw avx512_vnni; do
    grep -Eq "^$be +SIMDe +bit-exact$" "$log" || { echo "FAIL: $be not bit-exact under SIMDe ($mode)" >&2; exit 1; }
done
tail -n 1 "$log" | grep -Eq '^conformance: [1-9][0-9]* passed, 0 failed$' || { echo "FAIL: SIMDe x86 ($mode)" >&2; exit 1; }
