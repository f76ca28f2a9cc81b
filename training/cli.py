"""The ``tcg`` command line: ``verify``, ``bench``, ``play``, ``replay`` (and ``train``/``eval``
with the trainer, ``demos``/``bc`` for behaviour cloning). ``tcg COMMAND --help`` explains each."""
from __future__ import annotations

import argparse
import json
import os
import sys


def _cmd_verify(args) -> int:
    from tcg_env.selfcheck import verify_random_states

    if args.states < 1:   # a usage error (2), not a mismatch (1)
        print(f"tcg verify: --states must be >= 1, got {args.states}", file=sys.stderr)
        return 2
    with _quiet_progress(json_out=args.json) as prog:
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
    elif args.what == "sampler":
        from training.bench import run
        res = run(quick=args.quick)
    else:  # argparse restricts choices
        raise AssertionError(args.what)
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k}: {v}")
    return 0


def _cmd_play(args) -> int:
    from tcg_env.play import play_command
    return play_command(args)


def _cmd_replay(args) -> int:
    from tcg_env.replay import replay_command
    return replay_command(args)


def _card_file_flags(parser, defaults: str) -> None:
    """``--cards FILE`` and ``--decks-file FILE`` (read by ``tcg_env.play.cards_from_flags``);
    ``defaults`` ends the help: what is played when neither is given."""
    parser.add_argument("--cards", default=None, metavar="FILE",
                        help="play your own cards: a cards file (TOML, the form of prefabs/data/cards.toml)" + defaults)
    parser.add_argument("--decks-file", default=None, metavar="FILE",
                        help="the decks to deal: a decks file of decks built from the cards (default with --cards: "
                             "the prebuilt decks, which need the shipped cards' names)")


def _checkpoint_spec(spec: str, what: str) -> tuple[str, str]:
    """``checkpoint:PATH[@greedy|@sample]`` as (PATH, mode: '', 'greedy' or 'sample'), as
    :func:`tcg_env.bots.make_bot` reads it; ValueError naming ``what`` (the flag) for another mode."""
    path, _, mode = spec[len("checkpoint:"):].partition("@")
    if mode not in ("", "greedy", "sample"):
        raise ValueError(f"{what} checkpoint mode must be 'greedy' or 'sample' (checkpoint:PATH@greedy), got {mode!r}")
    return path, mode


def _self_play(spec: str, seed: int, cards):
    """What ``tcg cards --bot SPEC`` plays both seats with: ``play_match``'s (policy, opponent,
    keyword arguments). A ``checkpoint:PATH`` policy samples its tuples (``@greedy``: plays its
    most likely one), as ``tcg eval`` plays one; the others are :func:`tcg_env.bots.make_bot`'s."""
    from tcg_env.bots import make_bot
    from .checkpoint import load_policy
    if spec.startswith("checkpoint:"):
        path, mode = _checkpoint_spec(spec, "--bot")
        policy = load_policy(path, cards=cards)
        return policy, "policy", {"opponent_policy": policy, "greedy": mode == "greedy"}
    bot = make_bot(spec, seed, cards=cards)
    return bot, bot, {}


def _cmd_cards(args) -> int:
    """``tcg cards``: load a cards file and a decks file as training would, list what they hold,
    and with ``--games N`` play a bot (default the heuristic) against itself over every deck
    pairing and print the win rate by pairing and the per-card report of
    :mod:`training.card_report`."""
    from collections import Counter

    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from tcg_env.play import cards_from_flags
    from .card_report import CardTally, card_report, format_card_report
    from .config import match_games_problem
    from .evaluate import format_pairings, match_decks, play_match
    bad = match_games_problem(args.games, "--games") if args.games else (
        "--by-deck needs --games N (it splits the per-card report)" if args.by_deck else None)
    if bad:
        print(f"tcg cards: {bad}", file=sys.stderr)
        return 2
    try:
        cards = cards_from_flags(args.cards, args.decks_file, args.bot)
        player = _self_play(args.bot, args.seed, cards)   # built without --games too: a bad --bot is refused
    except (ValueError, ImportError, OSError) as e:   # a file, card or deck named by its flag; a bad --bot
        print(f"tcg cards: {e}", file=sys.stderr)
        return 2
    kinds = Counter(c.type.name for c in cards.pool.cards)
    out = {"cards": len(cards.pool), "by_type": dict(sorted(kinds.items())), "card_table_digest": cards.digest,
           "decks": {d.name: {"plan": d.plan, "leader": d.leader, "main": len(d.main), "different": len(set(d.main)),
                              "ikz": len(d.ikz)} for d in cards.decks.values()}}
    if not args.json:
        print(f"{len(cards.pool)} cards ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}); "
              f"card table digest {cards.digest}")
        for d in cards.decks.values():
            print(f"deck {d.name} ({d.plan}): leader {d.leader}, {len(d.main)} main cards ({len(set(d.main))} "
                  f"different), {len(d.ikz)} IKZ")
    if args.games:
        policy, opponent, kw = player
        tally = CardTally(args.games)
        cols = [TextColumn("[bold]cards"), BarColumn(), MofNCompleteColumn(), TextColumn("games finished"),
                TimeElapsedColumn()]
        with _quiet_progress(*cols, json_out=args.json) as prog:
            task = prog.add_task("cards", total=args.games)
            res = play_match(policy, opponent, args.games, seed=args.seed, cards=cards, observe=tally,
                             progress=lambda done, total: prog.update(task, completed=done, total=total), **kw)
        decks, seat = match_decks(args.games, cards=cards)
        rows = card_report(tally, res["results"], decks, seat, cards, by_deck=args.by_deck)
        out.update({"bot": args.bot, "games": args.games, "seed": args.seed, "mean_decisions": res["mean_decisions"],
                    "draws": res["draws"], "illegal_actions": res["illegal_actions"],
                    "by_pairing": res["by_pairing"], "by_card": rows})
        if not args.json:
            print(f"{args.bot} against itself, {args.games} games over every pairing from both seats "
                  f"({res['mean_decisions']:.0f} decisions a game on average, {res['draws']} draws or truncations):")
            print(format_pairings(res, cards), end="")
            print(format_card_report(rows), end="")
    if args.json:
        print(json.dumps(out))
    return 0


# what a training run (tcg train) or a BC run (tcg bc) writes into its folder: a new run into a
# folder holding any of them would overwrite or append to it
RUN_FILES = ("checkpoints", "policy.pt", "config.json", "tb", "league.csv", "league.png",   # tcg train
             "bc_config.json", "last.pt", "curves.csv", "curves.json", "curves.png", "summary.json")   # tcg bc


def _holds_output(out) -> str | None:
    """The first thing in folder ``out`` that a new run would overwrite (a training or BC run's
    files, or a file of the same name: :data:`RUN_FILES`), or None."""
    from pathlib import Path
    out = Path(out)
    found = sorted((out / "checkpoints").glob("ckpt_*.pt"))[-1:] + [out / n for n in RUN_FILES if (out / n).exists()]
    return str(found[0]) if found else None


def _output_folder(out, flag: str = "--out"):
    """Create the output folder ``out`` now (ValueError naming it if it is empty, a file or cannot
    be made), so a bad path is a usage error before any work rather than a traceback after it.
    Returns the outermost folder created here (``out`` or one of its parents), or None if ``out``
    existed (see :func:`_drop_if_unused`)."""
    from pathlib import Path
    if not str(out).strip():
        raise ValueError(f"{flag} must name a folder, got {str(out)!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{flag} {out} is a file; give a folder")
    created = None
    for folder in (out, *out.parents):
        if folder.exists():
            break
        created = folder
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{flag} {out} cannot be created ({e.strerror or e})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        _drop_if_unused(out, created)   # the caller never learns what was made here: leave nothing behind
        raise ValueError(f"{flag} {out} is not writable")
    return created


def _drop_if_unused(out, created) -> None:
    """Remove the folders :func:`_output_folder` created for a command that then failed before
    writing anything into them: ``out`` and its parents up to ``created``, each only while empty
    (a refused run leaves no empty folder behind)."""
    from pathlib import Path
    if created is None:
        return
    folder, created = Path(out), Path(created)
    while True:
        try:
            folder.rmdir()   # only succeeds while empty (under torchrun another rank may hold files in it)
        except OSError:
            return
        if folder == created or folder == folder.parent:
            return
        folder = folder.parent


def _make_room(cfg, move: bool = True) -> None:
    """A new run (not --resume) never overwrites an earlier one: the default folder (runs/latest)
    is moved aside to runs/latest-<time>, and a folder named by --out or the config is refused.
    Under torchrun every rank calls this before the ranks meet (so every rank refuses together)
    and only rank 0 (``move``) moves the folder."""
    import time
    from pathlib import Path

    from .config import TrainConfig
    held = _holds_output(cfg.out)
    if held is None:
        return
    if Path(cfg.out).resolve() != Path(TrainConfig().out).resolve():   # runs/latest however it is spelt
        raise ValueError(f"{cfg.out} already holds a run or a file a run writes ({held}): continue a run with "
                         f"--resume {cfg.out}, or train into another --out")
    if not move:
        return
    old = Path(cfg.out)
    aside = old.with_name(f"{old.name}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(old.stat().st_mtime))}")
    while aside.exists():
        aside = aside.with_name(aside.name + "+")
    old.rename(aside)
    print(f"tcg train: {old} held an earlier run; moved it to {aside}", file=sys.stderr)


def _cmd_train(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from . import distributed as D
    from .checkpoint import CheckpointError, NonFiniteWeightsError, load_checkpoint, resume_fields, resume_target
    from .ppo import check_resumable
    from .config import TrainConfig, match_games_problem
    from .evaluate import format_table

    try:
        overrides = TrainConfig.typed(parse_sets(args.set or []), "--set")   # its errors say --set, not the config
        for key, val in (("total_steps", args.total_steps), ("minutes", args.minutes), ("out", args.out),
                         ("seed", args.seed), ("nproc", args.nproc)):
            if val is not None:
                overrides[key] = val
        if args.total_steps is not None and args.minutes is None:
            overrides["minutes"] = 0.0
        for flag, val, what in (("--config", args.config, "a named config (cpu, gpu) or a .toml file"),
                                ("--resume", args.resume, "a run folder or a checkpoint file"),
                                ("--init-from", args.init_from, "a policy checkpoint file")):
            if val is not None and not val.strip():   # '' would otherwise read as "not given"
                raise ValueError(f"{flag} needs {what}, got {val!r}")
        saved = None   # the checkpoint --resume or --init-from names, read once here for its checks
        if args.resume:
            # the run goes on as it was: its saved settings (flags and --set still override them),
            # writing to its own folder
            if args.init_from is not None:
                raise ValueError("--resume continues a run from its checkpoint; --init-from starts a new one from "
                                 "a policy: give one of them")
            if args.config is not None:
                raise ValueError("--resume continues a run with the settings saved in its checkpoint: drop "
                                 "--config (change a setting with --set KEY=VALUE, the length with --minutes or "
                                 "--total-steps, both counted over the whole run)")
            ckpt, run_dir = resume_target(args.resume)
            saved = load_checkpoint(ckpt)
            base, counters = resume_fields(saved, ckpt)
            out = overrides.setdefault("out", str(run_dir))
            if os.path.realpath(out) != os.path.realpath(run_dir):   # it would write over another folder's files
                raise ValueError(f"--resume continues the run in its own folder ({run_dir}); drop --out {out} "
                                 f"(to start a new run from this one's policy, use --init-from {ckpt})")
            where = f"--resume {args.resume} (settings saved in {ckpt})"   # printed after "tcg train: "
        else:
            name = args.config or "cpu"
            base = (TrainConfig.from_toml(name) if name.endswith(".toml") else TrainConfig.named(name)).to_dict()
            where = f"config {name}"
        cfg = TrainConfig.from_dict({**base, **overrides}, where=where)
        if args.resume:
            # the checks each rank's Trainer.load makes, here once, before any rank starts
            check_resumable(saved, cfg, ckpt, int(os.environ.get("WORLD_SIZE", cfg.nproc)))
            # a run already past both limits would only rewrite its policy
            done, secs = int(counters.get("steps", 0)), float(counters.get("elapsed", 0.0))
            reached = ([f"total_steps {cfg.total_steps:,}"] if done >= cfg.total_steps else []) + \
                ([f"minutes {cfg.minutes:g}"] if cfg.minutes and secs >= cfg.minutes * 60 else [])
            if reached:
                raise ValueError(f"{ckpt} has already trained {done:,} decisions in {secs / 60:.1f} minutes, which "
                                 f"reaches {' and '.join(reached)}: give a larger --total-steps or --minutes "
                                 f"(both count the whole run)")
        bad = match_games_problem(args.final_eval_games, "--final-eval-games")
        if bad:                          # checked now, not after the training it would end
            raise ValueError(bad)
        if args.init_from is not None:   # checked before a folder is made or ranks start (CheckpointError)
            from .checkpoint import load_init_weights
            from .ppo import build_policy
            cards = cfg.cards()   # the policy must have been trained on the run's cards
            saved = load_init_weights(build_policy(cfg, cards), args.init_from, cards=cards)
        if not args.resume:   # the launcher (its ranks then find the folder free), a single process, or a rank
            _make_room(cfg, move=os.environ.get("RANK", "0") == "0")
        created = _output_folder(cfg.out)
    except ValueError as e:   # CheckpointError is one
        print(f"tcg train: {e}", file=sys.stderr)
        return 2
    if cfg.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _relaunch_under_torchrun(args, cfg)
    D.init()
    from .ppo import Trainer
    console = Console(stderr=False, soft_wrap=True)
    try:
        trainer = Trainer(cfg, resume=args.resume, init_from=args.init_from, console=console,
                          checkpoint=saved)
    except (CheckpointError, ValueError) as e:
        _drop_if_unused(cfg.out, created)
        print(f"tcg train: {e}", file=sys.stderr)
        return 2
    main_rank = D.rank() == 0
    if main_rank:
        source = f"the settings saved in {args.resume}" if args.resume else f"config {args.config or 'cpu'}"
        console.print(f"tcg train: {source}, {cfg.num_envs} games x {cfg.rollout_steps} steps per update, "
                      f"policy {cfg.policy_size} on {trainer.device}, world size {D.world_size()}, out {cfg.out}"
                      + (f", resumed at update {trainer.update}" if args.resume else ""), highlight=False)
    show = main_rank and console.is_terminal and not args.no_progress
    cols = [TextColumn("[bold]train"), BarColumn(), TextColumn("{task.fields[steps]:>11,} steps"),
            TextColumn("{task.fields[sps]:>7.0f} sps"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), TextColumn("{task.fields[wins]}")]
    with Progress(*cols, console=console, disable=not show, transient=False) as prog:
        task = prog.add_task("train", total=1000, steps=trainer.steps, sps=0.0, wins="")

        def on_update(tr, stats):
            frac = tr.steps / cfg.total_steps
            if cfg.minutes:
                frac = max(frac, tr.elapsed() / (cfg.minutes * 60))
            wins = " ".join(f"{k.split('vs_')[1]} {v:.0%}" for k, v in stats.items()
                            if k.startswith("eval/win_rate_vs_") and not k.endswith(tuple("0123456789")))
            if wins:
                on_update.wins = wins
            prog.update(task, completed=min(1000, int(frac * 1000)), steps=tr.steps, sps=stats.get("sps", 0.0),
                        wins=getattr(on_update, "wins", ""))

        try:
            trainer.train(progress=on_update)
        except NonFiniteWeightsError as e:   # every rank holds the same weights: all stop here
            print(f"tcg train: {e}", file=sys.stderr)
            return 1
        finally:
            trainer.close()
    from .evaluate import evaluate_policy
    table = {}
    for opp in ("random", "heuristic"):   # every rank plays its block of the games
        table[opp] = evaluate_policy(trainer.policy, opp, args.final_eval_games, seed=cfg.seed + 99,
                                     device=trainer.device, split=True, cards=trainer.cards)
    if main_rank and args.json:   # the last line of stdout
        keys = ("games", "wins", "losses", "draws", "win_rate", "illegal_actions")
        print(json.dumps({"out": cfg.out, "updates": trainer.update, "steps": trainer.steps,
                          "minutes": round(trainer.elapsed() / 60, 2), "illegal_actions_total": trainer.illegal_total,
                          "final": {opp: {k: r[k] for k in keys} for opp, r in table.items()}}), flush=True)
    elif main_rank:
        console.print(format_table(table), highlight=False, markup=False)
        console.print(f"checkpoints in {cfg.out}/checkpoints, policy in {cfg.out}/policy.pt, "
                      f"TensorBoard logs in {cfg.out}/tb, league table {cfg.out}/league.csv", highlight=False)
    return 0   # a torchrun rank ends in main(), through distributed.finish


def _relaunch_under_torchrun(args, cfg) -> int:
    """``tcg train --nproc K`` (or a config with ``nproc = K``): start this same command as K
    ranks under ``torchrun --standalone`` on this machine (gloo on CPU, NCCL on CUDA). A config
    that leaves ``torch_threads`` at 0 gets the cores split between the ranks."""
    import signal
    import subprocess

    from . import distributed as D

    threads, env = D.rank_threads_and_env(cfg.nproc, cfg.torch_threads, cfg.device)
    cmd = D.torchrun_prefix(cfg.nproc) + ["-m", "training.cli", "train",
                                          "--final-eval-games", str(args.final_eval_games)]
    for flag, val in (("--config", args.config), ("--total-steps", args.total_steps), ("--minutes", args.minutes),
                      ("--out", args.out), ("--resume", args.resume), ("--init-from", args.init_from),
                      ("--seed", args.seed)):
        if val is not None:
            cmd += [flag, str(val)]
    for item in args.set or []:
        cmd += ["--set", item]
    # so the run's config.json and checkpoints say how it ran
    cmd += ["--set", f"nproc={cfg.nproc}", "--set", f"torch_threads={threads}"]
    for flag in ("no_progress", "json"):
        if getattr(args, flag):
            cmd.append("--" + flag.replace("_", "-"))
    proc = subprocess.Popen(cmd, env=env)
    # SIGTERM to this launcher reaches the ranks too (torchrun passes it on); Ctrl-C already
    # reaches the whole process group, so the launcher only waits for them to finish.
    previous = signal.signal(signal.SIGTERM, lambda sig, frame: proc.send_signal(sig))
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:
                continue
    finally:
        signal.signal(signal.SIGTERM, previous)


SEED_MAX = 2 ** 63 - 1   # every command's --seed: numpy, torch and JSON all hold it


def seed_arg(text: str) -> int:
    """argparse type of every ``--seed``: an integer in 0..2**63-1 (a usage error, exit 2, otherwise)."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; a seed is 0..2**63-1") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{value} is out of range; a seed is 0..2**63-1")
    return value


def train_seed_arg(text: str) -> int:
    """argparse type of ``tcg train --seed``: an integer in 0..2**32-1, the range of
    ``TrainConfig.seed`` (every generator's seed is derived from it by a small multiplier)."""
    value = seed_arg(text)
    if value >= 2 ** 32:
        raise argparse.ArgumentTypeError(f"{value} is out of range; a training seed is 0..2**32-1")
    return value


def parse_sets(items) -> dict:
    """``--set KEY=VALUE`` items as a dict of overrides (values read by :func:`parse_value`)."""
    out = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {item!r}")
        out[key] = parse_value(val)
    return out


def named_config_and_sets(ap: argparse.ArgumentParser, name: str, items) -> tuple[dict, dict]:
    """For scripts built on a named config (the benchmarks): its settings and the ``--set``
    overrides ``items``, checked together (before any rank starts), or ``ap.error`` (exit 2)
    naming what was wrong."""
    from .config import TrainConfig
    try:
        base, sets = TrainConfig.named(name).to_dict(), parse_sets(items)
        TrainConfig.from_dict({**base, **sets}, where=f"config {name} with --set")
    except ValueError as e:
        ap.error(str(e))
    return base, sets


def parse_value(v: str):
    """A `--set` value as TOML would read it: true/false, an int or float (underscores allowed), else the string."""
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(v.replace("_", ""))
        except ValueError:
            pass
    return v


def _quiet_progress(*columns, json_out: bool = False):
    """A transient rich progress bar on stderr (so a piped table or --json line on stdout stays
    clean), shown only when stderr is a terminal and --json is off."""
    from rich.console import Console
    from rich.progress import Progress
    console = Console(stderr=True)
    return Progress(*columns, console=console, transient=True, disable=json_out or not console.is_terminal)


def _cmd_eval(args) -> int:
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from tcg_env.bots import make_bot
    from .checkpoint import CheckpointError, load_policy, policy_cards
    from .evaluate import format_pairings, format_table, parse_pairing, play_match

    from .config import match_games_problem
    bad = match_games_problem(args.games, "--games")
    if bad:
        print(f"tcg eval: {bad}", file=sys.stderr)
        return 2
    try:
        cards = policy_cards(args.checkpoint)   # the cards it was trained on: the games deal its decks
        pairing = None if args.decks is None else parse_pairing(args.decks, cards)
        policy = load_policy(args.checkpoint, cards=cards)
        opp_policy, opp_greedy = None, None
        kind = args.opponent
        if kind.startswith("checkpoint:"):
            path, mode = _checkpoint_spec(kind, "--opponent")
            opp_policy, opp_greedy = load_policy(path, cards=cards), {"": None, "greedy": True, "sample": False}[mode]
            kind = "policy"
        elif kind not in ("random", "heuristic"):
            kind = make_bot(kind, seed=args.seed)   # search[:BUDGET], or the standard message for a bad name
    except (CheckpointError, ValueError) as e:
        print(f"tcg eval: {e}", file=sys.stderr)
        return 2
    # the games run as one batch and end at different times: the bar counts the finished ones
    cols = [TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(), TextColumn("games finished"),
            TimeElapsedColumn()]
    with torch.no_grad(), _quiet_progress(*cols, json_out=args.json) as prog:
        task = prog.add_task("eval", total=args.games)
        res = play_match(policy, kind, args.games, seed=args.seed, greedy=args.greedy, opponent_policy=opp_policy,
                         pairing=pairing, opponent_greedy=opp_greedy, cards=None if cards.shipped else cards,
                         progress=lambda done, total: prog.update(task, completed=done, total=total))
    for per_game in ("results", "lengths"):   # arrays, not part of the summary
        res.pop(per_game)
    if args.json:
        print(json.dumps({"checkpoint": args.checkpoint, "opponent": args.opponent, **res}))
    else:
        print(format_table({args.opponent: res}))
        for key, label in (("by_own_deck", "win rate by own deck"), ("by_opponent_deck", "by opponent's deck")):
            print(f"{label}: " + ", ".join(f"{d} {v['win_rate']:.0%} ({v['games']})" for d, v in res[key].items()))
        print(format_pairings(res, None if cards.shipped else cards), end="")
    return 0


def _cmd_demos(args) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from .demos import BotError, DemoError, write_demos

    from tcg_env.vec import MAX_GAMES
    for flag, val, low, high in (("--games", args.games, 1, None), ("--parallel", args.parallel, 1, MAX_GAMES),
                                 ("--chunk-records", args.chunk_records, 1, None)):
        if val < low or (high is not None and val > high):
            print(f"tcg demos: {flag} must be >= {low}" + (f" and <= {high:,}" if high else "") + f", got {val:,}",
                  file=sys.stderr)
            return 2
    from pathlib import Path
    if not args.out.strip():
        print("tcg demos: --out must name a file to write, got an empty path", file=sys.stderr)
        return 2
    if Path(args.out).is_dir():
        print(f"tcg demos: --out {args.out} is a folder; give a file path", file=sys.stderr)
        return 2
    if args.append and not Path(args.out).exists():   # a mistyped path would start a new file unnoticed
        print(f"tcg demos: --append adds games to an existing file, and {args.out} does not exist; drop --append "
              f"to start a new file", file=sys.stderr)
        return 2
    if Path(args.out).exists() and not args.append:
        print(f"tcg demos: {args.out} exists; pass --append to add games to it, or choose another --out",
              file=sys.stderr)
        return 2
    try:
        from tcg_env.play import cards_from_flags
        # given by flags or a checkpoint bot; else None: an appended file's own cards, or the shipped ones
        cards = cards_from_flags(args.cards, args.decks_file, args.bot) if (
            args.cards is not None or args.decks_file is not None or args.bot.startswith("checkpoint:")) else None
        created = _output_folder(Path(args.out).parent, "the folder of --out")
    except ValueError as e:   # PlayError and CheckpointError are ValueErrors
        print(f"tcg demos: {e}", file=sys.stderr)
        return 2
    cols = [TextColumn("[bold]demos"), BarColumn(), MofNCompleteColumn(), TextColumn("games"),
            TextColumn("{task.fields[records]:>9,} decisions"), TimeElapsedColumn(), TimeRemainingColumn()]
    with _quiet_progress(*cols, json_out=args.json) as prog:
        task = prog.add_task("demos", total=args.games, records=0)
        try:
            res = write_demos(args.out, bot=args.bot, games=args.games, seed=args.seed, append=args.append,
                              parallel=args.parallel, chunk_records=args.chunk_records,
                              decks=args.decks, cards=cards,
                              progress=lambda g, r: prog.update(task, completed=g, records=r))
        except (DemoError, BotError, ValueError) as e:   # unknown bot or deck, a file of another version, ...
            _drop_if_unused(Path(args.out).parent, created)
            print(f"tcg demos: {e}", file=sys.stderr)
            return 2
        except OSError as e:   # the disk filled, or the folder went away: the file is left as it was
            print(f"tcg demos: writing {args.out} failed ({e}); nothing was added to it", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(res))
    else:
        print(f"demos: {res['games']} games, {res['records']} decisions by {res['bot']} "
              f"({res['decisions_per_game']} per game; seat 0 won {res['seat0_wins']}, seat 1 {res['seat1_wins']}, "
              f"{res['draws_or_truncated']} drawn or truncated) in {res['seconds']}s -> {res['out']} "
              f"({'appended; ' if res['appended'] else ''}file: {res['file_games']} games, {res['file_records']} "
              f"decisions, {res['file_chunks']} chunks, {res['bytes']:,} bytes)")
    return 0


def _cmd_bc(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from .bc import BCConfig, BCTrainer, NoFiniteValidationError, json_text
    from .checkpoint import NonFiniteWeightsError
    from .demos import DemoError

    cfg = BCConfig(demos=args.demos, out=args.out, loss=args.loss, epochs=args.epochs, minutes=args.minutes,
                   seed=args.seed, split_seed=args.split_seed, val_frac=args.val_frac, patience=args.patience,
                   min_delta=args.min_delta, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                   max_grad_norm=args.max_grad_norm, val_every=args.val_every, policy=args.policy,
                   device=args.device, threads=args.threads)
    held = _holds_output(args.out) if str(args.out).strip() else None
    if held is not None:
        print(f"tcg bc: {args.out} already holds a run or a file a run writes ({held}); write to another --out",
              file=sys.stderr)
        return 2
    try:
        cfg.validate()   # every flag is checked before the folder is made
        created = _output_folder(args.out)
    except ValueError as e:
        print(f"tcg bc: {e}", file=sys.stderr)
        return 2
    console = Console(soft_wrap=True, quiet=args.json)
    try:
        trainer = BCTrainer(cfg, console=console)
    except (DemoError, ValueError) as e:
        _drop_if_unused(args.out, created)
        print(f"tcg bc: {e}", file=sys.stderr)
        return 2
    cols = [TextColumn("[bold]bc"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"), TimeElapsedColumn(),
            TimeRemainingColumn()]
    with Progress(*cols, console=console, transient=True, disable=args.json or not console.is_terminal) as prog:
        task = prog.add_task("bc", total=None)
        try:
            res = trainer.run(progress=lambda s, total: prog.update(task, completed=s, total=total))
        except (NonFiniteWeightsError, NoFiniteValidationError) as e:   # NaN weights, or no finite validation loss
            print(f"tcg bc: {e}", file=sys.stderr)
            return 1
    if args.json:
        print(json_text(res))
    else:
        console.print(f"bc: stopped ({res['stopped']}) after {res['epochs']} epochs, {res['steps']} steps, "
                      f"{res['seconds']}s; best validation loss {res['best_val_loss']:.4f} at epoch "
                      f"{res['best_epoch']}: masked tuple accuracy {res['val_tuple_acc']:.3f}, unmasked-argmax "
                      f"illegal rate {res['val_unmasked_illegal_rate']:.3f}. Best policy {res['checkpoint']} "
                      f"(tcg eval --checkpoint {res['checkpoint']}), curves in {cfg.out}/curves.csv",
                      highlight=False, markup=False)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tcg", description="Train, evaluate, verify and benchmark the TCG stack.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    v = sub.add_parser("verify", help="cross-check legal_tuples against explain on random states",
                       description="Play uniformly random games over every prebuilt deck pairing and, on every "
                                   "visited state, explain every tuple of the full product space; a tuple must be "
                                   "explained legal exactly when legal_tuples lists it. Exits 1 on any mismatch.")
    v.add_argument("--states", type=int, default=2000, help="number of states to check (default 2000)")
    v.add_argument("--seed", type=seed_arg, default=0, help="seed of the random games (default 0)")
    v.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    v.set_defaults(func=_cmd_verify)

    b = sub.add_parser("bench", help="throughput benchmarks (one JSON line with --json)",
                       description="Benchmarks print figures; they are never run by `make test`.")
    b.add_argument("what", choices=["env", "sampler"],
                   help="env: engine and env-face decisions per second; sampler: policy encode + sample/evaluate")
    b.add_argument("--json", action="store_true", help="print one JSON line")
    b.add_argument("--quick", action="store_true", help="fewer decisions (a smoke run, noisier figures)")
    b.add_argument("--no-start-times", action="store_true", help="skip the numba cold/warm start measurement")
    b.set_defaults(func=_cmd_bench)

    p = sub.add_parser(
        "play", help="play a game against a bot in the terminal",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Play Ikazuchi Duel against a bot. The board is shown from your seat (the bot's hand is only "
                    "a count); your legal actions are listed by number: type a number and press Enter.\n\n"
                    "Commands at the prompt: N (take action N), card N (full text of hand card #N, or card NAME), "
                    "info (full text of every visible card), board (redraw), undo (take back your last decision), "
                    "help (commands and rules in brief), quit (stop; the replay is still written; end of input "
                    "also quits).\n\n"
                    "When the bot attacks you are asked whether to block. The game ends with a line "
                    "'Result: you win' / 'you lose' / 'draw' / 'truncated at the turn cap', and is saved as a JSON "
                    "replay for `tcg replay`. Without a terminal (or with --plain) everything is plain text read "
                    "line by line from stdin, so games can be scripted.")
    p.add_argument("--opponent", default="heuristic", metavar="BOT",
                   help="random, heuristic, search[:BUDGET] (ISMCTS; BUDGET = N simulations or Nms milliseconds per "
                        "decision, default 400 simulations) or checkpoint:PATH[@greedy|@sample] (a policy, playing "
                        "its most likely tuple unless @sample; default heuristic)")
    p.add_argument("--seed", type=seed_arg, default=None, help="game seed (default: a random one, kept in the replay)")
    p.add_argument("--deck", default=None, metavar="NAME",
                   help="your deck (default: the first deck; see --list-decks)")
    p.add_argument("--opponent-deck", default=None, metavar="NAME",
                   help="the bot's deck (default: the second deck)")
    p.add_argument("--list-decks", action="store_true",
                   help="list the decks (of --cards/--decks-file or the checkpoint opponent's cards, else the "
                        "prebuilt ones) with plan and description")
    _card_file_flags(p, " (default: a checkpoint:PATH opponent's, else the shipped ones); the replay carries "
                        "both files' text")
    p.add_argument("--seat", type=int, choices=[0, 1], default=0,
                   help="your seat, 0 or 1 (default 0; who goes first is drawn from the seed)")
    p.add_argument("--replay-out", default=None, metavar="FILE",
                   help="where to write the replay (default replays/<timestamp>-seed<N>.json)")
    p.add_argument("--plain", action="store_true", help="plain text even on a terminal (no colours or panels)")
    p.set_defaults(func=_cmd_play)

    c = sub.add_parser("cards", help="check a cards file and a decks file, and how the decks and cards fare",
                       description="Load a cards file and a decks file as `tcg train --set cards_file=... --set "
                                   "decks_file=...` would and print the cards by type and each deck. With --games N "
                                   "a bot (--bot, default the heuristic) plays itself over every deck pairing from "
                                   "both seats, and the win rate by pairing is printed, then one row per card: the "
                                   "share of seat-games (one seat of one game) that dealt it in the opening hand "
                                   "and that held it at any decision, plays per seat-game, its play rate when "
                                   "playable, and the win rate with it in the opening hand and without, compared "
                                   "within each deck holding it (the shuffle alone decides the deal, so their "
                                   "difference estimates what starting with the card is worth to that bot; "
                                   "docs/TRAINING.md, \"What each card is worth\"). Exits 2 naming the file, card, "
                                   "deck or flag for anything refused.")
    _card_file_flags(c, " (default: a checkpoint:PATH bot's, else the shipped ones)")
    c.add_argument("--games", type=int, default=0,
                   help="self-play games over every pairing (default 0: none; a multiple of twice the number of "
                        "pairings weighs them equally; a card's error is about 100/sqrt(seat-games) points, so "
                        "a few thousand seat-games a card resolve a few points: 3200 games of four decks give "
                        "each card 1600 or more)")
    c.add_argument("--bot", default="heuristic", metavar="BOT",
                   help="who plays both seats: random, heuristic (default), search[:BUDGET], or checkpoint:PATH "
                        "(a trained policy, sampling; checkpoint:PATH@greedy plays its most likely tuple). A "
                        "checkpoint plays the cards it was trained on: they are dealt when --cards/--decks-file "
                        "are not given, and other files are refused")
    c.add_argument("--by-deck", action="store_true",
                   help="one row per card and deck holding it, over that deck's seat-games (default: one row per "
                        "card, its win rates compared within each of its decks and averaged over them; needs "
                        "--games)")
    c.add_argument("--seed", type=seed_arg, default=0, help="seed of the games (default 0)")
    c.add_argument("--json", action="store_true",
                   help="print one JSON object instead of the tables: the cards and decks, and with --games the "
                        "match (by_pairing) and the per-card rows (by_card)")
    c.set_defaults(func=_cmd_cards)

    r = sub.add_parser("replay", help="step through a saved game",
                       description="Re-play a replay file written by `tcg play`: each decision (whose, in words) and "
                                   "the board after it (full debug view). On a terminal press Enter to advance; "
                                   "--all prints everything at once. Ends with the result line. Exits 2 when the "
                                   "file is missing, not a replay, of another version, or re-plays an illegal "
                                   "action.")
    r.add_argument("file", help="a replay JSON file")
    r.add_argument("--all", action="store_true", help="print every step without waiting")
    r.add_argument("--perspective", type=int, choices=[0, 1], default=None,
                   help="show the board as this seat sees it (default: everything, both hands and decks)")
    r.add_argument("--no-board", action="store_true", help="print the decisions only, not the board after each")
    r.set_defaults(func=_cmd_replay)

    from .config import help_table
    tr = sub.add_parser("train", help="PPO self-play training",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Train a policy by PPO self-play against itself, past selves and the heuristic "
                                    "bot. Settings come from a named config (training/configs/NAME.toml) or a TOML file, or "
                                    "with --resume from the run's checkpoint; flags and --set override them. "
                                    "Checkpoints, TensorBoard logs (losses/, charts/, eval/) and the league table go "
                                    "to --out.",
                        epilog="settings (--set key=value), with the value each named config sets where it is not "
                               "the default; a plain `tcg train` runs the cpu config:\n" + help_table())
    tr.add_argument("--config", default=None,
                    help="named config (cpu, gpu) or a .toml file (default cpu; not with --resume, which continues "
                         "with the settings saved in the checkpoint)")
    tr.add_argument("--total-steps", type=int, default=None,
                    help="stop after N learner decisions in all (a resumed run counts those before it); given "
                         "without --minutes, the run has no time limit")
    tr.add_argument("--minutes", type=float, default=None,
                    help="stop after M minutes of training in all (a resumed run counts the time before it)")
    tr.add_argument("--out", default=None,
                    help="output folder (default: the config's, runs/latest, moved aside if it holds a run; any other "
                         "folder holding a run or a file a run writes is refused; not with --resume, which writes "
                         "into the resumed run's folder)")
    tr.add_argument("--resume", default=None, metavar="DIR",
                    help="continue the run in DIR exactly, from its newest checkpoint (or name one checkpoint file) "
                         "with its saved settings (flags and --set still override them), writing on into DIR")
    tr.add_argument("--init-from", default=None, metavar="CKPT", help="start from a policy checkpoint (e.g. from BC)")
    tr.add_argument("--seed", type=train_seed_arg, default=None,
                    help="seed of everything, 0..2**32-1 (default: the config's)")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any setting (repeatable)")
    tr.add_argument("--final-eval-games", type=int, default=800,
                    help="games per bot in the closing table, from 2 to the env cap tcg_env.vec.MAX_GAMES (default 800, a few seconds: a multiple of 32 plays each "
                         "of the 16 deck pairings equally often from both seats, and a win rate's standard error is "
                         "under 1.8 points; 192 games once read 46%% for a policy that wins 34%%)")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar (summary lines only)")
    tr.add_argument("--json", action="store_true",
                    help="end with one JSON line (the run's folder, updates, decisions, minutes, illegal actions "
                         "and the closing table) instead of the table")
    tr.add_argument("--nproc", type=int, default=None, metavar="K",
                    help="train as K ranks on this machine (torchrun + DDP; gloo on CPU): each rank steps its "
                         "own num_envs games, so an update holds K times the decisions (default: the config's "
                         "nproc; cpu has 2, one per core)")
    tr.set_defaults(func=_cmd_train)

    ev = sub.add_parser("eval", help="play a checkpoint against a bot or another checkpoint",
                        description="Play N games (every deck pairing, or the one named by --decks, from both seats) and print wins, losses, draws, "
                                    "win rate, and the win rate by the policy's deck and by the opponent's deck. The "
                                    "games deal the decks of the cards the checkpoint was trained on: the prebuilt "
                                    "decks, or the cards and decks files of a run with cards_file/decks_file, whose "
                                    "text the checkpoint carries.")
    ev.add_argument("--checkpoint", required=True, help="policy checkpoint (policy.pt or a training checkpoint)")
    ev.add_argument("--opponent", default="heuristic",
                    help="random, heuristic, search[:BUDGET] (ISMCTS; BUDGET = N simulations or Nms milliseconds per "
                         "decision, default 400 simulations) or checkpoint:PATH[@greedy|@sample] (a policy, which "
                         "samples like the checkpoint unless --greedy or the suffix says otherwise; default heuristic)")
    ev.add_argument("--games", type=int, default=800,
                    help="games to play (default 800: a win rate's standard error under 1.8 points; game i plays "
                         "deck pairing (i // 2) mod 16 with the checkpoint in seat i mod 2, so a multiple of 32 "
                         "weighs every pairing and seat equally)")
    ev.add_argument("--seed", type=seed_arg, default=0, help="seed (default 0)")
    ev.add_argument("--greedy", action="store_true", help="play the most likely tuple instead of sampling")
    ev.add_argument("--decks", default=None, metavar="MINE[,THEIRS]",
                    help="play only this deck pairing, the checkpoint holding MINE, seats still alternating: "
                         "one name plays that deck's mirror (default: every pairing)")
    ev.add_argument("--json", action="store_true", help="print one JSON line")
    ev.set_defaults(func=_cmd_eval)

    dm = sub.add_parser("demos", help="record a bot's games as demonstrations for behaviour cloning",
                        description="Play --games games with the bot in both seats (self-play of the expert) inside "
                                    "the batched env and write every decision (the actor's observation, its legal "
                                    "tuples, the chosen tuple, the seat, the game id and the game's result from "
                                    "that seat) to a versioned binary file; see docs/TRAINING.md. The file is "
                                    "written under a temporary name and renamed when complete. Exits 2 on bad "
                                    "flags, an unknown bot or deck, an --out that is a folder, an existing --out "
                                    "without --append, an --append target that does not exist, or one of another "
                                    "format version or game version.")
    dm.add_argument("--bot", default="heuristic",
                    help="the demonstrating bot, any name make_bot accepts: random, heuristic, search[:BUDGET] "
                         "(N simulations or Nms per decision), checkpoint:PATH[@greedy|@sample] (a policy, greedy "
                         "unless @sample; default heuristic)")
    dm.add_argument("--games", type=int, required=True, help="number of games to record")
    dm.add_argument("--out", required=True, metavar="FILE", help="demonstrations file to write")
    dm.add_argument("--seed", type=seed_arg, default=0, help="seed of the games and of the bot (default 0)")
    dm.add_argument("--append", action="store_true",
                    help="add the games to FILE, which must exist (its format version, action spec version and card "
                         "table digest must match; the file is replaced atomically when the new games are in)")
    dm.add_argument("--parallel", type=int, default=128,
                    help="games played at once in the batched env (default 128); the file depends on it")
    dm.add_argument("--chunk-records", type=int, default=8192,
                    help="decisions buffered before a chunk is written (default 8192; whole games per chunk)")
    dm.add_argument("--decks", default="all", metavar="all|NAME",
                    help="'all' (every deck pairing in turn, default) or one deck for both seats")
    _card_file_flags(dm, " (default: a checkpoint:PATH bot's, else the shipped ones); the file records both "
                         "files' text, and tcg bc trains a policy of those cards from it")
    dm.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    dm.set_defaults(func=_cmd_demos)

    bc = sub.add_parser("bc", help="behaviour cloning from a demonstrations file",
                        description="Fit a policy to the expert tuples of a `tcg demos` file. The games are split "
                                    "into train and validation sets (by game, never by decision); train and "
                                    "validation use the same loss function; no class weights; expert tuples not in "
                                    "their legal list are counted and skipped. After each epoch (or --val-every "
                                    "steps) it logs the validation loss, the masked greedy tuple accuracy, the "
                                    "masked per-head accuracy and the illegal-action rate of the unmasked argmax "
                                    "decoder, and keeps the best policy (lowest validation loss) in DIR/policy.pt "
                                    "for `tcg eval --checkpoint`, `tcg play --opponent checkpoint:PATH` and `tcg "
                                    "train --init-from`. Curves go to DIR/curves.csv and curves.json, the summary "
                                    "to DIR/summary.json. Exits 2 on bad flags or an unreadable demonstrations file.")
    bc.add_argument("--demos", required=True, metavar="FILE", help="demonstrations file written by `tcg demos`")
    bc.add_argument("--out", required=True, metavar="DIR", help="output folder (checkpoints, curves, summary)")
    bc.add_argument("--loss", choices=["masked", "unmasked"], default="masked",
                    help="masked (default): -log-prob of the expert tuple from the sequential sampler's evaluate, "
                         "the same code PPO uses; unmasked: plain cross-entropy per head over the full head size, "
                         "each head given the expert's prefix, without legality masks")
    bc.add_argument("--epochs", type=int, default=20, help="maximum passes over the training games (default 20)")
    bc.add_argument("--minutes", type=float, default=0.0, help="wall-time limit in minutes (default 0: none)")
    bc.add_argument("--seed", type=seed_arg, default=0, help="seed of the initial weights and minibatch order (default 0)")
    bc.add_argument("--split-seed", type=seed_arg, default=0,
                    help="seed of the train/validation split by game (default 0; separate from --seed so that "
                         "several seeds share one split)")
    bc.add_argument("--val-frac", type=float, default=0.1, help="share of the games held out (default 0.1)")
    bc.add_argument("--patience", type=int, default=3,
                    help="stop after this many validations without a lower validation loss (default 3; 0: never)")
    bc.add_argument("--min-delta", type=float, default=0.0,
                    help="an improvement must lower the validation loss by more than this (default 0)")
    bc.add_argument("--batch-size", type=int, default=256, help="decisions per minibatch (default 256)")
    bc.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    bc.add_argument("--weight-decay", type=float, default=0.0, help="Adam weight decay (default 0)")
    bc.add_argument("--max-grad-norm", type=float, default=1.0, help="global gradient-norm clip (default 1; 0: none)")
    bc.add_argument("--val-every", type=int, default=0,
                    help="validate every N optimizer steps as well as at each epoch end (default 0: epoch ends only)")
    bc.add_argument("--policy", default="cpu",
                    help="policy size: a named training config (cpu, gpu: the size that config trains, so the "
                         "checkpoint initialises `tcg train --config NAME --init-from`) or small / large "
                         "(default cpu)")
    bc.add_argument("--device", default="cpu", help="torch device (default cpu)")
    bc.add_argument("--threads", type=int, default=0, help="torch threads (default 0: torch's default)")
    bc.add_argument("--json", action="store_true", help="print only the summary, as one JSON line")
    bc.set_defaults(func=_cmd_bc)
    return ap


def _live_group():
    """``training.distributed`` when this process is a torchrun rank in a live group, else None.
    Commands that never train do not import it (nor torch), so the lookup imports nothing."""
    D = sys.modules.get(f"{__package__}.distributed")
    return D if D is not None and D.active() else None


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except BaseException as e:
        if _live_group() is None:
            raise
        # a torchrun rank that raised (a bug, Ctrl-C) says why and leaves through finish: no
        # barrier the others may never reach (a non-zero code), no teardown that can deadlock
        if isinstance(e, SystemExit):
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        else:
            import traceback
            traceback.print_exc()
            code = 1
    D = _live_group()
    if D is not None:   # a torchrun rank (tcg train): Python's teardown can deadlock in gloo
        D.finish(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
