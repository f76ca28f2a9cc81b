#!/usr/bin/env python
"""End-to-end training throughput of a named config: times Trainer.collect (rollout) and
Trainer.learn (PPO update) over a few updates after one warm-up update, self-play only (no
evaluation). Prints one JSON line with learner decisions per second.

    python benchmarks/bench_train.py [--config cpu] [--updates 3] [--set key=value ...]
    python benchmarks/bench_train.py --nproc 1        # one process, whatever the config says

It runs the config's ``nproc`` ranks, as ``tcg train`` does (the cpu config has 2); with more
than one it starts itself under ``torchrun --standalone --nproc_per_node=K``: each rank runs its
own ``num_envs`` games and its own learner, gradients are all-reduced, and the decisions of all
ranks are counted (rank 0 prints). Without ``torch_threads`` the cores are split between ranks.
With more than one rank the line also holds DDP's own timers, averaged per minibatch on rank 0
(``ddp_ms_per_minibatch``: forward, backward compute, and the gradient all-reduce, which on a
2-core machine is mostly one rank waiting for the other).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

from tcg_env.bench import machine
from training import distributed as D
from training.cli import named_config_and_sets
from training.config import TrainConfig
from training.ppo import Trainer


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="cpu")
    ap.add_argument("--updates", type=int, default=3)
    ap.add_argument("--nproc", type=int, default=None,
                    help="ranks under torchrun (DDP; gloo on CPU; default: the config's nproc, as tcg train)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config setting")
    args = ap.parse_args()
    base, sets = named_config_and_sets(ap, args.config, args.set)
    nproc = base["nproc"] if args.nproc is None else args.nproc
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        # as tcg train: a config without torch_threads splits the cores between the ranks
        threads, env = D.rank_threads_and_env(nproc, sets.get("torch_threads", base["torch_threads"]),
                                              sets.get("device", base["device"]))
        cmd = D.torchrun_prefix(nproc) + [os.path.abspath(__file__), "--config", args.config,
                                          "--updates", str(args.updates)]
        for s in args.set:
            cmd += ["--set", s]
        cmd += ["--set", f"torch_threads={threads}"]
        sys.exit(subprocess.run(cmd, env=env).returncode)
    D.init()
    with tempfile.TemporaryDirectory() as out:
        overrides = {"eval_every": 0, "bot_opponent_prob": 0.0, "out": out, "minutes": 0.0}
        cfg = TrainConfig.from_dict({**base, **sets, **overrides}, where="bench_train")
        tr = Trainer(cfg, quiet=True)
        ro, _ = tr.collect()
        tr.learn(ro)
        collect = learn = 0.0
        steps = 0
        for _ in range(args.updates):
            D.barrier()
            t0 = time.perf_counter()
            ro, _ = tr.collect()
            t1 = time.perf_counter()
            tr.learn(ro)
            collect += t1 - t0
            learn += time.perf_counter() - t1
            steps += ro.global_steps
        # under DDP: its own averages per minibatch (ns), sampled over the run; the all-reduce's is
        # mostly one rank waiting for the other (RESULTS, twenty-second session)
        try:   # a private DDP method: if another torch lacks or changes it, these figures are left out
            ddp = dict(tr.replay._get_ddp_logging_data()) if D.active() else {}
        except Exception:
            ddp = {}
        ddp_ms = {k: round(ddp[f"avg_{k}_time"] / 1e6, 1) for k in ("forward_compute", "backward_compute",
                                                                    "backward_comm") if f"avg_{k}_time" in ddp}
        tr.close()
    if D.rank() == 0:
        print(json.dumps({"bench": "train", "config": args.config, "set": sets, "nproc": D.world_size(),
                          "torch_threads": torch.get_num_threads(), "machine": machine(),
                          "date": time.strftime("%Y-%m-%d"), "updates": args.updates, "decisions": steps,
                          "collect_s_per_update": round(collect / args.updates, 3),
                          "learn_s_per_update": round(learn / args.updates, 3),
                          "decisions_per_s": round(steps / (collect + learn)),
                          **({"ddp_ms_per_minibatch": ddp_ms} if ddp_ms else {})}))
    if D.active():   # a torchrun rank: Python's teardown can deadlock in gloo (distributed.finish)
        D.finish(0)


if __name__ == "__main__":
    main()
