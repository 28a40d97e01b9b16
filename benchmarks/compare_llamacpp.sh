#!/usr/bin/env bash
# Bittern vs llama.cpp on the same 2B4T-shaped file, same threads, in one run (issue: run real models,
# performance). Not part of CI: it needs llama-cpp-python in .venv-bench (benchmarks/setup_llamacpp.sh,
# 15-25 minutes to build) and writes a 1.2 GB model under build/bench (tools/synth_model.py).
#   benchmarks/compare_llamacpp.sh [--rounds R] [--model FILE] [threads...]     (default: 3 rounds, 1 2)
# Prints decode tok/s (64 tokens after a 16-token prompt), prefill tok/s (128-token prompt), peak RSS,
# Bittern/llama.cpp ratios, and Bittern's decode against the read bandwidth measured in the same run.
# This VM's speed drifts by 20-30% within minutes, so the two engines alternate, round after round
# (which goes first alternates too), and the figures are medians over the rounds: each ratio is the median
# of the rounds' own ratios, each engine measured minutes apart at most from the other.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=.venv-bench/bin/python
[ -x "$py" ] || { echo "compare: run benchmarks/setup_llamacpp.sh first (llama-cpp-python in .venv-bench)"; exit 1; }
[ -x build/bin/bittern ] || scripts/build.sh
rounds=3
model=build/bench/synth_2b4t_tq2_0_q8_0.gguf
threads=()
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
        *) threads+=("$1"); shift ;;
    esac
done
[ ${#threads[@]} -gt 0 ] || threads=(1 2)
mkdir -p build/bench
if [ ! -f "$model" ]; then
    [ "$model" = build/bench/synth_2b4t_tq2_0_q8_0.gguf ] || { echo "compare: no file $model"; exit 1; }
    python3 tools/synth_model.py "$model" --type tq2_0 --head q8_0 --arch bitnet
fi
out=build/bench/compare
rm -rf "$out" && mkdir -p "$out"
for r in $(seq 1 "$rounds"); do
    for t in "${threads[@]}"; do
        run_bittern() { build/bin/bittern bench model --model "$model" --threads "$t" --json >"$out/bittern_${t}_$r.json"; }
        run_llama() { "$py" benchmarks/llamacpp_model_bench.py "$model" --threads "$t" >"$out/llamacpp_${t}_$r.json"; }
        if [ $((r % 2)) -eq 1 ]; then run_bittern; run_llama; else run_llama; run_bittern; fi
        echo "round $r/$rounds, $t threads: done" >&2
    done
done
python3 - "$out" "$model" "$rounds" "${threads[@]}" <<'PY'
import json, statistics, sys
out, model, rounds, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
med = statistics.median
print("same file: %s; %d rounds, engines alternating; medians over the rounds" % (model, rounds))
print("%-8s %-10s %12s %12s %10s %s" % ("threads", "engine", "decode t/s", "prefill t/s", "RSS MB", ""))
for t in threads:
    b = [json.load(open("%s/bittern_%s_%d.json" % (out, t, r))) for r in range(1, rounds + 1)]
    l = [json.load(open("%s/llamacpp_%s_%d.json" % (out, t, r))) for r in range(1, rounds + 1)]
    for runs in (b, l):
        extra = ""
        if runs is b:
            extra = "decode moves %.0f%% of the read bandwidth (%.1f GB/s; %.0f MB per token; rounds %s)" % (
                100 * med([x["decode_bandwidth_fraction"] for x in b]), med([x["read_bandwidth_gb_s"] for x in b]),
                b[0]["bytes_per_token"] / 1e6, " ".join("%.0f%%" % (100 * x["decode_bandwidth_fraction"]) for x in b))
        print("%-8s %-10s %12.2f %12.1f %10.0f %s" % (t, runs[0]["engine"], med([x["decode_tok_s"] for x in runs]),
              med([x["prefill_tok_s"] for x in runs]), med([x["peak_rss_bytes"] for x in runs]) / 1e6, extra))
    ratio = lambda key: [x[key] / y[key] for x, y in zip(b, l)]
    d, p, m = ratio("decode_tok_s"), ratio("prefill_tok_s"), ratio("peak_rss_bytes")
    print("%-8s %-10s %11.2fx %11.2fx %9.2fx   per round: decode %s, prefill %s" % (
        t, "ratio", med(d), med(p), med(m), " ".join("%.2f" % x for x in d), " ".join("%.2f" % x for x in p)))
PY
