#!/usr/bin/env bash
# The model commands of the CLI as a newcomer types them, on the bundled model (build/share/bittern):
# run (default model, same seed => same text, one-line errors), perplexity parity with the training code's
# own evaluation (models/bittern-demo.eval.json, within 1%), tokenize, info FILE, and chat through a pty.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/bin/bittern
out=build/tests/cli
mkdir -p "$out"

"$bin" run -p "It is a truth universally acknowledged" -n 48 --seed 11 >"$out/run1.txt" 2>"$out/run1.err"
"$bin" run -p "It is a truth universally acknowledged" -n 48 --seed 11 >"$out/run2.txt" 2>/dev/null
cmp -s "$out/run1.txt" "$out/run2.txt" || { echo "FAIL: the same seed gave different text"; exit 1; }
words=$(tr -cs 'A-Za-z' '\n' <"$out/run1.txt" | grep -c .)
[ "$words" -ge 20 ] || { echo "FAIL: run printed $words words"; cat "$out/run1.txt"; exit 1; }
grep -q "generated 48 tokens" "$out/run1.err" || grep -q "finish: end of generation" "$out/run1.err" \
    || { echo "FAIL: no timing line"; cat "$out/run1.err"; exit 1; }
"$bin" run --help | grep -q -- "--repeat-penalty"

# bad input: one clear line on stderr, non-zero exit
expect_error() {  # expected-status, grep pattern, command...
    local want=$1 pattern=$2; shift 2
    set +e; "$@" >/dev/null 2>"$out/err.txt"; local rc=$?; set -e
    [ "$rc" -eq "$want" ] || { echo "FAIL: '$*' exited $rc, expected $want"; cat "$out/err.txt"; exit 1; }
    [ "$(wc -l <"$out/err.txt")" -eq 1 ] || { echo "FAIL: '$*' printed more than one line"; cat "$out/err.txt"; exit 1; }
    grep -q -- "$pattern" "$out/err.txt" || { echo "FAIL: '$*': no '$pattern' in"; cat "$out/err.txt"; exit 1; }
}
expect_error 2 "unknown option '--bogus'" "$bin" run -p hi --bogus
expect_error 2 "needs a value" "$bin" run -p
expect_error 2 "expects a number" "$bin" run -p hi --temp warm
expect_error 2 "top_p" "$bin" run -p hi --top-p 0
expect_error 2 "give a prompt" "$bin" run
expect_error 1 "cannot open model '/nonexistent.gguf'" "$bin" run -m /nonexistent.gguf -p hi
head -c 100 /dev/urandom >"$out/garbage.gguf"
expect_error 1 "garbage.gguf" "$bin" run -m "$out/garbage.gguf" -p hi
expect_error 1 "no bundled default model" env BITTERN_MODEL=/nonexistent/x.gguf "$bin" run -p hi
expect_error 2 "unknown command" "$bin" frobnicate

# perplexity parity: Bittern on the held-out slice vs PyTorch's evaluation of the same exported weights
"$bin" perplexity -m models/bittern-demo.gguf -f models/bittern-demo.heldout.txt --chunk-size 256 --json >"$out/ppl.json"
python3 - "$out/ppl.json" models/bittern-demo.eval.json <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))
ref = json.load(open(sys.argv[2]))
assert ours["tokens_scored"] == ref["heldout_tokens_scored"], (ours, ref)
rel = abs(ours["perplexity"] - ref["heldout_perplexity"]) / ref["heldout_perplexity"]
print("perplexity parity: bittern %.4f, PyTorch %.4f, difference %.4f%% over %d tokens"
      % (ours["perplexity"], ref["heldout_perplexity"], 100 * rel, ours["tokens_scored"]))
assert rel < 0.01, "perplexity differs by more than 1%"
PY

"$bin" tokenize -p "Hello, world" --ids | grep -qE '^0( [0-9]+)+$'
"$bin" info build/share/bittern/bittern-demo.gguf | grep -q "chat template: bitnet"
python3 Tests/cli/chat_pty.py "$bin"

# convert a transformers checkpoint (packed uint8 2B4T layout) and re-quantize it; both run
hf=Tests/BitternTests/Fixtures/hf
"$bin" convert "$hf/bitnet-packed" -o "$out/conv.gguf" --type tq2_0 --head q8 >"$out/convert.txt"
grep -q "^bitnet: 24 tensors" "$out/convert.txt" && grep -q "blk.0.attn_q.weight *TQ2_0 *zeros .*(exact)" "$out/convert.txt" \
    || { echo "FAIL: convert report"; cat "$out/convert.txt"; exit 1; }
"$bin" quantize "$out/conv.gguf" "$out/conv-tq1.gguf" --type tq1_0 --quiet | grep -q "1.688 bits/weight" \
    || { echo "FAIL: quantize report"; exit 1; }
"$bin" run -m "$out/conv-tq1.gguf" -p "Once upon a time" -n 4 --temp 0 >/dev/null 2>&1
expect_error 1 "no config.json" "$bin" convert /nonexistent -o "$out/x.gguf"
expect_error 2 "unknown type 'q4'" "$bin" convert "$hf/bitnet-packed" -o "$out/x.gguf" --type q4
expect_error 2 "give the output file" "$bin" convert "$hf/bitnet-packed"
expect_error 1 "overwrite the input" "$bin" quantize "$out/conv.gguf" "$out/conv.gguf" --type i2_s
[ ! -e "$out/x.gguf" ] || { echo "FAIL: a failed convert left an output file"; exit 1; }
echo "CLI model commands: ok"
