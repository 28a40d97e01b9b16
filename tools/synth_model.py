#!/usr/bin/env python3
"""Writes a GGUF with the exact BitNet b1.58 2B4T shapes and random ternary weights, for benchmarks
(about 1 GB; generated at bench time, never committed).

    pip install gguf numpy
    python3 tools/synth_model.py OUT.gguf [--type tq2_0|tq1_0|i2_s] [--head f16|q8_0] [--arch bitnet|bitnet-b1.58]
                                  [--layers 30] [--seed 1]

Shapes (FORMATS.md): vocab 128256, embedding 2560, 30 layers, FFN 6912, 20 heads of 128, 5 KV heads,
theta 500000, tied head (token_embd only). Weights: trits with P(0) = 0.31 (absmean's zero fraction on
Gaussian weights), one scale per tensor ~ 1/sqrt(cols). Architecture "bitnet" (llama.cpp's name, which its
stock graph runs; Bittern reads it too) by default, so llama.cpp and Bittern can run the same file.
No tokenizer (tokenizer.ggml.model "none"): benchmarks feed token ids.
"""
import argparse
import struct

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize

VOCAB, EMBD, FFN, HEADS, KV_HEADS, HEAD_DIM = 128256, 2560, 6912, 20, 5, 128
I2_S = 36


def pack_tq2_0(trits, alpha):
    """ggml's TQ2_0: blocks of 256 weights, 64 bytes of 2-bit codes (c = t + 1; in each 128-weight half,
    byte m holds weights m, m+32, m+64, m+96 at bits 0, 2, 4, 6), then the scale as F16."""
    c = (trits.reshape(-1, 2, 4, 32).astype(np.uint8) + 1)
    qs = (c[:, :, 0] | (c[:, :, 1] << 2) | (c[:, :, 2] << 4) | (c[:, :, 3] << 6)).reshape(-1, 64)
    d = np.full((qs.shape[0], 1), np.float16(alpha)).view(np.uint8)
    return np.concatenate([qs, d], axis=1).reshape(-1)


def pack_i2_s(trits, alpha):
    """bitnet.cpp's I2_S (x86): blocks of 128, byte p = c[p]<<6 | c[32+p]<<4 | c[64+p]<<2 | c[96+p], then
    one F32 scale and 28 bytes of padding (32 in all)."""
    c = (trits.reshape(-1, 4, 32).astype(np.int16) + 1).astype(np.uint8)
    body = ((c[:, 0] << 6) | (c[:, 1] << 4) | (c[:, 2] << 2) | c[:, 3]).reshape(-1)
    return np.concatenate([body, np.frombuffer(struct.pack("<f", alpha), np.uint8), np.zeros(28, np.uint8)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--type", default="tq2_0", choices=["tq2_0", "tq1_0", "i2_s"])
    ap.add_argument("--head", default="q8_0", choices=["f16", "q8_0"])
    ap.add_argument("--arch", default="bitnet", choices=["bitnet", "bitnet-b1.58"])
    ap.add_argument("--layers", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    arch = args.arch

    w = gguf.GGUFWriter(args.out, arch=arch)
    w.add_name("synthetic 2B4T shapes")
    w.add_uint32(f"{arch}.vocab_size", VOCAB)
    w.add_uint32(f"{arch}.context_length", 4096)
    w.add_uint32(f"{arch}.embedding_length", EMBD)
    w.add_uint32(f"{arch}.block_count", args.layers)
    w.add_uint32(f"{arch}.feed_forward_length", FFN)
    w.add_uint32(f"{arch}.rope.dimension_count", HEAD_DIM)
    w.add_uint32(f"{arch}.attention.head_count", HEADS)
    w.add_uint32(f"{arch}.attention.head_count_kv", KV_HEADS)
    w.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_float32(f"{arch}.rope.freq_base", 500000.0)
    w.add_tokenizer_model("none")

    emb = np.empty((VOCAB, EMBD), np.float32)
    for r in range(0, VOCAB, 8192):
        emb[r:r + 8192] = rng.standard_normal((min(8192, VOCAB - r), EMBD), dtype=np.float32) * 0.02
    if args.head == "q8_0":
        w.add_tensor("token_embd.weight", quantize(emb, T.Q8_0), raw_dtype=T.Q8_0)
    else:
        w.add_tensor("token_embd.weight", emb.astype(np.float16))
    del emb

    def ternary(name, rows, cols):
        t = rng.choice(np.array([-1, 0, 1], np.int8), size=(rows, cols), p=[0.345, 0.31, 0.345])
        alpha = float(np.float16(rng.uniform(0.8, 1.2) / np.sqrt(cols)))
        if args.type == "tq2_0":
            w.add_tensor(name, pack_tq2_0(t, alpha).reshape(rows, -1), raw_dtype=T.TQ2_0)
        elif args.type == "i2_s":
            w.add_tensor(name, pack_i2_s(t, alpha).view(np.int8), raw_shape=(rows, cols), raw_dtype=I2_S)
        else:
            w.add_tensor(name, quantize(t.astype(np.float32) * np.float32(alpha), T.TQ1_0), raw_dtype=T.TQ1_0)

    ones = lambda n: np.ones(n, np.float32)  # noqa: E731
    for l in range(args.layers):
        p = f"blk.{l}."
        w.add_tensor(p + "attn_norm.weight", ones(EMBD))
        ternary(p + "attn_q.weight", EMBD, EMBD)
        ternary(p + "attn_k.weight", KV_HEADS * HEAD_DIM, EMBD)
        ternary(p + "attn_v.weight", KV_HEADS * HEAD_DIM, EMBD)
        w.add_tensor(p + "attn_sub_norm.weight", ones(EMBD))
        ternary(p + "attn_output.weight", EMBD, EMBD)
        w.add_tensor(p + "ffn_norm.weight", ones(EMBD))
        ternary(p + "ffn_gate.weight", FFN, EMBD)
        ternary(p + "ffn_up.weight", FFN, EMBD)
        w.add_tensor(p + "ffn_sub_norm.weight", ones(FFN))
        ternary(p + "ffn_down.weight", EMBD, FFN)
    w.add_tensor("output_norm.weight", ones(EMBD))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file(progress=False)
    w.close()
    print(f"synth_model: wrote {args.out} ({args.type}, head {args.head}, {args.layers} layers, arch {arch})")


if __name__ == "__main__":
    main()
