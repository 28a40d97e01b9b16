"""Loading libbittern.so and declaring the C API of include/bittern.h for ctypes.

The library is searched, in order:
  1. $BITTERN_LIBRARY (a file, or a directory holding libbittern.so);
  2. a libbittern.so* inside this package's directory (a packager may ship it there);
  3. build/lib/libbittern.so in this package's directory or any directory above it, then in the
     current working directory or any directory above it (a Bittern checkout after scripts/build.sh).
"""
from __future__ import annotations

import ctypes
import glob
import os
from ctypes import (POINTER, Structure, c_bool, c_char_p, c_float, c_int8, c_int32, c_size_t, c_uint32,
                    c_void_p)

# ---- statuses (bittern.h) ----------------------------------------------------------------------------
OK = 0
E_INVALID_ARGUMENT = -1
E_IO = -2
E_FORMAT = -3
E_UNSUPPORTED = -4
E_OUT_OF_MEMORY = -5
E_INTERNAL = -6
E_CONTEXT_FULL = -7

STATUS_NAMES = {
    OK: "OK",
    E_INVALID_ARGUMENT: "BITTERN_E_INVALID_ARGUMENT",
    E_IO: "BITTERN_E_IO",
    E_FORMAT: "BITTERN_E_FORMAT",
    E_UNSUPPORTED: "BITTERN_E_UNSUPPORTED",
    E_OUT_OF_MEMORY: "BITTERN_E_OUT_OF_MEMORY",
    E_INTERNAL: "BITTERN_E_INTERNAL",
    E_CONTEXT_FULL: "BITTERN_E_CONTEXT_FULL",
}


class BitternError(RuntimeError):
    """A call into libbittern failed. `.status` is the bittern_status (one of the E_* constants),
    `.message` the text of bittern_last_error()."""

    def __init__(self, status: int, message: str):
        self.status = int(status)
        self.message = message
        name = STATUS_NAMES.get(self.status, "status %d" % self.status)
        super().__init__("%s (%s)" % (message, name))


class LibraryNotFoundError(ImportError):
    """libbittern.so could not be found or loaded."""


# ---- finding the library ---------------------------------------------------------------------------

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _ancestors(start: str):
    d = os.path.abspath(start)
    while True:
        yield d
        parent = os.path.dirname(d)
        if parent == d:
            return
        d = parent


def _candidates():
    """Yields (path, how it was found) in search order; paths need not exist."""
    env = os.environ.get("BITTERN_LIBRARY")
    if env:
        if os.path.isdir(env):
            yield os.path.join(env, "libbittern.so"), "$BITTERN_LIBRARY directory"
        else:
            yield env, "$BITTERN_LIBRARY"
    inside = sorted(glob.glob(os.path.join(_PACKAGE_DIR, "libbittern.so*")))
    if inside:
        for p in inside:
            yield p, "package directory"
    else:
        yield os.path.join(_PACKAGE_DIR, "libbittern.so*"), "package directory"
    seen = set()
    for start, how in ((_PACKAGE_DIR, "above the package"), (os.getcwd(), "above the working directory")):
        for d in _ancestors(start):
            p = os.path.join(d, "build", "lib", "libbittern.so")
            if p not in seen:
                seen.add(p)
                yield p, how


def find_library() -> str:
    """Path of the libbittern.so that `import bittern` loads (raises LibraryNotFoundError)."""
    looked = []
    for path, how in _candidates():
        if "*" not in path and os.path.isfile(path):
            return path
        looked.append("%s (%s)" % (path, how))
    raise LibraryNotFoundError(
        "libbittern.so not found. Build it with scripts/build.sh in a Bittern checkout and run from there, "
        "or set BITTERN_LIBRARY to its path. Looked in:\n  " + "\n  ".join(looked))


def _load():
    path = find_library()
    try:
        return ctypes.CDLL(path), path
    except OSError as e:
        raise LibraryNotFoundError("cannot load %s: %s" % (path, e)) from e


lib, library_path = _load()

# ---- types --------------------------------------------------------------------------------------------


class RuntimeParams(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("n_threads", c_int32),
        ("backend", c_char_p),
        ("numa_policy", c_char_p),
        ("topology", c_char_p),
        ("use_smt", c_int32),
    ]


class QuantParams(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("zero_threshold", c_float),
    ]


PROGRESS_FN = ctypes.CFUNCTYPE(None, c_float, c_void_p)


class ModelParams(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("head_type", c_char_p),
        ("progress", PROGRESS_FN),
        ("progress_user_data", c_void_p),
    ]


class ContextParams(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("n_ctx", c_uint32),
        ("logits_all", c_bool),
    ]


status_t = c_int32
runtime_p = c_void_p
matrix_p = c_void_p
f32_p = POINTER(c_float)
i8_p = POINTER(c_int8)
i32_p = POINTER(c_int32)

# ---- prototypes: every function of include/bittern.h ------------------------------------------------
# Strings the caller must free (char *, from *_describe) are declared c_void_p so that ctypes does not
# convert them and lose the pointer; see take_string().

_PROTOTYPES = {
    # versions, errors
    "bittern_version": (c_char_p, []),
    "bittern_abi_version": (c_uint32, []),
    "bittern_last_error": (c_char_p, []),
    "bittern_string_free": (None, [c_void_p]),
    # backends
    "bittern_backend_count": (c_size_t, []),
    "bittern_backend_name": (c_char_p, [c_size_t]),
    "bittern_backend_supported": (c_bool, [c_size_t]),
    "bittern_plugin_load": (status_t, [c_char_p]),
    # runtime
    "bittern_runtime_default_params": (RuntimeParams, []),
    "bittern_runtime_create": (status_t, [POINTER(RuntimeParams), POINTER(runtime_p)]),
    "bittern_runtime_free": (None, [runtime_p]),
    "bittern_runtime_describe": (c_void_p, [runtime_p]),
    "bittern_runtime_backend": (c_char_p, [runtime_p]),
    "bittern_runtime_n_threads": (c_int32, [runtime_p]),
    # ternary matrices
    "bittern_quant_default_params": (QuantParams, []),
    "bittern_matrix_from_f32": (status_t, [runtime_p, f32_p, c_size_t, c_size_t, POINTER(QuantParams),
                                           POINTER(matrix_p)]),
    "bittern_matrix_from_trits": (status_t, [runtime_p, i8_p, c_size_t, c_size_t, c_float, POINTER(matrix_p)]),
    "bittern_matrix_gemv_f32": (status_t, [matrix_p, f32_p, f32_p]),
    "bittern_matrix_gemm_f32": (status_t, [matrix_p, f32_p, c_size_t, f32_p]),
    "bittern_matrix_gemv_i8": (status_t, [matrix_p, i8_p, i32_p]),
    "bittern_matrix_gemm_i8": (status_t, [matrix_p, i8_p, c_size_t, i32_p]),
    "bittern_matrix_shape": (status_t, [matrix_p, POINTER(c_size_t), POINTER(c_size_t), POINTER(c_float)]),
    "bittern_matrix_describe": (c_void_p, [matrix_p]),
    "bittern_matrix_free": (None, [matrix_p]),
    # models and contexts
    "bittern_model_default_params": (ModelParams, []),
    "bittern_model_load": (status_t, [runtime_p, c_char_p, POINTER(ModelParams), POINTER(c_void_p)]),
    "bittern_model_free": (None, [c_void_p]),
    "bittern_model_describe": (c_void_p, [c_void_p]),
    "bittern_model_n_vocab": (c_int32, [c_void_p]),
    "bittern_context_default_params": (ContextParams, []),
    "bittern_context_create": (status_t, [c_void_p, POINTER(ContextParams), POINTER(c_void_p)]),
    "bittern_context_free": (None, [c_void_p]),
    "bittern_decode": (status_t, [c_void_p, i32_p, c_size_t]),
    "bittern_logits": (f32_p, [c_void_p, c_int32]),
    "bittern_context_reset": (status_t, [c_void_p]),
    "bittern_context_truncate": (status_t, [c_void_p, c_uint32]),
}

for _name, (_restype, _argtypes) in _PROTOTYPES.items():
    _fn = getattr(lib, _name)
    _fn.restype = _restype
    _fn.argtypes = _argtypes

# ---- helpers ------------------------------------------------------------------------------------------


def last_error() -> str:
    msg = lib.bittern_last_error()
    return msg.decode("utf-8", "replace") if msg is not None else ""


def check(status: int) -> None:
    """Raises BitternError for a failing status (reads this thread's message right away)."""
    if status != OK:
        raise BitternError(status, last_error())


def take_string(ptr) -> str:
    """Copies a library-allocated char * into a str and frees it. NULL (a describe that failed on a live
    handle: the library gives no status then) raises BitternError with E_INTERNAL and the message."""
    if not ptr:
        raise BitternError(E_INTERNAL, last_error())
    try:
        return ctypes.string_at(ptr).decode("utf-8", "replace")
    finally:
        lib.bittern_string_free(ptr)
