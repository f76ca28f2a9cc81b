#!/usr/bin/env python
"""How well a policy's value head estimates the waiting seat's view, the view that bootstraps the
chain of the seat not to move at the end of every rollout (``training.gae``).

The value head trains on the acting seat's observations only (unless ``wait_value`` is on). At
each step of self-play games with the policy, this records for both seats ``U = V + phi`` of
their own view (``phi``: the shaping potential the value was trained with) and compares it with
the seat's ``U`` at its next decision in the same game, the quantity a bootstrap stands in for
(the same own-decision clock, so no discount between them; transitions into a game end are left
out). Prints one JSON line: mean error (bias) and RMSE for the waiting seat's view, and for the
acting seat's view as a control.

    python benchmarks/bootstrap_bias.py --checkpoint runs/latest/policy.pt [--games 256 --steps 400]

A diagnostic for a trained policy, not run by ``make bench`` (it needs a checkpoint).
"""
import argparse
import json
import time

import numpy as np
import torch

from policy import obs_tensors
from tcg_env import VecTCG
from tcg_env.bench import machine
from training.checkpoint import load_policy
from training.config import TrainConfig
from training.evaluate import policy_actions
from training.shaping import potential


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="policy.pt or a training checkpoint")
    ap.add_argument("--games", type=int, default=256, help="games played at once (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=400, help="decisions stepped in each (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=3)
    cpu = TrainConfig.named("cpu")
    ap.add_argument("--shaping-hp", type=float, default=cpu.shaping_hp,
                    help="the run's shaping_hp (default: the cpu config's, %(default)s)")
    ap.add_argument("--shaping-board", type=float, default=cpu.shaping_board,
                    help="the run's shaping_board (default: the cpu config's, %(default)s)")
    ap.add_argument("--shaping-enemy-board", type=float, default=cpu.shaping_enemy_board,
                    help="the run's shaping_enemy_board (default: the cpu config's, %(default)s)")
    ap.add_argument("--shaping-hand", type=float, default=cpu.shaping_hand,
                    help="the run's shaping_hand (default: the cpu config's, %(default)s)")
    args = ap.parse_args()
    if args.games < 1 or args.steps < 2:
        ap.error("--games must be >= 1 and --steps >= 2")
    torch.set_num_threads(1)
    policy = load_policy(args.checkpoint).eval()
    env = VecTCG(args.games, seed=args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    N, T = args.games, args.steps

    def u_of(obs):
        with torch.no_grad():
            v = policy(*obs_tensors(obs)).value.float().numpy()
        return v + potential(obs, args.shaping_hp, args.shaping_board, args.shaping_enemy_board, args.shaping_hand)

    actor = np.zeros((T, N), np.int32)
    u_act = np.zeros((T, N), np.float32)
    u_wait = np.zeros((T, N), np.float32)
    done = np.zeros((T, N), np.bool_)
    t0 = time.time()
    for t in range(T):
        actor[t] = env.current_player
        u_act[t] = u_of(env.observations)
        u_wait[t] = u_of(env.observe(1 - actor[t]))
        env.step(policy_actions(policy, env, np.arange(N), "cpu", gen, False))
        done[t] = env.terminals | env.truncations
    err = {"waiting": [], "acting": []}
    for i in range(N):
        nxt = [None, None]           # U at each seat's next decision in the same game
        for t in range(T - 1, -1, -1):
            if done[t, i]:
                nxt = [None, None]
            a = actor[t, i]
            if nxt[1 - a] is not None:
                err["waiting"].append(u_wait[t, i] - nxt[1 - a])
            if nxt[a] is not None:
                err["acting"].append(u_act[t, i] - nxt[a])
            nxt[a] = u_act[t, i]
    out = {"bench": "bootstrap_bias", "checkpoint": args.checkpoint, "games": N, "steps": T,
           "machine": machine(), "date": time.strftime("%Y-%m-%d"), "seconds": round(time.time() - t0, 1)}
    for k, e in err.items():
        e = np.array(e, np.float64)
        out[k] = {"pairs": len(e), "bias": round(float(e.mean()), 4), "rmse": round(float(np.sqrt((e ** 2).mean())), 4)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
