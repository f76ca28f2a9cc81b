#!/usr/bin/env python
"""Where one PPO update's learn step spends its time: builds a Trainer on a named config (one
process, no evaluation), runs two warm-up updates, then profiles one ``Trainer.learn`` with
``torch.profiler`` and prints the ops by self time and the calls (three stack frames) by total
time. Not a benchmark (no JSON line, not run by ``make bench``): RESULTS quotes its reading.
    python benchmarks/profile_learn.py [--config cpu] [--threads 1] [--rows 30] [--set key=value ...]
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
    args = ap.parse_args()
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
        with profile(activities=[ProfilerActivity.CPU], with_stack=True) as prof:
            t = time.perf_counter()
            tr.learn(ro)
            print(f"learn step: {time.perf_counter() - t:.3f} s under the profiler")
        tr.close()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    print(prof.key_averages(group_by_stack_n=3).table(sort_by="cpu_time_total", row_limit=args.rows,
                                                       max_name_column_width=70))


if __name__ == "__main__":
    main()
