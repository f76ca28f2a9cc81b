"""Strength of the ISMCTS search bot: win rate against the built-in bots, both seats.

Plays ``--games`` games per opponent (half with the search bot in seat 0, half in seat 1, over
every prebuilt deck pairing) at a budget per decision given like the bot name's budget:
``N`` simulations (reproducible) or ``Nms`` milliseconds. Prints ONE JSON line: per opponent the
wins, losses, draws, truncations and win rate with a 95% Wilson interval; the mean and largest
wall time of a searched decision (forced decisions and mulligans are not searched); the budget,
seed, wall time and the machine.

    python benchmarks/bench_search.py --games 1000 --budget 300 --opponent heuristic,random
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tcg_env.bench import machine  # noqa: E402
from tcg_env.bots.search import BUDGET_HELP, SearchBot, parse_budget, play_search_match  # noqa: E402


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--games", type=int, default=200, help="games per opponent, half in each seat (default 200)")
    ap.add_argument("--budget", default="300", help=f"per decision: N simulations or Nms (default 300); {BUDGET_HELP}")
    ap.add_argument("--opponent", default="heuristic,random",
                    help="comma-separated built-in opponents: heuristic, random (default both)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the games and of the search (default 0)")
    ap.add_argument("--rollout", default="heuristic", choices=["heuristic", "random"], help="rollout policy")
    ap.add_argument("--horizon", type=int, default=15,
                    help="rollout decisions before the hand-written evaluation stands in (default 15; 0: play every "
                         "rollout to the end, no evaluation)")
    ap.add_argument("--no-prior", action="store_true",
                    help="expand a random unexpanded action instead of the heuristic's favourite; with --rollout "
                         "random --horizon 0 the search uses no hand-written knowledge at all")
    args = ap.parse_args(argv)
    if args.games < 2:
        ap.error("--games must be >= 2")
    if args.horizon < 0:
        ap.error("--horizon must be >= 0 (0: no limit)")
    try:
        sims, ms = parse_budget(args.budget)
    except ValueError as e:
        ap.error(str(e))
    opponents = [o.strip() for o in args.opponent.split(",") if o.strip()]
    for o in opponents:
        if o not in ("heuristic", "random"):
            ap.error(f"--opponent: {o!r} is not a built-in bot (heuristic, random)")

    SearchBot(0, simulations=2).act(__import__("tcg_env").GameState.new(seed=1))   # compile / load the cache
    out = {"bench": "search", "budget": args.budget, "games_per_opponent": args.games, "seed": args.seed,
           "rollout": args.rollout, "horizon": args.horizon, "prior": not args.no_prior}
    t_all = time.perf_counter()
    decisions = 0
    seconds = 0.0
    worst = 0.0
    for o in opponents:
        bot = SearchBot(args.seed, simulations=sims, ms=ms, rollout=args.rollout, horizon=args.horizon,
                        prior=not args.no_prior)
        t0 = time.perf_counter()
        r = play_search_match(bot, o, args.games, seed=args.seed)
        lo, hi = wilson(r["wins"], r["games"])
        out[f"vs_{o}"] = {"win_rate": round(r["win_rate"], 4), "wins": r["wins"], "losses": r["losses"],
                          "draws": r["draws"], "truncated": r["truncated"], "ci95": [round(lo, 4), round(hi, 4)],
                          "mean_decision_ms": round(r["mean_decision_ms"], 3),
                          "max_decision_ms": round(r["max_decision_ms"], 2),
                          "mean_simulations": round(r["mean_simulations"], 1),
                          "searched_decisions": r["search_decisions"], "seconds": round(time.perf_counter() - t0, 1)}
        decisions += r["search_decisions"]
        seconds += r["search_seconds"]
        worst = max(worst, r["max_decision_ms"])
    out["mean_decision_ms"] = round(1000.0 * seconds / max(decisions, 1), 3)
    out["max_decision_ms"] = round(worst, 2)
    out["wall_seconds"] = round(time.perf_counter() - t_all, 1)
    out["machine"] = machine()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
