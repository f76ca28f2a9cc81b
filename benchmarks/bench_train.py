#!/usr/bin/env python
"""End-to-end training throughput of a named config: times Trainer.collect (rollout) and
Trainer.learn (PPO update) over a few updates after one warm-up update, self-play only (no
evaluation). Prints one JSON line with learner decisions per second.

    python benchmarks/bench_train.py [--config cpu] [--updates 3]
"""
import argparse
import json
import tempfile
import time

from tcg_env.bench import machine
from training.config import TrainConfig
from training.ppo import Trainer


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="cpu")
    ap.add_argument("--updates", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig.from_dict({**TrainConfig.named(args.config).to_dict(), "eval_every": 0,
                                     "bot_opponent_prob": 0.0, "out": out, "minutes": 0.0})
        tr = Trainer(cfg, quiet=True)
        ro, _ = tr.collect()
        tr.learn(ro)
        collect = learn = 0.0
        steps = 0
        for _ in range(args.updates):
            t0 = time.perf_counter()
            ro, _ = tr.collect()
            t1 = time.perf_counter()
            tr.learn(ro)
            collect += t1 - t0
            learn += time.perf_counter() - t1
            steps += ro.global_steps
        tr.close()
    print(json.dumps({"bench": "train", "config": args.config, "machine": machine(),
                      "date": time.strftime("%Y-%m-%d"), "updates": args.updates, "decisions": steps,
                      "collect_s_per_update": round(collect / args.updates, 3),
                      "learn_s_per_update": round(learn / args.updates, 3),
                      "decisions_per_s": round(steps / (collect + learn))}))


if __name__ == "__main__":
    main()
