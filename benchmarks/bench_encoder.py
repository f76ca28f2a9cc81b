#!/usr/bin/env python
"""The policy encoder's forward + backward (the densest part of a PPO update), eager against
``torch.compile``: one JSON line with the median milliseconds per minibatch of each.

The input is a minibatch as the learn step sees it: ``--rows`` positions of ``--widths`` tokens
(the global row plus the present entities; the width varies from batch to batch, so the compiled
function is built with ``dynamic=True`` and every width is timed), a tenth of the entity tokens
padded, through ``TCGPolicy._encode`` of the named config's policy. The compile time (the first
call, and one call at each further width) is reported apart from the timed calls.

    python benchmarks/bench_encoder.py [--config cpu] [--rows 1024] [--widths 19,21,23] [--reps 15]
"""
import argparse
import json
import statistics
import time

import torch

from tcg_env.bench import machine
from training.config import TrainConfig
from training.ppo import build_policy


def step(fn, x, pad):
    x.grad = None
    fn(x, pad).square().mean().backward()


def timed(fn, x, pad, reps: int) -> float:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        step(fn, x, pad)
        out.append(time.perf_counter() - t)
    return statistics.median(out) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="cpu", help="named config whose policy is built (default cpu)")
    ap.add_argument("--rows", type=int, default=1024, help="positions per minibatch (default 1024: the cpu config's)")
    ap.add_argument("--widths", default="19,21,23", help="token counts to time, comma-separated (default 19,21,23)")
    ap.add_argument("--reps", type=int, default=15, help="timed calls per width and mode (default 15)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as one rank of the cpu config)")
    args = ap.parse_args()
    try:
        widths = [int(w) for w in args.widths.split(",")]
        cfg = TrainConfig.named(args.config)
    except ValueError as e:
        ap.error(str(e))
    if args.rows < 1 or args.reps < 1 or min(widths) < 2:
        ap.error("--rows and --reps must be >= 1 and every width >= 2")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    policy = build_policy(cfg).train()
    d = policy.config.d_model
    inputs = {}
    for w in widths:
        x = torch.randn(args.rows, w, d, requires_grad=True)
        pad = torch.rand(args.rows, w) < 0.1
        pad[:, 0] = False
        inputs[w] = (x, pad)
    eager = policy._encode
    compiled = torch.compile(policy._encode, dynamic=True)
    t = time.perf_counter()
    step(compiled, *inputs[widths[0]])
    compile_s = time.perf_counter() - t
    for w in widths[1:]:
        t = time.perf_counter()
        step(compiled, *inputs[w])
        compile_s += time.perf_counter() - t
    for w in widths:   # warm both, and check they compute the same
        step(eager, *inputs[w])
        x, pad = inputs[w]
        with torch.no_grad():
            diff = (compiled(x, pad) - eager(x, pad)).abs().max().item()
        if diff > 1e-3:
            raise SystemExit(f"compiled and eager encoders disagree by {diff:g} at width {w}")
    res = {"eager_ms": {}, "compiled_ms": {}}
    for w in widths:   # interleaved, so drift on a shared machine hits both alike
        res["eager_ms"][w] = round(timed(eager, *inputs[w], args.reps), 2)
        res["compiled_ms"][w] = round(timed(compiled, *inputs[w], args.reps), 2)
    ratio = statistics.median(res["compiled_ms"][w] / res["eager_ms"][w] for w in widths)
    print(json.dumps({"bench": "encoder", "config": args.config, "rows": args.rows, "d_model": d,
                      "n_layers": policy.config.n_layers, "threads": args.threads, "torch": torch.__version__,
                      "machine": machine(), "date": time.strftime("%Y-%m-%d"), **res,
                      "compiled_over_eager": round(ratio, 3), "compile_s": round(compile_s, 1)}))


if __name__ == "__main__":
    main()
