"""Files `bittern convert` writes with --type tq2_0/tq1_0 (architecture `bitnet`) load and run in
llama.cpp (llama-cpp-python 0.3.36), and llama.cpp tokenizes text as Bittern does. llama.cpp's `bitnet`
graph hard-codes SiLU, so for a ReLU^2 model its logits are not compared, only that it runs.

llama-cpp-python takes 15-25 minutes to build here; benchmarks/setup_llamacpp.sh installs it into
.venv-bench. Without it this test is skipped, with that reason shown."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import bittern

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
FIXTURE = os.path.join(ROOT, "Tests", "BitternTests", "Fixtures", "hf", "bitnet-master")
CLI = os.path.join(ROOT, "build", "bin", "bittern")

CHILD = r"""
import json, sys
import numpy as np
import llama_cpp
path, text = sys.argv[1], sys.argv[2]
m = llama_cpp.Llama(model_path=path, n_ctx=64, n_threads=1, verbose=False, logits_all=True)
toks = m.tokenize(text.encode(), add_bos=True)
m.eval(toks)
logits = np.array(m.scores[len(toks) - 1][: m.n_vocab()])
out = m.create_completion(text, max_tokens=6, temperature=0)
print(json.dumps({"vocab": m.n_vocab(), "tokens": toks, "finite": bool(np.isfinite(logits).all()),
                  "spread": float(logits.std()), "completion": out["choices"][0]["text"]}))
"""


def llamacpp_python():
    """A Python that can import llama_cpp: this one, or the benchmark venv's."""
    candidates = [sys.executable, os.path.join(ROOT, ".venv-bench", "bin", "python")]
    for py in candidates:
        if os.path.exists(py) and subprocess.run([py, "-c", "import llama_cpp"], capture_output=True).returncode == 0:
            return py
    return None


@pytest.mark.parametrize("wtype", ["tq2_0", "tq1_0"])
def test_converted_file_runs_in_llamacpp(tmp_path, wtype):
    py = llamacpp_python()
    if py is None:
        pytest.skip("llama-cpp-python is not installed (benchmarks/setup_llamacpp.sh builds it into .venv-bench)")
    out = str(tmp_path / f"model-{wtype}.gguf")
    subprocess.run([CLI, "convert", FIXTURE, "-o", out, "--type", wtype, "--quiet"], check=True, capture_output=True)
    text = "Once upon a time, there was a fox."
    p = subprocess.run([py, "-c", CHILD, out, text], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    m = bittern.Model(out)
    assert r["vocab"] == m.n_vocab
    assert r["tokens"] == list(m.tokenize(text))
    assert r["finite"] and r["spread"] > 0
    assert isinstance(r["completion"], str)
