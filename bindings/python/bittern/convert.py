"""Hugging Face checkpoints to GGUF, and GGUF re-quantization (bittern_convert / bittern_quantize)."""
from __future__ import annotations

import ctypes
import os

from . import _lib
from ._lib import lib


def _params(weight_type, head_type, zero_threshold, architecture=None):
    p = lib.bittern_convert_default_params()
    # keep the encoded strings alive for the call
    keep = [None if v is None else str(v).encode("utf-8") for v in (weight_type, head_type, architecture)]
    p.weight_type, p.head_type, p.architecture = keep
    if zero_threshold is not None:
        p.zero_threshold = float(zero_threshold)
    return p, keep


def convert(hf_dir, out_path, weight_type: str = "i2_s", head_type: str = "f16", zero_threshold: float = 0.5,
            architecture: str | None = None) -> None:
    """Converts a Hugging Face checkpoint directory (BitNetForCausalLM bf16 or packed, 1bitLLM's
    BitnetForCausalLM, LlamaForCausalLM with ternary weights) to a GGUF file. weight_type: "i2_s",
    "tq2_0", "tq1_0" (llama.cpp's `bitnet` architecture), "f16", "f32"; head_type: "f16", "q8", "f32".
    Raises BitternError; the output file appears only when complete."""
    p, _keep = _params(weight_type, head_type, zero_threshold, architecture)
    _lib.check(lib.bittern_convert(os.fsencode(hf_dir), os.fsencode(out_path), ctypes.byref(p)))


def quantize(in_path, out_path, weight_type: str, head_type: str | None = None, zero_threshold: float = 0.5) -> None:
    """Re-encodes a GGUF model's ternary projections in weight_type (and the embedding/head in head_type
    when given). Raises BitternError."""
    p, _keep = _params(weight_type, head_type, zero_threshold)
    _lib.check(lib.bittern_quantize(os.fsencode(in_path), os.fsencode(out_path), ctypes.byref(p)))
