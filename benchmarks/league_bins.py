#!/usr/bin/env python
"""Mean evaluation win rate of training runs, binned by learner decisions or by minutes.

Reads each run's ``league.csv`` (written by ``tcg train`` at every evaluation) and prints one
JSON line: per run, per bin, the mean win rate of the evaluations against ``--opponent`` whose
step count (or wall minutes) falls in the bin, and how many evaluations that mean holds; plus
the run's last evaluation. This is how the learning probes in benchmarks/RESULTS.md are
compared: runs that shared the machine made different numbers of decisions per minute, so they
are compared by decisions; runs that had the machine alone, also by minutes.

    python benchmarks/league_bins.py runs/p10/typed runs/p10/sv [--by decisions|minutes]
                                     [--opponent heuristic] [--bins 0,0.5e6,1e6,2e6,3e6,4e6,6e6,8e6]

One 100-game evaluation has a standard error of ~5 points: read a bin's mean with its count.
Not run by ``make bench`` (it needs runs).
"""
import argparse
import csv
import json
import math
import sys
from pathlib import Path

DEFAULT_BINS = {"decisions": "0,0.5e6,1e6,2e6,3e6,4e6,6e6,8e6,inf", "minutes": "0,10,20,30,40,50,60"}
NEEDED = ("steps", "minutes", "opponent", "win_rate")


def load(run: Path, opponent: str) -> list[tuple[int, float, float]]:
    """``[(steps, minutes, win_rate), ...]`` of the run's evaluations against ``opponent``."""
    path = run / "league.csv" if run.is_dir() else run
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in NEEDED if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: not a league table (no column(s) {missing})")
        return [(int(r["steps"]), float(r["minutes"]), float(r["win_rate"])) for r in reader
                if r["opponent"] == opponent]


def binned(rows, edges: list[float], by: str) -> list[dict]:
    """Per bin [a, b): the mean win rate (None when empty) and the number of evaluations."""
    col = 0 if by == "decisions" else 1
    out = []
    for a, b in zip(edges, edges[1:]):
        v = [r[2] for r in rows if a <= r[col] < b]
        out.append({"mean": round(sum(v) / len(v), 4) if v else None, "n": len(v)})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="training run folders (holding league.csv) or league.csv files")
    ap.add_argument("--by", choices=("decisions", "minutes"), default="decisions",
                    help="bin by learner decisions (steps) or by wall minutes (default: %(default)s)")
    ap.add_argument("--opponent", default="heuristic",
                    help="opponent column of the league table, e.g. heuristic, random (default: %(default)s)")
    ap.add_argument("--bins", default=None, metavar="EDGES",
                    help="ascending bin edges ('inf' allowed); default by decisions "
                         f"{DEFAULT_BINS['decisions']}, by minutes {DEFAULT_BINS['minutes']}")
    args = ap.parse_args(argv)
    spec = args.bins or DEFAULT_BINS[args.by]
    try:
        edges = [float(x) for x in spec.split(",")]
    except ValueError:
        ap.error(f"--bins: not a list of numbers: {spec!r}")
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])) or any(math.isnan(e) for e in edges):
        ap.error(f"--bins: need at least two ascending edges, got {spec!r}")
    result = {"report": "league_bins", "by": args.by, "opponent": args.opponent, "bins": spec.split(","), "runs": {}}
    for run in args.runs:
        p = Path(run)
        if not (p / "league.csv").is_file() and not p.is_file():
            ap.error(f"{run}: no league.csv (is it a tcg train output folder?)")
        try:
            rows = load(p, args.opponent)
        except ValueError as e:
            ap.error(str(e))
        if not rows:
            sys.exit(f"league_bins: {run} has no evaluations against {args.opponent!r}")
        last = rows[-1]
        result["runs"][run] = {"bins": binned(rows, edges, args.by),
                               "last": {"steps": last[0], "minutes": last[1], "win_rate": last[2]}}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
