"""A resumable checkpoint's run state is checked for form before any of it is restored
(training/resume_checks.py): a file edited by hand, or written by something else, is refused
with a CheckpointError naming the file and the field, never a bare KeyError half way through
the restore, and never taken as it is to fail later (a pool member's weights when it is first
drawn as the opponent, a NaN rating in every rating after it)."""
import copy
import json
import re
from pathlib import Path

import pytest
import torch

from training.checkpoint import CheckpointError, atomic_save
from training.config import TrainConfig
from training.ppo import Trainer, check_resumable

TINY = dict(num_envs=8, rollout_steps=8, d_model=16, n_layers=1, num_minibatches=2, update_epochs=1,
            eval_every=0, eval_games=4, checkpoint_every=1, pool_add_every=1, minutes=0.0, total_steps=10_000,
            torch_threads=1, nproc=1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny run's checkpoint after two updates (two pool members, with ratings added), its
    dict and its config."""
    cfg = TrainConfig.from_dict({**TINY, "out": str(tmp_path_factory.mktemp("resume_checks") / "run")})
    tr = Trainer(cfg, quiet=True)
    for _ in range(2):
        ro, _ = tr.collect()
        tr.learn(ro)
        tr.update += 1
        tr._add_to_pool()
    tr.ratings = {"learner": (24.0, 3.0), "heuristic": (25.0, 25 / 3), tr.pool[0].name: (23.5, 4.0)}
    path = tr.save()
    tr.close()
    return path, torch.load(path, weights_only=True), cfg


def as_two_ranks(d):
    """The same checkpoint as if two ranks had written it (rank 1's fields a copy of rank 0's)."""
    d["world_size"] = 2
    d["rank_states"] = [{k: copy.deepcopy(d[k]) for k in ("rng", "env", "pool_stats")}]


def first_tensor(sd):
    return sd[next(iter(sd))]


CASES = [
    # the RNG states
    (lambda d: d["rng"].pop("torch"), "its rng lacks 'torch'"),
    (lambda d: d["rng"].update(torch=d["rng"]["torch"][:10]), "its rng 'torch' holds 10 bytes"),
    (lambda d: d["rng"].update(torch=torch.zeros(5)), "its rng 'torch' is torch.float32, not torch.uint8"),
    (lambda d: d["rng"].update(generator=d["rng"]["generator"][:7]), "its rng 'generator' is not a state of a torch generator"),
    (lambda d: d["rng"].update(numpy="not json"), "its rng 'numpy' is not a NumPy PCG64 generator state"),
    (lambda d: d["rng"].update(numpy=json.dumps({"bit_generator": "MT19937", "state": {}})), "must be for a PCG64"),
    (lambda d: d["rng"].update(bot=torch.zeros(3, dtype=torch.int64)), "its rng 'bot' has shape [3], this run needs [1]"),
    (lambda d: d["rng"].update(bot=torch.zeros(1, dtype=torch.int64)), "its rng 'bot' holds a 0"),
    (lambda d: d["rng"].update(bot_rows=d["rng"]["bot_rows"].float()), "its rng 'bot_rows' is torch.float32"),
    (lambda d: d["rng"].update(bot_rows=d["rng"]["bot_rows"][:4]), "its rng 'bot_rows' has shape [4], this run needs [8]"),
    (lambda d: d.update(rng=[1]), "its rng must be a table, got a list"),
    # the games
    (lambda d: d["env"].pop("state"), "its env lacks 'state'"),
    (lambda d: d["env"].update(state=d["env"]["state"].double()), "its env 'state' is torch.float64, not torch.int32"),
    (lambda d: d["env"].update(state=d["env"]["state"][:4]), "its env 'state' has shape [4,"),
    (lambda d: d["env"]["state"].fill_(7), "its env 'state' is not a state this engine can hold"),
    (lambda d: d["env"].update(illegal_counts=torch.zeros(3, dtype=torch.int32)), "its env 'illegal_counts' has shape [3]"),
    (lambda d: d["env"]["illegal_counts"].fill_(-1), "its env 'illegal_counts' holds a count outside 0..2**31-1"),
    (lambda d: d["env"].update(illegal_counts=torch.full((8,), 2 ** 31, dtype=torch.int64)),
     "its env 'illegal_counts' holds a count outside 0..2**31-1"),
    (lambda d: d["env"].update(illegal_counts=d["env"]["illegal_counts"].float()), "'illegal_counts' is torch.float32"),
    # the opponent pool and each rank's win counts against it
    (lambda d: d.update(pool={}), "its pool must be a list of members, got a dict"),
    (lambda d: d["pool"][0].pop("name"), "pool member 0 lacks 'name'"),
    (lambda d: d["pool"][1].update(name=d["pool"][0]["name"]), "pool member 1's name 'self@1' must be a non-empty string"),
    (lambda d: d["pool"][0].update(games=-5), "pool member 0 (self@1) games = -5 must be a whole number >= 0"),
    (lambda d: d["pool"][0].update(games="x"), "pool member 0 (self@1) games = 'x'"),
    (lambda d: d["pool"][0].update(games=2, learner_wins=3), "pool member 0 (self@1): 3 learner wins in 2 games"),
    (lambda d: d["pool"][1].update(update=1.5), "pool member 1 (self@2) update = 1.5"),
    (lambda d: d["pool"][0]["state_dict"].pop(next(iter(d["pool"][0]["state_dict"]))),
     "pool member 0 (self@1)'s weights do not fit the policy its config describes"),
    (lambda d: first_tensor(d["pool"][1]["state_dict"]).fill_(float("nan")), "pool member 1 (self@2)'s weights hold NaN"),
    (lambda d: d.update(pool_stats=[]), "its pool_stats must list [games, learner wins] for each of the pool's 2"),
    (lambda d: d.update(pool_stats=[["a", 1], [0, 0]]), "its pool_stats[0] games = 'a'"),
    (lambda d: d.update(pool_stats=[[1, 0], [4, 4.5]]), "its pool_stats[1]: 4.5 learner wins in 4 games"),
    # the optimizer's moments
    (lambda d: d["optimizer"].update(param_groups=[]), "its optimizer state does not fit this policy's parameters"),
    (lambda d: d["optimizer"]["state"][0].update(exp_avg=torch.zeros(3)), "its optimizer state 0 'exp_avg' has shape [3]"),
    (lambda d: d["optimizer"]["state"][1]["exp_avg_sq"].fill_(float("inf")), "its optimizer state 1 'exp_avg_sq' holds NaN"),
    # the ratings and the history
    (lambda d: d.update(ratings=[1]), "its ratings must be a table, got a list"),
    (lambda d: d.pop("ratings"), "its ratings must be a table, got a NoneType"),
    (lambda d: d["ratings"].update(learner="x"), "its ratings must map names to [mu, sigma]"),
    (lambda d: d["ratings"].update(learner=[float("nan"), 1.0]), "rating 'learner' mu = nan must be a finite number"),
    (lambda d: d["ratings"].update(heuristic=[25.0, 0.0]), "rating 'heuristic' sigma = 0.0 must be > 0"),
    (lambda d: d.update(history="{"), "its history is not JSON text"),
    (lambda d: d.pop("history"), "its history is not JSON text"),
    (lambda d: d.update(history=json.dumps({"a": 1})), "its history must be a JSON list of records"),
    (lambda d: d.update(history=json.dumps([{"update": 1}, 2])), "its history must be a JSON list of records"),
    # the ranks
    (lambda d: d.update(world_size="two"), "its world_size 'two' must be a whole number of ranks >= 1"),
    (lambda d: d.update(rank_states=[{}]), "it was written by 1 rank(s), so 'rank_states' must list ranks 1..0"),
]


@pytest.mark.parametrize("mutate,says", CASES)
def test_a_malformed_run_state_field_is_named(saved, mutate, says):
    path, data, cfg = saved
    d = copy.deepcopy(data)
    mutate(d)
    with pytest.raises(CheckpointError, match=re.escape(f"{path}: ") + ".*" + re.escape(says)):
        check_resumable(d, cfg, path, int(d["world_size"]) if isinstance(d.get("world_size"), int) else 1)


def test_the_checkpoint_as_written_passes_and_so_do_older_ones(saved):
    """The checks accept what Trainer.save writes, and checkpoints written before 'bot_rows' and
    'pool_stats' were saved (Trainer.load starts those afresh, as it did then)."""
    path, data, cfg = saved
    check_resumable(copy.deepcopy(data), cfg, path, 1)
    d = copy.deepcopy(data)
    d["rng"].pop("bot_rows")
    d.pop("pool_stats")
    check_resumable(d, cfg, path, 1)
    d = copy.deepcopy(data)
    as_two_ranks(d)
    check_resumable(d, cfg, path, 2)


@pytest.mark.parametrize("mutate,says", [
    (lambda r: r["rng"].update(numpy=5), "rank 1's rng 'numpy' is not a NumPy PCG64 generator state"),
    (lambda r: r["env"]["illegal_counts"].fill_(-2), "rank 1's env 'illegal_counts' holds a count outside"),
    (lambda r: r["env"]["state"][3].fill_(-1), "rank 1's env 'state' is not a state this engine can hold"),
    (lambda r: r.update(pool_stats=[[1, 1]]), "rank 1's pool_stats must list"),
    (lambda r: r.pop("rng"), "rank 1's lacks 'rng'"),
])
def test_each_other_rank_is_checked_and_named(saved, mutate, says):
    path, data, cfg = saved
    d = copy.deepcopy(data)
    as_two_ranks(d)
    mutate(d["rank_states"][0])
    with pytest.raises(CheckpointError, match=re.escape(says)):
        check_resumable(d, cfg, path, 2)
    d["rank_states"] = []
    with pytest.raises(CheckpointError, match=re.escape("so 'rank_states' must list ranks 1..1; got []")):
        check_resumable(d, cfg, path, 2)


def test_a_refused_resume_restores_nothing_and_tcg_train_says_it_in_one_line(saved, tmp_path, capsys):
    """Through Trainer and through `tcg train --resume`: one line, exit 2, the file untouched."""
    from training.cli import main
    path, data, cfg = saved
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    d = copy.deepcopy(data)
    d["pool"][0]["state_dict"].pop(next(iter(d["pool"][0]["state_dict"])))   # fails only when drawn, before
    bad = run / "checkpoints" / path.name
    atomic_save(d, bad)
    before = bad.read_bytes()
    with pytest.raises(CheckpointError, match="pool member 0"):
        Trainer(TrainConfig.from_dict({**cfg.to_dict(), "out": str(run)}), resume=str(run), quiet=True)
    assert main(["train", "--resume", str(run), "--total-steps", "100000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tcg train: ") and str(bad) in err and "pool member 0 (self@1)'s weights" in err, err
    assert bad.read_bytes() == before
    assert not (Path(run) / "tb").exists()
