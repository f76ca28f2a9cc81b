"""The ``tcg`` command line: ``tcg verify``, ``tcg bench`` (more subcommands arrive with
the env faces, the policy and the trainer)."""
from __future__ import annotations

import argparse
import json
import sys


def _cmd_verify(args) -> int:
    from rich.progress import Progress
    from tcg_env.selfcheck import verify_random_states

    if args.states < 1:
        raise SystemExit("tcg verify: --states must be >= 1")
    with Progress(transient=True, disable=args.json or not sys.stderr.isatty()) as prog:
        task = prog.add_task("cross-checking states", total=args.states)
        rep = verify_random_states(args.states, args.seed, progress=lambda k: prog.advance(task, k))
    summary = {"states": rep.states, "games": rep.games, "tuples_checked": rep.tuples_checked,
               "mismatches": rep.mismatches, "order_violations": rep.order_violations,
               "max_legal_seen": rep.max_legal, "seconds": round(rep.seconds, 2), "ok": rep.ok}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"verify: {rep.states} states from {rep.games} games, {rep.tuples_checked} tuples explained, "
              f"{rep.mismatches} mismatches, {rep.order_violations} order violations, largest legal list "
              f"{rep.max_legal}, {rep.seconds:.1f}s -> {'OK' if rep.ok else 'FAILED'}")
    for seed, decision, t, why, listed in rep.failures:
        print(f"  game seed {seed}, decision {decision}: tuple {t} listed={listed} explain={why!r}",
              file=sys.stderr)
    return 0 if rep.ok else 1


def _cmd_bench(args) -> int:
    if args.what == "env":
        from tcg_env.bench import run
        res = run(quick=args.quick, start_times=not args.no_start_times)
    else:  # argparse restricts choices
        raise AssertionError(args.what)
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k}: {v}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tcg", description="Train, evaluate, verify and benchmark the TCG stack.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    v = sub.add_parser("verify", help="cross-check legal_tuples against explain on random states",
                       description="Play uniformly random games over every prebuilt deck pairing and, on every "
                                   "visited state, explain every tuple of the full product space; a tuple must be "
                                   "explained legal exactly when legal_tuples lists it. Exits 1 on any mismatch.")
    v.add_argument("--states", type=int, default=2000, help="number of states to check (default 2000)")
    v.add_argument("--seed", type=int, default=0, help="seed of the random games (default 0)")
    v.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    v.set_defaults(func=_cmd_verify)

    b = sub.add_parser("bench", help="throughput benchmarks (one JSON line with --json)",
                       description="Benchmarks print figures; they are never run by `make test`.")
    b.add_argument("what", choices=["env"], help="env: engine decisions per second")
    b.add_argument("--json", action="store_true", help="print one JSON line")
    b.add_argument("--quick", action="store_true", help="fewer decisions (a smoke run, noisier figures)")
    b.add_argument("--no-start-times", action="store_true", help="skip the numba cold/warm start measurement")
    b.set_defaults(func=_cmd_bench)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
