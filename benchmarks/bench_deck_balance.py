#!/usr/bin/env python
"""Deck balance with the same bot in both seats, decks and seats laid out as in `tcg eval`
(``training.evaluate.play_match``: every pairing played from both seats), so
each deck's win rate here is the baseline a policy's per-deck rate against that bot compares to.
Prints one JSON line.

    python benchmarks/bench_deck_balance.py [--bot heuristic] [--games 3200] [--seed 11]
"""
import argparse
import json
import time

from tcg_env.bench import machine
from tcg_env.bots import make_bot
from training.evaluate import play_match


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bot", default="heuristic", help="bot for both sides (any make_bot name)")
    ap.add_argument("--games", type=int, default=3200)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    if args.games < 32:
        ap.error("--games must be >= 32 (16 pairings x 2 seats)")
    G = args.games
    t0 = time.time()
    res = play_match(make_bot(args.bot, seed=args.seed), make_bot(args.bot, seed=args.seed + 1), G, seed=args.seed)
    result = res["results"]
    playing = res["by_own_deck"]
    against = res["by_opponent_deck"]
    print(json.dumps({
        "bench": "deck_balance", "bot": args.bot, "games": G, "seed": args.seed, "machine": machine(),
        "date": time.strftime("%Y-%m-%d"), "seconds": round(time.time() - t0, 1),
        "win_rate": round(float((result > 0).mean()), 4),
        "playing": {d: round(v["win_rate"], 4) for d, v in playing.items()},
        "against": {d: round(v["win_rate"], 4) for d, v in against.items()},
        "pairing": {a: {b: round(v["win_rate"], 4) for b, v in row.items()} for a, row in res["by_pairing"].items()},
    }))


if __name__ == "__main__":
    main()
