"""Sampler chains (bittern_sampler_*): pick the next token from a context's logits."""
from __future__ import annotations

import ctypes

import numpy as np

from . import _lib
from ._handle import OwnedHandle
from ._lib import lib


def _seed(seed) -> int:
    """None -> BITTERN_SEED_RANDOM; else an int in [0, 2**64 - 1] (2**64 - 1 also means random)."""
    if seed is None:
        return _lib.SEED_RANDOM
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError("seed must be an int or None, got %s" % type(seed).__name__)
    seed = int(seed)
    if not 0 <= seed <= _lib.SEED_RANDOM:
        raise ValueError("seed must be in [0, 2**64 - 1], got %d" % seed)
    return seed


def sampler_params(temperature=0.8, top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.1, repeat_last_n=64,
                   presence_penalty=0.0, frequency_penalty=0.0, seed=None) -> _lib.SamplerParams:
    """A bittern_sampler_params (size set by bittern_sampler_default_params) with these values. The
    library checks the ranges when the params are used."""
    p = lib.bittern_sampler_default_params()
    p.temperature = float(temperature)
    p.top_k = int(top_k)
    p.top_p = float(top_p)
    p.min_p = float(min_p)
    p.repeat_penalty = float(repeat_penalty)
    p.penalty_last_n = int(repeat_last_n)
    p.presence_penalty = float(presence_penalty)
    p.frequency_penalty = float(frequency_penalty)
    p.seed = _seed(seed)
    return p


class Sampler(OwnedHandle):
    """A sampler chain for a model's vocabulary, with its own penalty history and random state.

    Sampler(model, temperature=..., ...) builds the standard chain (logit bias -> penalties -> top-k ->
    top-p -> min-p -> temperature -> draw; temperature <= 0 is greedy after the penalties). Compose your
    own with Sampler.chain(model, seed) and the add_* methods (each returns the sampler):

        s = bittern.Sampler.chain(model, seed=42).add_penalties(64, 1.1).add_top_k(40).add_temperature(0.7).add_dist()
        ctx = model.context()
        ctx.decode(model.tokenize("Hello"))
        for _ in range(20):
            t = s.sample(ctx)
            if model.is_eog(t):
                break
            s.accept(t)
            ctx.decode([t])

    A chain with no add_greedy / add_dist takes the most likely remaining token. The same seed, model,
    prompt and parameters give the same tokens on every machine. Pass a sampler to generate(sampler=...)
    to use (and update) it there; it must not be used by two calls at once.

    Raises BitternError E_INVALID_ARGUMENT for a parameter out of range (top_p outside (0, 1], min_p
    outside [0, 1], top_k < 0, repeat_penalty <= 0, repeat_last_n < -1, a non-finite temperature)."""

    _free = staticmethod(lib.bittern_sampler_free)

    def __init__(self, model, temperature=0.8, top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.1,
                 repeat_last_n=64, presence_penalty=0.0, frequency_penalty=0.0, seed=None):
        self._handle = None
        params = sampler_params(temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n,
                                presence_penalty, frequency_penalty, seed)
        handle = ctypes.c_void_p()
        _lib.check(lib.bittern_sampler_create(_model_handle(model), ctypes.byref(params), ctypes.byref(handle)))
        self._handle = handle
        self._n_vocab = model.n_vocab

    @classmethod
    def chain(cls, model, seed=None) -> "Sampler":
        """An empty chain (seed None: drawn from the system), to compose with the add_* methods."""
        handle = ctypes.c_void_p()
        _lib.check(lib.bittern_sampler_create_chain(_model_handle(model), _seed(seed), ctypes.byref(handle)))
        self = cls.__new__(cls)
        self._handle = handle
        self._n_vocab = model.n_vocab
        return self

    @classmethod
    def greedy(cls, model) -> "Sampler":
        """A chain that always takes the most likely token (no penalties)."""
        return cls.chain(model, seed=0).add_greedy()

    def _h(self):
        if self._handle is None:
            raise ValueError("Sampler is closed")
        return self._handle

    # ---- composing -----------------------------------------------------------------------------------

    def add_logit_bias(self, bias) -> "Sampler":
        """Adds bias[token] to the token's logit (a mapping token -> bias, or pairs; -inf bans a token).
        Raises BitternError E_INVALID_ARGUMENT for a token outside the vocabulary or a NaN/+inf bias."""
        items = list(bias.items()) if hasattr(bias, "items") else list(bias)
        n = len(items)
        tokens = (ctypes.c_int32 * max(n, 1))(*[int(t) for t, _ in items])
        values = (ctypes.c_float * max(n, 1))(*[float(b) for _, b in items])
        _lib.check(lib.bittern_sampler_add_logit_bias(self._h(), n, tokens, values))
        return self

    def add_penalties(self, last_n: int = 64, repeat: float = 1.1, frequency: float = 0.0,
                      presence: float = 0.0) -> "Sampler":
        """Repetition penalties over the last last_n accepted tokens (-1: all): a positive logit is
        divided by `repeat`, a negative one multiplied; then frequency * count + presence * (count > 0)
        is subtracted."""
        _lib.check(lib.bittern_sampler_add_penalties(self._h(), int(last_n), float(repeat), float(frequency),
                                                     float(presence)))
        return self

    def add_top_k(self, k: int) -> "Sampler":
        """Keeps the k most likely tokens (k > 0)."""
        _lib.check(lib.bittern_sampler_add_top_k(self._h(), int(k)))
        return self

    def add_top_p(self, p: float) -> "Sampler":
        """Keeps the most likely tokens whose probabilities add up to p (in (0, 1])."""
        _lib.check(lib.bittern_sampler_add_top_p(self._h(), float(p)))
        return self

    def add_min_p(self, p: float) -> "Sampler":
        """Drops tokens less likely than p times the most likely one (p in [0, 1])."""
        _lib.check(lib.bittern_sampler_add_min_p(self._h(), float(p)))
        return self

    def add_temperature(self, t: float) -> "Sampler":
        """Divides the logits by t (finite)."""
        _lib.check(lib.bittern_sampler_add_temperature(self._h(), float(t)))
        return self

    def add_greedy(self) -> "Sampler":
        """Ends the chain by taking the most likely remaining token."""
        _lib.check(lib.bittern_sampler_add_greedy(self._h()))
        return self

    def add_dist(self) -> "Sampler":
        """Ends the chain by drawing from the remaining tokens' distribution (the sampler's random state)."""
        _lib.check(lib.bittern_sampler_add_dist(self._h()))
        return self

    # ---- using ---------------------------------------------------------------------------------------

    def sample(self, context, i: int = -1) -> int:
        """Picks a token from the logits of token i of the context's last decode (-1: the last one).
        Does not accept it (call accept() for the penalties). Raises BitternError E_INVALID_ARGUMENT when
        the context has no logits (nothing decoded since creation, reset or truncate) or i was not kept."""
        t = lib.bittern_sampler_sample(self._h(), context._h(), int(i))
        if t < 0:
            raise _lib.BitternError(t, _lib.last_error())
        return int(t)

    def accept(self, token: int) -> None:
        """Records a token (prompt or generated) in the penalty window. Raises BitternError
        E_INVALID_ARGUMENT for a token outside the vocabulary."""
        _lib.check(lib.bittern_sampler_accept(self._h(), int(token)))

    def reset(self) -> None:
        """Forgets the recorded tokens and restarts the random sequence from the seed."""
        _lib.check(lib.bittern_sampler_reset(self._h()))

    def __repr__(self):
        return "<bittern.Sampler%s>" % (" (closed)" if self._handle is None else "")


def _model_handle(model):
    from .model import Model  # model.py imports this module

    if not isinstance(model, Model):
        raise TypeError("model must be a bittern.Model, got %s" % type(model).__name__)
    return model._h()
