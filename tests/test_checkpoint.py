"""Checkpoints are data, versioned and checked; the checkpoint bot plays through the sampler."""
import pickle
import re
from pathlib import Path

import pytest
import torch

from policy import PolicyConfig, TCGPolicy
from tcg_env import GameState
from tcg_env.bots import make_bot
from training.checkpoint import CheckpointError, atomic_save, load_checkpoint, load_policy, save_policy


def _saved(tmp_path, **extra):
    torch.manual_seed(0)
    p = TCGPolicy(PolicyConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64))
    path = save_policy(p, tmp_path / "p.pt", extra=extra or None)
    return p, path


def test_round_trip_gives_identical_outputs(tmp_path):
    p, path = _saved(tmp_path)
    q = load_policy(path)
    from policy import obs_tensors
    g = GameState.new(None, None, seed=1)
    obs = g.observation()[None]
    p.eval()
    a, b = p(*obs_tensors(obs)), q(*obs_tensors(obs))
    assert torch.equal(a.value, b.value) and torch.equal(a.entities, b.entities)


def test_policy_bot_plays_legal_games(tmp_path):
    _, path = _saved(tmp_path)
    for spec in (f"checkpoint:{path}", f"checkpoint:{path}@sample"):
        bot = make_bot(spec, seed=3)
        g = GameState.new(None, None, seed=5)
        steps = 0
        while not g.done and steps < 3000:
            g.apply(bot.act(g))   # checked apply: raises if the bot were ever illegal
            steps += 1
        assert g.done


@pytest.mark.parametrize("mutate,fragment", [
    (lambda d: d.update(action_spec_version=999), "action spec version 999"),
    (lambda d: d.update(card_table_digest="00"), "different card pool"),
    (lambda d: d.update(version=42), "checkpoint version 42"),
    (lambda d: d.update(format="other"), "not a tcg checkpoint"),
    (lambda d: d.pop("model"), "lacks 'model'"),
    (lambda d: d["policy_config"].update(d_model=48), "do not fit"),
    (lambda d: d["policy_config"].update(wings=3), r"its policy config cannot be read: unknown policy config field\(s\) \[.wings.\]"),
    (lambda d: d.update(policy_config=[1, 2]), "'policy_config' and 'model' must be dicts"),
    (lambda d: next(v for v in d["model"].values() if v.is_floating_point()).view(-1).__setitem__(0, float("nan")),
     "NaN or infinite values .*diverged run"),
])
def test_mismatched_checkpoints_raise(tmp_path, mutate, fragment):
    _, path = _saved(tmp_path)
    data = torch.load(path, weights_only=True)
    mutate(data)
    atomic_save(data, path)
    with pytest.raises(CheckpointError, match=fragment):
        load_policy(path)


def test_corrupt_and_missing_and_pickled_files(tmp_path):
    _, path = _saved(tmp_path)
    raw = path.read_bytes()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")

    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))

    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:   # a bare pickle: refused before anything unpickles it
        pickle.dump({"format": "tcg-checkpoint", "x": Evil()}, f, protocol=2)
    with pytest.raises(CheckpointError, match="not a torch checkpoint file"):
        load_checkpoint(evil)
    torch.save({"format": "tcg-checkpoint", "x": Evil()}, evil)   # the same inside torch's zip format
    with pytest.raises(CheckpointError, match="weights-only"):
        load_checkpoint(evil)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a torch checkpoint file"):
        load_checkpoint(text)
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(tmp_path)


def test_atomic_save_leaves_no_temp_files(tmp_path):
    _saved(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.pt"]


def test_play_against_a_checkpoint(tmp_path):
    import io
    from tcg_env.play import play_game
    _, path = _saved(tmp_path)
    res = play_game(opponent=f"checkpoint:{path}", seed=2, plain=True, replay_out=str(tmp_path / "r.json"),
                    input=io.StringIO("1\n" * 600), output=io.StringIO())
    assert res.outcome in ("win", "loss", "draw", "truncated")
    assert (tmp_path / "r.json").exists()


def test_non_finite_weights_are_never_saved(tmp_path):
    from training.checkpoint import NonFiniteWeightsError
    p, path = _saved(tmp_path)
    before = path.read_bytes()
    with torch.no_grad():
        next(p.parameters()).view(-1)[0] = float("inf")
    with pytest.raises(NonFiniteWeightsError, match="NaN or infinite"):
        save_policy(p, path)
    assert path.read_bytes() == before


# ------------------------------------------------------------------ atomic writes and resume fields
def test_atomic_save_syncs_the_temporary_file_before_renaming_it(tmp_path, monkeypatch):
    """The documented order (docs/TRAINING.md): a temporary file in the same folder, fsync, then
    rename over the target, which does not exist until the rename."""
    import os

    import tcg_env.atomic as ck   # the writer atomic_save goes through
    target = tmp_path / "ckpt_000001.pt"
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", target.exists(), sorted(p.name for p in tmp_path.iterdir())))
        return real_fsync(fd)

    def replace(a, b):
        events.append(("replace", Path(a).name, Path(a).parent == tmp_path, Path(b) == target))
        return real_replace(a, b)

    monkeypatch.setattr(ck.os, "fsync", fsync)
    monkeypatch.setattr(ck.os, "replace", replace)
    atomic_save({"x": torch.ones(3)}, target)
    assert [e[0] for e in events] == ["fsync", "replace"], events
    (_, existed, names), (_, tmp, same_folder, onto_target) = events
    assert not existed and names == [tmp] and tmp.startswith("ckpt_000001.pt.") and tmp.endswith(".tmp")
    assert same_folder and onto_target
    assert torch.equal(torch.load(target, weights_only=True)["x"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_000001.pt"]


def test_a_failed_atomic_save_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "policy.pt"
    atomic_save({"x": torch.zeros(2)}, target)
    before = target.read_bytes()
    with pytest.raises(Exception):
        atomic_save({"x": lambda: 0}, target)   # torch.save cannot pickle a lambda
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.pt"] and target.read_bytes() == before


def test_atomic_save_writes_an_ordinary_file_mode(tmp_path):
    import os
    old = os.umask(0o022)
    try:
        path = atomic_save({"x": torch.zeros(1)}, tmp_path / "sub" / "a.pt")
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o644


def _counters(**kw):
    return {"train_config": {"num_envs": 8}, "counters": {"update": 3, "steps": 96, "elapsed": 1.5, **kw}}


def test_resume_fields_accepts_well_formed_counters_and_refuses_fractional_counts():
    from training.checkpoint import resume_fields
    tc, c = resume_fields(_counters(), "x.pt")   # illegal_total absent: an older checkpoint, read as 0
    assert tc == {"num_envs": 8} and c == {"update": 3, "steps": 96, "elapsed": 1.5}
    resume_fields(_counters(illegal_total=4, elapsed=0), "x.pt")
    for key in ("steps", "update", "illegal_total"):
        with pytest.raises(CheckpointError, match=f"x.pt: counters '{key}' = 2.5 must be a whole number >= 0"):
            resume_fields(_counters(**{key: 2.5}), "x.pt")
    with pytest.raises(CheckpointError, match="policy-only checkpoint"):
        resume_fields({"counters": {}}, "x.pt")
    with pytest.raises(CheckpointError, match="counters 'illegal_total' = True"):
        resume_fields(_counters(illegal_total=True), "x.pt")
    for key, huge in (("update", 10 ** 400), ("steps", 2 ** 53 + 1), ("elapsed", 1e300)):
        # past a float's range or past exact counting: a CheckpointError, not an OverflowError
        with pytest.raises(CheckpointError, match=f"counters '{key}' = .* must be .*at most 2\\*\\*53"):
            resume_fields(_counters(**{key: huge}), "x.pt")
    resume_fields(_counters(steps=2 ** 53), "x.pt")


def test_remove_stale_temps_clears_every_kind_in_every_folder_and_nothing_else(tmp_path):
    """The temporaries atomic_write leaves for checkpoints, policy.pt and a rewound league.csv."""
    from training.checkpoint import remove_stale_temps
    run, ck = tmp_path / "run", tmp_path / "run" / "checkpoints"
    ck.mkdir(parents=True)
    keep = {run: ["policy.pt", "notes.tmp", "policy.pt.tmp", "other.pt.abc.tmp", "league.csv", "league.csv.tmp"],
            ck: ["ckpt_000002.pt", "draft.tmp", "ckpt_000002.pt"]}
    for folder in (run, ck):
        for name in keep[folder] + ["policy.pt.k2j3.tmp", "ckpt_000003.pt.x9y8.tmp", "league.csv.q1w2.tmp"]:
            (folder / name).write_bytes(b"x")
    remove_stale_temps(ck, run, ck)
    for folder in (run, ck):
        assert sorted(p.name for p in folder.iterdir() if p.is_file()) == sorted(set(keep[folder]))


def test_load_policy_returns_the_policy_in_eval_mode(tmp_path):
    _, path = _saved(tmp_path)
    q = load_policy(path)
    assert not q.training and not any(m.training for m in q.modules())


# ------------------------------------------------------------------ mutation audit (checkpoint.py)
def test_check_finite_weights_names_the_first_four_bad_tensors_then_an_ellipsis():
    """The NonFiniteWeightsError names at most 4 bad tensors, adding ', ...' only when there are more."""
    from training.checkpoint import NonFiniteWeightsError, check_finite_weights
    good = {"good_w": torch.ones(2), "good_n": torch.tensor([3])}
    check_finite_weights(good, "x")   # finite (and integer) tensors pass
    for n, named, hidden in ((1, ["w0"], []), (4, ["w0", "w1", "w2", "w3"], []),
                             (6, ["w0", "w1", "w2", "w3"], ["w4", "w5"])):
        sd = {**good, **{f"w{i}": torch.tensor([1.0, float("nan") if i % 2 else float("inf")]) for i in range(n)}}
        with pytest.raises(NonFiniteWeightsError) as e:
            check_finite_weights(sd, "saving q.pt")
        msg = str(e.value)
        assert msg.startswith(f"saving q.pt: the policy's weights are NaN or infinite ({', '.join(named)}")
        assert all(h not in msg for h in hidden + list(good))
        assert (", ...)" in msg) == bool(hidden)


def test_card_table_digest_reads_the_pool_it_is_given():
    """card_table_digest(pool) digests that pool's table: one changed value changes it, the default pool's does not."""
    import types

    from prefabs import default_pool
    from training.checkpoint import card_table_digest
    pool = default_pool()
    assert card_table_digest(pool) == card_table_digest() and len(card_table_digest()) == 32
    table = pool.table.copy()
    table.reshape(-1)[-1] += 1
    assert card_table_digest(types.SimpleNamespace(table=table)) != card_table_digest()


def test_save_policy_keeps_the_extra_keys(tmp_path):
    """save_policy(extra=...) stores the extra keys beside the standard ones, and load_checkpoint returns them."""
    _, path = _saved(tmp_path, bc={"epoch": 3, "loss": "ce"}, note="hi")
    data = load_checkpoint(path)
    assert data["bc"] == {"epoch": 3, "loss": "ce"} and data["note"] == "hi" and data["format"] == "tcg-checkpoint"


def test_why_gives_a_short_plain_one_line_message():
    """why(): the first `lines` non-empty lines joined by '; ', colour codes removed, cut at `width` with '...'."""
    from training.checkpoint import why
    e = RuntimeError("\x1b[31mError(s) in loading\x1b[0m\n\n  Missing key(s): a.b\n  Unexpected: c\nfourth")
    assert why(e) == "Error(s) in loading; Missing key(s): a.b; Unexpected: c"
    assert why(e, lines=1) == "Error(s) in loading"
    long = why(ValueError("x" * 1000), width=50)
    assert long == "x" * 47 + "..." and len(long) == 50
    assert why(ValueError("y" * 50), width=50) == "y" * 50


@pytest.mark.parametrize("name", ["", "  "])
def test_load_checkpoint_refuses_an_empty_path(name):
    """An empty (or blank) path is refused as such, not read as the current folder."""
    with pytest.raises(CheckpointError, match="a checkpoint is named by its file path, got"):
        load_checkpoint(name)


def _without(d, key):
    return {k: v for k, v in d.items() if k != key}


@pytest.mark.parametrize("mutate,fragment", [
    (lambda d: [d], r"not a tcg checkpoint \(format 'list'\)"),
    (lambda d: torch.zeros(2), r"not a tcg checkpoint \(format 'Tensor'\)"),
    (lambda d: _without(d, "version"), "checkpoint version None"),
    (lambda d: _without(d, "action_spec_version"), "action spec version None"),
    (lambda d: _without(d, "card_table_digest"), "different card pool"),
    (lambda d: _without(d, "policy_config"), "lacks 'policy_config'"),
    (lambda d: {**d, "model": [1, 2]}, "'policy_config' and 'model' must be dicts, got dict and list"),
])
def test_load_checkpoint_refuses_missing_or_mistyped_fields(tmp_path, mutate, fragment):
    """A missing version/spec/digest/config field, a non-dict payload or model: a CheckpointError naming it."""
    _, path = _saved(tmp_path)
    atomic_save(mutate(torch.load(path, weights_only=True)), path)
    with pytest.raises(CheckpointError, match=fragment):
        load_checkpoint(path)


def test_resume_target_finds_the_newest_checkpoint_and_the_run_folder(tmp_path):
    """--resume RUN picks RUN/checkpoints' newest ckpt_*.pt; --resume FILE's run folder is the one above
    'checkpoints', else the file's own folder; an empty run folder or a missing path is refused."""
    from training.checkpoint import resume_target
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(CheckpointError, match=r"--resume .*run: no checkpoints in .*checkpoints"):
        resume_target(run)
    (run / "checkpoints").mkdir()
    for n in (2, 10, 1):
        (run / "checkpoints" / f"ckpt_{n:06d}.pt").write_bytes(b"x")
    (run / "checkpoints" / "other.pt").write_bytes(b"x")
    assert resume_target(run) == (run / "checkpoints" / "ckpt_000010.pt", run)
    assert resume_target(str(run / "checkpoints" / "ckpt_000002.pt")) == (run / "checkpoints" / "ckpt_000002.pt", run)
    (tmp_path / "mine.pt").write_bytes(b"x")
    assert resume_target(tmp_path / "mine.pt") == (tmp_path / "mine.pt", tmp_path)
    with pytest.raises(CheckpointError, match="no such run folder or checkpoint file"):
        resume_target(tmp_path / "gone.pt")


def test_remove_stale_temps_leaves_a_folder_with_a_temporary_name(tmp_path):
    """Only files are removed: a folder that happens to match ckpt_*.pt.*.tmp stays (and is no error)."""
    from training.checkpoint import remove_stale_temps
    (tmp_path / "ckpt_000001.pt.abc.tmp").mkdir()
    (tmp_path / "policy.pt.abc.tmp").write_bytes(b"x")
    remove_stale_temps(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt_000001.pt.abc.tmp"]


def test_load_init_weights_names_only_the_differing_fields_and_checks_the_weights(tmp_path):
    """--init-from: the config error lists just the fields that differ; equal configs with weights
    that do not fit raise a CheckpointError, not a bare RuntimeError."""
    from training.checkpoint import load_init_weights
    p, path = _saved(tmp_path)
    other = TCGPolicy(PolicyConfig(d_model=32, n_heads=2, n_layers=2, d_ff=64))
    with pytest.raises(CheckpointError, match=r"policy config differs .*\(n_layers: checkpoint 1 vs policy 2\)$"):
        load_init_weights(other, path)
    data = load_checkpoint(path)
    data["model"] = {k: v for k, v in data["model"].items() if k != next(iter(data["model"]))}
    with pytest.raises(CheckpointError, match=r"the model weights do not fit the policy: .*Missing key"):
        load_init_weights(p, path, data=data)


@pytest.mark.skipif(not Path("/proc/self/mem").is_file(), reason="needs Linux's /proc/self/mem")
def test_an_unreadable_file_is_a_checkpoint_error():
    """A file that exists but cannot be read (reading /proc/self/mem at 0 fails with EIO) is a CheckpointError saying why."""
    with pytest.raises(CheckpointError, match=r"checkpoint /proc/self/mem cannot be read \(Input/output error\)"):
        load_checkpoint("/proc/self/mem")


def test_atomic_save_syncs_every_byte_and_keeps_the_process_umask(tmp_path, monkeypatch):
    """What fsync makes durable is the whole file (written out of Python's buffer first), and
    reading the umask to set the file's mode leaves the process's umask as it was."""
    import os

    import tcg_env.atomic as ck   # the writer atomic_save goes through
    synced, real_fsync = [], os.fsync
    monkeypatch.setattr(ck.os, "fsync", lambda fd: synced.append(os.fstat(fd).st_size) or real_fsync(fd))
    old = os.umask(0o027)
    try:
        path = atomic_save({"x": torch.arange(1000)}, tmp_path / "a.pt")
        assert os.umask(0o027) == 0o027
    finally:
        os.umask(old)
    assert synced == [path.stat().st_size] and (path.stat().st_mode & 0o777) == 0o640


@pytest.mark.parametrize("field,value,says", [
    ("n_heads", 3, "n_heads = 3 must divide d_model = 32"),
    ("d_model", 10 ** 6, "d_model = 1000000 must be a whole number in 1..4096"),
    ("n_layers", 0, "n_layers = 0 must be a whole number in 1..64"),
    ("num_cards", 5, "num_cards = 5 must be a whole number in 128..4096"),
    ("dropout", 1.5, "dropout = 1.5 must be a number in [0, 1)"),
    ("card_text", "yes", "card_text = 'yes' must be true or false"),
])
def test_a_policy_config_no_policy_can_have_is_refused_before_anything_is_built(tmp_path, capsys, field, value, says):
    """A checkpoint's policy config with sizes no policy can take (a head count that does not
    divide the width, a width no machine holds) is a CheckpointError naming the field, from
    load_policy and from `tcg eval` alike, not an AssertionError from deep in torch or a
    minutes-long allocation."""
    from training.cli import main
    _, path = _saved(tmp_path)
    data = torch.load(path, weights_only=True)
    data["policy_config"][field] = value
    atomic_save(data, path)
    with pytest.raises(CheckpointError, match=r"its policy config cannot be read: policy config " + re.escape(says)):
        load_policy(path)
    assert main(["eval", "--checkpoint", str(path), "--opponent", "random", "--games", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tcg eval: ") and says in err and err.count("\n") == 1, err


def test_policy_config_checks_its_fields_when_made_and_when_a_policy_is_built():
    """PolicyConfig refuses impossible sizes on construction, and TCGPolicy re-checks a config
    whose fields were set afterwards (training.ppo.policy_config sets them one by one)."""
    for kw in ({"d_model": 30}, {"n_heads": 0}, {"d_ff": 0}, {"d_model": 4097, "n_heads": 1}, {"n_layers": 65},
               {"d_model": True}, {"num_cards": 127}, {"dropout": -0.1}, {"afford": 1}):
        with pytest.raises(ValueError, match="policy config "):
            PolicyConfig(**kw)
    PolicyConfig(d_model=4096, n_heads=4096, n_layers=64, d_ff=16384, num_cards=128, dropout=0.0)
    cfg = PolicyConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64)
    cfg.n_heads = 5
    with pytest.raises(ValueError, match="n_heads = 5 must divide d_model = 32"):
        TCGPolicy(cfg)
