#!/usr/bin/env bash
# Builds the C API tests (build/tests/test_api, test_model, test_text, test_convert), the
# kernel plugins (build/tests/plugins/*.so) and the C examples (build/examples/matvec,
# build/examples/generate) against build/lib/libbittern.so, which scripts/build.sh produces.
# Env: CC (default gcc), CFLAGS_EXTRA (appended, e.g. "-fsanitize=address").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cc="${CC:-gcc}"
flags=(-std=c11 -Wall -Wextra -Werror -O2 -g)
# shellcheck disable=SC2206
extra=(${CFLAGS_EXTRA:-})
link=(-Lbuild/lib -lbittern '-Wl,-rpath,$ORIGIN/../lib' -lm)

if [ ! -e build/lib/libbittern.so ]; then
    echo "build_c_tests: build/lib/libbittern.so is missing: run scripts/build.sh first" >&2
    exit 1
fi
mkdir -p build/tests/plugins build/examples

# Plugins: plain C, no Swift; only bittern_kernel_plugin_entry is exported.
plugin() { # plugin OUTPUT SOURCE [extra flags...]
    local out="$1" src="$2"
    shift 2
    "$cc" "${flags[@]}" "${extra[@]}" -shared -fPIC -fvisibility=hidden -Iinclude "$@" "$src" \
        -o "build/tests/plugins/$out.so"
}
plugin scalar_plugin Tests/c/plugins/scalar_plugin.c
plugin dup_name_plugin Tests/c/plugins/scalar_plugin.c '-DBTP_NAME="scalar"'
plugin bad_abi_plugin Tests/c/plugins/bad_abi_plugin.c
plugin small_struct_plugin Tests/c/plugins/small_struct_plugin.c
plugin declining_plugin Tests/c/plugins/declining_plugin.c
plugin no_entry_plugin Tests/c/plugins/no_entry_plugin.c

"$cc" "${flags[@]}" "${extra[@]}" -pthread -Iinclude Tests/c/test_api.c -o build/tests/test_api "${link[@]}"
"$cc" "${flags[@]}" "${extra[@]}" -Iinclude Tests/c/test_model.c -o build/tests/test_model "${link[@]}"
"$cc" "${flags[@]}" "${extra[@]}" -pthread -Iinclude Tests/c/test_text.c -o build/tests/test_text "${link[@]}"
"$cc" "${flags[@]}" "${extra[@]}" -Iinclude Tests/c/test_convert.c -o build/tests/test_convert "${link[@]}"
"$cc" "${flags[@]}" "${extra[@]}" -Iinclude examples/c/matvec.c -o build/examples/matvec "${link[@]}"
"$cc" "${flags[@]}" "${extra[@]}" -Iinclude examples/c/generate.c -o build/examples/generate "${link[@]}"
echo "built build/tests/test_api, build/tests/test_model, build/tests/test_text, build/tests/test_convert, build/tests/plugins/*.so," \
    "build/examples/matvec, build/examples/generate"
