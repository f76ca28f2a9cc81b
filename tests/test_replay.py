"""Replay files: a saved replay loads back exactly (every field, and the same file bytes when
saved again), and a corrupt or inconsistent file is a ReplayError naming the file and the
problem, never a crash further on or a silently different game."""
import json

import numpy as np
import pytest

from prefabs import default_decks
from tcg_env import GameState
from tcg_env.replay import Replay, ReplayError, load_replay, replay_from_json, result_record, save_replay


@pytest.fixture(scope="module")
def finished():
    """A whole game of random play, as a Replay with its result (seat 1 the human)."""
    d0, d1 = list(default_decks())[:2]
    g = GameState.new(d0, d1, seed=21)
    rng = np.random.default_rng(4)
    actions = []
    while not g.done:
        legal = g.legal_tuples()
        a = tuple(int(x) for x in legal[rng.integers(len(legal))])
        actions.append(a)
        g.apply(a)
    rep = Replay(seed=21, decks=(d0, d1), actions=actions, seats={"human": 1, "bot": "random"},
                 result=result_record(g, 1), meta={"tool": "test", "note": "ünïcode"})
    return rep, g


def test_a_saved_replay_loads_back_exactly(tmp_path, finished):
    rep, g = finished
    path = save_replay(rep, tmp_path / "a" / "r.json")
    back = load_replay(path)
    assert back == rep
    assert back.actions == rep.actions and all(isinstance(a, tuple) for a in back.actions)
    # saving what was loaded writes the same bytes, and the text is plain JSON (never pickle)
    again = save_replay(back, tmp_path / "b.json")
    assert again.read_bytes() == path.read_bytes()
    assert json.loads(path.read_text(encoding="utf-8"))["format"] == "tcg-replay"
    # and the re-played game is the recorded one, state for state
    s = back.new_state()
    for a in back.actions:
        s.apply(a)
    assert np.array_equal(s.row, g.row)


def _bad(tmp_path, finished, **change):
    data = {**finished[0].to_json(), **change}
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(data))
    return p


@pytest.mark.parametrize("change, needle", [
    ({"seed": 2 ** 64}, "seed must be an integer in 0..2**64-1, got 18446744073709551616"),
    ({"seed": 3.0}, "seed must be an integer"),
    ({"decks": ["Emberfang Rush", "Emberfang Rush", "Emberfang Rush"]}, "decks must be a list of two"),
    ({"decks": ["Emberfang Rush"]}, "decks must be a list of two"),
    ({"seats": {"human": True}}, "seats.human must be 0, 1 or null, got True"),
    ({"seats": {"human": 2}}, "seats.human must be 0, 1 or null, got 2"),
    ({"seats": ["human"]}, "seats must be an object"),
    ({"result": 5}, "result must be an object or null, got 5"),
    ({"result": "won"}, "result must be an object or null"),
    ({"action_spec_version": True}, "action spec version True"),
])
def test_corrupt_fields_are_named(tmp_path, finished, change, needle):
    p = _bad(tmp_path, finished, **change)
    with pytest.raises(ReplayError) as ei:
        load_replay(p, check=False)
    assert needle in str(ei.value) and str(p) in str(ei.value)


@pytest.mark.parametrize("bad_action", [[1.0, 0, 0, 0], [True, 0, 0, 0], [1, 0, 0, 0, 0], [1, 0, 0], "1000", None])
def test_an_action_that_is_not_four_integers_is_named_with_its_position(tmp_path, finished, bad_action):
    acts = [list(a) for a in finished[0].actions]
    acts[3] = bad_action
    p = _bad(tmp_path, finished, actions=acts)
    with pytest.raises(ReplayError, match=r"actions\[3\] = .* is not a list of 4 integers") as ei:
        load_replay(p, check=False)
    assert ei.value.position == 3


@pytest.mark.parametrize("key", ["finished", "winner", "truncated"])
def test_a_stored_result_the_actions_do_not_reach_is_refused(tmp_path, finished, key):
    rep, g = finished
    res = dict(rep.to_json()["result"])
    res[key] = {"finished": False, "winner": 1 - g.winner if g.winner in (0, 1) else 0,
                "truncated": not g.truncated}[key]
    p = _bad(tmp_path, finished, result=res)
    with pytest.raises(ReplayError, match=f"the stored result says {key}=") as ei:
        load_replay(p)
    assert str(p) in str(ei.value)
    load_replay(p, check=False)   # the structure alone is fine


def test_replay_from_json_without_a_file_names_no_path(finished):
    data = {**finished[0].to_json(), "format": "pickle"}
    with pytest.raises(ReplayError, match=r"^not a tcg replay: format is 'pickle'") as ei:
        replay_from_json(data)
    assert ei.value.path is None and ei.value.position is None
