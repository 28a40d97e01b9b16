#!/usr/bin/env bash
# Builds the C API tests (build/tests/test_api, test_model, test_text, test_convert, test_concurrency), the
# kernel plugins (build/tests/plugins/*.so) and the C examples (build/examples/matvec,
# build/examples/generate) against build/lib/libbittern.so, which scripts/build.sh produces.
# Env: CC (default gcc), CFLAGS_EXTRA (appended, e.g. "-fsanitize=address"), BITTERN_LIBDIR (another
# libbittern.so to link, e.g. a sanitizer build; found through an rpath to it) and BITTERN_TEST_OUT
# (output directory instead of build/tests; examples then go to its examples/ subdirectory).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cc="${CC:-gcc}"
flags=(-std=c11 -Wall -Wextra -Werror -O2 -g)
# shellcheck disable=SC2206
extra=(${CFLAGS_EXTRA:-})
libdir="${BITTERN_LIBDIR:-build/lib}"
out="${BITTERN_TEST_OUT:-build/tests}"
examples="build/examples"
if [ -n "${BITTERN_LIBDIR:-}" ]; then
    link=(-L"$libdir" -lbittern "-Wl,-rpath,$(cd "$libdir" && pwd)" -lm)
    examples="$out/examples"
else
    link=(-Lbuild/lib -lbittern '-Wl,-rpath,$ORIGIN/../lib' -lm)
fi

if [ ! -e "$libdir/libbittern.so" ]; then
    echo "build_c_tests: $libdir/libbittern.so is missing: run scripts/build.sh first" >&2
    exit 1
fi
mkdir -p "$out/plugins" "$examples"

# Plugins: plain C, no Swift; only bittern_kernel_plugin_entry is exported.
plugin() { # plugin OUTPUT SOURCE [extra flags...]
    local name="$1" src="$2"
    shift 2
    "$cc" "${flags[@]}" "${extra[@]}" -shared -fPIC -fvisibility=hidden -Iinclude "$@" "$src" \
        -o "$out/plugins/$name.so"
}
plugin scalar_plugin Tests/c/plugins/scalar_plugin.c
plugin dup_name_plugin Tests/c/plugins/scalar_plugin.c '-DBTP_NAME="scalar"'
plugin bad_abi_plugin Tests/c/plugins/bad_abi_plugin.c
plugin small_struct_plugin Tests/c/plugins/small_struct_plugin.c
plugin declining_plugin Tests/c/plugins/declining_plugin.c
plugin no_entry_plugin Tests/c/plugins/no_entry_plugin.c

"$cc" "${flags[@]}" "${extra[@]}" -pthread -Iinclude Tests/c/test_api.c -o "$out/test_api" "${link[@]}"
"$cc" "${flags[@]}" "${extra[@]}" -Iinclude Tests/c/test_model.c -o "$out/test_model" "${link[@]}"
"$cc" "${flags[@]}" "${extra[@]}" -pthread -Iinclude Tests/c/test_text.c -o "$out/test_text" "${link[@]}"
"$cc" "${flags[@]}" "${extra[@]}" -Iinclude Tests/c/test_convert.c -o "$out/test_convert" "${link[@]}"
"$cc" "${flags[@]}" "${extra[@]}" -pthread -Iinclude Tests/c/test_concurrency.c -o "$out/test_concurrency" "${link[@]}"
"$cc" "${flags[@]}" "${extra[@]}" -Iinclude examples/c/matvec.c -o "$examples/matvec" "${link[@]}"
"$cc" "${flags[@]}" "${extra[@]}" -Iinclude examples/c/generate.c -o "$examples/generate" "${link[@]}"
echo "built $out/test_{api,model,text,convert,concurrency}, $out/plugins/*.so, $examples/{matvec,generate}"
