"""Checkpoints are data, versioned and checked; the checkpoint bot plays through the sampler."""
import pickle

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
