#!/usr/bin/env bash
# Optional: builds llama-cpp-python (llama.cpp + ggml, CPU only, tuned for this CPU) into the
# benchmark venv .venv-bench, so `bittern bench kernels` can time ggml's TQ2_0 mul_mat on the same
# shapes in the same run. Compiles llama.cpp from the PyPI sdist: ~15-25 minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv-bench"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check --upgrade pip
CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF" \
    "$venv/bin/pip" install --disable-pip-version-check --no-cache-dir "llama-cpp-python==0.3.36"
ls "$venv"/lib/python3*/site-packages/llama_cpp/lib/
