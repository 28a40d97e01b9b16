"""TernaryMatrix: ternary weights W ~ alpha * t, t in {-1, 0, +1} (bittern_matrix_*)."""
from __future__ import annotations

import ctypes
import json

import numpy as np

from . import _lib
from ._handle import OwnedHandle
from ._lib import f32_p, i8_p, i32_p, lib
from .runtime import runtime_handle


def _float_input(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


class TernaryMatrix(OwnedHandle):
    """A rows x cols ternary matrix held by the library in its backend's packed layout.

    Build one with TernaryMatrix.from_float(W) (absmean quantization) or TernaryMatrix.from_trits(T, alpha).
    Products:
        m @ x        x float, shape (cols,)   -> float32 (rows,)     bittern_matrix_gemv_f32
        m @ X        X float, shape (n, cols) -> float32 (n, rows)   bittern_matrix_gemm_f32
        m @ q        q int8,  (cols,) / (n, cols) -> exact int32     bittern_matrix_gemv_i8 / gemm_i8
    Float inputs are quantized per token to int8 (absmax), as bittern.h documents; inputs of any other
    dtype than int8 are converted to float32. A matrix may be used from several threads at once, but
    close() must not race with a product."""

    _free = staticmethod(lib.bittern_matrix_free)

    def __init__(self, *args, **kwargs):
        raise TypeError("use TernaryMatrix.from_float(W) or TernaryMatrix.from_trits(T, alpha)")

    @classmethod
    def _wrap(cls, handle: ctypes.c_void_p) -> "TernaryMatrix":
        self = cls.__new__(cls)
        self._handle = handle
        rows, cols, alpha = ctypes.c_size_t(), ctypes.c_size_t(), ctypes.c_float()
        try:
            _lib.check(lib.bittern_matrix_shape(handle, ctypes.byref(rows), ctypes.byref(cols),
                                                ctypes.byref(alpha)))
        except BaseException:
            self.close()
            raise
        self._rows, self._cols, self._alpha = rows.value, cols.value, alpha.value
        return self

    # ---- construction --------------------------------------------------------------------------------

    @classmethod
    def from_float(cls, W, runtime=None, zero_threshold: float = 0.5) -> "TernaryMatrix":
        """Quantizes a 2-D float matrix (rows x cols, output dimension first) with the absmean rule:
        alpha = max(mean|W|, 1e-5), t = sign(w) if |w|/alpha > zero_threshold else 0."""
        W = np.ascontiguousarray(W, dtype=np.float32)
        if W.ndim != 2:
            raise ValueError("W must be 2-D (rows, cols), got shape %s" % (W.shape,))
        params = lib.bittern_quant_default_params()
        params.zero_threshold = float(zero_threshold)
        handle = ctypes.c_void_p()
        _lib.check(lib.bittern_matrix_from_f32(runtime_handle(runtime), W.ctypes.data_as(f32_p), W.shape[0],
                                               W.shape[1], ctypes.byref(params), ctypes.byref(handle)))
        return cls._wrap(handle)

    @classmethod
    def from_trits(cls, T, alpha: float, runtime=None) -> "TernaryMatrix":
        """Wraps ternary weights T (2-D, values in {-1, 0, 1}) with scale alpha (> 0, finite)."""
        T = np.asarray(T)
        if T.ndim != 2:
            raise ValueError("T must be 2-D (rows, cols), got shape %s" % (T.shape,))
        if T.dtype != np.int8:
            if T.size and (T.dtype.kind not in "biuf" or np.any(T != np.trunc(T)) or T.min() < -128
                           or T.max() > 127):
                raise ValueError("trits must be integers in {-1, 0, 1}")
            T = T.astype(np.int8)
        T = np.ascontiguousarray(T)
        handle = ctypes.c_void_p()
        _lib.check(lib.bittern_matrix_from_trits(runtime_handle(runtime), T.ctypes.data_as(i8_p), T.shape[0],
                                                 T.shape[1], ctypes.c_float(float(alpha)),
                                                 ctypes.byref(handle)))
        return cls._wrap(handle)

    # ---- properties -----------------------------------------------------------------------------------

    def _h(self):
        if self._handle is None:
            raise ValueError("TernaryMatrix is closed")
        return self._handle

    @property
    def shape(self) -> tuple:
        return (self._rows, self._cols)

    @property
    def alpha(self) -> float:
        return self._alpha

    @property
    def info(self) -> dict:
        """bittern_matrix_describe as a dict: rows, cols, alpha, zero_fraction, backend, bytes, ..."""
        return json.loads(_lib.take_string(lib.bittern_matrix_describe(self._h())))

    @property
    def backend(self) -> str:
        return self.info["backend"]

    @property
    def closed(self) -> bool:
        return self._handle is None

    # ---- products -------------------------------------------------------------------------------------

    def _check_input(self, x: np.ndarray, name: str) -> None:
        if (x.ndim == 1 and x.shape[0] == self._cols) or (x.ndim == 2 and x.shape[1] == self._cols):
            return
        raise ValueError("%s: input must have shape (%d,) or (n, %d), got %s"
                         % (name, self._cols, self._cols, x.shape))

    def gemv(self, x) -> np.ndarray:
        """y = W x for one float token (quantized to int8 per call); float32 (rows,)."""
        x = _float_input(x)
        if x.ndim != 1 or x.shape[0] != self._cols:
            raise ValueError("gemv: x must have shape (%d,), got %s" % (self._cols, x.shape))
        y = np.empty(self._rows, dtype=np.float32)
        _lib.check(lib.bittern_matrix_gemv_f32(self._h(), x.ctypes.data_as(f32_p), y.ctypes.data_as(f32_p)))
        return y

    def gemm(self, X) -> np.ndarray:
        """Y = X W^T for n float tokens (each row quantized on its own); float32 (n, rows)."""
        X = _float_input(X)
        if X.ndim != 2 or X.shape[1] != self._cols:
            raise ValueError("gemm: X must have shape (n, %d), got %s" % (self._cols, X.shape))
        Y = np.empty((X.shape[0], self._rows), dtype=np.float32)
        if X.shape[0] == 0:
            return Y
        _lib.check(lib.bittern_matrix_gemm_f32(self._h(), X.ctypes.data_as(f32_p), X.shape[0],
                                               Y.ctypes.data_as(f32_p)))
        return Y

    def gemv_i8(self, x) -> np.ndarray:
        """Exact int32 y[i] = sum_j t[i][j] * x[j] for an int8 vector x of shape (cols,)."""
        x = self._int8_input(x)
        if x.ndim != 1 or x.shape[0] != self._cols:
            raise ValueError("gemv_i8: x must have shape (%d,), got %s" % (self._cols, x.shape))
        y = np.empty(self._rows, dtype=np.int32)
        _lib.check(lib.bittern_matrix_gemv_i8(self._h(), x.ctypes.data_as(i8_p), y.ctypes.data_as(i32_p)))
        return y

    def gemm_i8(self, X) -> np.ndarray:
        """Exact int32 products for n int8 tokens X of shape (n, cols); int32 (n, rows)."""
        X = self._int8_input(X)
        if X.ndim != 2 or X.shape[1] != self._cols:
            raise ValueError("gemm_i8: X must have shape (n, %d), got %s" % (self._cols, X.shape))
        Y = np.empty((X.shape[0], self._rows), dtype=np.int32)
        if X.shape[0] == 0:
            return Y
        _lib.check(lib.bittern_matrix_gemm_i8(self._h(), X.ctypes.data_as(i8_p), X.shape[0],
                                              Y.ctypes.data_as(i32_p)))
        return Y

    @staticmethod
    def _int8_input(x) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != np.int8:
            if x.size and (x.dtype.kind not in "biu" or x.min() < -128 or x.max() > 127):
                raise ValueError("int8 products need integer inputs in [-128, 127], got dtype %s" % x.dtype)
            x = x.astype(np.int8)
        return np.ascontiguousarray(x)

    def __matmul__(self, x):
        x = np.asarray(x)
        self._check_input(x, "m @ x")
        if x.dtype == np.int8:
            return self.gemv_i8(x) if x.ndim == 1 else self.gemm_i8(x)
        return self.gemv(x) if x.ndim == 1 else self.gemm(x)

    def __repr__(self):
        state = "closed" if self._handle is None else "alpha=%.6g" % self._alpha
        return "<bittern.TernaryMatrix %dx%d %s>" % (self._rows, self._cols, state)
