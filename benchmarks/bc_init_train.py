#!/usr/bin/env python
"""What behaviour-cloning initialisation buys PPO: runs ``tcg train --config cpu`` from
scratch and from a BC checkpoint (``--init-from``) with the same seed and wall-clock budget,
side by side, and reports the learner decisions (steps) and minutes each needed to reach a
win-rate threshold against ``heuristic`` in the periodic evaluations.

The runs are launched at the same time, one torch thread each, so they share the machine
equally: compare them by steps (minutes are stretched by the sharing). Extra variants can
be given as ``NAME=--set key=value ...``.

    python benchmarks/bc_init_train.py --bc runs/bcinit/bc/policy.pt --minutes 45 --out runs/bcinit
    python benchmarks/bc_init_train.py --summarize --out runs/bcinit   # runs already made

Writes ``OUT/<variant>/`` runs and ``OUT/bc_init.png`` (win rate against heuristic by
steps), and prints one JSON line.
"""
import argparse
import csv
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path


def first_at(rows, threshold):
    for r in rows:
        if float(r["win_rate"]) >= threshold:
            return {"update": int(r["update"]), "steps": int(r["steps"]), "minutes": float(r["minutes"])}
    return None


def summarize(out: Path, names, thresholds):
    result = {}
    for name in names:
        p = out / name / "league.csv"
        if not p.exists():
            result[name] = {"error": f"{p} missing"}
            continue
        rows = list(csv.DictReader(p.open()))
        heur = [r for r in rows if r["opponent"] == "heuristic"]
        rand = [r for r in rows if r["opponent"] == "random"]
        if not heur:
            result[name] = {"error": "no evaluation against heuristic yet"}
            continue
        best = max(heur, key=lambda r: float(r["win_rate"]))
        result[name] = {
            "evaluations": len(heur), "last_steps": int(heur[-1]["steps"]), "last_minutes": float(heur[-1]["minutes"]),
            "first_heuristic_win_rate": float(heur[0]["win_rate"]),
            "last_heuristic_win_rate": float(heur[-1]["win_rate"]),
            "best_heuristic_win_rate": float(best["win_rate"]), "best_at_steps": int(best["steps"]),
            "mean_heuristic_win_rate_last5": round(sum(float(r["win_rate"]) for r in heur[-5:]) / len(heur[-5:]), 3),
            "last_random_win_rate": float(rand[-1]["win_rate"]) if rand else None,
            **{f"first_at_{t:g}": first_at(heur, t) for t in thresholds},
        }
    return result


def plot(out: Path, names):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for name in names:
        p = out / name / "league.csv"
        if not p.exists():
            continue
        rows = [r for r in csv.DictReader(p.open()) if r["opponent"] == "heuristic"]
        ax.plot([int(r["steps"]) / 1e6 for r in rows], [float(r["win_rate"]) for r in rows], label=name)
    ax.axhline(0.7, color="grey", ls=":", lw=1)
    ax.set_xlabel("learner decisions (millions)")
    ax.set_ylabel("win rate vs heuristic (100 games)")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("PPO from BC initialisation vs from scratch (cpu config)")
    fig.tight_layout()
    fig.savefig(out / "bc_init.png", dpi=110)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bc", help="BC checkpoint (tcg bc DIR/policy.pt) for the bcinit run")
    ap.add_argument("--minutes", type=float, default=45.0)
    ap.add_argument("--out", default="runs/bcinit")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threshold", type=float, nargs="+", default=[0.7, 0.4],
                    help="win rates against heuristic to report the first evaluation reaching (default 0.7 0.4)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=ARGS",
                    help="an extra run, e.g. 'bot50=--set bot_opponent_prob=0.5' (repeatable)")
    ap.add_argument("--summarize", action="store_true", help="only read the runs already in --out")
    args = ap.parse_args()
    out = Path(args.out)
    variants = {"scratch": []}
    if args.bc:
        variants["bcinit"] = ["--init-from", args.bc]
    for v in args.variant:
        name, _, rest = v.partition("=")
        if not name or not rest:
            ap.error(f"--variant wants NAME=ARGS, got {v!r}")
        variants[name] = shlex.split(rest)
    if args.summarize:
        names = sorted(p.name for p in out.iterdir() if (p / "league.csv").exists())
    else:
        if not args.bc:
            ap.error("--bc is required unless --summarize")
        names = list(variants)
        out.mkdir(parents=True, exist_ok=True)
        procs = []
        t0 = time.time()
        for name, extra in variants.items():
            cmd = [sys.executable, "-m", "training.cli", "train", "--config", "cpu", "--minutes", str(args.minutes),
                   "--out", str(out / name), "--seed", str(args.seed), "--no-progress",
                   "--nproc", "1", "--set", "torch_threads=1"] + extra   # the runs share the cores
            log = (out / f"{name}.log").open("w")
            procs.append((name, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log))
        failed = {}
        for name, p, log in procs:
            if p.wait() != 0:
                failed[name] = f"exit {p.returncode}, see {out / (name + '.log')}"
            log.close()
        print(f"runs finished in {(time.time() - t0) / 60:.1f} min", file=sys.stderr)
        if failed:
            print(json.dumps({"bench": "bc_init_train", "failed": failed}))
            sys.exit(1)
    plot(out, names)
    print(json.dumps({"bench": "bc_init_train", "out": str(out), "thresholds": args.threshold,
                      "runs": summarize(out, names, args.threshold)}))


if __name__ == "__main__":
    main()
