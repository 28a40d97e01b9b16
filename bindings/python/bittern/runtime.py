"""Runtime: CPU features, backend choice, worker threads (bittern_runtime_*)."""
from __future__ import annotations

import ctypes
import json
import os

from . import _lib
from ._handle import OwnedHandle
from ._lib import lib


def _encode(value, what: str, path: bool = False):
    if value is None:
        return None
    if path:
        return os.fsencode(value)
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise TypeError("%s must be a str, got %s" % (what, type(value).__name__))
    return value.encode("utf-8")


class Runtime(OwnedHandle):
    """A Bittern runtime. Every argument is optional (None = automatic / environment):

    n_threads   worker threads (None or <= 0: one per physical core)
    backend     kernel backend name, e.g. "scalar", "avx2" (see bittern.backends())
    numa_policy "partition", "replicate", "interleave" or "none"
    topology    an hwloc synthetic string ("pack:2 numa:2 core:8 pu:2") or the path of an hwloc XML file
    use_smt     also run workers on SMT siblings (default: one worker per physical core)

    Use it as a context manager or call close(); matrices made with it stay valid after close()
    (the library keeps the runtime alive while a matrix uses it)."""

    _free = staticmethod(lib.bittern_runtime_free)

    def __init__(self, n_threads=None, backend=None, numa_policy=None, topology=None, use_smt=False):
        self._handle = None
        params = lib.bittern_runtime_default_params()
        if n_threads is not None:
            params.n_threads = int(n_threads)
        params.use_smt = 1 if use_smt else 0
        # keep the encoded strings referenced until the call returns
        strings = (_encode(backend, "backend"), _encode(numa_policy, "numa_policy"),
                   _encode(topology, "topology", path=True))
        params.backend, params.numa_policy, params.topology = strings
        handle = ctypes.c_void_p()
        _lib.check(lib.bittern_runtime_create(ctypes.byref(params), ctypes.byref(handle)))
        self._handle = handle

    def _h(self):
        """The handle for ctypes calls (raises ValueError once closed)."""
        if self._handle is None:
            raise ValueError("Runtime is closed")
        return self._handle

    @property
    def closed(self) -> bool:
        return self._handle is None

    @property
    def backend(self) -> str:
        """Name of the backend new matrices use."""
        name = lib.bittern_runtime_backend(self._h())
        if name is None:
            raise _lib.BitternError(_lib.E_INVALID_ARGUMENT, _lib.last_error())
        return name.decode("utf-8")

    @property
    def n_threads(self) -> int:
        n = lib.bittern_runtime_n_threads(self._h())
        if n < 0:
            raise _lib.BitternError(_lib.E_INVALID_ARGUMENT, _lib.last_error())
        return n

    def describe(self) -> dict:
        """Every decision the runtime made (bittern_runtime_describe), as a dict."""
        return json.loads(_lib.take_string(lib.bittern_runtime_describe(self._h())))

    def __repr__(self):
        if self._handle is None:
            return "<bittern.Runtime (closed)>"
        return "<bittern.Runtime backend=%r n_threads=%d>" % (self.backend, self.n_threads)


def runtime_handle(runtime):
    """ctypes argument for an optional runtime: None means the process-wide default runtime (NULL)."""
    if runtime is None:
        return None
    if not isinstance(runtime, Runtime):
        raise TypeError("runtime must be a bittern.Runtime or None, got %s" % type(runtime).__name__)
    return runtime._h()


def describe_default() -> dict:
    """bittern_runtime_describe of the process-wide default runtime."""
    return json.loads(_lib.take_string(lib.bittern_runtime_describe(None)))
