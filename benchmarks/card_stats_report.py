#!/usr/bin/env python
"""Per-card play rates and advantages of a training run, binned by learner decisions.

Reads the ``cards/`` and ``actions/`` scalars that ``tcg train`` writes to TensorBoard every
``card_stats_every`` updates (``training/card_stats.py``) and prints one JSON line: for each
card, per bin of learner decisions, the mean over the bin's writes of its play rate (plays per
decision where it was playable) and of the mean GAE advantage of the decisions that played it
and of those that passed on it; and for each primary action the same means of its share of
the decisions and of its mean advantage.

    python benchmarks/card_stats_report.py runs/latest [--cards "Unmake,Cinder Storm"]
                                                       [--bins 0,1e6,3e6,1e7]

A diagnostic of what the learner plays and why (the advantages are what moves each card's
play rate), not a score. Not run by ``make bench`` (it needs a run).
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

KINDS = ("play_rate", "adv_played", "adv_passed")
ACTION_KINDS = ("frac", "adv")


def load(tb_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` of every ``cards/`` and ``actions/`` scalar under ``tb_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    ea = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    ea.Reload()
    return {t: [(e.step, e.value) for e in ea.Scalars(t)] for t in ea.Tags()["scalars"]
            if t.startswith(("cards/", "actions/"))}


def names_of(scalars: dict, prefix: str) -> list[str]:
    return sorted({t.split("/", 2)[2] for t in scalars if t.startswith(prefix + "/")})


def report(scalars: dict, bins: list[float], prefix: str, kinds: tuple, names: list[str]) -> dict:
    """``{name: {kind: [bin means or None]}}`` of the scalars ``prefix/kind/name``."""
    out = {}
    for n in names:
        row = {}
        for kind in kinds:
            pts = np.array(scalars.get(f"{prefix}/{kind}/{n}", []), np.float64).reshape(-1, 2)
            row[kind] = [round(float(pts[(pts[:, 0] >= a) & (pts[:, 0] < b), 1].mean()), 4)
                         if ((pts[:, 0] >= a) & (pts[:, 0] < b)).any() else None for a, b in zip(bins, bins[1:])]
        out[n] = row
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a training run's output folder (holds tb/) or its tb/ folder")
    ap.add_argument("--cards", default="", metavar="NAME,NAME", help="only these cards (default: every card seen)")
    ap.add_argument("--bins", default="0,1e6,3e6,6e6,1e7,2e7,inf", metavar="EDGES",
                    help="bin edges in learner decisions, ascending (default: %(default)s)")
    args = ap.parse_args()
    tb = Path(args.run) / "tb" if (Path(args.run) / "tb").is_dir() else Path(args.run)
    if not tb.is_dir():
        ap.error(f"no TensorBoard folder at {tb}")
    try:
        bins = [float(x) for x in args.bins.split(",")]
    except ValueError:
        ap.error(f"--bins: not a list of numbers: {args.bins!r}")
    if len(bins) < 2 or any(b <= a for a, b in zip(bins, bins[1:])):
        ap.error(f"--bins: need at least two ascending edges, got {args.bins!r}")
    scalars = load(tb)
    if not scalars:
        sys.exit(f"card_stats_report: no cards/ or actions/ scalars in {tb} (was the run trained with card_stats_every > 0?)")
    cards = [c.strip().replace(" ", "_") for c in args.cards.split(",") if c.strip()] or None
    known = names_of(scalars, "cards")
    if cards is not None and not set(cards) <= set(known):
        ap.error(f"--cards: never playable in this run: {sorted(set(cards) - set(known))}")
    print(json.dumps({"report": "card_stats", "run": args.run, "bins": args.bins.split(","),
                      "cards": report(scalars, bins, "cards", KINDS, [n for n in known if cards is None or n in cards]),
                      "actions": report(scalars, bins, "actions", ACTION_KINDS, names_of(scalars, "actions"))}))


if __name__ == "__main__":
    main()
