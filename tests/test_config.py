"""training.config (TrainConfig's bounds, types and deck values) and the pure helpers of
training.distributed (the launcher's command and environment, the single-process no-ops, and the
reductions over ranks)."""
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from training import distributed as D
from training.config import MAX_ROLLOUT, MAX_THREADS, TrainConfig, deck_values, deck_weight_vector
from tcg_env.vec import MAX_GAMES

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("kw, says", [
    ({"seed": 2 ** 32}, "seed must be in 0..2**32-1, got 4294967296"),
    ({"total_steps": 0}, "total_steps must be > 0"),
    ({"minutes": -0.5}, "minutes must be a finite number >= 0"),
    ({"num_envs": MAX_GAMES + 1, "rollout_steps": 1}, "num_envs must be at most 1,048,576"),
    ({"num_envs": 8, "rollout_steps": MAX_ROLLOUT // 8 + 1}, "num_envs x rollout_steps must be at most 4,194,304"),
    ({"d_model": 32, "n_heads": 3}, "n_heads (3) must divide the policy width (32)"),
    ({"d_model": 24, "n_heads": 16}, "n_heads (16) must divide the policy width (24)"),
    ({"d_model": 6}, "n_heads (4, the small size default) must divide the policy width (6)"),
    ({"policy_size": "large", "d_model": 100}, "n_heads (8, the large size default) must divide the policy width (100)"),
    ({"d_model": 8192, "n_heads": 8}, "config: policy config d_model = 8192 must be a whole number in 1..4096"),
    ({"n_layers": 65}, "config: policy config n_layers = 65 must be a whole number in 1..64"),
    ({"gamma": 0.0}, "gamma in (0, 1]"),
    ({"gae_lambda": 1.01}, "gae_lambda in [0, 1]"),
    ({"env_threads": 0}, "env_threads must be in 1..256"),
    ({"nproc": MAX_THREADS + 1}, "nproc must be >= 1 (and at most 256)"),
    ({"eval_games": 1}, "eval_games must be in 2..1,048,576, got 1"),
    ({"eval_games": MAX_GAMES + 1}, "eval_games must be in 2..1,048,576"),
    ({"log_every": -1}, "log_every must be >= 0"),
    ({"pool_add_every": -1}, "pool_add_every must be >= 0"),
    ({"eval_every": -1}, "eval_every must be >= 0"),
    ({"pool_latest_prob": 1.5}, "pool_latest_prob must be in [0, 1]"),
    ({"pool_fraction": -0.1}, "pool_fraction must be in [0, 1]"),
    ({"ratio_check_tol": 0.0}, "ratio_check_tol must be > 0"),
    ({"max_grad_norm": 0.0}, "max_grad_norm and ratio_check_tol must be > 0"),
    ({"vf_coef": -0.5}, "vf_coef and target_kl must be >= 0"),
    ({"card_stats_every": -1}, "config: card_stats_every must be >= 0"),
    ({"pool_size": 0}, "pool_size must be >= 1"),
    ({"device": "meta"}, "only 'cpu' and 'cuda' devices are supported"),
    ({"deck_weights": "Thornwall Bastion=inf"}, "'Thornwall Bastion' = inf must be a finite number >= 0"),
    ({"deck_weights": "Emberfang Rush=0;Thornwall Bastion=0;Anvil Vanguard=0;Sagefire Circle=0"},
     "at least one deck needs a weight > 0"),
])
def test_each_bound_is_refused_by_name(kw, says):
    """Every bound validate() states, one past its edge, is a ValueError naming the setting."""
    with pytest.raises(ValueError, match=re.escape(says)):
        TrainConfig.from_dict(kw)


def test_the_edges_of_each_bound_are_accepted():
    """The largest and smallest values the bounds allow load: an off-by-one that refuses the
    edge (a full rollout buffer, one decision per minibatch, the last 32-bit seed) is caught."""
    for kw in ({"seed": 2 ** 32 - 1}, {"seed": 0}, {"total_steps": 1}, {"minutes": 0.0},
               {"num_envs": MAX_GAMES, "rollout_steps": 1}, {"num_envs": 8, "rollout_steps": MAX_ROLLOUT // 8},
               {"num_envs": 2, "rollout_steps": 3, "num_minibatches": 6},
               {"d_model": 48, "n_heads": 3}, {"n_heads": 4}, {"d_model": 4096, "n_heads": 4096, "n_layers": 64},
               {"d_model": 8}, {"policy_size": "large", "d_model": 104}, {"gamma": 1.0, "gae_lambda": 0.0}, {"gae_lambda": 1.0},
               {"env_threads": MAX_THREADS, "nproc": MAX_THREADS, "torch_threads": MAX_THREADS},
               {"eval_games": 2}, {"eval_games": MAX_GAMES}, {"pool_latest_prob": 1.0, "bot_opponent_prob": 0.0, "pool_fraction": 1.0},
               {"vf_coef": 0.0, "target_kl": 0.0}, {"card_stats_every": 0, "log_every": 0}, {"pool_size": 1},
               {"entropy_rows": 1.0}, {"deck_weights": "Thornwall Bastion=0"}):
        cfg = TrainConfig.from_dict(kw)
        assert all(getattr(cfg, k) == v for k, v in kw.items() if k != "deck_weights"), kw


def test_a_cuda_config_loads_on_any_machine():
    """device = 'cuda' is checked for its form only when a config loads (the gpu config is read on
    CPU machines too: --help, resume checks); the trainer checks the device it runs on."""
    cfg = TrainConfig.from_dict({"device": "cuda:3"})
    assert cfg.device == "cuda:3"
    assert TrainConfig.named("gpu").device == "cuda"


@pytest.mark.parametrize("raw, says", [
    ({"learning_rate": True}, "learning_rate = True must be a number"),
    ({"seed": True}, "seed = True must be an integer"),
    ({"num_envs": 8.0}, "num_envs = 8.0 must be an integer"),
    ({"anneal_lr": 1}, "anneal_lr = 1 must be true or false"),
    ({"decks": 3}, "decks = 3 must be a string"),
    # TOML and --set read integers of any size: one past float range is a ValueError, not an OverflowError
    ({"learning_rate": 10 ** 400}, "learning_rate must be a number within float range, got an integer of 1329 bits"),
])
def test_values_of_the_wrong_type_are_refused(raw, says):
    with pytest.raises(ValueError, match=re.escape(f"here.toml: {says}")):
        TrainConfig.typed(raw, "here.toml")


def test_an_integer_is_taken_for_a_float_setting(tmp_path):
    """`learning_rate = 1` or `minutes = 5` in a TOML file is a float setting's value, stored as
    a float (a checkpoint's config compares equal to the same config written with 1.0)."""
    path = tmp_path / "mine.toml"
    path.write_text("learning_rate = 1\nminutes = 5\nnum_envs = 8\nrollout_steps = 8\n")
    cfg = TrainConfig.from_toml(path)
    assert (cfg.learning_rate, cfg.minutes) == (1.0, 5.0) and type(cfg.learning_rate) is float
    assert TrainConfig.typed({"gamma": 1}) == {"gamma": 1.0} and type(TrainConfig.typed({"gamma": 1})["gamma"]) is float


def test_a_config_file_is_validated_as_it_loads(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("num_envs = 0\n")
    with pytest.raises(ValueError, match="num_envs and rollout_steps must be >= 1"):
        TrainConfig.from_toml(path)
    with pytest.raises(ValueError, match="total_steps must be > 0"):
        TrainConfig.from_dict({"total_steps": -5})


def test_a_named_config_is_a_name_not_a_path(tmp_path, monkeypatch):
    """`--config cpu` is the packaged config; a path such as `sub/cpu` is never read as it, even
    when training/configs/ holds a file of that name."""
    assert TrainConfig.named("cpu") == TrainConfig.from_toml(ROOT / "training" / "configs" / "cpu.toml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="is a path"):
        TrainConfig.named("../configs/cpu")


def test_deck_weight_vector_keeps_the_written_values_and_weighs_the_rest_one():
    """The vector is the weights as written (ent_deck_scale multiplies the entropy weight by it,
    so it must not be normalised), in default_decks() order, 1 for an unlisted deck."""
    from prefabs import default_decks
    names = list(default_decks())
    v = deck_weight_vector(deck_values("thorn=2; sagefire=0.5", "deck_weights"))
    assert v.dtype == np.float64
    assert v.tolist() == [2.0 if n == "Thornwall Bastion" else 0.5 if n == "Sagefire Circle" else 1.0 for n in names]
    assert deck_weight_vector({}).tolist() == [1.0] * len(names)


# --- training.distributed ------------------------------------------------------------------

def test_launcher_splits_the_cores_and_picks_gloo_off_cuda(monkeypatch):
    """rank_threads_and_env: torch_threads when set, else this machine's cores split between the
    ranks (at least one each), the same count in OMP_NUM_THREADS; gloo unless on CUDA."""
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.delenv("TCG_DIST_BACKEND", raising=False)
    monkeypatch.setenv("TCG_TEST_MARK", "kept")
    threads, env = D.rank_threads_and_env(2, 0, "cpu")
    assert threads == 8 and env["OMP_NUM_THREADS"] == "8" and env["TCG_DIST_BACKEND"] == "gloo"
    assert env["TCG_TEST_MARK"] == "kept"   # the rest of the environment travels
    threads, env = D.rank_threads_and_env(4, 3, "cpu")
    assert threads == 3 and env["OMP_NUM_THREADS"] == "3"
    threads, env = D.rank_threads_and_env(32, 0, "cpu")
    assert threads == 1 and env["OMP_NUM_THREADS"] == "1"
    threads, env = D.rank_threads_and_env(2, 0, "cuda:0")
    assert threads == 8 and "TCG_DIST_BACKEND" not in env   # NCCL on CUDA
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert D.rank_threads_and_env(2, 0, "cpu")[0] == 1


def test_torchrun_prefix_runs_this_interpreter_with_nproc_ranks():
    cmd = D.torchrun_prefix(3)
    assert cmd[0] == sys.executable and cmd[1:3] == ["-m", "torch.distributed.run"]
    assert "--standalone" in cmd and "--nproc_per_node=3" in cmd


def test_without_torchrun_every_helper_is_a_no_op(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert not D.active() and (D.rank(), D.world_size()) == (0, 1)
    assert (D.all_reduce_min(7), D.all_reduce_sum(7), D.all_reduce_mean(2.5)) == (7, 7, 2.5)
    x = np.array([1.0, 2.0])
    assert D.all_reduce_sum_array(x) is x
    stats = {"decisions": 4, "x": 0.5}
    assert D.reduce_stats(stats) == {"decisions": 4, "x": 0.5}
    assert D.gather_to_main("a") == ["a"]
    assert (D.local_device("cuda:1"), D.local_device("cuda"), D.local_device("cpu")) == ("cuda:1", "cuda", "cpu")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert D.local_device("cuda:0") == "cuda:0"   # only a torchrun rank takes its LOCAL_RANK's GPU


RANKS = """
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import torch.distributed as dist
from training import distributed as D
D.init()
r = D.rank()
out = {"world": D.world_size(), "backend": dist.get_backend()}
out["stats"] = D.reduce_stats({"illegal_actions": r + 1, "decisions": 10 * (r + 1), "heuristic_games": 4,
                               "heuristic_wins": r + 2, "x": float(r), "loss": 1.0 + 2 * r, "note": "kept"})
out["min"], out["sum"], out["mean"] = D.all_reduce_min(5 + r), D.all_reduce_sum(5 + r), D.all_reduce_mean(1.0 + r)
out["array"] = D.all_reduce_sum_array(np.array([1.0, r])).tolist()
out["device"] = D.local_device("cuda")
try:   # as many keys on each rank (the values would reduce), but not the same ones
    D.reduce_stats({"a": 1.0, "b" if r else "c": 2.0})
    out["mismatch"] = "no error"
except D.StatsMismatchError:
    out["mismatch"] = "raised"
print(json.dumps(out))
D.shutdown()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_ranks(script: str | None = None):
    """Run ``script`` (default RANKS; it gets the repo root as argv[1] and prints one JSON line)
    as gloo ranks 0 and 1 with torchrun's environment: (each rank's JSON object, or None if a
    rank failed; each rank's stderr). A port found free can be taken before rank 0 binds it:
    then it tries another, up to three times."""
    for _ in range(3):
        outs, stderrs = _run_two_ranks(_free_port(), script or RANKS)
        if outs is not None or not any("address already in use" in e.lower() for e in stderrs):
            break
    return outs, stderrs


def _run_two_ranks(port: int, script: str):
    """Start ``script`` as ranks 0 and 1 on ``port``: (each rank's JSON line, or None if a rank
    failed; each rank's stderr)."""
    procs = []
    for r in (0, 1):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(r),
                   LOCAL_RANK=str(r), OMP_NUM_THREADS="1")
        env.pop("TCG_DIST_BACKEND", None)
        if torch.cuda.is_available():   # without CUDA, init() picks gloo by itself
            env["TCG_DIST_BACKEND"] = "gloo"
        procs.append(subprocess.Popen([sys.executable, "-c", script, str(ROOT)], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs, errs = [], []
    try:
        for p in procs:
            so, se = p.communicate(timeout=120)
            errs.append(se)
            if p.returncode != 0:   # the other rank would wait for it: stop it and keep its stderr
                for q in procs:
                    q.kill()
                errs += [q.communicate()[1] for q in procs[len(errs):]]
                return None, errs
            outs.append(json.loads(so.strip().splitlines()[-1]))
    finally:   # a rank stuck in a collective (the other one failed) must not outlive the test
        for p in procs:
            p.kill()
    return outs, errs


def test_two_ranks_sum_the_counts_and_average_the_rest():
    """Two gloo ranks (plain processes with torchrun's environment; gloo chosen by init() on a
    machine without CUDA): reduce_stats sums the counts of SUMMED_STATS and averages the rest,
    leaves other values alone, and refuses key sets that differ even when they are as long;
    all_reduce_min/sum/mean and the array sum reduce as named; each rank's CUDA device is its
    LOCAL_RANK."""
    outs, stderrs = run_two_ranks()
    assert outs is not None, stderrs[0][-3000:] + stderrs[1][-3000:]
    for r, o in enumerate(outs):
        assert (o["world"], o["backend"]) == (2, "gloo")
        assert o["stats"] == {"illegal_actions": 3, "decisions": 30, "heuristic_games": 8, "heuristic_wins": 5,
                              "x": 0.5, "loss": 2.0, "note": "kept"}
        assert (o["min"], o["sum"], o["mean"]) == (5, 11, 1.5)
        assert o["array"] == [2.0, 1.0]
        assert o["device"] == f"cuda:{r}"
        assert o["mismatch"] == "raised"


def test_train_help_shows_each_named_configs_values_beside_the_defaults(capsys):
    """`tcg train --help` lists every setting with its built-in default and, in a column per
    named config, the value that config sets (blank where it keeps the default): a plain `tcg
    train` runs the cpu config, whose 5 minutes, two ranks and 512 games differ from the
    defaults the table would otherwise show alone."""
    from training.cli import main
    from training.config import CONFIG_DIR
    from dataclasses import fields
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    table = out[out.index("settings (--set key=value)"):].splitlines()
    header = next(line for line in table if line.split()[:1] == ["setting"])
    assert header.split() == ["setting", "default", "cpu", "gpu", "meaning"]
    rows = {line.split()[0]: line for line in table if line.startswith("  ") and line.split()[0] != "setting"}
    assert set(rows) == {f.name for f in fields(TrainConfig)}
    cpu, gpu, default = TrainConfig.named("cpu"), TrainConfig.named("gpu"), TrainConfig()
    col = {name: header.index(name) for name in ("default", "cpu", "gpu", "meaning")}
    for name, line in rows.items():
        cells = {c: line[col[c]:col[nxt]].strip() for c, nxt in (("default", "cpu"), ("cpu", "gpu"), ("gpu", "meaning"))}
        assert cells["default"] == repr(getattr(default, name)), name
        for which, cfg in (("cpu", cpu), ("gpu", gpu)):
            raw = (CONFIG_DIR / f"{which}.toml").read_text()
            if re.search(rf"^{name}\s*=", raw, re.M):
                assert cells[which] == repr(getattr(cfg, name)), (name, which)
            else:
                assert cells[which] == "" and getattr(cfg, name) == getattr(default, name), (name, which)
    assert rows["minutes"].split()[1:3] == ["0.0", "5.0"] and rows["nproc"].split()[1:3] == ["1", "2"]
