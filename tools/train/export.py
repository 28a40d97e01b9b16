#!/usr/bin/env python3
"""Exports a tools/train checkpoint to the GGUF file Bittern bundles, and evaluates what it exported.

    python3 tools/train/export.py RUN_DIR DATA_DIR OUT.gguf [--heldout-chars N]

Writes (architecture "bitnet-b1.58", as microsoft/bitnet-b1.58-2B-4T's file):
  - the ternary projections as I2_S (trits and alpha exactly as training's forward pass computed them:
    alpha = max(mean|W|, 1e-5) in float32, trits = clamp(round_half_even(W / alpha), -1, 1));
  - token_embd as F16 (also the tied head), norms as F32;
  - the byte-level BPE tokenizer of DATA_DIR/tokenizer.json under the standard tokenizer.ggml.* keys
    (pre "llama-bpe"), BOS/EOS/EOT, and a chat template of the 2B4T "System:/User:/Assistant:" family.
Then OUT.heldout.txt (the first --heldout-chars characters of the validation text, cut at a paragraph
end) and OUT.eval.json: the perplexity PyTorch computes for the exported weights (embedding rounded to
F16, as stored) on that text in chunks of 256 tokens, the number `bittern perplexity` must reproduce.
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import gguf  # noqa: E402
from model import BitNet, Config, sequence_nll, ternary_weight  # noqa: E402
from make_tiny_bitnet import I2_S, pack_i2s  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from train import eval_chunks, save_small  # noqa: E402

ARCH = "bitnet-b1.58"
EVAL_CHUNK = 256
CHAT_TEMPLATE = ("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}System: "
                 "{% elif message['role'] == 'user' %}User: {% else %}Assistant: {% endif %}"
                 "{{ message['content'] }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}Assistant: {% endif %}")
PROJECTIONS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
NORMS = ["attn_norm", "attn_sub_norm", "ffn_norm", "ffn_sub_norm"]


def write_gguf(path, model, cfg, tok_spec, meta):
    w = gguf.GGUFWriter(path, arch=ARCH)
    w.add_name("bittern-demo")
    w.add_string("general.license", "MIT (weights); training text public domain")
    w.add_string("general.description", meta["description"])
    w.add_uint32(f"{ARCH}.vocab_size", cfg.vocab)
    w.add_uint32(f"{ARCH}.context_length", cfg.ctx)
    w.add_uint32(f"{ARCH}.embedding_length", cfg.embd)
    w.add_uint32(f"{ARCH}.block_count", cfg.layers)
    w.add_uint32(f"{ARCH}.feed_forward_length", cfg.ffn)
    w.add_uint32(f"{ARCH}.rope.dimension_count", cfg.head_dim)
    w.add_uint32(f"{ARCH}.attention.head_count", cfg.heads)
    w.add_uint32(f"{ARCH}.attention.head_count_kv", cfg.kv_heads)
    w.add_float32(f"{ARCH}.attention.layer_norm_rms_epsilon", cfg.eps)
    w.add_float32(f"{ARCH}.rope.freq_base", cfg.theta)

    # Tokenizer: ids in order; added (special) tokens are control tokens.
    vocab = tok_spec["model"]["vocab"]
    tokens = [None] * cfg.vocab
    for t, i in vocab.items():
        tokens[i] = t
    types = [1] * cfg.vocab
    special = {}
    for a in tok_spec["added_tokens"]:
        tokens[a["id"]] = a["content"]
        types[a["id"]] = 3 if a["special"] else 4
        special[a["content"]] = a["id"]
    assert all(t is not None for t in tokens), "vocabulary ids have gaps"
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok_spec["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(special["<|begin_of_text|>"])
    w.add_eos_token_id(special["<|end_of_text|>"])
    w.add_eot_token_id(special["<|eot_id|>"])
    w.add_add_bos_token(True)
    w.add_chat_template(CHAT_TEMPLATE)

    sd = model.state_dict()
    w.add_tensor("token_embd.weight", sd["token_embd.weight"].numpy().astype(np.float16))
    for l in range(cfg.layers):
        p = f"blk.{l}."
        for n in NORMS:
            w.add_tensor(p + n + ".weight", sd[f"blocks.{l}.{n}.weight"].numpy().astype(np.float32))
        for n in PROJECTIONS:
            t, alpha = ternary_weight(sd[f"blocks.{l}.{n}.weight"])
            trits = t.numpy().astype(np.int8)
            rows, cols = trits.shape
            data = np.concatenate([pack_i2s(trits), np.frombuffer(np.float32(alpha.item()).tobytes(), np.uint8),
                                   np.zeros(28, np.uint8)])
            w.add_tensor(p + n + ".weight", data.view(np.int8), raw_shape=(rows, cols), raw_dtype=I2_S)
    w.add_tensor("output_norm.weight", sd["output_norm.weight"].numpy().astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def tok_spec_special(spec, content):
    return next(a["id"] for a in spec["added_tokens"] if a["content"] == content)


def heldout_text(valid_path, chars):
    with open(valid_path, encoding="utf-8") as f:
        text = f.read()
    cut = text.rfind("\n", 0, chars)
    return text[:cut + 1] if cut > 0 else text[:chars]


GREEDY_PROMPTS = ["It is a truth universally acknowledged", "In the beginning", "Call me Ishmael."]
GREEDY_TOKENS = 32


def greedy_reference(model, tok, bos):
    """PyTorch's greedy continuation of each prompt and, per step, the gap between its two best logits
    (Bittern must agree up to the first step where that gap is small enough for one int8 rounding to flip)."""
    lines = []
    for prompt in GREEDY_PROMPTS:
        ids = [bos] + tok.encode(prompt, add_special_tokens=False).ids
        out, gaps = [], []
        with torch.no_grad():
            for _ in range(GREEDY_TOKENS):
                logits = model(torch.tensor([ids + out]))[0, -1]
                top2 = torch.topk(logits, 2).values
                out.append(int(torch.argmax(logits)))
                gaps.append(float(top2[0] - top2[1]))
        lines.append("prompt " + " ".join(map(str, ids)))
        lines.append("greedy " + " ".join(map(str, out)))
        lines.append("gap " + " ".join(f"{g:.5f}" for g in gaps))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--heldout-chars", type=int, default=12000)
    ap.add_argument("--small-checkpoint", help="also write the BF16 weights checkpoint (train.py --init-from) here")
    args = ap.parse_args()
    torch.set_num_threads(1)

    state = torch.load(os.path.join(args.run, "checkpoint.pt"), weights_only=False)
    cfg = Config(**state["config"])
    model = BitNet(cfg)
    model.load_state_dict(state["model"])
    model.eval()
    with open(os.path.join(args.data, "tokenizer.json")) as f:
        tok_spec = json.load(f)

    description = (f"Bittern's bundled demo model: BitNet b1.58 2B4T architecture, {model.n_params() / 1e6:.2f} M "
                   f"parameters, trained {state['step']} steps on public-domain English (tools/train)")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_gguf(args.out, model, cfg, tok_spec, {"description": description})

    # Evaluate what was exported: the embedding as stored (F16).
    with torch.no_grad():
        model.token_embd.weight.copy_(model.token_embd.weight.half().float())
    text = heldout_text(os.path.join(args.data, "valid.txt"), args.heldout_chars)
    base = os.path.splitext(args.out)[0]
    with open(base + ".heldout.txt", "w", encoding="utf-8") as f:
        f.write(text)
    tok = Tokenizer.from_str(json.dumps(tok_spec))
    ids = np.array(tok.encode(text, add_special_tokens=False).ids, dtype=np.int64)
    chunks = eval_chunks(ids, EVAL_CHUNK)
    nll, count = sequence_nll(model, chunks)
    full = eval_chunks(np.fromfile(os.path.join(args.data, "valid.bin"), dtype=np.uint16).astype(np.int64), EVAL_CHUNK)
    nll_full, count_full = sequence_nll(model, full)
    with open(base + ".greedy.txt", "w") as f:
        f.write("# tools/train/export.py: PyTorch greedy continuations of the exported weights (embedding as F16)\n")
        f.write(greedy_reference(model, tok, tok_spec_special(tok_spec, "<|begin_of_text|>")))
    with open(args.out, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    result = {
        "file": os.path.basename(args.out), "sha256": digest, "bytes": os.path.getsize(args.out),
        "step": state["step"], "parameters": model.n_params(), "config": cfg.to_dict(),
        "heldout_file": os.path.basename(base + ".heldout.txt"), "chunk_size": EVAL_CHUNK,
        "heldout_tokens_scored": count, "heldout_perplexity": float(np.exp(nll / count)),
        "validation_tokens_scored": count_full, "validation_perplexity": float(np.exp(nll_full / count_full)),
    }
    if args.small_checkpoint:
        save_small(args.run, args.small_checkpoint)
    with open(base + ".eval.json", "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
