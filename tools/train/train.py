#!/usr/bin/env python3
"""BitNet b1.58 quantization-aware training of Bittern's bundled model, on CPU.

    pip install torch==2.13.0+cpu numpy
    python3 tools/train/train.py DATA_DIR RUN_DIR [--steps N] [--seed S] [--time-limit MIN]

DATA_DIR holds train.bin / valid.bin (tools/train/tokenizer.py). RUN_DIR receives checkpoint.pt (written
atomically every --ckpt-every steps and at the end; a run with an existing checkpoint resumes from it),
loss.tsv (the loss curve) and eval.json (validation perplexity).

Every batch is a pure function of (seed, step): windows of ctx-1 corpus tokens at positions drawn from
numpy's generator seeded with [seed, step], each preceded by BOS, as text is at inference. The learning
rate schedule is a function of the step, so a run stopped by --time-limit and resumed is the same run.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import BitNet, Config, perplexity  # noqa: E402

BOS = 0


def eval_chunks(tokens, ctx, limit=None):
    """Non-overlapping chunks: BOS + ctx-1 tokens each (the last one shorter). `bittern perplexity`
    cuts a text the same way."""
    step = ctx - 1
    chunks = [[BOS] + tokens[i:i + step].tolist() for i in range(0, len(tokens), step)]
    chunks = [c for c in chunks if len(c) > 1]
    return chunks[:limit] if limit else chunks


def batch(data, seed, step, size, ctx):
    rng = np.random.default_rng([seed, step])
    starts = rng.integers(0, len(data) - ctx, size)
    rows = np.stack([np.concatenate([[BOS], data[s:s + ctx]]) for s in starts]).astype(np.int64)
    t = torch.from_numpy(rows)
    return t[:, :-1], t[:, 1:]


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    p = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


def save(path, state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def save_small(run_dir, out):
    """The committed checkpoint: the latent (pre-ternarization) weights in BF16, the step and the config:
    a tenth of checkpoint.pt, enough for --init-from to continue training."""
    state = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    small = {"model": {k: v.to(torch.bfloat16) for k, v in state["model"].items()}, "step": state["step"],
             "config": state["config"], "args": state["args"]}
    save(out, small)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("run")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--ctx", type=int, default=256, help="training sequence length")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--ckpt-every", type=int, default=50)
    ap.add_argument("--time-limit", type=float, default=0, help="minutes; checkpoint and stop when reached")
    ap.add_argument("--embd", type=int, default=256)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=640)
    ap.add_argument("--model-ctx", type=int, default=512, help="context length the model is exported with")
    ap.add_argument("--init-from", help="a small checkpoint (save_small): start from its weights and step; the "
                                        "optimizer's moments start fresh, so this continues, not replays, a run")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.run, exist_ok=True)
    train = np.fromfile(os.path.join(args.data, "train.bin"), dtype=np.uint16)
    valid = np.fromfile(os.path.join(args.data, "valid.bin"), dtype=np.uint16)
    vocab = int(max(train.max(), valid.max())) + 1
    with open(os.path.join(args.data, "tokenizer.json")) as f:
        vocab = max(vocab, len(json.load(f)["model"]["vocab"]))
    cfg = Config(vocab=vocab, embd=args.embd, layers=args.layers, heads=args.heads, kv_heads=args.kv_heads,
                 ffn=args.ffn, ctx=max(args.model_ctx, args.ctx))
    model = BitNet(cfg)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "token_embd" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "token_embd" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": other, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    ckpt_path = os.path.join(args.run, "checkpoint.pt")
    step = 0
    if os.path.exists(ckpt_path):
        state = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        print(f"train: resumed at step {step}", flush=True)
    elif args.init_from:
        state = torch.load(args.init_from, weights_only=False)
        model.load_state_dict({k: v.float() for k, v in state["model"].items()})
        step = state["step"]
        print(f"train: starting from the weights of {args.init_from} at step {step} (fresh optimizer state)", flush=True)
    print(f"train: {model.n_params() / 1e6:.2f} M parameters, config {cfg.to_dict()}, "
          f"{len(train) / 1e6:.2f} M train tokens", flush=True)

    def checkpoint():
        save(ckpt_path, {"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                         "config": cfg.to_dict(), "args": vars(args)})

    quick_val = eval_chunks(valid, args.ctx, limit=24)
    log = open(os.path.join(args.run, "loss.tsv"), "a")
    if step == 0:
        log.write("step\ttokens\tloss\tlr\tseconds\tval_ppl\n")
    start = time.time()
    window = []
    while step < args.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        x, y = batch(train, args.seed, step, args.batch, args.ctx)
        model.train()
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, cfg.vocab), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        window.append(loss.item())
        val = ""
        if step % args.eval_every == 0 or step == args.steps:
            model.eval()
            val = f"{perplexity(model, quick_val):.2f}"
        if step % 10 == 0 or val:
            elapsed = time.time() - start
            log.write(f"{step}\t{step * args.batch * args.ctx}\t{np.mean(window):.4f}\t{lr_at(step - 1, args):.5f}"
                      f"\t{elapsed:.0f}\t{val}\n")
            log.flush()
            print(f"step {step}: loss {np.mean(window):.3f} {('val ppl ' + val) if val else ''}"
                  f" ({elapsed / 60:.1f} min)", flush=True)
            window = []
        if step % args.ckpt_every == 0:
            checkpoint()
        if args.time_limit and time.time() - start > args.time_limit * 60:
            print(f"train: time limit reached at step {step}", flush=True)
            break
    checkpoint()
    if step >= args.steps:
        model.eval()
        chunks = eval_chunks(valid, args.ctx)
        ppl = perplexity(model, chunks)
        with open(os.path.join(args.run, "eval.json"), "w") as f:
            json.dump({"step": step, "valid_tokens": int(len(valid)), "chunk_ctx": args.ctx,
                       "valid_perplexity": ppl}, f, indent=2)
        print(f"train: done, validation perplexity {ppl:.2f}", flush=True)


if __name__ == "__main__":
    main()
