#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (Tests/fuzz/corpus/<target>/) and the tiny Hugging Face
checkpoint fuzz_safetensors converts (Tests/fuzz/template/). Deterministic; run from the repository root
after scripts/build.sh (the GGUF seeds include a conversion of the template by build/bin/bittern).

    python3 Tests/fuzz/make_seeds.py
"""
import json
import os
import shutil
import struct
import subprocess

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
          r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def byte_chars():
    """GPT-2's byte-to-character table (printable bytes map to themselves, the rest above U+0100)."""
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return [out[b] for b in range(256)]


def safetensors(tensors):
    header, data, off = {}, b"", 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def bf16(a):
    return (np.asarray(a, np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()


def template(d):
    """BitNetForCausalLM, vocab 1024 (the 256 byte tokens, padded; room for the SentencePiece seed's 1000
    pieces), hidden 8, one layer: a few tens of KB."""
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(5)
    e, f, v, kv = 8, 8, 1024, 4
    t = {"model.embed_tokens.weight": ("BF16", [v, e], bf16(rng.standard_normal((v, e)))),
         "model.norm.weight": ("BF16", [e], bf16(np.ones(e)))}
    p = "model.layers.0."
    shapes = {"self_attn.q_proj": [e, e], "self_attn.k_proj": [kv, e], "self_attn.v_proj": [kv, e],
              "self_attn.o_proj": [e, e], "mlp.gate_proj": [f, e], "mlp.up_proj": [f, e], "mlp.down_proj": [e, f]}
    for name, shape in shapes.items():
        t[p + name + ".weight"] = ("BF16", shape, bf16(rng.standard_normal(shape) * 0.02))
    for name, n in [("input_layernorm", e), ("post_attention_layernorm", e), ("self_attn.attn_sub_norm", e),
                    ("mlp.ffn_sub_norm", f)]:
        t[p + name + ".weight"] = ("BF16", [n], bf16(np.ones(n)))
    with open(os.path.join(d, "model.safetensors"), "wb") as fh:
        fh.write(safetensors(t))
    cfg = {"architectures": ["BitNetForCausalLM"], "model_type": "bitnet", "vocab_size": v, "hidden_size": e,
           "intermediate_size": f, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
           "hidden_act": "relu2", "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
           "tie_word_embeddings": True, "bos_token_id": 0, "eos_token_id": 1}
    with open(os.path.join(d, "config.json"), "w") as fh:
        json.dump(cfg, fh)
    chars = byte_chars()
    tok = {"version": "1.0", "added_tokens": [{"id": 0, "content": chars[0], "special": True}],
           "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
               {"type": "Split", "pattern": {"Regex": LLAMA3}, "behavior": "Isolated", "invert": False},
               {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
           "decoder": {"type": "ByteLevel"},
           "model": {"type": "BPE", "vocab": {c: i for i, c in enumerate(chars)}, "merges": []}}
    with open(os.path.join(d, "tokenizer.json"), "w") as fh:
        json.dump(tok, fh, ensure_ascii=False)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as fh:
        json.dump({"chat_template": "{% for m in messages %}<|im_start|>{{ m['role'] }}{% endfor %}"}, fh)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as fh:
        fh.write(data)


def main():
    tdir = os.path.join(HERE, "template")
    shutil.rmtree(tdir, ignore_errors=True)
    template(tdir)
    shutil.rmtree(os.path.join(HERE, "corpus"), ignore_errors=True)
    read = lambda p: open(p, "rb").read()
    # safetensors: selector byte, then the file it replaces
    write("safetensors", "weights", b"\x00" + read(os.path.join(tdir, "model.safetensors")))
    write("safetensors", "config", b"\x01" + read(os.path.join(tdir, "config.json")))
    write("safetensors", "tokenizer", b"\x02" + read(os.path.join(tdir, "tokenizer.json")))
    fx = os.path.join(ROOT, "Tests", "BitternTests", "Fixtures")
    fx_tok = os.path.join(fx, "tokenizer")
    names = json.loads(read(os.path.join(tdir, "model.safetensors"))[8:].split(b"}}")[0].decode() + "}}").keys()
    index = {"metadata": {}, "weight_map": {n: "model-00001-of-00001.safetensors" for n in names}}
    write("safetensors", "index", b"\x03" + json.dumps(index).encode())
    # a SentencePiece model (the tokenizer fixture's 1000 pieces, within the template's vocab_size)
    write("safetensors", "sentencepiece", b"\x04" + read(os.path.join(fx_tok, "spm_llama.model")))
    # GGUF: the repository's fixtures and the template converted (it has a tokenizer and a chat template)
    for f in ["small_v2.gguf", "ternary_v3.gguf"]:
        write("gguf", f, read(os.path.join(fx, f)))
    out = os.path.join(HERE, "corpus", "gguf", "template-f16.gguf")
    subprocess.run([os.path.join(ROOT, "build", "bin", "bittern"), "convert", tdir, "-o", out, "--type", "f16",
                    "--quiet"], check=True, capture_output=True)
    # tokenizer: mode byte (1 add special, 2 parse special, 4 skip special), then text
    texts = [b"Hello, world! It's 2024.", "caf\u00e9 \u4e2d\u6587 \U0001F600 \u0645\u0631\u062d\u0628\u0627".encode(),
             b"  spaces\n\n\ttabs  ", b"<|begin_of_text|>User: hi<|eot_id|>", b"\xff\xfe invalid \xc3\x28 utf8 \xed\xa0\x80"]
    for i, t in enumerate(texts):
        write("tokenizer", "text%d" % i, bytes([i % 8]) + t)
    write("tokenizer", "ids", b"\x00" + struct.pack("<8i", 0, 1, 2, 100, 4095, -1, 4096, -5))
    # chat: template selector (| 0x80 adds the assistant prompt), then role\0content\0...
    write("chat", "two", b"\x81system\x00be brief\x00user\x00hello\x00")
    write("chat", "llama3", b"\x02user\x00hi\x00assistant\x00hello there\x00user\x00more\x00")
    write("chat", "bad-role", b"\x03robot\x00beep\x00")
    # kernels: backend, rows, cols (2 bytes), n, then weight/activation bytes
    rng = np.random.default_rng(9)
    for i, (rows, cols, n) in enumerate([(1, 1, 1), (16, 256, 4), (17, 257, 13), (5, 1199, 2)]):
        write("kernels", "shape%d" % i, bytes([i, rows - 1, (cols - 1) & 255, (cols - 1) >> 8, n - 1]) +
              rng.integers(0, 256, 64, dtype=np.uint8).tobytes())
    print("seeds written under", os.path.join(HERE, "corpus"))


if __name__ == "__main__":
    main()
