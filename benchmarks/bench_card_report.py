#!/usr/bin/env python
"""What the per-card report's tally costs a match (``tcg cards --games N``): the heuristic against
itself over every pairing from both seats (``training.evaluate.play_match``), timed without and
with ``observe=CardTally(games)``, interleaved, after a warm-up match; then the report itself.
Prints one JSON line with the medians and their ratio.

    python benchmarks/bench_card_report.py [--games 3200] [--rounds 3] [--seed 0]
"""
import argparse
import json
import statistics
import time

from prefabs import shipped_cards
from tcg_env.bench import machine
from tcg_env.bots import HeuristicBot
from training.card_report import CardTally, card_report
from training.evaluate import match_decks, play_match


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--games", type=int, default=3200, help="games a match (default 3200)")
    ap.add_argument("--rounds", type=int, default=3, help="timed pairs of matches (default 3)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.games < 2 or args.rounds < 1:
        ap.error("--games must be >= 2 and --rounds >= 1")
    cards = shipped_cards()
    play_match(HeuristicBot(args.seed), "heuristic", 32, seed=args.seed, cards=cards, observe=CardTally(32))
    plain, tallied, report = [], [], []
    for _ in range(args.rounds):
        t = time.perf_counter()
        play_match(HeuristicBot(args.seed), "heuristic", args.games, seed=args.seed, cards=cards)
        plain.append(time.perf_counter() - t)
        tally = CardTally(args.games)
        t = time.perf_counter()
        res = play_match(HeuristicBot(args.seed), "heuristic", args.games, seed=args.seed, cards=cards, observe=tally)
        tallied.append(time.perf_counter() - t)
        t = time.perf_counter()
        rows = card_report(tally, res["results"], *match_decks(args.games, cards=cards), cards)
        report.append(time.perf_counter() - t)
    print(json.dumps({
        "bench": "card_report", "games": args.games, "rounds": args.rounds, "seed": args.seed, "machine": machine(),
        "date": time.strftime("%Y-%m-%d"), "cards": len(rows),
        "match_s": round(statistics.median(plain), 3), "match_with_tally_s": round(statistics.median(tallied), 3),
        "report_s": round(statistics.median(report), 3),
        "tally_ratio": round(statistics.median(tallied) / statistics.median(plain), 2),
    }))


if __name__ == "__main__":
    main()
