"""Second mutation audit of the command line, training/cli.py: the argument checks and their
messages, --resume / --out / --init-from interplay, the torchrun launcher's command, the folders
a refused command makes and removes, exit codes, and what each subcommand prints (--json keys).

70 one-line mutants, 51 survived the existing tests (run in-process; the subprocess torchrun
tests were not run), 5 of them equivalent:
- a folder holding only checkpoints/ckpt_*.pt named by its folder instead of the file: the
  "checkpoints" entry of RUN_FILES refuses it all the same;
- `_output_folder`'s blank check without strip(): every caller checks a blank --out first
  (TrainConfig, BCConfig.validate) and demos passes a parent, never blank;
- `break` -> `continue` in `_output_folder`'s walk up the parents: a folder's parents exist;
- `parse_value` returning `low != "false"`: that line runs only for "true" / "false";
- `--resume` with an --out spelling its own folder stored as the run folder's spelling: the
  same folder.
The other 46 each fail a test here, named in its docstring as "mNN". Most tests stand the
heavy part of a command (the Trainer, write_demos, the benchmarks, the verifier, the torchrun
child, the ranks' meeting) in for a stub that records what the command handed it, so the file
runs in seconds; one tiny training run (a module fixture) serves the tests that need a real run
folder. Reading the code for the audit also found two small oddities, now fixed and tested
here: `tcg demos --out ""` was refused as "--out  is a folder", and a folder `_output_folder`
made but then found unwritable was left behind.
"""
import contextlib
import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from training.cli import RUN_FILES, build_parser, main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_SETS = []
for _k, _v in dict(num_envs=8, rollout_steps=8, d_model=16, n_layers=1, num_minibatches=2, update_epochs=1,
                   eval_every=0, eval_games=4, checkpoint_every=1, pool_add_every=1, torch_threads=1,
                   pool_fraction=0.0).items():
    TINY_SETS += ["--set", f"{_k}={_v}"]
PER_UPDATE = 64


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One update of a tiny run, its --json line and its folder."""
    run = tmp_path_factory.mktemp("cli_audit") / "run"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["train", "--out", str(run), "--nproc", "1", "--no-progress", "--final-eval-games", "2",
                   "--total-steps", str(PER_UPDATE), "--json", *TINY_SETS])
    assert rc == 0
    return run, json.loads(out.getvalue().strip().splitlines()[-1])


class _Refused(Exception):
    pass


@pytest.fixture
def stub_trainer(monkeypatch):
    """training.ppo.Trainer replaced by a recorder: it keeps the config and keywords `tcg train`
    built, runs ``on_init`` (default: refuse with ValueError, as a bad setting would) and
    otherwise trains by calling ``on_train``."""
    import training.ppo as P
    seen = SimpleNamespace(cfg=None, kw=None, on_init=None, on_train=None, closed=False)

    class Stub:
        def __init__(self, cfg, **kw):
            seen.cfg, seen.kw = cfg, kw
            if seen.on_init is None:
                raise ValueError("stub trainer refuses")
            seen.on_init(cfg)
            self.cfg, self.device, self.steps, self.update = cfg, "cpu", 0, 0

        def train(self, progress=None):
            seen.on_train()

        def close(self):
            seen.closed = True
    monkeypatch.setattr(P, "Trainer", Stub)
    return seen


# ------------------------------------------------------------------ tcg train: what it hands the trainer

def test_train_flags_reach_the_config(stub_trainer, tmp_path, capsys):
    """--total-steps without --minutes means no time limit (m25: the cpu config's 5 minutes
    stayed); --seed sets the seed (m26); the top of the training seed range, 2**32-1, is a
    seed (m45)."""
    out = tmp_path / "r"
    assert main(["train", "--out", str(out), "--nproc", "1", "--total-steps", "128", "--seed", "7"]) == 2
    assert "stub trainer refuses" in capsys.readouterr().err
    cfg = stub_trainer.cfg
    assert (cfg.total_steps, cfg.minutes, cfg.seed, cfg.nproc, cfg.out) == (128, 0.0, 7, 1, str(out))
    assert main(["train", "--out", str(out), "--nproc", "1", "--total-steps", "128", "--minutes", "3"]) == 2
    assert (stub_trainer.cfg.total_steps, stub_trainer.cfg.minutes) == (128, 3.0)
    assert main(["train", "--out", str(out), "--nproc", "1", "--seed", str(2 ** 32 - 1)]) == 2
    assert stub_trainer.cfg.seed == 2 ** 32 - 1
    capsys.readouterr()


def test_a_refused_trainer_removes_only_the_folders_it_made_and_keeps_one_written_into(stub_trainer, tmp_path,
                                                                                      capsys):
    """A run refused by the Trainer removes the --out folder (and parents) the command made
    (m33), and no folder that was there before, empty or not (m19 went on up the parents); only
    while empty: a folder something wrote into is kept with its files (m20, rmtree)."""
    keep = tmp_path / "keep"
    keep.mkdir()
    deep = keep / "a" / "b" / "run"
    assert main(["train", "--out", str(deep), "--nproc", "1"]) == 2
    assert "stub trainer refuses" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [keep] and list(keep.iterdir()) == []

    def write_then_refuse(cfg):
        (Path(cfg.out) / "notes.txt").write_text("kept")
        raise ValueError("refused after writing")
    stub_trainer.on_init = write_then_refuse
    assert main(["train", "--out", str(deep), "--nproc", "1"]) == 2
    assert "refused after writing" in capsys.readouterr().err
    assert (deep / "notes.txt").read_text() == "kept"


def test_non_finite_weights_end_train_with_status_1(stub_trainer, tmp_path, capsys):
    """NaN weights are a failure of the run (exit 1), not a usage error (m34); the trainer is
    closed."""
    from training.checkpoint import NonFiniteWeightsError

    def nan():
        raise NonFiniteWeightsError("weights went NaN")
    stub_trainer.on_init, stub_trainer.on_train = (lambda cfg: None), nan
    assert main(["train", "--out", str(tmp_path / "r"), "--nproc", "1", "--no-progress"]) == 1
    assert "tcg train: weights went NaN" in capsys.readouterr().err
    assert stub_trainer.closed


@pytest.mark.parametrize("flag", ["--resume", "--init-from"])
def test_a_blank_path_is_refused_by_name(flag, tmp_path, capsys, monkeypatch):
    """A --resume or --init-from of blanks is refused as empty, naming the flag and what it
    needs (m27 read ' ' as a path)."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", flag, "  "]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tcg train: {flag} needs "), err
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ runs/latest moved aside, by rank 0 only

def _old_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    latest = tmp_path / "runs" / "latest"
    latest.mkdir(parents=True)
    (latest / "config.json").write_text("old\n")
    stamp = time.mktime((2021, 3, 4, 5, 6, 7, 0, 0, -1))
    os.utime(latest, (stamp, stamp))
    return latest, "latest-20210304-050607"


def test_the_default_folder_is_moved_aside_under_its_own_time_beside_an_earlier_one(tmp_path, monkeypatch,
                                                                                    stub_trainer, capsys):
    """runs/latest holding a run goes to runs/latest-<date>-<time> of that run (its folder's
    modification time, m24), and a folder of that name already there is kept: the new name
    gets a '+' (m23 renamed onto it or failed)."""
    latest, name = _old_run(tmp_path, monkeypatch)
    (tmp_path / "runs" / name).mkdir()
    (tmp_path / "runs" / name / "config.json").write_text("older\n")
    assert main(["train", "--nproc", "1"]) == 2   # the stub refuses once the folder is free
    err = capsys.readouterr().err
    assert f"moved it to {Path('runs') / (name + '+')}" in err, err
    assert (tmp_path / "runs" / name / "config.json").read_text() == "older\n"
    assert (tmp_path / "runs" / (name + "+") / "config.json").read_text() == "old\n"


def test_only_rank_0_moves_the_default_folder(tmp_path, monkeypatch, capsys):
    """Under a hand-started torchrun every rank checks the folder but only rank 0 moves it
    (m22, m32: rank 1 moved it too, from under rank 0)."""
    import training.distributed as D
    latest, name = _old_run(tmp_path, monkeypatch)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")

    def meet():
        raise _Refused("the ranks would meet here")
    monkeypatch.setattr(D, "init", meet)
    with pytest.raises(_Refused):
        main(["train", "--nproc", "2"])
    assert "moved it" not in capsys.readouterr().err
    assert (latest / "config.json").read_text() == "old\n"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["latest"]


# ------------------------------------------------------------------ --resume

def test_train_json_line_holds_every_documented_key(trained_run):
    """`tcg train --json`: the run's folder, updates, decisions, minutes, illegal actions and the
    closing table (m35, m37), each bot's row with its win rate (m36)."""
    run, summary = trained_run
    assert set(summary) == {"out", "updates", "steps", "minutes", "illegal_actions_total", "final"}
    assert (summary["out"], summary["updates"], summary["steps"]) == (str(run), 1, PER_UPDATE)
    assert isinstance(summary["minutes"], float) and summary["minutes"] >= 0
    assert set(summary["final"]) == {"random", "heuristic"}
    for row in summary["final"].values():
        assert set(row) == {"games", "wins", "losses", "draws", "win_rate", "illegal_actions"}
        assert row["win_rate"] == pytest.approx(row["wins"] / row["games"])


def test_resume_takes_its_own_folder_however_it_is_spelt(trained_run, capsys, monkeypatch):
    """--out naming the resumed folder itself, spelt another way (a trailing '/', a relative
    path), is that folder, not another one (m28 refused it as "another folder"): the refusal
    that follows is the one for a run at its limit."""
    run, _ = trained_run
    monkeypatch.chdir(run.parent)
    for spelt in (str(run) + "/", "./run", "run/."):
        assert main(["train", "--resume", str(run), "--out", spelt]) == 2
        err = capsys.readouterr().err
        assert "own folder" not in err and f"has already trained {PER_UPDATE} decisions" in err, (spelt, err)


def test_resume_past_its_minutes_is_refused(trained_run, capsys):
    """A resume whose --minutes the run already reached is refused like one past its
    --total-steps (m30 dropped the minutes clause and trained on)."""
    run, _ = trained_run
    before = (run / "policy.pt").read_bytes()
    assert main(["train", "--resume", str(run), "--total-steps", "100000000", "--minutes", "1e-9"]) == 2
    err = capsys.readouterr().err
    assert "reaches minutes 1e-09" in err and "total_steps" not in err.split("reaches")[1], err
    assert (run / "policy.pt").read_bytes() == before


def test_resume_checks_the_rank_count_of_a_hand_started_torchrun(trained_run, capsys, monkeypatch):
    """Under a hand-started torchrun the world size is WORLD_SIZE, whatever nproc the settings
    hold: a 1-rank run resumed by 2 ranks is refused before they meet (m29 checked the saved
    nproc)."""
    import training.distributed as D
    run, _ = trained_run
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")

    def meet():
        raise _Refused("the ranks would meet here")
    monkeypatch.setattr(D, "init", meet)
    assert main(["train", "--resume", str(run), "--total-steps", "100000000"]) == 2
    assert "this run has 2" in capsys.readouterr().err


# ------------------------------------------------------------------ the torchrun launcher

def test_the_launcher_passes_every_flag_to_its_ranks_and_their_status_back(trained_run, tmp_path, monkeypatch,
                                                                           capsys):
    """`tcg train --nproc 2` starts the same command under torchrun: --seed (m38), --init-from
    (m43), every --set (m39) and --json (m40) reach the ranks; the ranks' exit status is the
    launcher's (m42), and the launcher's SIGTERM handler is put back (m41)."""
    run, _ = trained_run
    seen = {}

    class Child:
        def __init__(self, cmd, env=None):
            seen["cmd"], seen["env"] = cmd, env

        def wait(self):
            return 3

        def send_signal(self, sig):
            pass
    monkeypatch.setattr(subprocess, "Popen", Child)
    before = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "two"
    rc = main(["train", "--nproc", "2", "--out", str(out), "--seed", "5", "--init-from", str(run / "policy.pt"),
               "--total-steps", "128", "--final-eval-games", "4", "--json", "--no-progress", *TINY_SETS])
    assert rc == 3
    assert signal.getsignal(signal.SIGTERM) is before
    cmd = seen["cmd"]
    tail = cmd[cmd.index("train") + 1:]
    pairs = set(zip(tail, tail[1:]))
    for pair in (("--seed", "5"), ("--init-from", str(run / "policy.pt")), ("--out", str(out)),
                 ("--total-steps", "128"), ("--final-eval-games", "4"), ("--set", "num_envs=8"),
                 ("--set", "d_model=16"), ("--set", "nproc=2"), ("--set", "torch_threads=1")):
        assert pair in pairs, (pair, tail)
    assert "--json" in tail and "--no-progress" in tail
    capsys.readouterr()


# ------------------------------------------------------------------ folders a run writes

@pytest.mark.parametrize("name", ["checkpoints", "policy.pt", "config.json", "tb", "league.csv", "league.png",
                                  "bc_config.json", "last.pt", "curves.csv", "curves.json", "curves.png",
                                  "summary.json"])
def test_a_folder_holding_any_file_a_run_writes_is_refused(name, tmp_path, capsys):
    """Every file docs/TRAINING.md says a training or BC run writes (league.png, last.pt,
    curves.png, ... m09-m11 dropped one from RUN_FILES) makes `tcg train --out` and
    `tcg bc --out` refuse the folder, which stays as it was."""
    assert name in RUN_FILES
    u = tmp_path / "u"
    u.mkdir()
    (u / name).write_text("mine\n")
    for argv in (["train", "--out", str(u), "--nproc", "1"], ["bc", "--demos", "x.tcgd", "--out", str(u)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "already holds a run or a file a run writes" in err and name in err, err
        assert [p.name for p in u.iterdir()] == [name] and (u / name).read_text() == "mine\n"


def test_a_folder_that_cannot_be_written_is_a_usage_error(tmp_path, capsys, monkeypatch, stub_trainer):
    """An --out folder (or the folder of demos' --out file) without write access is refused by
    name, exit 2, before any work (m16 skipped the check; as root the test fakes os.access)."""
    u = tmp_path / "ro"
    u.mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert main(["train", "--out", str(u), "--nproc", "1"]) == 2
    assert capsys.readouterr().err == f"tcg train: --out {u} is not writable\n"
    assert main(["demos", "--games", "1", "--out", str(u / "d.tcgd"), "--bot", "nobody"]) == 2
    assert capsys.readouterr().err == f"tcg demos: the folder of --out {u} is not writable\n"
    assert list(u.iterdir()) == []


def test_an_unwritable_folder_made_for_out_is_removed_again(tmp_path, capsys, monkeypatch, stub_trainer):
    """A folder the command creates for --out, which then turns out not writable (an odd umask
    or ACL; faked here), is removed again with the parents it made: a refused command leaves
    nothing behind (the oddity the audit noted: the folders were made and kept)."""
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    out = tmp_path / "a" / "b" / "run"
    assert main(["train", "--out", str(out), "--nproc", "1"]) == 2
    assert capsys.readouterr().err == f"tcg train: --out {out} is not writable\n"
    assert list(tmp_path.iterdir()) == []


def test_demos_out_of_an_empty_path_names_what_is_wanted(capsys):
    """`tcg demos --out ""` asks for a file to write (an empty path read as the current folder
    said '--out  is a folder')."""
    for blank in ("", "  "):
        assert main(["demos", "--games", "1", "--out", blank]) == 2
        assert capsys.readouterr().err == "tcg demos: --out must name a file to write, got an empty path\n"


# ------------------------------------------------------------------ seeds and defaults

def test_the_top_of_the_seed_range_is_a_seed():
    """Every --seed takes 0..2**63-1 inclusive (m44 refused 2**63-1)."""
    ap = build_parser()
    assert ap.parse_args(["eval", "--checkpoint", "x", "--seed", str(2 ** 63 - 1)]).seed == 2 ** 63 - 1
    assert ap.parse_args(["demos", "--games", "1", "--out", "x", "--seed", str(2 ** 63 - 1)]).seed == 2 ** 63 - 1
    assert ap.parse_args(["train", "--seed", str(2 ** 32 - 1)]).seed == 2 ** 32 - 1


def test_defaults_are_the_ones_the_help_states():
    """The defaults each --help text states (m61-m67 changed one)."""
    ap = build_parser()
    want = {("verify",): dict(states=2000, seed=0),
            ("eval", "--checkpoint", "x"): dict(games=800, seed=0, opponent="heuristic", greedy=False, decks=None),
            ("demos", "--games", "1", "--out", "x"): dict(parallel=128, chunk_records=8192, seed=0, bot="heuristic",
                                                           decks="all", append=False),
            ("bc", "--demos", "x", "--out", "y"): dict(loss="masked", epochs=20, minutes=0.0, seed=0, split_seed=0,
                                                      val_frac=0.1, patience=3, min_delta=0.0, batch_size=256,
                                                      lr=1e-3, weight_decay=0.0, max_grad_norm=1.0, val_every=0,
                                                      policy="cpu", device="cpu", threads=0),
            ("train",): dict(final_eval_games=800, config=None, out=None, resume=None, init_from=None, seed=None,
                             nproc=None, total_steps=None, minutes=None),
            ("play",): dict(opponent="heuristic", seat=0, seed=None)}
    for argv, defaults in want.items():
        args = ap.parse_args(list(argv))
        assert {k: getattr(args, k) for k in defaults} == defaults, argv


# ------------------------------------------------------------------ tcg demos

def test_demos_refuses_zero_games_and_chunks_by_flag_and_takes_the_largest_parallel(tmp_path, capsys):
    """--games and --chunk-records of 0 are refused naming the flag and the minimum (m51, m53);
    --parallel may be the env's cap itself (m52 refused it): what is refused then is the bot."""
    from tcg_env.vec import MAX_GAMES
    out = str(tmp_path / "d.tcgd")
    for extra, says in ((["--games", "0"], "--games must be >= 1, got 0"),
                        (["--games", "1", "--chunk-records", "0"], "--chunk-records must be >= 1, got 0"),
                        (["--games", "1", "--parallel", "0"], "--parallel must be >= 1 and <= ")):
        assert main(["demos", "--out", out, *extra]) == 2
        assert capsys.readouterr().err.startswith(f"tcg demos: {says}")
    assert main(["demos", "--out", out, "--games", "1", "--parallel", str(MAX_GAMES), "--bot", "nobody"]) == 2
    err = capsys.readouterr().err
    assert "unknown bot" in err and "--parallel" not in err, err
    assert list(tmp_path.iterdir()) == []


def test_demos_hands_every_flag_to_write_demos_and_a_write_failure_is_status_1(tmp_path, capsys, monkeypatch):
    """The flags reach write_demos (--seed m57, --decks m56, ...); an OSError while writing (a
    full disk) exits 1 saying nothing was added (m55)."""
    import training.demos as TD
    seen = {}

    def fail(path, **kw):
        seen.update(kw, path=path)
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(TD, "write_demos", fail)
    out = tmp_path / "new" / "d.tcgd"
    assert main(["demos", "--out", str(out), "--games", "3", "--seed", "11", "--decks", "thorn", "--parallel", "4",
                 "--chunk-records", "9", "--bot", "random"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"tcg demos: writing {out} failed") and "nothing was added to it" in err, err
    assert {k: seen[k] for k in ("path", "bot", "games", "seed", "append", "parallel", "chunk_records", "decks")} == \
        dict(path=str(out), bot="random", games=3, seed=11, append=False, parallel=4, chunk_records=9, decks="thorn")


# ------------------------------------------------------------------ tcg bc

def test_bc_checks_every_flag_before_the_folder_and_json_is_the_only_line(tmp_path, capsys):
    """`tcg bc` refuses a bad flag before it makes (or fails to make) --out: the error names the
    flag, not the folder (m59 skipped the early check, leaving it to the trainer after the folder);
    --json prints only the summary, one JSON line (m58 let the per-epoch lines through)."""
    from training.demos import write_demos
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out in (afile / "sub", tmp_path / "new" / "o"):
        assert main(["bc", "--demos", str(tmp_path / "none.demos"), "--out", str(out), "--epochs", "0"]) == 2
        assert capsys.readouterr().err == "tcg bc: --epochs must be >= 1, got 0\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
    path = tmp_path / "h.demos"
    write_demos(path, "heuristic", 6, seed=5, parallel=6)
    assert main(["bc", "--demos", str(path), "--out", str(tmp_path / "o"), "--epochs", "2", "--patience", "0",
                 "--policy", "small", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["epochs"] == 2, lines


# ------------------------------------------------------------------ tcg eval, verify, bench output

def test_eval_json_names_the_checkpoint_and_the_opponent(tmp_path, capsys):
    """`tcg eval --json`: the line holds the checkpoint and the opponent as given (m48, m49)
    beside the match's counts."""
    import torch
    from policy import PolicyConfig, TCGPolicy
    from training.checkpoint import save_policy
    torch.manual_seed(0)
    ckpt = str(save_policy(TCGPolicy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32)), tmp_path / "p.pt"))
    assert main(["eval", "--checkpoint", ckpt, "--opponent", "random", "--games", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (out["checkpoint"], out["opponent"], out["games"]) == (ckpt, "random", 2)
    assert {"wins", "losses", "draws", "win_rate", "by_own_deck", "by_opponent_deck"} <= set(out)


def test_verify_prints_its_summary_and_failures_and_exits_1_on_a_mismatch(capsys, monkeypatch):
    """`tcg verify` checks with the --seed given (m04); --json prints every summary key (m02);
    a mismatch exits 1 (m03) and each failure is named on stderr."""
    import tcg_env.selfcheck as S
    seen = {}

    def fake(n, seed, progress=None):
        seen.update(n=n, seed=seed)
        return S.VerifyReport(states=n, tuples_checked=7, mismatches=1, games=2, max_legal=5, seconds=0.5,
                              failures=[(9, 3, (1, 2, 3, 0), "why not", True)])
    monkeypatch.setattr(S, "verify_random_states", fake)
    assert main(["verify", "--states", "4", "--seed", "6", "--json"]) == 1
    cap = capsys.readouterr()
    assert seen == {"n": 4, "seed": 6}
    assert json.loads(cap.out) == {"states": 4, "games": 2, "tuples_checked": 7, "mismatches": 1,
                                   "order_violations": 0, "max_legal_seen": 5, "seconds": 0.5, "ok": False}
    assert "game seed 9, decision 3" in cap.err


@pytest.mark.parametrize("what,module", [("env", "tcg_env.bench"), ("sampler", "training.bench")])
def test_bench_passes_its_flags_and_prints_one_json_line(what, module, capsys, monkeypatch):
    """`tcg bench`: --quick and --no-start-times reach the benchmark (m05), and --json is one
    JSON line of its figures (m06)."""
    import importlib
    mod = importlib.import_module(module)
    seen = {}

    def fake(**kw):
        seen.update(kw)
        return {"decisions_per_s": 12.5, "name": what}
    monkeypatch.setattr(mod, "run", fake)
    assert main(["bench", what, "--quick", "--no-start-times", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"decisions_per_s": 12.5, "name": what}
    assert seen == ({"quick": True, "start_times": False} if what == "env" else {"quick": True})
    if what == "env":
        assert main(["bench", what]) == 0
        assert seen == {"quick": False, "start_times": True}
        assert capsys.readouterr().out == f"decisions_per_s: 12.5\nname: {what}\n"


def test_progress_bars_stay_off_with_json_even_on_a_terminal(monkeypatch):
    """The transient bar of verify, eval and demos is off under --json on a terminal too, so
    the JSON line is all there is (m47)."""
    import rich.console
    from training.cli import _quiet_progress
    monkeypatch.setattr(rich.console.Console, "is_terminal", property(lambda self: True))
    assert _quiet_progress(json_out=True).disable
    assert not _quiet_progress(json_out=False).disable
