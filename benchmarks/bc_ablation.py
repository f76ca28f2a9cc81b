"""Behaviour cloning: masked vs unmasked loss, same demonstrations, same budget, three seeds.

Runs, through the command line a user would type:

1. ``tcg demos --bot BOT --games G --out OUT/demos.bin --seed 0``
2. for loss in (masked, unmasked), for seed in SEEDS:
   ``tcg bc --demos OUT/demos.bin --out OUT/LOSS-sSEED --loss LOSS --seed SEED --epochs E
   --val-every V --patience P --threads 1`` (one split, ``--split-seed 0``, shared by every run)
3. for every run: ``tcg eval --checkpoint OUT/LOSS-sSEED/policy.pt --opponent heuristic
   --games N --seed 1 --json`` (sampling, half the games in each seat), and the same with
   ``--greedy``.

Writes ``CURVES/bc_ablation.png`` (validation loss, the expert's masked NLL, masked tuple
accuracy and the unmasked-argmax illegal rate against optimizer steps; one line per run),
``OUT/ablation.json`` and prints one JSON summary line (means and per-seed values).
``--quick`` is a smoke run (tiny budget, numbers meaningless).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TCG = [sys.executable, "-m", "training.cli"]


def run(cmd: list[str], log) -> str:
    log.write("$ tcg " + " ".join(cmd[len(TCG):]) + "\n")
    log.flush()
    t = time.time()
    # one core per process (torch reads OMP_NUM_THREADS at start; the BC runs also pass --threads 1)
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    log.write(p.stdout + p.stderr + f"[{time.time() - t:.1f}s, exit {p.returncode}]\n")
    log.flush()
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    return p.stdout


def mean_sd(xs):
    import statistics
    return {"mean": round(statistics.fmean(xs), 4), "sd": round(statistics.stdev(xs), 4) if len(xs) > 1 else 0.0,
            "values": [round(x, 4) for x in xs]}


def plot(runs: dict, png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [("val_loss", "validation loss (the run's own loss)"),
              ("val_masked_nll", "expert NLL under the masked sampler"),
              ("val_tuple_acc", "masked greedy tuple accuracy"),
              ("val_unmasked_illegal_rate", "illegal rate, argmax without masks")]
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    colours = {"masked": "tab:blue", "unmasked": "tab:orange"}
    styles = ["-", "--", ":"]
    for (key, title), ax in zip(panels, axes):
        for (loss, seed), rows in sorted(runs.items()):
            ax.plot([r["step"] for r in rows], [r[key] for r in rows], color=colours[loss], alpha=0.8,
                    marker=".", label=f"{loss} seed {seed}" if key == "val_loss" else None,
                    linestyle=styles[sorted({s for _, s in runs}).index(seed) % len(styles)])
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("optimizer steps")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bot", default="heuristic", help="demonstrating bot (default heuristic)")
    ap.add_argument("--games", type=int, default=3000, help="demonstration games (default 3000)")
    ap.add_argument("--epochs", type=int, default=4, help="epoch budget of every run (default 4)")
    ap.add_argument("--val-every", type=int, default=200, help="validate every N steps (default 200)")
    ap.add_argument("--patience", type=int, default=4, help="early-stopping patience in validations (default 4)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="BC seeds (default 0 1 2)")
    ap.add_argument("--eval-games", type=int, default=200, help="games per evaluation (default 200)")
    ap.add_argument("--out", default="runs/bc_ablation", help="working folder (default runs/bc_ablation)")
    ap.add_argument("--curves", default="benchmarks/curves", help="folder of the PNG (default benchmarks/curves)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 60 games, 1 epoch, 20 eval games")
    args = ap.parse_args()
    if args.quick:
        args.games, args.epochs, args.val_every, args.eval_games = 60, 1, 10, 20
    out = (ROOT / args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "log.txt").open("a")
    t_all = time.time()
    demos = out / "demos.bin"
    if demos.exists():
        demos.unlink()
    t = time.time()
    d = json.loads(run(TCG + ["demos", "--bot", args.bot, "--games", str(args.games), "--out", str(demos),
                              "--seed", "0", "--json"], log).strip().splitlines()[-1])
    demo_seconds = time.time() - t
    runs, results = {}, []
    for loss in ("masked", "unmasked"):
        for seed in args.seeds:
            rd = out / f"{loss}-s{seed}"
            t = time.time()
            s = json.loads(run(TCG + ["bc", "--demos", str(demos), "--out", str(rd), "--loss", loss, "--seed", str(seed),
                                      "--epochs", str(args.epochs), "--val-every", str(args.val_every), "--patience",
                                      str(args.patience), "--threads", "1", "--json"], log).strip().splitlines()[-1])
            bc_seconds = time.time() - t
            runs[(loss, seed)] = json.loads((rd / "curves.json").read_text())
            ev = {}
            for mode in ("sample", "greedy"):
                cmd = TCG + ["eval", "--checkpoint", str(rd / "policy.pt"), "--opponent", "heuristic", "--games",
                             str(args.eval_games), "--seed", "1", "--json"] + (["--greedy"] if mode == "greedy" else [])
                ev[mode] = json.loads(run(cmd, log).strip().splitlines()[-1])
            results.append({"loss": loss, "seed": seed, "bc_seconds": round(bc_seconds, 1), **s,
                            "win_rate_vs_heuristic": ev["sample"]["win_rate"],
                            "score_vs_heuristic": ev["sample"]["score"],
                            "win_rate_vs_heuristic_greedy": ev["greedy"]["win_rate"],
                            "eval_illegal_actions": ev["sample"]["illegal_actions"] + ev["greedy"]["illegal_actions"]})
            print(f"{loss} seed {seed}: best val loss {s['best_val_loss']:.4f} (step {s['best_step']}), masked NLL "
                  f"{s['val_masked_nll']:.4f}, masked tuple acc {s['val_tuple_acc']:.3f}, unmasked-argmax illegal "
                  f"{s['val_unmasked_illegal_rate']:.3f}, win vs heuristic {ev['sample']['win_rate']:.3f} "
                  f"(greedy {ev['greedy']['win_rate']:.3f}), {bc_seconds:.0f}s", file=sys.stderr, flush=True)
    png = (ROOT / args.curves / "bc_ablation.png").resolve()
    plot(runs, png)
    keys = ("best_val_loss", "val_masked_nll", "val_tuple_acc", "val_head0_acc", "val_head1_acc", "val_head2_acc",
            "val_head3_acc", "val_unmasked_illegal_rate", "val_unmasked_tuple_acc", "win_rate_vs_heuristic",
            "win_rate_vs_heuristic_greedy", "best_step", "steps", "bc_seconds")
    summary = {"bench": "bc_ablation", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
               "bot": args.bot, "games": args.games, "demo_decisions": d["records"], "demo_seconds": round(demo_seconds, 1),
               "train_decisions": results[0]["train_decisions"], "val_decisions": results[0]["val_decisions"],
               "epochs_budget": args.epochs, "val_every": args.val_every, "patience": args.patience,
               "seeds": args.seeds, "eval_games": args.eval_games,
               "by_loss": {loss: {k: mean_sd([r[k] for r in results if r["loss"] == loss]) for k in keys}
                           for loss in ("masked", "unmasked")},
               "eval_illegal_actions": sum(r["eval_illegal_actions"] for r in results),
               "png": str(png.relative_to(ROOT)) if png.is_relative_to(ROOT) else str(png),
               "wall_seconds": round(time.time() - t_all, 1), "runs": results}
    (out / "ablation.json").write_text(json.dumps(summary, indent=1))
    short = {k: v for k, v in summary.items() if k != "runs"}
    print(json.dumps(short))
    return 0


if __name__ == "__main__":
    sys.exit(main())
