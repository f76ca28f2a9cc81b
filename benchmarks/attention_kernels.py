#!/usr/bin/env python
"""The encoder's attention two ways, at the cpu config's sizes: ``scaled_dot_product_attention``
(what ``TCGPolicy._encode`` uses) against the same attention written as ``baddbmm`` + softmax +
``bmm``, each with the qkv projection, timed forward + backward (the PPO step) and forward under
``no_grad`` (the rollout), interleaved. Not run by ``make bench`` (a one-off question, answered in
RESULTS, twenty-second session). Prints one JSON line of medians in ms.

    python benchmarks/attention_kernels.py [--rows 1024] [--tokens 19] [--d-model 32] [--heads 2] [--repeats 30]
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from tcg_env.bench import machine


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1024, help="states per batch (a minibatch of the cpu config)")
    ap.add_argument("--tokens", type=int, default=19, help="tokens per state (the global token and the present entities)")
    ap.add_argument("--d-model", type=int, default=32)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    if min(a.rows, a.tokens, a.d_model, a.heads, a.repeats, a.threads) < 1 or a.d_model % a.heads:
        ap.error("every size must be >= 1 and --heads must divide --d-model")
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    B, T, d, H = a.rows, a.tokens, a.d_model, a.heads
    hd = d // H
    x = torch.randn(B, T, d, requires_grad=True)
    w = torch.randn(3 * d, d, requires_grad=True)
    b = torch.randn(3 * d, requires_grad=True)
    n = torch.randint(max(1, T // 2), T + 1, (B,))     # padded rows, as in a real batch
    keep = (torch.arange(T)[None, :] < n[:, None])[:, None, None, :]

    def sdpa():
        q, k, v = F.linear(x, w, b).view(B, T, 3, H, hd).permute(2, 0, 3, 1, 4)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=keep).transpose(1, 2).reshape(B, T, d)

    def bmm():
        q, k, v = F.linear(x, w, b).view(B, T, 3, H, hd).permute(2, 0, 3, 1, 4).reshape(3, B * H, T, hd)
        bias = torch.zeros(B, 1, 1, T).masked_fill(~keep, float("-inf")).expand(B, H, T, T).reshape(B * H, T, T)
        s = torch.baddbmm(bias, q, k.transpose(1, 2), alpha=hd ** -0.5)
        return torch.bmm(torch.softmax(s, -1), v).view(B, H, T, hd).transpose(1, 2).reshape(B, T, d)

    worst = (sdpa() - bmm()).abs().max().item()
    grad = torch.randn(B, T, d)
    times = {f"{name}_{mode}": [] for name in ("sdpa", "bmm") for mode in ("train", "no_grad")}
    for _ in range(a.repeats):
        for name, f in (("sdpa", sdpa), ("bmm", bmm)):
            t = time.perf_counter()
            f().backward(grad)
            times[f"{name}_train"].append(time.perf_counter() - t)
            with torch.no_grad():
                t = time.perf_counter()
                f()
                times[f"{name}_no_grad"].append(time.perf_counter() - t)
    print(json.dumps({"bench": "attention_kernels", "rows": B, "tokens": T, "d_model": d, "heads": H,
                      "threads": a.threads, "machine": machine(), "date": time.strftime("%Y-%m-%d"),
                      "max_abs_diff": worst,
                      **{f"{k}_ms": round(statistics.median(v) * 1e3, 2) for k, v in times.items()}}))


if __name__ == "__main__":
    main()
