#!/usr/bin/env python
"""Training ablations, one short run each with the same seed and budget (cpu config):

- ``exact``: the default, exact joint entropy bonus and the sequential sampler;
- ``sampled_entropy``: the per-head sampled-prefix entropy estimate instead;
- ``independent_heads``: heads drawn independently with a mask on the primary only.

Writes ``OUT/<variant>/`` runs, ``OUT/ablation.png`` (win rate vs random and heuristic over
time) and prints one JSON line with each variant's final win rates and illegal actions.

    python benchmarks/ablation_train.py --minutes 2.5 --out runs/ablation
"""
import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

VARIANTS = {
    "exact": [],
    "sampled_entropy": ["--set", "entropy=sampled"],
    "independent_heads": ["--set", "independent_heads=true"],
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=2.5)
    ap.add_argument("--out", default="runs/ablation")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", nargs="*", default=list(VARIANTS))
    args = ap.parse_args()
    out = Path(args.out)
    summary = {"bench": "ablation_train", "minutes": args.minutes, "seed": args.seed, "variants": {}}
    for name in args.only:
        run = out / name
        cmd = [sys.executable, "-m", "training.cli", "train", "--config", "cpu", "--minutes", str(args.minutes),
               "--out", str(run), "--seed", str(args.seed), "--no-progress", "--final-eval-games", "200",
               "--set", "eval_every=5"] + VARIANTS[name]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            summary["variants"][name] = {"error": res.stderr[-500:]}
            continue
        rows = list(csv.DictReader((run / "league.csv").open()))
        last = {r["opponent"]: float(r["win_rate"]) for r in rows if r["update"] == rows[-1]["update"]}
        illegal = [l for l in res.stdout.splitlines() if " illegal " in l]
        total_illegal = sum(int(l.split(" illegal ")[1].split()[0]) for l in illegal)
        summary["variants"][name] = {"final_win_rate_vs_random": last.get("random"),
                                     "final_win_rate_vs_heuristic": last.get("heuristic"),
                                     "updates": int(rows[-1]["update"]), "steps": int(rows[-1]["steps"]),
                                     "illegal_actions_sampled": total_illegal}
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for name in args.only:
            p = out / name / "league.csv"
            if not p.exists():
                continue
            rows = list(csv.DictReader(p.open()))
            for ax, opp in zip(axes, ("random", "heuristic")):
                pts = [(float(r["minutes"]), float(r["win_rate"])) for r in rows if r["opponent"] == opp]
                if pts:
                    ax.plot(*zip(*pts), marker="o", label=name)
        for ax, opp in zip(axes, ("random", "heuristic")):
            ax.set_title(f"win rate vs {opp}")
            ax.set_xlabel("minutes")
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        fig.savefig(out / "ablation.png", dpi=90)
    except Exception as e:  # the figures matter more than the plot
        summary["plot_error"] = str(e)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
