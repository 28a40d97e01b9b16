"""The BitNet b1.58 (2B4T architecture) model that tools/train trains, in PyTorch.

It computes what Bittern computes at run time (../../shared/FORMATS.md, "Quantization" and "Models"):
  BitLinear weights: alpha = max(mean|W|, 1e-5), Wq = clamp(round(W / alpha), -1, 1) (ties to even);
  BitLinear inputs, per token: s = 127 / max(max|x|, 1e-5), q = clamp(round(x * s), -128, 127);
  y = (Wq . q) * alpha / s.
Training uses straight-through estimators for both roundings (the forward value is the quantized one,
the gradient passes as if unquantized), so the exported ternary weights compute exactly what training
evaluated. Everything else (RMSNorm, NeoX RoPE, causal GQA attention, ReLU-squared gated FFN with
sub-norms, tied embedding head) is float32, as in Bittern.
"""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab: int = 4096
    embd: int = 256
    layers: int = 5
    heads: int = 4
    kv_heads: int = 2
    ffn: int = 640
    ctx: int = 512
    theta: float = 10000.0
    eps: float = 1e-5

    @property
    def head_dim(self):
        return self.embd // self.heads

    def to_dict(self):
        return asdict(self)


def ternary_weight(w):
    """Absmean ternarization; returns (trits as float, alpha)."""
    alpha = w.abs().mean().clamp(min=1e-5)
    return torch.round(w / alpha).clamp(-1, 1), alpha


def quantize_activations(x):
    """Per-token absmax int8; returns (integer-valued q, s)."""
    s = 127.0 / x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    return torch.round(x * s).clamp(-128, 127), s


class BitLinear(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_out, n_in))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x):
        t, alpha = ternary_weight(self.weight)
        w_q = self.weight + (t * alpha - self.weight).detach()
        q, s = quantize_activations(x)
        x_q = x + (q / s - x).detach()
        return F.linear(x_q, w_q)


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(cfg, n, device=None):
    half = cfg.head_dim // 2
    i = torch.arange(half, dtype=torch.float64)
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    ang = pos * cfg.theta ** (-2.0 * i / cfg.head_dim)
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    """x: (batch, heads, seq, head_dim); NeoX pairs (i, i + head_dim/2)."""
    half = x.shape[-1] // 2
    x0, x1 = x[..., :half], x[..., half:]
    return torch.cat([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d, kv = cfg.embd, cfg.kv_heads * cfg.head_dim
        self.attn_norm = RMSNorm(d, cfg.eps)
        self.attn_q = BitLinear(d, d)
        self.attn_k = BitLinear(d, kv)
        self.attn_v = BitLinear(d, kv)
        self.attn_sub_norm = RMSNorm(d, cfg.eps)
        self.attn_output = BitLinear(d, d)
        self.ffn_norm = RMSNorm(d, cfg.eps)
        self.ffn_gate = BitLinear(d, cfg.ffn)
        self.ffn_up = BitLinear(d, cfg.ffn)
        self.ffn_sub_norm = RMSNorm(cfg.ffn, cfg.eps)
        self.ffn_down = BitLinear(cfg.ffn, d)

    def forward(self, h, cos, sin):
        cfg = self.cfg
        b, n, d = h.shape
        x = self.attn_norm(h)
        q = self.attn_q(x).view(b, n, cfg.heads, cfg.head_dim).transpose(1, 2)
        k = self.attn_k(x).view(b, n, cfg.kv_heads, cfg.head_dim).transpose(1, 2)
        v = self.attn_v(x).view(b, n, cfg.kv_heads, cfg.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        groups = cfg.heads // cfg.kv_heads
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        a = a.transpose(1, 2).reshape(b, n, d)
        h = h + self.attn_output(self.attn_sub_norm(a))
        x = self.ffn_norm(h)
        f = F.relu(self.ffn_gate(x)).square() * self.ffn_up(x)
        return h + self.ffn_down(self.ffn_sub_norm(f))


class BitNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.token_embd = nn.Embedding(cfg.vocab, cfg.embd)
        nn.init.normal_(self.token_embd.weight, std=0.02)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.layers)])
        self.output_norm = RMSNorm(cfg.embd, cfg.eps)
        cos, sin = rope_tables(cfg, cfg.ctx)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, tokens):
        n = tokens.shape[1]
        cos, sin = self.rope_cos[:n], self.rope_sin[:n]
        h = self.token_embd(tokens)
        for blk in self.blocks:
            h = blk(h, cos, sin)
        return F.linear(self.output_norm(h), self.token_embd.weight)   # tied head

    def n_params(self):
        return sum(p.numel() for p in self.parameters())


def sequence_nll(model, chunks):
    """Sum of -log p(token | previous tokens of its chunk) over tokens 1.. of each chunk, and their count.
    This is the evaluation `bittern perplexity` performs; both must agree on the same chunks."""
    total, count = 0.0, 0
    with torch.no_grad():
        for c in chunks:
            t = torch.tensor(c, dtype=torch.long)[None]
            logits = model(t)[0, :-1].double()
            nll = F.cross_entropy(logits, t[0, 1:], reduction="sum")
            total += float(nll)
            count += len(c) - 1
    return total, count


def perplexity(model, chunks):
    total, count = sequence_nll(model, chunks)
    return math.exp(total / count)
