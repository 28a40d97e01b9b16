"""matvec.py -- Bittern's matrix API from Python (the twin of examples/c/matvec.c).

Quantizes a random 2560 x 2560 float matrix to ternary weights, multiplies it by one token and by a
batch of 8, compares with a numpy reference of the formulas in bittern.h, and times the product.

    pip install bindings/python        # once; the library is found in build/lib (or $BITTERN_LIBRARY)
    python3 examples/python/matvec.py
"""
import sys
import time

import numpy as np

import bittern

ROWS, COLS, N_TOKENS, TIMED_CALLS = 2560, 2560, 8, 20


def reference(W, X):
    """The float reference: absmean trits * alpha, per-token absmax int8 activations."""
    alpha = max(np.float32(np.cumsum(np.abs(W.astype(np.float64)).ravel())[-1] / W.size), np.float32(1e-5))
    T = np.where(np.abs(W) * (np.float32(1) / alpha) > np.float32(0.5), np.sign(W), 0).astype(np.int32)
    s = np.float32(127) / np.maximum(np.abs(X).max(axis=1, keepdims=True), np.float32(1e-5))
    Q = np.clip(np.rint(X * s), -128, 127).astype(np.int32)
    return (Q @ T.T).astype(np.float32) * (alpha / s)


def max_relative_error(want, got):
    nz = want != 0
    return float(np.max(np.abs(got[nz] - want[nz]) / np.abs(want[nz]))) if nz.any() else 0.0


def main():
    rng = np.random.default_rng(1)
    W = (0.02 * rng.uniform(-1, 1, (ROWS, COLS))).astype(np.float32)
    X = rng.uniform(-1, 1, (N_TOKENS, COLS)).astype(np.float32)

    # A runtime with default params: automatic backend and threads. The matrix keeps its runtime alive,
    # so closing the runtime at the end of the with-block is fine.
    with bittern.Runtime() as rt:
        print("bittern %s, backend %s, %d threads" % (bittern.version(), rt.backend, rt.n_threads))
        m = bittern.TernaryMatrix.from_float(W, runtime=rt)

    want = reference(W, X)
    err_gemv = max_relative_error(want[0], m @ X[0])  # one token: gemv
    err_gemm = max_relative_error(want, m @ X)  # 8 tokens: gemm
    print("max relative error vs the float reference: gemv %.3g, gemm (n=%d) %.3g" % (err_gemv, N_TOKENS,
                                                                                       err_gemm))
    print("matrix:", m.info)

    x = X[0]
    m @ x  # warm-up
    t0 = time.perf_counter()
    for _ in range(TIMED_CALLS):
        m @ x
    seconds = time.perf_counter() - t0
    print("gemv: %.1f us per call, %.2f G weights/s" % (1e6 * seconds / TIMED_CALLS,
                                                        ROWS * COLS * TIMED_CALLS / seconds / 1e9))
    m.close()
    if max(err_gemv, err_gemm) > 1e-5:
        print("results differ from the reference by more than 1e-5", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
