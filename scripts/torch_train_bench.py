#!/usr/bin/env python3
"""Training-throughput baseline for `go test -bench TrainStep ./train`.

Implements the same recurrent-depth architecture and training step as latent's train package in
PyTorch (CPU, fp32): scaled embedding, sandwich blocks (4 RMSNorms), attention with q/k bias and
interleaved RoPE, gated SiLU MLP, linear adapter on concat(state, e), tied head, cross-entropy;
n = 2 recurrences under no_grad then k = 2 with gradient; AdamW with grad-norm clipping.
Batches of 4 x 128 tokens; prints tokens/s for the ~5M and ~20M configs.

Usage: /usr/bin/python3 scripts/torch_train_bench.py [--threads 2] [--steps 10]
(Debian python3-torch; the pyenv python has no torch.)
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, h, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(h))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(hd, T, base=50000.0):
    inv = 1.0 / base ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd)
    ang = torch.outer(torch.arange(T, dtype=torch.float32), inv)
    return ang.cos(), ang.sin()  # [T, hd/2]


def rope(x, cos, sin):  # x [B, H, T, hd], adjacent pairs
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * cos - b * sin, b * cos + a * sin), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, h, heads, ffn):
        super().__init__()
        self.h, self.heads, self.hd = h, heads, h // heads
        self.norm_1, self.norm_2, self.norm_3, self.norm_4 = (RMSNorm(h) for _ in range(4))
        self.Wqkv = nn.Linear(h, 3 * h, bias=False)
        self.qk_bias = nn.Parameter(torch.zeros(2, 1, heads, self.hd))
        self.proj = nn.Linear(h, h, bias=False)
        self.fc = nn.Linear(h, 2 * ffn, bias=False)
        self.mlp_proj = nn.Linear(ffn, h, bias=False)

    def attn(self, x, cos, sin, mask):
        B, T, _ = x.shape
        q, k, v = self.Wqkv(x).view(B, T, 3, self.heads, self.hd).unbind(2)
        q, k = q + self.qk_bias[0], k + self.qk_bias[1]
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
        y = s.masked_fill(mask, float("-inf")).softmax(-1) @ v
        return self.proj(y.transpose(1, 2).reshape(B, T, self.h))

    def forward(self, x, cos, sin, mask):
        x = self.norm_2(x + self.attn(self.norm_1(x), cos, sin, mask))
        g, u = self.fc(self.norm_3(x)).chunk(2, -1)
        return self.norm_4(x + self.mlp_proj(F.silu(g) * u))


class Model(nn.Module):
    def __init__(self, h, heads, ffn, vocab, layers=(1, 4, 1), T=128):
        super().__init__()
        self.h = h
        self.wte = nn.Embedding(vocab, h)
        self.prelude = nn.ModuleList(Block(h, heads, ffn) for _ in range(layers[0]))
        self.core = nn.ModuleList(Block(h, heads, ffn) for _ in range(layers[1]))
        self.coda = nn.ModuleList(Block(h, heads, ffn) for _ in range(layers[2]))
        self.adapter = nn.Linear(2 * h, h, bias=False)
        self.ln_f = RMSNorm(h)
        std = math.sqrt(2 / (5 * h))
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.trunc_normal_(p, std=std, a=-3 * std, b=3 * std)
        cos, sin = rope_tables(h // heads, T)
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)
        self.register_buffer("mask", torch.ones(T, T, dtype=torch.bool).triu(1))

    def step(self, s, e):
        x = self.adapter(torch.cat([s, e], -1))
        for b in self.core:
            x = b(x, self.cos, self.sin, self.mask)
        return x

    def forward(self, ids, labels, s0, n, k):
        e = self.wte(ids) * math.sqrt(self.h)
        for b in self.prelude:
            e = b(e, self.cos, self.sin, self.mask)
        s = s0
        with torch.no_grad():
            for _ in range(n):
                s = self.step(s, e)
        for _ in range(k):
            s = self.step(s, e)
        x = self.ln_f(s)
        for b in self.coda:
            x = b(x, self.cos, self.sin, self.mask)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1))


def bench(name, h, heads, ffn, steps, B=4, T=128, vocab=4096):
    torch.manual_seed(0)
    m = Model(h, heads, ffn, vocab, T=T)
    decay = [p for p in m.parameters() if p.dim() == 2]
    other = [p for p in m.parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4}, {"params": other, "weight_decay": 0}],
                            lr=1e-3, betas=(0.9, 0.95))
    n_params = sum(p.numel() for p in m.parameters())
    data = torch.randint(0, vocab, (1 << 16,))

    def one_step():
        starts = torch.randint(0, len(data) - T - 1, (B,))
        ids = torch.stack([data[s:s + T] for s in starts])
        labels = torch.stack([data[s + 1:s + T + 1] for s in starts])
        s0 = torch.randn(B, T, h) * math.sqrt(2 / 5)
        opt.zero_grad(set_to_none=True)
        loss = m(ids, labels, s0, 2, 2)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        return loss.item()

    one_step()  # warm up
    t0 = time.perf_counter()
    for _ in range(steps):
        one_step()
    dt = time.perf_counter() - t0
    print(f"{name}: {n_params} parameters, {steps} steps of {B}x{T} tokens, "
          f"{dt / steps * 1e3:.1f} ms/step, {steps * B * T / dt:.0f} tokens/s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench("5M", 256, 4, 512, args.steps)
    bench("20M", 512, 8, 1280, args.steps)


if __name__ == "__main__":
    main()
