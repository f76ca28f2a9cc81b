"""Checkpoints are data, versioned and checked; the checkpoint bot plays through the sampler."""
import pickle
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
    (lambda d: d["policy_config"].update(wings=3), "do not fit"),
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

    import training.checkpoint as ck
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


def test_remove_stale_temps_clears_both_kinds_in_every_folder_and_nothing_else(tmp_path):
    from training.checkpoint import remove_stale_temps
    run, ck = tmp_path / "run", tmp_path / "run" / "checkpoints"
    ck.mkdir(parents=True)
    keep = {run: ["policy.pt", "notes.tmp", "policy.pt.tmp", "other.pt.abc.tmp"],
            ck: ["ckpt_000002.pt", "draft.tmp", "ckpt_000002.pt"]}
    for folder in (run, ck):
        for name in keep[folder] + ["policy.pt.k2j3.tmp", "ckpt_000003.pt.x9y8.tmp"]:
            (folder / name).write_bytes(b"x")
    remove_stale_temps(ck, run, ck)
    for folder in (run, ck):
        assert sorted(p.name for p in folder.iterdir() if p.is_file()) == sorted(set(keep[folder]))


def test_load_policy_returns_the_policy_in_eval_mode(tmp_path):
    _, path = _saved(tmp_path)
    q = load_policy(path)
    assert not q.training and not any(m.training for m in q.modules())
