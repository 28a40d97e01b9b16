#!/usr/bin/env bash
# Every test: kernel conformance (plain and under ASan+UBSan), the C API test with plugins, the
# shipped library's exports, the CLI, the Python bindings, then the Swift Testing suites (last, so
# their closing line is the run's verdict).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="/opt/swift/usr/bin:$PATH"

scripts/setup.sh

echo "== kernel conformance (every backend this CPU runs vs scalar)"
mkdir -p build/tests
kernels=(Sources/BitternKernels/registry.c Sources/BitternKernels/cpu_features.c Sources/BitternKernels/scalar/scalar.c
         Sources/BitternKernels/avx2/avx2.c)
cc -O2 -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -o build/tests/kernel_conformance Tests/c/kernel_conformance.c "${kernels[@]}"
build/tests/kernel_conformance
echo "== kernel conformance under AddressSanitizer + UndefinedBehaviorSanitizer"
cc -O1 -g -std=c11 -D_GNU_SOURCE -fsanitize=address,undefined -fno-sanitize-recover=all \
    -o build/tests/kernel_conformance_asan Tests/c/kernel_conformance.c "${kernels[@]}"
build/tests/kernel_conformance_asan

echo "== C API, plugins, examples"
scripts/run_c_tests.sh

echo "== libbittern.so: exports, dependencies, soname"
lib=build/lib/libbittern.so
extra=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^bittern_' || true)
[ -z "$extra" ] || { echo "FAIL: symbols other than bittern_* exported:"; echo "$extra" | head; exit 1; }
if ldd "$lib" | grep -q 'libswift'; then echo "FAIL: libbittern.so needs the Swift runtime"; ldd "$lib"; exit 1; fi
readelf -d "$lib" | grep -q 'SONAME.*\[libbittern.so.0\]' || { echo "FAIL: SONAME is not libbittern.so.0"; exit 1; }
if [ -f ../shared/checks/api_signatures.c ]; then
    cc -std=c11 -Werror -Wno-unused-variable -fsyntax-only -Iinclude -DSKIP_MODEL -DSKIP_TEXT ../shared/checks/api_signatures.c
fi
echo "exports, dependencies, soname and API signatures: ok"

echo "== CLI"
build/bin/bittern info | grep -q '"backends"'
BITTERN_BACKEND=scalar build/bin/bittern info | grep -q '"backend":"scalar","backend_source":"environment"'
if BITTERN_BACKEND=nope build/bin/bittern info 2>build/tests/cli_err.txt; then echo "FAIL: unknown backend accepted"; exit 1; fi
grep -q "unknown backend 'nope'" build/tests/cli_err.txt
BITTERN_PLUGIN_PATH=build/tests/plugins/scalar_plugin.so build/bin/bittern backends | grep -q scalar_plugin
echo "CLI: ok"

echo "== Python bindings"
python3 -m pip install -q --disable-pip-version-check pytest
set +e
python3 -m pytest -q bindings/python/tests
rc=$?
set -e
# pytest exit 5 means no test was collected: that is a failure here, not a pass.
[ $rc -eq 0 ] || { echo "FAIL: pytest exited with $rc"; exit 1; }
python3 examples/python/matvec.py >/dev/null

echo "== Swift Testing suites"
swift test
