#!/usr/bin/env python3
"""llama.cpp's side of benchmarks/compare_llamacpp.sh: decode and prefill speed and peak RSS of a GGUF
through llama-cpp-python (run with .venv-bench/bin/python; see benchmarks/setup_llamacpp.sh).
Measures exactly what `bittern bench model` measures: prefill of a 128-token prompt (the fastest of 5 runs),
and 64 greedy tokens decoded one by one after a 16-token prompt (the faster of 2 runs). Prints one JSON line.

    .venv-bench/bin/python benchmarks/llamacpp_model_bench.py MODEL.gguf --threads N
"""
import argparse
import json
import resource
import time

import numpy as np
from llama_cpp import Llama


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    t0 = time.time()
    llm = Llama(model_path=args.model, n_threads=args.threads, n_threads_batch=args.threads, n_ctx=160,
                n_batch=128, verbose=False)
    load = time.time() - t0
    rng = np.random.default_rng(11)
    vocab = llm.n_vocab()
    prompt = [int(t) for t in rng.integers(0, vocab, 128)]
    prefill = []
    for _ in range(5):
        llm.reset()
        s = time.time()
        llm.eval(prompt)
        prefill.append(time.time() - s)
    decode = []
    for _ in range(2):
        llm.reset()
        llm.eval([int(t) for t in rng.integers(0, vocab, 16)])
        s = time.time()
        for _ in range(64):
            nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            llm.eval([nxt])
        decode.append(time.time() - s)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"engine": "llama.cpp", "file": args.model, "threads": args.threads, "load_s": load,
                      "decode_tok_s": 64 / min(decode), "prefill_tok_s": 128 / min(prefill),
                      "peak_rss_bytes": rss}))


if __name__ == "__main__":
    main()
