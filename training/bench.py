"""Sampler benchmark (``tcg bench sampler``): decisions per second of

- ``forward``: encode + the four heads' logits at a fixed prefix (no masks, no sampling),
  the bare cost the sampler builds on;
- ``sample``: encode + sequential sampling with prefix masks (sampled-prefix entropy);
- ``evaluate_exact``: encode + replay of stored tuples with the exact joint entropy;

at batch 1, 64 and 1024, for the ``small`` and ``large`` policies, on CPU (and CUDA when
present). ``overhead_sample_vs_forward`` is sample/forward time - 1 at batch 1024.
"""
from __future__ import annotations

import statistics
import time

import torch

from policy import PolicyConfig, TCGPolicy, obs_tensors
from tcg_env import VecTCG
from tcg_env.bots import RandomBot

from .sampler import evaluate, sample


def _states(n: int, seed: int = 0):
    env = VecTCG(n, seed=seed)
    bot = RandomBot(seed)
    for _ in range(40):
        env.step(bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count))
    return env.observations.copy(), env.legal_tuples.copy(), env.legal_count.copy()


def _time(fn, reps: int) -> float:
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def bench_one(size: str, batch: int, device: str, reps: int) -> dict:
    torch.manual_seed(0)
    policy = TCGPolicy(PolicyConfig.named(size)).to(device).eval()
    obs, legal, count = _states(batch)
    g, e = obs_tensors(obs, device)
    lt = torch.as_tensor(legal, device=device)
    lc = torch.as_tensor(count, device=device)
    prefix = lt[:, 0].long()
    gen = torch.Generator(device=device).manual_seed(0)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def fwd():
        with torch.no_grad():
            enc = policy(g, e, lt, lc)
            for k in range(4):
                policy.head_logits(enc, k, prefix[:, :k] if k else None)
        sync()

    def smp():
        with torch.no_grad():
            sample(policy, policy(g, e, lt, lc), lt, lc, generator=gen, entropy="sampled")
        sync()

    with torch.no_grad():
        acts = sample(policy, policy(g, e, lt, lc), lt, lc, generator=gen).actions

    def ev():
        with torch.no_grad():
            evaluate(policy, policy(g, e, lt, lc), lt, lc, acts, entropy="exact")
        sync()

    out = {}
    for name, fn in (("forward", fwd), ("sample", smp), ("evaluate_exact", ev)):
        out[name] = batch / _time(fn, reps)
    out["overhead_sample_vs_forward"] = out["forward"] / out["sample"] - 1.0
    return {k: round(v, 3) if k.startswith("overhead") else round(v) for k, v in out.items()}


def run(quick: bool = False) -> dict:
    from tcg_env.bench import machine
    torch.set_num_threads(max(1, torch.get_num_threads()))
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    res = {"bench": "sampler", "machine": machine(), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d"), "rows": {}}
    for device in devices:
        for size in ("small", "large"):
            for batch in (1, 64, 1024):
                if quick and (size == "large" or batch == 1024) and device == "cpu":
                    continue
                reps = 3 if batch == 1024 else 10
                res["rows"][f"{device}/{size}/B{batch}"] = bench_one(size, batch, device, reps)
    return res
