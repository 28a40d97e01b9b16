"""The C API acceptance checks again, through the Python package and numpy.

Every supported backend is forced by name and its results compared with a numpy implementation of the
rules in bittern.h: integers exactly, floats within 1e-5 relative. Run from a Bittern checkout after
scripts/build.sh (the library is found via build/lib, or set BITTERN_LIBRARY):
    pip install bindings/python && python3 -m pytest bindings/python/tests -q
"""
import os
import threading

import numpy as np
import pytest

import bittern
from bittern import BitternError

SUPPORTED = [name for name, ok in bittern.backends() if ok]
UNSUPPORTED = [name for name, ok in bittern.backends() if not ok]

# ---------------------------------------------------------------------------------- numpy reference


def ref_ternarize(W, zero_threshold=0.5):
    """alpha = max(mean|W|, 1e-5) summed in double row-major; t = sign(w) if |w|*(1/alpha) > thr."""
    W = np.ascontiguousarray(W, dtype=np.float32)
    total = np.cumsum(np.abs(W.astype(np.float64)).ravel())[-1]  # cumsum adds in order, like the C loop
    alpha = max(np.float32(total / W.size), np.float32(1e-5))
    inv = np.float32(1.0) / alpha
    T = np.where(np.abs(W) * inv > np.float32(zero_threshold), np.sign(W), 0).astype(np.int8)
    return T, np.float32(alpha)


def ref_quantize(x):
    """s = 127/max(max|x|, 1e-5), q = clamp(round_half_even(x*s), -128, 127)."""
    x = np.asarray(x, dtype=np.float32)
    amax = np.max(np.abs(x)) if x.size else np.float32(0)
    s = np.float32(127.0) / np.maximum(amax, np.float32(1e-5))
    q = np.clip(np.rint(x * s), -128, 127).astype(np.int8)
    return q, s


def ref_i8(T, X):
    """Exact int32 products; X is (cols,) or (n, cols)."""
    return (np.asarray(X, np.int64) @ T.astype(np.int64).T).astype(np.int32)


def ref_f32(T, alpha, X):
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 1:
        q, s = ref_quantize(X)
        return ref_i8(T, q).astype(np.float32) * (np.float32(alpha) / s)
    return np.stack([ref_f32(T, alpha, row) for row in X]) if len(X) else np.zeros((0, T.shape[0]), np.float32)


def assert_close(got, want):
    assert got.dtype == np.float32
    assert got.shape == want.shape
    assert np.all(np.isfinite(got))
    bad = np.abs(got.astype(np.float64) - want.astype(np.float64)) > 1e-5 * np.abs(want.astype(np.float64))
    assert not bad.any(), "first mismatch at %s: want %r, got %r" % (
        np.argwhere(bad)[0], want[tuple(np.argwhere(bad)[0])], got[tuple(np.argwhere(bad)[0])])


def tokens(rng, n, cols):
    """n float tokens: random, all zero, tiny (max under the 1e-5 clamp), one spike, wide range (cycled)."""
    X = rng.standard_normal((n, cols)).astype(np.float32)
    for k in range(n):
        kind = k % 5
        if kind == 1:
            X[k] = 0.0
        elif kind == 2:
            X[k] *= np.float32(5e-6)
        elif kind == 3:
            X[k, cols // 2] = 300.0
        elif kind == 4:
            X[k] *= np.float32(1000.0)
    return X


def check_products(m, T, alpha, rng, backend):
    rows, cols = T.shape
    assert m.shape == (rows, cols)
    assert m.alpha == alpha
    info = m.info
    for key in ("rows", "cols", "zero_fraction", "backend", "bytes", "bits_per_weight", "bytes_per_node"):
        assert key in info
    assert info["backend"] == backend
    assert (info["rows"], info["cols"]) == (rows, cols)

    Xi = rng.integers(-128, 128, size=(5, cols), dtype=np.int8)
    Xi[4] = -128
    want_i = ref_i8(T, Xi)
    y = m.gemv_i8(Xi[0])
    assert y.dtype == np.int32 and np.array_equal(y, want_i[0])
    assert np.array_equal(m @ Xi[4], want_i[4])
    Y = m @ Xi
    assert Y.dtype == np.int32 and np.array_equal(Y, want_i)
    assert np.array_equal(m.gemm_i8(Xi), want_i)

    Xf = tokens(rng, 5, cols)
    want_f = ref_f32(T, alpha, Xf)
    assert_close(m @ Xf[0], want_f[0])
    assert_close(m @ Xf[1], want_f[1])  # zero input
    assert_close(m.gemv(Xf[4]), want_f[4])
    assert_close(m @ Xf, want_f)
    assert_close(m @ Xf.astype(np.float64), want_f)  # other float dtypes are converted


# ----------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(params=SUPPORTED)
def runtime(request):
    with bittern.Runtime(backend=request.param) as rt:
        assert rt.backend == request.param
        yield rt


@pytest.fixture(scope="module")
def W257():
    return (np.random.default_rng(7).standard_normal((257, 1000)) * 0.03).astype(np.float32)


# ------------------------------------------------------------------------------- library and runtime


def test_version_and_backends():
    v = bittern.version()
    assert len(v.split(".")) == 3 and all(p.isdigit() for p in v.split("."))
    assert bittern.abi_version() == 1
    names = [n for n, _ in bittern.backends()]
    assert "scalar" in SUPPORTED
    assert len(set(names)) == len(names)


def test_runtime_describe_and_properties():
    with bittern.Runtime(n_threads=1) as rt:
        d = rt.describe()
        for key in ("version", "cpu_features", "backends", "threads", "numa_nodes", "topology"):
            assert key in d
        assert rt.n_threads == 1
        assert rt.backend in SUPPORTED
        assert {b["name"] for b in d["backends"]} >= set(SUPPORTED)
    assert rt.closed
    with pytest.raises(ValueError):
        rt.backend
    rt.close()  # idempotent
    assert "backends" in bittern.describe()


def test_runtime_errors():
    with pytest.raises(BitternError) as e:
        bittern.Runtime(backend="nope")
    assert e.value.status == bittern.E_INVALID_ARGUMENT and e.value.message
    assert isinstance(e.value, RuntimeError)
    for name in UNSUPPORTED:
        with pytest.raises(BitternError) as e:
            bittern.Runtime(backend=name)
        assert e.value.status == bittern.E_UNSUPPORTED


@pytest.mark.parametrize("numa_policy", [None, "partition", "replicate", "interleave", "none"])
def test_synthetic_numa_topology(W257, rng, numa_policy):
    """A 4-node hwloc synthetic topology and 5 threads: results must not depend on the row split."""
    with bittern.Runtime(topology="pack:2 numa:2 core:2 pu:1", numa_policy=numa_policy, n_threads=5) as rt:
        assert rt.n_threads == 5
        assert rt.describe()["numa_nodes"] == 4
        for W in (W257, (rng.standard_normal((17, 129)) * 0.1).astype(np.float32)):
            T, alpha = ref_ternarize(W)
            check_products(bittern.TernaryMatrix.from_float(W, runtime=rt), T, alpha, rng, rt.backend)
    expect_error(bittern.E_INVALID_ARGUMENT, bittern.Runtime, numa_policy="bogus")


def test_matrix_outlives_runtime(W257, rng):
    rt = bittern.Runtime()
    m = bittern.TernaryMatrix.from_float(W257, runtime=rt)
    rt.close()
    T, alpha = ref_ternarize(W257)
    x = rng.standard_normal(1000).astype(np.float32)
    assert_close(m @ x, ref_f32(T, alpha, x))
    m.close()
    m.close()
    with pytest.raises(ValueError):
        m @ x


# ----------------------------------------------------------------------------- every backend, exact


def test_from_float(runtime, W257, rng):
    T, alpha = ref_ternarize(W257)
    m = bittern.TernaryMatrix.from_float(W257, runtime=runtime)
    check_products(m, T, alpha, rng, runtime.backend)
    # any layout and float dtype is converted (C order, float32) first
    m2 = bittern.TernaryMatrix.from_float(np.asfortranarray(W257.astype(np.float64)), runtime=runtime)
    x = rng.integers(-128, 128, size=1000, dtype=np.int8)
    assert m2.alpha == alpha and np.array_equal(m2 @ x, ref_i8(T, x))


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_zero_threshold(runtime, W257, rng, threshold):
    T, alpha = ref_ternarize(W257, threshold)
    m = bittern.TernaryMatrix.from_float(W257, runtime=runtime, zero_threshold=threshold)
    check_products(m, T, alpha, rng, runtime.backend)


def test_from_trits(runtime, rng):
    T = rng.integers(-1, 2, size=(257, 1000)).astype(np.int8)
    m = bittern.TernaryMatrix.from_trits(T, 0.75, runtime=runtime)
    check_products(m, T, np.float32(0.75), rng, runtime.backend)
    # other integer dtypes are accepted
    m2 = bittern.TernaryMatrix.from_trits(T.astype(np.int64), 0.75, runtime=runtime)
    x = rng.integers(-128, 128, size=1000, dtype=np.int8)
    assert np.array_equal(m2 @ x, ref_i8(T, x))


@pytest.mark.parametrize("shape", [(1, 1), (3, 65), (17, 129), (2, 63), (9, 64)])
def test_tails(runtime, rng, shape):
    W = (rng.standard_normal(shape) * 0.02).astype(np.float32)
    T, alpha = ref_ternarize(W)
    check_products(bittern.TernaryMatrix.from_float(W, runtime=runtime), T, alpha, rng, runtime.backend)
    T2 = rng.integers(-1, 2, size=shape).astype(np.int8)
    check_products(bittern.TernaryMatrix.from_trits(T2, 0.125, runtime=runtime), T2, np.float32(0.125), rng,
                   runtime.backend)


def test_round_half_to_even(runtime):
    """Identity weights, alpha 1, max|x| = 127: s = 1 and y = q exactly; halves round to even."""
    x = np.array([127, 0.5, 1.5, 2.5, -0.5, -2.5, 3.5, -3.5, 126.5, -126.5, 0.49999997, -1.5, 4.5, 5.5, -127, 0],
                 np.float32)
    want = np.array([127, 0, 2, 2, 0, -2, 4, -4, 126, -126, 0, -2, 4, 6, -127, 0], np.float32)
    m = bittern.TernaryMatrix.from_trits(np.eye(16, dtype=np.int8), 1.0, runtime=runtime)
    assert np.array_equal(m @ x, want)


def test_all_zero_weights(runtime, rng):
    m = bittern.TernaryMatrix.from_float(np.zeros((4, 70), np.float32), runtime=runtime)
    assert m.alpha == np.float32(1e-5)
    assert not (m @ rng.standard_normal(70)).any()


def test_extreme_16384(runtime):
    m = bittern.TernaryMatrix.from_float(np.ones((5, 16384), np.float32), runtime=runtime)
    assert m.alpha == 1.0
    x = np.full(16384, -128, np.int8)
    assert np.array_equal(m @ x, np.full(5, -128 * 16384, np.int32))
    assert np.array_equal(m @ np.tile(x, (3, 1)), np.full((3, 5), -128 * 16384, np.int32))
    want = np.float32(-127 * 16384) * (np.float32(1.0) / np.float32(127.0))
    assert_close(m @ np.full(16384, -1.0, np.float32), np.full(5, want, np.float32))


# ------------------------------------------------------------------------------------------- errors


def expect_error(status, fn, *args, **kwargs):
    with pytest.raises(BitternError) as e:
        fn(*args, **kwargs)
    assert e.value.status == status, (e.value.status, e.value.message)
    assert e.value.message
    return e.value


def test_bad_weights(W257):
    W = W257.copy()
    W[12, 345] = np.nan  # flat index 12345
    err = expect_error(bittern.E_INVALID_ARGUMENT, bittern.TernaryMatrix.from_float, W)
    assert "12345" in err.message
    W[12, 345] = np.inf
    expect_error(bittern.E_INVALID_ARGUMENT, bittern.TernaryMatrix.from_float, W)
    expect_error(bittern.E_INVALID_ARGUMENT, bittern.TernaryMatrix.from_float, W257, zero_threshold=-0.25)
    expect_error(bittern.E_INVALID_ARGUMENT, bittern.TernaryMatrix.from_float, W257, zero_threshold=float("nan"))
    expect_error(bittern.E_INVALID_ARGUMENT, bittern.TernaryMatrix.from_float, np.zeros((0, 5), np.float32))
    expect_error(bittern.E_INVALID_ARGUMENT, bittern.TernaryMatrix.from_float, np.zeros((5, 0), np.float32))


def test_bad_trits(rng):
    T = rng.integers(-1, 2, size=(8, 8)).astype(np.int8)
    for alpha in (0.0, -1.0, float("nan"), float("inf")):
        expect_error(bittern.E_INVALID_ARGUMENT, bittern.TernaryMatrix.from_trits, T, alpha)
    T[3, 5] = 2
    expect_error(bittern.E_INVALID_ARGUMENT, bittern.TernaryMatrix.from_trits, T, 1.0)
    T[3, 5] = -2
    expect_error(bittern.E_INVALID_ARGUMENT, bittern.TernaryMatrix.from_trits, T, 1.0)
    with pytest.raises(ValueError):
        bittern.TernaryMatrix.from_trits(np.full((2, 2), 0.5), 1.0)
    with pytest.raises(ValueError):
        bittern.TernaryMatrix.from_trits(np.full((2, 2), 300), 1.0)


def test_bad_activations(rng):
    m = bittern.TernaryMatrix.from_float(rng.standard_normal((8, 16)).astype(np.float32))
    x = rng.standard_normal(16).astype(np.float32)
    x[5] = np.nan
    expect_error(bittern.E_INVALID_ARGUMENT, m.__matmul__, x)
    x[5] = -np.inf
    expect_error(bittern.E_INVALID_ARGUMENT, m.__matmul__, x)
    X = rng.standard_normal((3, 16)).astype(np.float32)
    X[2, 15] = np.nan
    expect_error(bittern.E_INVALID_ARGUMENT, m.__matmul__, X)


def test_wrong_shapes(rng):
    m = bittern.TernaryMatrix.from_float(rng.standard_normal((8, 16)).astype(np.float32))
    for bad in (np.zeros(15), np.zeros((2, 17)), np.zeros((2, 2, 16)), np.float32(1.0)):
        with pytest.raises(ValueError):
            m @ bad
    with pytest.raises(ValueError):
        m.gemv(np.zeros((1, 16)))
    with pytest.raises(ValueError):
        m.gemv_i8(np.zeros(15, np.int8))
    with pytest.raises(ValueError):
        m.gemm_i8(np.zeros(16, np.int8))
    with pytest.raises(ValueError):
        bittern.TernaryMatrix.from_float(np.zeros(16))
    with pytest.raises(ValueError):
        bittern.TernaryMatrix.from_trits(np.zeros(16, np.int8), 1.0)
    with pytest.raises(TypeError):
        bittern.TernaryMatrix()
    assert (m @ np.zeros((0, 16), np.float32)).shape == (0, 8)


# ------------------------------------------------------------------------------------------ threads


def test_concurrent_products(rng):
    W = (rng.standard_normal((1024, 2560)) * 0.05).astype(np.float32)
    m = bittern.TernaryMatrix.from_float(W)
    x = rng.standard_normal(2560).astype(np.float32)
    xi = rng.integers(-128, 128, size=2560, dtype=np.int8)
    want, want_i = m @ x, m @ xi
    failures = []

    def work():
        for _ in range(30):
            if not np.array_equal(m @ x, want) or not np.array_equal(m @ xi, want_i):
                failures.append(threading.current_thread().name)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def test_many_handles_released(rng):
    W = rng.standard_normal((16, 32)).astype(np.float32)
    for _ in range(200):
        m = bittern.TernaryMatrix.from_float(W)
        del m
    with bittern.TernaryMatrix.from_float(W) as m:
        assert m.shape == (16, 32)
    assert m.closed


# ------------------------------------------------------------------------------------------ plugins


def plugin_dir():
    d = os.environ.get("BITTERN_TEST_PLUGIN_DIR")
    if d:
        return d
    # build/lib/libbittern.so -> build/tests/plugins (scripts/build_c_tests.sh)
    return os.path.join(os.path.dirname(os.path.dirname(bittern.library_path)), "tests", "plugins")


def test_plugin_errors():
    expect_error(bittern.E_IO, bittern.load_plugin, "/nonexistent/dir/plugin.so")
    d = plugin_dir()
    if not os.path.isfile(os.path.join(d, "bad_abi_plugin.so")):
        pytest.skip("plugins not built (scripts/build_c_tests.sh)")
    before = bittern.backends()
    expect_error(bittern.E_FORMAT, bittern.load_plugin, os.path.join(d, "no_entry_plugin.so"))
    expect_error(bittern.E_UNSUPPORTED, bittern.load_plugin, os.path.join(d, "bad_abi_plugin.so"))
    expect_error(bittern.E_UNSUPPORTED, bittern.load_plugin, os.path.join(d, "small_struct_plugin.so"))
    expect_error(bittern.E_INVALID_ARGUMENT, bittern.load_plugin, os.path.join(d, "dup_name_plugin.so"))
    assert bittern.backends() == before


def test_plugin_backend(W257, rng):
    path = os.path.join(plugin_dir(), "scalar_plugin.so")
    if not os.path.isfile(path):
        pytest.skip("plugins not built (scripts/build_c_tests.sh)")
    if "scalar_plugin" not in [n for n, _ in bittern.backends()]:
        bittern.load_plugin(path)
    assert ("scalar_plugin", True) in bittern.backends()
    assert bittern.backends()[-1][0] == "scalar_plugin"
    expect_error(bittern.E_INVALID_ARGUMENT, bittern.load_plugin, path)  # duplicate name
    with bittern.Runtime(backend="scalar_plugin") as rt:
        T, alpha = ref_ternarize(W257)
        check_products(bittern.TernaryMatrix.from_float(W257, runtime=rt), T, alpha, rng, "scalar_plugin")


def run_python(code, **env):
    """Runs code in a fresh interpreter (environment variables are read at first use)."""
    import subprocess
    import sys
    full_env = dict(os.environ, BITTERN_LIBRARY=bittern.library_path, **env)
    out = subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_plugin_path_environment():
    d = plugin_dir()
    if not os.path.isfile(os.path.join(d, "scalar_plugin.so")):
        pytest.skip("plugins not built (scripts/build_c_tests.sh)")
    code = (
        "import bittern, json\n"
        "d = bittern.describe()\n"
        "print(json.dumps([bittern.backends(), d['plugin_errors'], bittern.Runtime().backend]))\n")
    import json
    backends, errors, chosen = json.loads(run_python(code, BITTERN_PLUGIN_PATH=d, BITTERN_BACKEND="scalar_plugin"))
    assert ["scalar_plugin", True] in backends
    assert chosen == "scalar_plugin"
    # the five broken plugins of the directory are skipped and reported, one message each
    for name in ("bad_abi_plugin", "declining_plugin", "dup_name_plugin", "no_entry_plugin", "small_struct_plugin"):
        assert sum(name in e for e in errors) == 1, (name, errors)


def test_params_win_over_environment():
    code = (
        "import bittern\n"
        "print(bittern.Runtime(backend='scalar').backend)\n"
        "try:\n"
        "    bittern.Runtime()\n"
        "    print('accepted')\n"
        "except bittern.BitternError as e:\n"
        "    print(e.status)\n")
    lines = run_python(code, BITTERN_BACKEND="nope").split()
    assert lines == ["scalar", str(bittern.E_INVALID_ARGUMENT)]
