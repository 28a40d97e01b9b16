#!/usr/bin/env python3
"""Greedy continuations of a Bittern-bundled (2B4T-architecture, I2_S) GGUF computed by Hugging Face
transformers' own BitNet implementation (BitNetForCausalLM with AutoBitLinear layers in offline mode:
ternary weights times weight_scale, per-token int8 absmax activations), a reference written by other
people than Bittern's forward pass and its training code.

    pip install transformers torch gguf numpy
    python3 tools/reference/transformers_greedy.py models/bittern-demo.gguf > models/bittern-demo.transformers.txt

Reads the prompts from the model's .greedy.txt (tools/train/export.py) and writes the same format:
  prompt <ids>   greedy <32 ids>   gap <top-2 logit gap per step>
Weights: the trits and scale of every I2_S tensor become AutoBitLinear(weight = trits, weight_scale = alpha);
norms F32; the F16 token embedding is the tied head. Float32 throughout, eager attention.
"""
import struct
import sys

import numpy as np
import torch
from transformers import BitNetConfig, BitNetForCausalLM
from transformers.integrations.bitnet import AutoBitLinear

ARCH = "bitnet-b1.58"


class Gguf:
    """A minimal GGUF v2/v3 reader written from the format description (gguf-py's reader does not know
    bitnet.cpp's I2_S type id 36): metadata values and each tensor's dims, type and bytes."""
    SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    SIZES = {0: (1, 4), 1: (1, 2), 36: None}   # type -> (block elements, block bytes); I2_S computed below

    def __init__(self, path):
        self.buf = open(path, "rb").read()
        self.pos = 0
        assert self.read(4) == b"GGUF", "not a GGUF file"
        version, n_tensors, n_kv = self.u32(), self.u64(), self.u64()
        assert version in (2, 3)
        self.meta = {}
        for _ in range(n_kv):
            key = self.string()
            self.meta[key] = self.value(self.u32())
        infos = []
        for _ in range(n_tensors):
            name = self.string()
            dims = [self.u64() for _ in range(self.u32())]
            infos.append((name, dims, self.u32(), self.u64()))
        align = self.meta.get("general.alignment", 32)
        base = (self.pos + align - 1) // align * align
        self.tensors = {n: (dims, t, base + off) for n, dims, t, off in infos}

    def read(self, n):
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def u32(self): return struct.unpack("<I", self.read(4))[0]
    def u64(self): return struct.unpack("<Q", self.read(8))[0]
    def string(self): return self.read(self.u64()).decode("utf-8")

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.u32(), self.u64()
            return [self.value(et) for _ in range(n)]
        fmt = self.SCALARS[t]
        return struct.unpack("<" + fmt, self.read(struct.calcsize(fmt)))[0]

    def floats(self, name):
        dims, t, off = self.tensors[name]
        n = int(np.prod(dims))
        dtype = {0: np.float32, 1: np.float16}[t]
        return np.frombuffer(self.buf, dtype=dtype, count=n, offset=off).astype(np.float32).reshape(tuple(reversed(dims)))

    def i2s(self, name):
        dims, t, off = self.tensors[name]
        assert t == 36, f"{name} is not I2_S"
        cols, rows = dims
        return unpack_i2s(np.frombuffer(self.buf, dtype=np.uint8, count=rows * cols // 4 + 32, offset=off), rows, cols)


def unpack_i2s(raw, rows, cols):
    """Inverse of tools/fixtures/make_tiny_bitnet.py pack_i2s: 128-weight blocks of 32 bytes, then an F32 scale."""
    n = rows * cols
    body = np.asarray(raw[: n // 4], dtype=np.uint8).reshape(-1, 32)
    c = np.stack([(body >> 6) & 3, (body >> 4) & 3, (body >> 2) & 3, body & 3], axis=1)   # (blocks, 4, 32)
    trits = c.reshape(-1).astype(np.int8) - 1
    alpha = np.frombuffer(np.asarray(raw[n // 4: n // 4 + 4], dtype=np.uint8).tobytes(), np.float32)[0]
    return trits.reshape(rows, cols), float(alpha)


def main():
    path = sys.argv[1]
    r = Gguf(path)
    hp = {k: r.meta[f"{ARCH}.{k}"] for k in ("vocab_size", "embedding_length", "block_count", "feed_forward_length",
                                                "attention.head_count", "attention.head_count_kv", "context_length",
                                                "rope.freq_base", "attention.layer_norm_rms_epsilon")}
    cfg = BitNetConfig(vocab_size=hp["vocab_size"], hidden_size=hp["embedding_length"],
                       intermediate_size=hp["feed_forward_length"], num_hidden_layers=hp["block_count"],
                       num_attention_heads=hp["attention.head_count"], num_key_value_heads=hp["attention.head_count_kv"],
                       max_position_embeddings=hp["context_length"], rms_norm_eps=hp["attention.layer_norm_rms_epsilon"],
                       rope_parameters={"rope_type": "default", "rope_theta": hp["rope.freq_base"]},
                       tie_word_embeddings=True, hidden_act="relu2", bos_token_id=0, eos_token_id=1)
    cfg._attn_implementation = "eager"
    model = BitNetForCausalLM(cfg).float().eval()
    def floats(name):
        return torch.tensor(r.floats(name))

    def bitlinear(name):
        trits, alpha = r.i2s(name)
        rows, cols = trits.shape
        lin = AutoBitLinear(cols, rows, bias=False, online_quant=False)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(trits, dtype=torch.float32))
            lin.weight_scale.copy_(torch.tensor([alpha]))
        return lin

    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(floats("token_embd.weight"))
        model.model.norm.weight.copy_(floats("output_norm.weight"))
        for l, layer in enumerate(model.model.layers):
            p = f"blk.{l}."
            layer.input_layernorm.weight.copy_(floats(p + "attn_norm.weight"))
            layer.post_attention_layernorm.weight.copy_(floats(p + "ffn_norm.weight"))
            layer.self_attn.attn_sub_norm.weight.copy_(floats(p + "attn_sub_norm.weight"))
            layer.mlp.ffn_sub_norm.weight.copy_(floats(p + "ffn_sub_norm.weight"))
            layer.self_attn.q_proj = bitlinear(p + "attn_q.weight")
            layer.self_attn.k_proj = bitlinear(p + "attn_k.weight")
            layer.self_attn.v_proj = bitlinear(p + "attn_v.weight")
            layer.self_attn.o_proj = bitlinear(p + "attn_output.weight")
            layer.mlp.gate_proj = bitlinear(p + "ffn_gate.weight")
            layer.mlp.up_proj = bitlinear(p + "ffn_up.weight")
            layer.mlp.down_proj = bitlinear(p + "ffn_down.weight")
    model.tie_weights()
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()

    prompts = [line.split()[1:] for line in open(path[:-len(".gguf")] + ".greedy.txt") if line.startswith("prompt ")]
    print("# tools/reference/transformers_greedy.py: transformers %s BitNetForCausalLM (AutoBitLinear, offline "
          "ternary weights) on %s" % (__import__("transformers").__version__, path.split("/")[-1]))
    for ids in prompts:
        ids = [int(x) for x in ids]
        out, gaps = [], []
        with torch.no_grad():
            for _ in range(32):
                logits = model(torch.tensor([ids + out])).logits[0, -1]
                top2 = torch.topk(logits, 2).values
                out.append(int(torch.argmax(logits)))
                gaps.append(float(top2[0] - top2[1]))
        print("prompt " + " ".join(map(str, ids)))
        print("greedy " + " ".join(map(str, out)))
        print("gap " + " ".join("%.5f" % g for g in gaps))


if __name__ == "__main__":
    main()
