#!/usr/bin/env python
"""Where one PPO update's learn step spends its time: builds a Trainer on a named config (one
process, no evaluation), runs two warm-up updates, then profiles one ``Trainer.learn`` with
``torch.profiler`` and prints the ops by self time and the calls (three stack frames) by total
time. Not a benchmark (no JSON line, not run by ``make bench``): RESULTS quotes its reading.
    python benchmarks/profile_learn.py [--config cpu] [--threads 1] [--rows 30] [--set key=value ...]
    python benchmarks/profile_learn.py --split 20     # no profiler: one minibatch's parts, timed

``--split N`` times N repeats of one minibatch of the rollout (its size as the config's learn
step makes it) in three parts, without the profiler: encoding, the heads with the exact entropy
of the config's ``entropy_rows`` share, and the backward pass; it prints their medians in ms.
"""
import argparse
import tempfile
import time

import torch

from training import distributed as D
from training.cli import named_config_and_sets
from training.config import TrainConfig
from training.ppo import Trainer


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as one rank of the cpu config)")
    ap.add_argument("--rows", type=int, default=30, help="rows of each table")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config setting")
    ap.add_argument("--split", type=int, default=0, metavar="N",
                    help="time N repeats of one minibatch's encode / heads / backward instead of profiling")
    args = ap.parse_args()
    if args.split < 0:
        ap.error("--split must be >= 0")
    base, sets = named_config_and_sets(ap, args.config, args.set)
    from torch.profiler import ProfilerActivity, profile
    D.init()
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig.from_dict({**base, **sets, "eval_every": 0, "bot_opponent_prob": 0.0, "out": out,
                                     "minutes": 0.0, "torch_threads": args.threads, "nproc": 1},
                                    where="profile_learn")
        tr = Trainer(cfg, quiet=True)
        for _ in range(2):
            tr.learn(tr.collect()[0])
        ro, _ = tr.collect()
        if args.split:
            split(tr, ro, args.split)
            tr.close()
            return
        with profile(activities=[ProfilerActivity.CPU], with_stack=True) as prof:
            t = time.perf_counter()
            tr.learn(ro)
            print(f"learn step: {time.perf_counter() - t:.3f} s under the profiler")
        tr.close()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    print(prof.key_averages(group_by_stack_n=3).table(sort_by="cpu_time_total", row_limit=args.rows,
                                                       max_name_column_width=70))


def split(tr, ro, repeats):
    """Median ms of one minibatch's encode, heads (with the exact entropy of its first rows) and
    backward, over ``repeats`` runs on the rollout's first learner rows."""
    import numpy as np

    from policy.model import obs_tensors
    from training.sampler import evaluate
    cfg = tr.cfg
    rows = cfg.num_envs * cfg.rollout_steps // cfg.num_minibatches
    t_idx, i_idx = (x[:rows] for x in np.nonzero(np.stack(ro.learner)))   # the learner's rows, as learn takes them
    obs = torch.as_tensor(np.stack(ro.obs)[t_idx, i_idx])
    lt = torch.as_tensor(ro.legal_padded()[t_idx, i_idx])
    lc = torch.as_tensor(np.stack(ro.count)[t_idx, i_idx])
    act = torch.as_tensor(np.stack(ro.actions)[t_idx, i_idx]).long()
    n_ent = max(1, int(np.ceil(cfg.entropy_rows * rows)))
    pol = tr.policy.train()
    times = {"encode": [], "heads_and_entropy": [], "backward": []}
    for _ in range(repeats):
        t0 = time.perf_counter()
        enc = pol(*obs_tensors(obs), lt, lc)
        t1 = time.perf_counter()
        res = evaluate(pol, enc, lt, lc, act, entropy=cfg.entropy, entropy_rows=n_ent)
        t2 = time.perf_counter()
        (res.log_prob.mean() + enc.value.mean() + res.entropy[:n_ent].mean()).backward()
        t3 = time.perf_counter()
        pol.zero_grad(set_to_none=True)
        for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
            times[key].append(dt)
    print(f"one minibatch of {rows:,} rows (exact entropy of {n_ent:,}), median of {repeats}: "
          + ", ".join(f"{k} {np.median(v) * 1e3:.1f} ms" for k, v in times.items()))


if __name__ == "__main__":
    main()
