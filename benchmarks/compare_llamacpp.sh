#!/usr/bin/env bash
# Bittern vs llama.cpp on the same 2B4T-shaped file, same threads, in one run (issue: run real models,
# performance). Not part of CI: it needs llama-cpp-python in .venv-bench (benchmarks/setup_llamacpp.sh,
# 15-25 minutes to build) and writes a 1.2 GB model under build/bench (tools/synth_model.py).
#   benchmarks/compare_llamacpp.sh [threads...]      (default: 1 2)
# Prints decode tok/s (64 tokens after a 16-token prompt), prefill tok/s (128-token prompt), peak RSS,
# Bittern/llama.cpp ratios, and Bittern's decode against the read bandwidth measured in the same run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=.venv-bench/bin/python
[ -x "$py" ] || { echo "compare: run benchmarks/setup_llamacpp.sh first (llama-cpp-python in .venv-bench)"; exit 1; }
[ -x build/bin/bittern ] || scripts/build.sh
mkdir -p build/bench
model=build/bench/synth_2b4t_tq2_0_q8_0.gguf
[ -f "$model" ] || python3 tools/synth_model.py "$model" --type tq2_0 --head q8_0 --arch bitnet
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 2)
for t in "${threads[@]}"; do
    build/bin/bittern bench model --model "$model" --threads "$t" --json >build/bench/bittern_$t.json
    "$py" benchmarks/llamacpp_model_bench.py "$model" --threads "$t" >build/bench/llamacpp_$t.json
done
python3 - "${threads[@]}" <<'PY'
import json, sys
print("same file: 2B4T shapes, TQ2_0 ternary weights, Q8_0 tied head (arch 'bitnet')")
print("%-8s %-10s %12s %12s %10s %s" % ("threads", "engine", "decode t/s", "prefill t/s", "RSS MB", ""))
for t in sys.argv[1:]:
    b = json.load(open("build/bench/bittern_%s.json" % t))
    l = json.load(open("build/bench/llamacpp_%s.json" % t))
    for r in (b, l):
        extra = ""
        if r is b:
            extra = "decode at %.0f%% of %.1f GB/s read bandwidth (%.0f MB per token)" % (
                100 * r["decode_bandwidth_fraction"], r["read_bandwidth_gb_s"], r["bytes_per_token"] / 1e6)
        print("%-8s %-10s %12.2f %12.1f %10.0f %s" % (t, r["engine"], r["decode_tok_s"], r["prefill_tok_s"],
                                                     r["peak_rss_bytes"] / 1e6, extra))
    print("%-8s %-10s %11.2fx %11.2fx %9.2fx" % (t, "ratio", b["decode_tok_s"] / l["decode_tok_s"],
                                              b["prefill_tok_s"] / l["prefill_tok_s"],
                                              b["peak_rss_bytes"] / l["peak_rss_bytes"]))
PY
