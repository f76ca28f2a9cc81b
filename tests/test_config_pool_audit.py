"""A second mutation audit of the train config (``training/config.py``: the bounds ``validate``
states, TOML loading of named configs and files, ``tcg train --help``'s table) and of the
trainer's opponent pool (``training/ppo.py``: ``_choose_opponent``'s latest-plus-prioritised
fictitious self-play, the members' win tallies, and the pool's trip through a checkpoint): each
test fails on at least one one-line change the older tests (``test_config.py``,
``test_evaluate.py``, ``test_collect.py``, ``test_train.py``, ...) let through."""
import re
from collections import Counter

import numpy as np
import pytest
import torch

from test_cli_audit import stub_trainer  # noqa: F401  (a fixture)
from test_collect import _edit_games, _pool_member_opponent, _pool_tally, trainer
from training.config import TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------ the pool: choosing an opponent
@pytest.fixture(scope="module")
def pool3(tmp_path_factory):
    """A tiny trainer whose pool holds self@1, self@2 and self@3 (pool_size 3)."""
    tr = trainer(tmp_path_factory.mktemp("pool3"), pool_size=3)
    for u in (1, 2, 3):
        tr.update = u
        tr._add_to_pool()
    yield tr
    tr.close()


def _draws(tr, monkeypatch, n, **cfg):
    monkeypatch.setattr(tr.opp_policy, "load_state_dict", lambda sd: None)   # only the choice matters here
    for k, v in cfg.items():
        monkeypatch.setattr(tr.cfg, k, v)
    return Counter(tr._choose_opponent() for _ in range(n))


def test_the_latest_and_the_prioritised_draw_share_what_the_bot_leaves(pool3, monkeypatch):
    """The three probabilities compose as documented: the bot with bot_opponent_prob, and of the
    rest the latest with pool_latest_prob (its own draw, independent of the bot's), else a
    weighted member. With equal tallies every member weighs the same, so with both
    probabilities 0.5: heuristic 1/2, self@3 1/4 + 1/12, self@1 and self@2 1/12 each."""
    for m in pool3.pool:
        m.games, m.learner_wins = 0, 0.0
    n = 6000
    seen = _draws(pool3, monkeypatch, n, bot_opponent_prob=0.5, pool_latest_prob=0.5)
    want = {"heuristic": 0.5, "self@3": 0.25 + 0.5 / 6, "self@2": 0.5 / 6, "self@1": 0.5 / 6}
    assert set(seen) == set(want)
    for name, p in want.items():
        assert abs(seen[name] / n - p) < 0.025, (seen, want)


# ------------------------------------------------------------------ the pool: the members' tallies
def test_a_members_tally_adds_to_what_it_held(tmp_path):
    """The rollout adds its pool games and the learner's wins to the member's running tally
    (its smoothed win rate is over every game it has played, not the last rollout's)."""
    tr = trainer(tmp_path, rollout_steps=60)
    _pool_member_opponent(tr)
    _edit_games(tr, hp=1)
    m = tr.pool[-1]
    m.games, m.learner_wins = 40, 11.0
    ro, _ = tr.collect()
    games, wins = _pool_tally(tr, ro)
    assert games >= 3 and 0 < wins < games
    assert (m.games, m.learner_wins) == (40 + games, 11.0 + wins)
    tr.close()


def test_the_tally_goes_to_the_member_faced_not_the_newest(tmp_path):
    """When the prioritised draw picks an older member, the opponent plays that member's weights
    (not the newest's), and that member's tally grows while the newest's stays as it was."""
    tr = trainer(tmp_path, rollout_steps=60, bot_opponent_prob=0.0, pool_latest_prob=0.0)
    tr.update = 1
    tr._add_to_pool()
    with torch.no_grad():
        for p in tr.policy.parameters():
            p.add_(0.5)
    tr.update = 2
    tr._add_to_pool()
    old, new = tr.pool
    old.games, old.learner_wins = 1000, 0.0        # never beaten: weight ~1.05
    new.games, new.learner_wins = 1000, 1000.0     # always beaten: weight ~0.05
    for _ in range(10):
        _edit_games(tr, hp=1)
        tr.collect()
        if tr.opponent == old.name:
            break
    assert tr.opponent == old.name
    opp = tr.opp_policy.state_dict()
    assert all(torch.equal(opp[k], v) for k, v in old.state_dict.items())
    assert old.games > 1000 and (new.games, new.learner_wins) == (1000, 1000.0)
    tr.close()


def test_training_adds_the_learner_to_the_pool_every_pool_add_every_updates(tmp_path):
    """Trainer.train puts the current policy in the pool after every pool_add_every-th update
    (named by that update), and the pool keeps the newest pool_size of them."""
    tr = trainer(tmp_path, pool_add_every=2, pool_size=2, total_steps=6 * 64, eval_every=0, checkpoint_every=0,
                 eval_pool_members=0, eval_games=2, pool_fraction=0.0)
    tr.train()
    assert tr.update == 6
    assert [(m.name, m.update) for m in tr.pool] == [("self@4", 4), ("self@6", 6)]
    tr.close()


# ------------------------------------------------------------------ the pool through a checkpoint
def _pool_run(tmp_path, **kw):
    """A trainer with two pool members of different weights, tallies and ratings, saved."""
    tr = trainer(tmp_path, pool_size=3, **kw)
    for u, (games, wins) in ((1, (7, 2.0)), (2, (5, 4.0))):
        with torch.no_grad():
            for p in tr.policy.parameters():
                p.add_(0.25 * u)
        tr.update = u
        tr._add_to_pool()
        tr.pool[-1].games, tr.pool[-1].learner_wins = games, wins
    tr.ratings.update({"learner": (27.5, 3.25), "self@1": (24.0, 2.0), "self@2": (26.0, 4.5)})
    path = tr.save()
    return tr, path


def _same_pool(a, b):
    assert [(m.name, m.update, m.games, m.learner_wins) for m in a.pool] == \
           [(m.name, m.update, m.games, m.learner_wins) for m in b.pool]
    for ma, mb in zip(a.pool, b.pool):
        assert ma.state_dict.keys() == mb.state_dict.keys()
        assert all(torch.equal(ma.state_dict[k], mb.state_dict[k]) for k in ma.state_dict)
    assert a.ratings == b.ratings


def test_resume_restores_every_pool_member_its_tally_and_the_ratings(tmp_path):
    """A checkpoint holds the pool (each member's name, update, weights and win tally) and the
    ratings; --resume gets all of them back, not the learner's weights in the members' place."""
    tr, path = _pool_run(tmp_path)
    back = trainer(tmp_path, pool_size=3)
    back.load(path)
    _same_pool(tr, back)
    assert not all(torch.equal(back.pool[0].state_dict[k], v) for k, v in back.policy.state_dict().items())
    tr.close()
    back.close()


def test_a_checkpoint_without_per_rank_pool_stats_keeps_the_pools_own_tallies(tmp_path):
    """A checkpoint written before the per-rank pool counts were saved (no ``pool_stats``) still
    resumes with each member's tally as its pool entry holds it."""
    tr, path = _pool_run(tmp_path)
    data = torch.load(path, weights_only=True)
    del data["pool_stats"]
    torch.save(data, path)
    back = trainer(tmp_path, pool_size=3)
    back.load(path)
    _same_pool(tr, back)
    tr.close()
    back.close()


# ------------------------------------------------------------------ the config's bounds
@pytest.mark.parametrize("kw, says", [
    ({"rollout_steps": 0}, "num_envs and rollout_steps must be >= 1"),
    ({"update_epochs": 0}, "num_minibatches and update_epochs must be >= 1"),
    ({"num_envs": 2, "rollout_steps": 3, "num_minibatches": 7},
     "num_minibatches (7) must be at most the decisions of a rollout, num_envs x rollout_steps = 6"),
    ({"policy_size": "medium"}, "policy_size must be 'small' or 'large'"),
    ({"n_layers": -1}, "d_model, n_layers and n_heads must be >= 0"),
    ({"d_model": -8}, "d_model, n_layers and n_heads must be >= 0"),
    ({"n_heads": 3}, "n_heads (3) must divide the policy width (64)"),            # the small size's width
    ({"policy_size": "large", "n_heads": 3}, "n_heads (3) must divide the policy width (256)"),
    ({"entropy": "none"}, "entropy must be 'exact' or 'sampled'"),
    ({"pool_fraction": 1.5}, "pool_fraction must be in [0, 1]"),
    ({"gamma": 1.01}, "gamma in (0, 1]"),
    ({"gae_lambda": -0.1}, "gae_lambda in [0, 1]"),
    ({"env_threads": 257}, "env_threads must be in 1..256"),
    ({"nproc": 0}, "nproc must be >= 1"),
    ({"torch_threads": 257}, "torch_threads must be >= 0 (0: torch's default) and at most 256"),
    ({"out": "  "}, "out must name a folder, got '  '"),
    ({"pool_latest_prob": -0.1}, "pool_latest_prob must be in [0, 1]"),
    ({"bot_opponent_prob": -0.1}, "bot_opponent_prob must be in [0, 1]"),
    ({"clip_coef": 0.0}, "learning_rate, clip_coef, max_grad_norm and ratio_check_tol must be > 0"),
    ({"ent_coef": -0.01}, "ent_coef and ent_coef_end must be >= 0"),
    ({"shaping_hp": float("nan")}, "shaping_hp must be finite"),
    ({"vf_coef": float("inf")}, "vf_coef must be finite"),
    ({"minutes": float("inf")}, "minutes must be finite"),
])
def test_each_remaining_bound_is_refused_by_name(kw, says):
    """The bounds validate() states that test_config.py does not push past: each one past its
    edge is a ValueError naming the setting (not accepted to fail later, or refused under
    another setting's name)."""
    with pytest.raises(ValueError, match=re.escape(says)):
        TrainConfig.from_dict(kw)


def test_a_cuda_device_this_machine_lacks_is_refused_by_count(monkeypatch):
    """check_device with available=True (the trainer's check): 'cuda:K' needs K below the
    machine's device count, and 'cuda' on a machine without CUDA says to use 'cpu'."""
    from training.config import check_device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    check_device("cuda:0", "device")
    check_device("cuda", "device")
    with pytest.raises(ValueError, match=re.escape("device 'cuda:1': this machine has 1 CUDA device(s)")):
        check_device("cuda:1", "device")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=re.escape("this machine has 0 CUDA device(s) (or torch was built without "
                                                   "CUDA); use 'cpu'")):
        check_device("cuda", "device")
    check_device("cuda:3", "device", available=False)   # a config naming it still loads


# ------------------------------------------------------------------ config files and names
def test_a_config_file_that_is_not_toml_is_refused_naming_it(tmp_path):
    """Bad TOML and a file that is not text are ValueErrors naming the file (tcg train prints
    them as usage errors), not a TOMLDecodeError without the path or a UnicodeDecodeError."""
    bad = tmp_path / "bad.toml"
    bad.write_text("num_envs = = 3\n")
    with pytest.raises(ValueError, match=re.escape(f"{bad}: not valid TOML")):
        TrainConfig.from_toml(bad)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00\x81 = 1\n")
    with pytest.raises(ValueError, match=re.escape(f"config {binary} cannot be read")) as e:
        TrainConfig.from_toml(binary)
    assert type(e.value) is ValueError
    # what tomllib parses past Python's limits: nesting past the stack, an integer of 5,000 digits
    for name, text, why in (("deep.toml", "x = " + "[" * 100_000 + "]" * 100_000 + "\n", "RecursionError"),
                            ("big.toml", "seed = " + "9" * 5_000 + "\n", "ValueError: Exceeds the limit")):
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=re.escape(f"{tmp_path / name}: not valid TOML ({why}")):
            TrainConfig.from_toml(tmp_path / name)


def test_an_out_folder_with_a_nul_character_is_refused_by_name():
    with pytest.raises(ValueError, match=re.escape("out must name a folder, got 'runs/a\\x00b' (a non-empty path without NUL")):
        TrainConfig.from_dict({"out": "runs/a\x00b"})


def test_only_a_bare_file_name_falls_back_to_the_named_configs(tmp_path, monkeypatch):
    """`--config cpu.toml` from any folder is the packaged cpu config; a path with a folder
    (`nowhere/cpu.toml`) that does not exist is refused, not read as the packaged one."""
    monkeypatch.chdir(tmp_path)
    assert TrainConfig.from_toml("cpu.toml") == TrainConfig.named("cpu")
    with pytest.raises(ValueError, match=re.escape("config nowhere/cpu.toml cannot be read")):
        TrainConfig.from_toml("nowhere/cpu.toml")


def test_a_file_given_as_a_config_name_is_told_to_end_in_toml(tmp_path, monkeypatch):
    """`--config myrun` where ./myrun is a file: the message says a config file must end in
    .toml, not that no named config has that name."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "myrun").write_text("num_envs = 8\n")
    with pytest.raises(ValueError, match=re.escape("config 'myrun' is a path: a config file must end in .toml")):
        TrainConfig.named("myrun")
    with pytest.raises(ValueError, match=re.escape("unknown config 'other'; named configs: cpu, gpu")):
        TrainConfig.named("other")


def test_the_help_table_gives_each_settings_meaning():
    """`tcg train --help`'s table ends every setting's row with its meaning (the field's help
    text), after the default and the named configs' columns."""
    from dataclasses import fields

    import tomllib

    from training.config import CONFIG_DIR, help_table
    header, *lines = help_table().splitlines()
    rows = {line.split()[0]: line for line in lines}
    col = {name: re.search(rf"\b{name}\b", header).start() for name in ("default", "cpu", "gpu", "meaning")}
    for f in fields(TrainConfig):
        line = rows[f.name]
        assert line.endswith(" " + f.metadata["help"]), f.name
        # every value starts under its column's name, the meaning too
        assert line[col["meaning"]:] == f.metadata["help"], f.name
        assert line[col["default"] - 1] == " " and line[col["default"]] != " ", f.name
        for c in ("cpu", "gpu"):
            sets = f.name in tomllib.loads((CONFIG_DIR / f"{c}.toml").read_text())
            assert line[col[c] - 1] == " " and (line[col[c]] != " ") == sets, (f.name, c)
    assert "Keep at most this many past selves in the pool." in rows["pool_size"]


def test_a_plain_tcg_train_runs_the_cpu_config(stub_trainer, tmp_path, capsys):  # noqa: F811
    """Without --config, `tcg train` trains the cpu config (its help and docs/TRAINING.md say
    so): the config handed to the trainer is cpu.toml's, with only the flags given changed."""
    from training.cli import main
    out = tmp_path / "r"
    assert main(["train", "--out", str(out), "--nproc", "1"]) == 2
    assert "stub trainer refuses" in capsys.readouterr().err
    want = {**TrainConfig.named("cpu").to_dict(), "out": str(out), "nproc": 1}
    assert stub_trainer.cfg.to_dict() == want


# ------------------------------------------------------------------ defects this audit found

def test_a_resume_with_a_smaller_pool_size_keeps_only_the_newest(tmp_path):
    """docs/TRAINING.md: the pool keeps the newest ``pool_size``, and ``--set`` changes a setting on
    ``--resume``. A pool of 5 resumed with ``pool_size=2`` kept all 5 for ever (one eviction per
    add), drawing and rating members it should have dropped. Now the load trims it, with the
    dropped members' ratings."""
    tr = trainer(tmp_path, pool_size=5)
    for u in range(1, 6):
        tr.update = u
        tr._add_to_pool()
        tr.ratings[f"self@{u}"] = (25.0 + u, 8.0)
    path = tr.save()
    tr.close()
    back = trainer(tmp_path, pool_size=2)
    back.load(path)
    assert [m.name for m in back.pool] == ["self@4", "self@5"]
    assert not {"self@1", "self@2", "self@3"} & set(back.ratings) and {"self@4", "self@5"} <= set(back.ratings)
    back.update = 6
    back._add_to_pool()
    assert [m.name for m in back.pool] == ["self@5", "self@6"]
    back.close()


def test_an_empty_config_name_is_refused_not_read_as_cpu(stub_trainer, tmp_path, capsys):  # noqa: F811
    """``--config ""`` (an unset shell variable) trained the cpu config; like ``--resume ""`` it
    is now refused, naming what the flag takes."""
    from training.cli import main
    assert main(["train", "--config", "", "--out", str(tmp_path / "r"), "--nproc", "1"]) == 2
    err = capsys.readouterr().err
    assert "--config needs a named config (cpu, gpu) or a .toml file, got ''" in err, err


def test_the_win_rate_is_smoothed_as_documented():
    """docs/TRAINING.md: ``w = (wins + 1) / (games + 2)``; a member not yet faced counts as 0.5."""
    from training.ppo import PoolMember
    assert PoolMember("a", 1, {}).learner_win_rate() == 0.5
    assert PoolMember("a", 1, {}, games=2, learner_wins=2.0).learner_win_rate() == 0.75
    assert PoolMember("a", 1, {}, games=8, learner_wins=0.0).learner_win_rate() == 0.1
