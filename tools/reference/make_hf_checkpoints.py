#!/usr/bin/env python3
"""Small random Hugging Face checkpoints written by transformers itself, with the logits transformers
computes from them, for `bittern convert` tests (Tests/BitternTests/Fixtures/hf/).

    pip install torch transformers accelerate safetensors tokenizers numpy
    python3 tools/reference/make_hf_checkpoints.py models/bittern-demo.gguf Tests/BitternTests/Fixtures/hf

Writes, each a directory with config.json, model.safetensors, tokenizer.json, tokenizer_config.json:
  bitnet-master/  BitNetForCausalLM (2B4T architecture: sub-norms, ReLU^2, GQA), bf16 master weights,
                  quantization_config autobitlinear/online: transformers ternarizes the weights (absmean)
                  and int8-quantizes activations at run time, as the real model does.
  bitnet-packed/  the same model as the packed 2B4T checkpoint is stored: uint8 weights, 4 trits per
                  byte along the output dimension (transformers' pack_weights), weight_scale = 1/alpha in
                  bf16, quantization_config bitlinear (BitLinear divides by weight_scale).
  llama-packed/   LlamaForCausalLM with ternary packed weights (as HF1BitLLM/Llama3-8B-1.58): no
                  sub-norms, SiLU, rotate-half RoPE in transformers' q/k row order.
  bitnet-heldout/ packed BitNet of other dimensions (hidden 384, 6 heads over 2 KV heads, 3 layers,
                  RoPE base 10000, eps 1e-6), to check that nothing is tuned to the first ones.
and bitnet-master-silu logits: bitnet-master run with hidden_act silu, what 1bitLLM's BitnetForCausalLM
(sub-norms, SiLU; their code is remote, not in transformers) computes from the same weights under its own
tensor names, which the Swift test writes from bitnet-master. And reference.json: the token sequences and, per directory, the logits transformers computes after each
token (float32 files <name>.logits.f32: [position][vocab], the sequences one after another), and for
bitnet-master, llama-packed and bitnet-heldout every decoder layer's input and output hidden states
(<name>.layers.f32: [layer][input, output][position][hidden]), for layer-by-layer tests.

The tokenizer is the bundled model's (vocabulary and merges read from the GGUF, Llama-3 pre-tokenizer),
so the sequences are real text. Weights are random: embeddings N(0, 0.3^2) so that logits span ~5 (std) and
argmax is not decided by float rounding; projections N(0, 0.02) (their scale vanishes in absmean).
"""
import json
import os
import shutil
import sys

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")   # transformers' BitLinear helpers are torch.compile'd

import numpy as np
import torch
from safetensors.torch import save_file
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import BitNetConfig, BitNetForCausalLM, LlamaConfig, LlamaForCausalLM
from transformers.integrations.bitnet import pack_weights

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transformers_greedy import Gguf   # noqa: E402

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                  r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
TEXTS = ["Once upon a time, there was a little fox who lived in the forest.",
         "The weather today is sunny, and the children play in the park with a red ball."]
VOCAB = 1024
DIMS = dict(hidden_size=256, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5, tie_word_embeddings=True)
PROJECTIONS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
               "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


def tokenizer_from_gguf(path, size):
    """The bundled model's tokenizer cut to its first `size` ids (and the merges among them), which keeps
    the checkpoints' embeddings small; a valid BPE since merges come in id order."""
    g = Gguf(path)
    tokens, types = g.meta["tokenizer.ggml.tokens"][:size], g.meta["tokenizer.ggml.token_type"][:size]
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = [tuple(m.split(" ")) for m in g.meta["tokenizer.ggml.merges"]]
    merges = [(a, b) for a, b in merges if a in vocab and b in vocab and a + b in vocab]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([t for t, ty in zip(tokens, types) if ty == 3])
    bos, eos = tokens[g.meta["tokenizer.ggml.bos_token_id"]], tokens[g.meta["tokenizer.ggml.eos_token_id"]]
    return tok, bos, eos, len(tokens)


def write_tokenizer(d, tok, bos, eos):
    tok.save(os.path.join(d, "tokenizer.json"))
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": bos, "eos_token": eos, "add_bos_token": True,
                   "chat_template": "{% for m in messages %}{{ m['role'] | capitalize }}: {{ m['content'] }}<|eot_id|>{% endfor %}"}, f)


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "embed_tokens" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            elif "norm" in name:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.02 * torch.randn(p.shape, generator=g))


def absmean(w):
    w = w.float()
    s = 1.0 / w.abs().mean().clamp(min=1e-5)
    return (w * s).round().clamp(-1, 1), s


def save_packed(model, d, config, quant):
    """Writes model's weights as a packed BitLinear checkpoint (trits from absmean of the bf16 masters)."""
    tensors = {}
    for name, p in model.state_dict().items():
        if name == "lm_head.weight":
            continue
        if any(name.endswith(proj + ".weight") for proj in PROJECTIONS):
            t, s = absmean(p.to(torch.bfloat16))
            tensors[name] = pack_weights(t.clone())
            tensors[name[:-len("weight")] + "weight_scale"] = s.reshape(1).to(torch.bfloat16)
        else:
            tensors[name] = p.to(torch.bfloat16).contiguous()
    save_file(tensors, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    cfg = config.to_dict()
    cfg["architectures"] = [type(model).__name__]
    cfg["quantization_config"] = quant
    cfg["torch_dtype"] = "bfloat16"
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def logits_of(cls, d, seqs, layers=False):
    """Logits after each token; with layers, also every decoder layer's input and output hidden states
    ([layer][input, output][position][hidden], the sequences one after another), caught by hooks."""
    m = cls.from_pretrained(d, dtype=torch.float32).eval()
    caught = {}

    def hook(i):
        def f(module, args, kwargs, out):
            x = args[0] if args else kwargs["hidden_states"]
            y = out[0] if isinstance(out, tuple) else out
            caught.setdefault(i, []).append((x[0].float().numpy().copy(), y[0].float().numpy().copy()))
        return f
    handles = [layer.register_forward_hook(hook(i), with_kwargs=True) for i, layer in enumerate(m.model.layers)] if layers else []
    with torch.no_grad():
        logits = np.concatenate([m(torch.tensor([s])).logits[0].float().numpy() for s in seqs])
    for h in handles:
        h.remove()
    if not layers:
        return logits
    states = np.stack([np.stack([np.concatenate([c[0] for c in caught[i]]), np.concatenate([c[1] for c in caught[i]])])
                       for i in range(len(m.model.layers))])
    return logits, states


def main():
    gguf, out = sys.argv[1], sys.argv[2]
    tok, bos, eos, vocab = tokenizer_from_gguf(gguf, VOCAB)
    bos_id = tok.token_to_id(bos)
    seqs = [[bos_id] + tok.encode(t).ids for t in TEXTS]
    os.makedirs(out, exist_ok=True)
    ref = {"sequences": seqs, "models": {}}
    online = {"quant_method": "bitnet", "linear_class": "autobitlinear", "quantization_mode": "online"}
    packed = {"quant_method": "bitnet", "linear_class": "bitlinear", "quantization_mode": "offline"}

    def record(name, result):
        logits, states = result if isinstance(result, tuple) else (result, None)
        logits.astype("<f4").tofile(os.path.join(out, name + ".logits.f32"))
        ref["models"][name] = {"logits": name + ".logits.f32", "positions": logits.shape[0], "vocab": logits.shape[1]}
        if states is not None:
            states.astype("<f4").tofile(os.path.join(out, name + ".layers.f32"))
            ref["models"][name].update(layers=name + ".layers.f32", n_layers=states.shape[0], hidden=states.shape[-1])

    def packed_model(name, cls, config, seed):
        """A random model of cls saved as a packed checkpoint in out/name, with its logits and layer states."""
        model = cls(config)
        randomize(model, seed)
        d = os.path.join(out, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        save_packed(model.to(torch.bfloat16), d, config, packed)
        write_tokenizer(d, tok, bos, eos)
        record(name, logits_of(cls, d, seqs, layers=True))

    # BitNet (2B4T architecture), bf16 master weights.
    cfg = BitNetConfig(vocab_size=vocab, hidden_act="relu2", bos_token_id=bos_id, eos_token_id=tok.token_to_id(eos),
                       rope_parameters={"rope_type": "default", "rope_theta": 500000.0}, **DIMS)
    master = BitNetForCausalLM(cfg)
    randomize(master, 1)
    d = os.path.join(out, "bitnet-master")
    shutil.rmtree(d, ignore_errors=True)
    master.to(torch.bfloat16).save_pretrained(d)
    with open(os.path.join(d, "config.json")) as f:
        c = json.load(f)
    c["quantization_config"] = online
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    write_tokenizer(d, tok, bos, eos)
    record("bitnet-master", logits_of(BitNetForCausalLM, d, seqs, layers=True))

    d = os.path.join(out, "bitnet-packed")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    save_packed(master, d, cfg, packed)
    write_tokenizer(d, tok, bos, eos)
    record("bitnet-packed", logits_of(BitNetForCausalLM, d, seqs))

    # 1bitLLM's naming of the same weights is made by the Swift test from bitnet-master; its expected
    # logits are the master model's with SiLU.
    silu_dir = os.path.join(out, ".silu-tmp")
    shutil.rmtree(silu_dir, ignore_errors=True)
    shutil.copytree(os.path.join(out, "bitnet-master"), silu_dir)
    c["hidden_act"] = "silu"
    with open(os.path.join(silu_dir, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    record("bitnet-master-silu", logits_of(BitNetForCausalLM, silu_dir, seqs))
    shutil.rmtree(silu_dir)

    # Llama with ternary packed weights.
    lcfg = LlamaConfig(vocab_size=vocab, hidden_act="silu", bos_token_id=bos_id, eos_token_id=tok.token_to_id(eos),
                       rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, **DIMS)
    packed_model("llama-packed", LlamaForCausalLM, lcfg, seed=2)

    # Held out: other dimensions (hidden 384: I2_S only, TQ needs multiples of 256), GQA 3:1, three
    # layers, another RoPE base and epsilon; packed like the published 2B4T checkpoint.
    hcfg = BitNetConfig(vocab_size=vocab, hidden_act="relu2", bos_token_id=bos_id, eos_token_id=tok.token_to_id(eos),
                        rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, hidden_size=384,
                        intermediate_size=640, num_hidden_layers=3, num_attention_heads=6, num_key_value_heads=2,
                        max_position_embeddings=128, rms_norm_eps=1e-6, tie_word_embeddings=True)
    packed_model("bitnet-heldout", BitNetForCausalLM, hcfg, seed=3)

    ref["generator"] = "tools/reference/make_hf_checkpoints.py (transformers %s, torch %s)" % (
        __import__("transformers").__version__, torch.__version__)
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
    print("wrote", out, [len(s) for s in seqs], "tokens")


if __name__ == "__main__":
    main()
