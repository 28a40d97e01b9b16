"""Models and contexts: load a GGUF ternary model, decode tokens, read logits (bittern_model_*,
bittern_context_*, bittern_decode, bittern_logits)."""
from __future__ import annotations

import ctypes
import json
import os

import numpy as np

from . import _lib
from ._handle import OwnedHandle
from ._lib import lib
from .runtime import runtime_handle


class Model(OwnedHandle):
    """A loaded model (weights shared read-only by any number of contexts).

        m = bittern.Model("model.gguf", progress=lambda f: print(f"{f:.0%}"))
        ctx = m.context(n_ctx=512)
        logits = ctx.decode([1, 2, 3])        # numpy float32 (n_vocab,), for the last token

    Closing the model while contexts live is safe: the library keeps it until the last context goes."""

    _free = staticmethod(lib.bittern_model_free)

    def __init__(self, path, runtime=None, head_type=None, progress=None):
        self._handle = None
        params = lib.bittern_model_default_params()
        head = head_type.encode("utf-8") if head_type is not None else None
        params.head_type = head
        callback = None
        if progress is not None:
            callback = _lib.PROGRESS_FN(lambda fraction, _user: progress(float(fraction)))
            params.progress = callback
        handle = ctypes.c_void_p()
        _lib.check(lib.bittern_model_load(runtime_handle(runtime), os.fsencode(path), ctypes.byref(params),
                                          ctypes.byref(handle)))
        self._handle = handle

    def _h(self):
        if self._handle is None:
            raise ValueError("Model is closed")
        return self._handle

    @property
    def n_vocab(self) -> int:
        return int(lib.bittern_model_n_vocab(self._h()))

    @property
    def info(self) -> dict:
        """bittern_model_describe: architecture, hyperparameters, head type, tensors."""
        return json.loads(_lib.take_string(lib.bittern_model_describe(self._h())))

    def context(self, n_ctx: int = 0, logits_all: bool = False) -> "Context":
        return Context(self, n_ctx=n_ctx, logits_all=logits_all)


class Context(OwnedHandle):
    """A decoding state (KV cache) on a model; use it from one thread at a time."""

    _free = staticmethod(lib.bittern_context_free)

    def __init__(self, model: Model, n_ctx: int = 0, logits_all: bool = False):
        self._handle = None
        if not isinstance(model, Model):
            raise TypeError("model must be a bittern.Model, got %s" % type(model).__name__)
        params = lib.bittern_context_default_params()
        params.n_ctx = int(n_ctx)
        params.logits_all = bool(logits_all)
        handle = ctypes.c_void_p()
        _lib.check(lib.bittern_context_create(model._h(), ctypes.byref(params), ctypes.byref(handle)))
        self._handle = handle
        self._n_vocab = model.n_vocab
        self._last_n = 0

    def _h(self):
        if self._handle is None:
            raise ValueError("Context is closed")
        return self._handle

    def decode(self, tokens) -> np.ndarray:
        """Appends tokens at the current position; returns a copy of the last token's logits.
        Raises BitternError (E_CONTEXT_FULL when the batch would pass n_ctx; the context is unchanged)."""
        t = np.ascontiguousarray(np.asarray(tokens, dtype=np.int32).reshape(-1))
        if t.size == 0:
            raise ValueError("decode needs at least one token")
        _lib.check(lib.bittern_decode(self._h(), t.ctypes.data_as(_lib.i32_p), t.size))
        self._last_n = int(t.size)
        return self.logits(-1)

    def logits(self, i: int = -1) -> np.ndarray:
        """Logits (float32, n_vocab) of token i of the last decode (-1: the last one), copied."""
        p = lib.bittern_logits(self._h(), int(i))
        if not p:
            raise _lib.BitternError(_lib.E_INVALID_ARGUMENT, _lib.last_error())
        return np.ctypeslib.as_array(p, shape=(self._n_vocab,)).copy()

    def reset(self) -> None:
        _lib.check(lib.bittern_context_reset(self._h()))

    def truncate(self, n_tokens: int) -> None:
        """Keeps the first n_tokens positions of the KV cache."""
        _lib.check(lib.bittern_context_truncate(self._h(), int(n_tokens)))
