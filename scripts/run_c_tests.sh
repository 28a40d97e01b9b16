#!/usr/bin/env bash
# Builds and runs the C API acceptance tests and the C examples. Exit status non-zero on any failure.
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

echo "== test_text"
# the bundled model, found next to the library (not through BITTERN_MODEL): the checks expect that model
env -u BITTERN_PLUGIN_PATH -u BITTERN_BACKEND -u BITTERN_TOPOLOGY -u BITTERN_MODEL \
    "$root/build/tests/test_text" "$root/Tests/BitternTests/Fixtures/tokenizer"

echo "== test_convert"
env -u BITTERN_PLUGIN_PATH -u BITTERN_BACKEND -u BITTERN_TOPOLOGY \
    "$root/build/tests/test_convert" "$root/Tests/BitternTests/Fixtures/hf"

echo "== test_concurrency"
env -u BITTERN_PLUGIN_PATH -u BITTERN_BACKEND -u BITTERN_TOPOLOGY -u BITTERN_MODEL "$root/build/tests/test_concurrency"

echo "== examples/c/matvec"
"$root/build/examples/matvec"

echo "== examples/c/generate"
# streams a continuation of its default prompt: the prompt, then more text on stdout, a timing line on
# stderr (a fixed seed, so the check cannot meet an unlucky draw)
gen_out="$root/build/tests/generate_out.txt" gen_err="$root/build/tests/generate_err.txt"
prompt="It is a truth universally acknowledged"
if ! env -u BITTERN_MODEL "$root/build/examples/generate" -n 16 -s 1 >"$gen_out" 2>"$gen_err"; then
    echo "FAIL: examples/c/generate exited non-zero"; cat "$gen_err"; exit 1
fi
cat "$gen_out" "$gen_err"
text=$(cat "$gen_out")
[[ "$text" == "$prompt"* ]] || { echo "FAIL: generate did not print its prompt first"; exit 1; }
[[ "${text#"$prompt"}" =~ [^[:space:]] ]] || { echo "FAIL: generate printed no continuation"; exit 1; }
grep -qE '^prompt: [0-9]+ tokens .*generated: [1-9][0-9]* tokens .*finish: ' "$gen_err" ||
    { echo "FAIL: generate printed no timing line"; exit 1; }
# the same seed gives the same text; an explicit model and prompt work
"$root/build/examples/generate" -m "$root/build/share/bittern/bittern-demo.gguf" -n 16 -s 1 >"$gen_out.2" 2>/dev/null
cmp -s "$gen_out" "$gen_out.2" || { echo "FAIL: generate -s 1 twice gave different text"; exit 1; }
"$root/build/examples/generate" -n 4 "Mr. Darcy" >"$gen_out" 2>/dev/null
text=$(cat "$gen_out")
[[ "$text" == "Mr. Darcy"?* ]] || { echo "FAIL: generate -n 4 PROMPT printed '$text'"; exit 1; }
# bad usage and a missing model file are errors, not crashes
rc=0; "$root/build/examples/generate" -n 0 >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || { echo "FAIL: generate -n 0 exited $rc, not 2"; exit 1; }
rc=0; "$root/build/examples/generate" -m /nonexistent/model.gguf >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { echo "FAIL: generate with a missing model exited $rc, not 1"; exit 1; }
echo "generate: ok"
