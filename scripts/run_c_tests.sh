#!/usr/bin/env bash
# Builds and runs the C API acceptance test and the C example. Exit status non-zero on any failure.
# Needs build/lib/libbittern.so (scripts/build.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

"$root/scripts/build_c_tests.sh"

echo "== test_api"
# hermetic: no plugin auto-loading or backend/topology overrides from the caller's environment
env -u BITTERN_PLUGIN_PATH -u BITTERN_BACKEND -u BITTERN_TOPOLOGY \
    "$root/build/tests/test_api" "$root/build/tests/plugins"

echo "== test_model"
env -u BITTERN_PLUGIN_PATH -u BITTERN_BACKEND -u BITTERN_TOPOLOGY \
    "$root/build/tests/test_model" "$root/Tests/BitternTests/Fixtures/tiny_bitnet.gguf"

echo "== examples/c/matvec"
"$root/build/examples/matvec"
