"""Bittern: ternary (BitNet b1.58) models and matrices from Python, through libbittern's C API (ctypes + numpy).

    import bittern
    model = bittern.Model()                     # the bundled demo model, or bittern.Model("model.gguf")
    for piece in model.generate("In the beginning", max_tokens=60, seed=1):
        print(piece, end="", flush=True)

    chat = bittern.Chat(model, system="You are helpful.")
    print(chat.ask("Hello!"))

    import numpy as np
    m = bittern.TernaryMatrix.from_float(np.random.randn(256, 512).astype(np.float32))
    y = m @ np.random.randn(512).astype(np.float32)

    bittern.convert("path/to/hf-checkpoint", "model.gguf", weight_type="tq2_0")

The shared library is found via $BITTERN_LIBRARY, a libbittern.so* inside this package, or the
build/lib/libbittern.so of a Bittern checkout above this package or the current directory.
Every library failure raises bittern.BitternError (.status, .message)."""
from __future__ import annotations

import os

from ._lib import (E_ABORTED, E_CONTEXT_FULL, E_FORMAT, E_INTERNAL, E_INVALID_ARGUMENT, E_IO, E_OUT_OF_MEMORY,
                   E_UNSUPPORTED, FINISH_NAMES, OK, SEED_RANDOM, BitternError, LibraryNotFoundError,
                   check as _check, lib as _clib, library_path)
from .convert import convert, quantize
from .generation import Chat, Generation, GenerationResult
from .matrix import TernaryMatrix
from .model import Context, Detokenizer, Model, default_model_path
from .sampling import Sampler
from .runtime import Runtime, describe_default as describe

__all__ = [
    "BitternError", "Chat", "Context", "Detokenizer", "Generation", "GenerationResult", "LibraryNotFoundError",
    "Model", "Runtime", "Sampler", "TernaryMatrix", "abi_version", "backends", "convert", "default_model_path", "describe",
    "library_path", "load_plugin", "quantize", "version", "OK", "E_INVALID_ARGUMENT", "E_IO", "E_FORMAT", "E_UNSUPPORTED",
    "E_OUT_OF_MEMORY", "E_INTERNAL", "E_CONTEXT_FULL", "E_ABORTED", "FINISH_NAMES", "SEED_RANDOM",
]

__version__ = "0.1.0"


def version() -> str:
    """Version of the loaded library, "MAJOR.MINOR.PATCH"."""
    return _clib.bittern_version().decode("ascii")


def abi_version() -> int:
    """BITTERN_ABI_VERSION of the loaded library."""
    return int(_clib.bittern_abi_version())


def backends() -> list:
    """Every known backend (built-in, then loaded plugins) as (name, supported on this CPU)."""
    out = []
    for i in range(_clib.bittern_backend_count()):
        name = _clib.bittern_backend_name(i)
        if name is not None:
            out.append((name.decode("utf-8"), bool(_clib.bittern_backend_supported(i))))
    return out


def load_plugin(path) -> None:
    """Loads a kernel plugin shared object (see include/bittern_kernel.h); its backend is appended to
    backends(). Raises BitternError: E_IO (cannot open), E_FORMAT (no entry point), E_UNSUPPORTED (ABI
    mismatch), E_INVALID_ARGUMENT (a backend of that name exists)."""
    _check(_clib.bittern_plugin_load(os.fsencode(path)))
