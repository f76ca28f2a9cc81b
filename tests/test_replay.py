"""Replay files: a saved replay loads back exactly (every field, and the same file bytes when
saved again), and a corrupt or inconsistent file is a ReplayError naming the file and the
problem, never a crash further on or a silently different game."""
import io
import json
import re

import numpy as np
import pytest

from prefabs import default_decks
from tcg_env import GameState
from tcg_env.render import describe_action, render_state
from tcg_env.replay import (Replay, ReplayError, load_replay, replay_from_json, replay_states, result_line,
                            result_record, run_replay, save_replay)
from training.cli import main as cli_main
from verification.spec import ACTION_SPEC_VERSION


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
    ({"seats": {"human": 1.0}}, "seats.human must be 0, 1 or null, got 1.0"),   # not printed as "P1.0"
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


@pytest.mark.parametrize("bot", ["\x1b]0;owned\x07\x1b[2J", "heur\nistic", "\ud800", "x" * 4201, 7, ["heuristic"]])
def test_a_bot_name_that_is_not_plain_text_is_refused_before_the_viewer_prints_it(tmp_path, finished, bot, capsys):
    """seats.bot is printed on every decision line: a terminal escape sequence (one that sets the
    window title and clears the screen), a line break, a lone surrogate (the viewer crashed with
    a UnicodeEncodeError) or a name of more than MAX_NAME characters is a ReplayError, and `tcg
    replay` says so in one short line without printing the name."""
    data = {**finished[0].to_json(), "seats": {"human": 1, "bot": bot}}
    p = tmp_path / "bot.json"
    p.write_text(json.dumps(data))   # ensure_ascii: the surrogate travels as \ud800
    with pytest.raises(ReplayError, match="seats.bot must be null or a bot's name"):
        load_replay(p, check=False)
    assert cli_main(["replay", str(p), "--all"]) == 2
    err = capsys.readouterr().err
    assert "seats.bot must be null" in err and "\x1b" not in err and len(err) < 400, err


def test_a_long_checkpoint_bot_name_loads_and_long_bad_fields_are_quoted_short(tmp_path, finished):
    """A checkpoint bot's name holds its path, which may be long; an error quotes a bad field cut
    short (a 200,000-entry decks list made a megabyte error line)."""
    name = "checkpoint:/" + "d/" * 1500 + "policy.pt"
    p = _bad(tmp_path, finished, seats={"human": 1, "bot": name})
    assert load_replay(p, check=False).seats["bot"] == name
    p = _bad(tmp_path, finished, decks=["Emberfang Rush"] * 200_000)
    with pytest.raises(ReplayError, match=r"decks must be a list of two prebuilt deck names, got \['Emberfang") as ei:
        load_replay(p, check=False)
    assert len(str(ei.value)) < 300


def test_replay_from_json_without_a_file_names_no_path(finished):
    data = {**finished[0].to_json(), "format": "pickle"}
    with pytest.raises(ReplayError, match=r"^not a tcg replay: format is 'pickle'") as ei:
        replay_from_json(data)
    assert ei.value.path is None and ei.value.position is None


# ----------------------------------------------------------------------------- fields, re-play steps, the viewer
class _TTY(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self):
        return True


@pytest.mark.parametrize("change, needle", [
    ({"version": 0}, "unsupported replay version 0: this tool reads version 1"),
    ({"action_spec_version": ACTION_SPEC_VERSION - 1}, f"action spec version {ACTION_SPEC_VERSION - 1}, but"),
    ({"seed": True}, "seed must be an integer in 0..2**64-1, got True"),
    ({"decks": {"Emberfang Rush": 0, "Thornwall Bastion": 1}}, "decks must be a list of two"),
    ({"decks": "ab"}, "decks must be a list of two prebuilt deck names, got 'ab'"),
])
def test_more_bad_fields_are_named(tmp_path, finished, change, needle):
    """An older (not only a newer) version or spec version, a bool seed and decks not a list are refused by name."""
    p = _bad(tmp_path, finished, **change)
    with pytest.raises(ReplayError) as ei:
        load_replay(p, check=False)
    assert needle in str(ei.value)


@pytest.mark.parametrize("change, attr, want", [
    ({"seed": 2 ** 64 - 1, "actions": [], "result": None}, "seed", 2 ** 64 - 1),
    ({"seats": None}, "seats", {}),
    ({"result": None}, "result", None),
    ({"meta": None}, "meta", {}),
    ({"meta": "x"}, "meta", {}),
    ({"result": {}}, "result", {}),
    ({"result": {"line": "Result: whatever"}}, "result", {"line": "Result: whatever"}),
])
def test_optional_fields_and_the_largest_seed_load(tmp_path, finished, change, attr, want):
    """The largest seed loads; seats, meta, result may be absent or null; a partial result is checked on its keys."""
    data = {**finished[0].to_json(), **change}
    data = {k: v for k, v in data.items() if v is not None or k == "result"}
    p = tmp_path / "ok.json"
    p.write_text(json.dumps(data))
    assert getattr(load_replay(p), attr) == want


def test_a_file_that_is_not_utf8_is_a_replay_error(tmp_path):
    """Bytes that are not UTF-8 are a ReplayError naming the file, not a UnicodeDecodeError."""
    p = tmp_path / "latin1.json"
    p.write_bytes(b'{"format": "tcg-replay", "meta": "\xe9\xff"}')
    with pytest.raises(ReplayError, match="cannot read the replay file") as ei:
        load_replay(p)
    assert str(p) in str(ei.value)


def test_replay_steps_hold_copies_and_what_was_before_each_action(finished):
    """Each step holds its own state (after the action) and the player, turn and words from before it."""
    rep, _ = finished
    steps = list(replay_states(rep))
    s = rep.new_state()
    assert steps[0].state == s and steps[0].turn == s.turn
    for step, a in zip(steps[1:], rep.actions):
        who, turn, text = s.current_player, s.turn, describe_action(s, a)
        s.apply(a)
        assert (step.player, step.turn, step.action, step.text) == (who, turn, a, text)
        assert step.state == s
    assert any(a.turn != b.turn for a, b in zip(steps[1:], steps[2:]))


def test_result_line_without_a_human_names_the_winner(finished):
    """Without a human seat the result line names the winning seat."""
    _, g = finished
    assert g.winner in (0, 1)
    assert result_line(g) == f"Result: P{g.winner} wins"
    assert result_line(g, 1 - g.winner) == "Result: you lose"


def test_a_failed_save_leaves_no_temporary_file(tmp_path, finished):
    """A save that cannot replace its target raises and leaves no .replay- temporary file behind."""
    (tmp_path / "r.json").mkdir()
    with pytest.raises(OSError):
        save_replay(finished[0], tmp_path / "r.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_a_saved_replay_is_an_ordinary_file_and_a_failed_save_keeps_the_old_one(tmp_path, finished, monkeypatch):
    """A replay gets the mode a plain open() gives (it used to be 0600, mkstemp's, so another user
    could not read a replay shared on the machine), lands in new parent folders, and a save that
    fails after writing (here at fsync: a full disk) leaves the previous file whole and no
    temporary file."""
    import os
    old = os.umask(0o022)
    try:
        path = save_replay(finished[0], tmp_path / "a" / "b" / "r.json")
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o644
    before = path.read_bytes()
    assert load_replay(path).actions == finished[0].actions

    def full(_fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        save_replay(finished[0], path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.json"]


@pytest.fixture
def saved(tmp_path, finished):
    """The finished game saved to a file: (path, Replay)."""
    return save_replay(finished[0], tmp_path / "v.json"), finished[0]


def test_viewer_header_and_whose_decision(saved):
    """The header names the human's seat and the bot; each decision says whose; boards follow the perspective."""
    path, rep = saved
    out = io.StringIO()
    assert run_replay(path, show_all=True, boards=False, output=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].endswith(f"{len(rep.actions)} decisions, you were P1 against the random bot")
    steps = list(replay_states(rep))[1:]
    assert len(lines) == len(rep.actions) + 2 and lines[-1] == result_line(steps[-1].state, 1)
    for ln, st in zip(lines[1:], steps):
        who = "P1 (you)" if st.player == 1 else "P0 (bot random)"
        assert ln.startswith(f"#{st.index + 1} · turn {st.turn} · {who}: ")
    seen = io.StringIO()
    run_replay(path, show_all=True, perspective=0, output=seen)
    assert render_state(rep.new_state(), 0) in seen.getvalue()
    assert render_state(rep.new_state(), None) not in seen.getvalue()


def test_cli_no_board_and_perspective(saved, capsys):
    """`tcg replay --no-board` prints only the header, the decisions and the result; --perspective hides a hand."""
    path, rep = saved
    assert cli_main(["replay", str(path), "--all", "--no-board"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(rep.actions) + 2
    assert cli_main(["replay", str(path), "--all", "--perspective", "1"]) == 0
    assert render_state(rep.new_state(), 1) in capsys.readouterr().out


@pytest.mark.parametrize("keys, show_all, prompts, shown", [
    ("\n" * 10_000, False, "all", "all"),   # Enter each time: a prompt after the start and every decision but the last
    ("", False, 1, 0),                       # end of input at the first prompt stops like q
    ("\na\n", False, 2, "all"),              # a: the rest without asking
    ("", True, 0, "all"),                    # show_all: never asks, even on a terminal
    ("\nQ\n", False, 2, 1),                  # Q quits too (any case)
])
def test_viewer_keys_on_a_terminal(saved, keys, show_all, prompts, shown):
    """On a terminal: Enter steps, end of input or q stops, `a` or show_all prints the rest; the result line ends it."""
    path, rep = saved
    n = len(rep.actions)
    out = _TTY()
    assert run_replay(path, show_all=show_all, boards=False, input=_TTY(keys), output=out) == 0
    text = out.getvalue()
    assert text.count("[Enter] next") == (n if prompts == "all" else prompts)
    assert len(re.findall(r"#\d+ · turn ", text)) == (n if shown == "all" else shown)
    assert text.rstrip().splitlines()[-1].startswith("Result: ")


def test_unfinished_result_line_counts_the_decisions(finished):
    """A game still running reads `Result: unfinished (stopped after N decisions)` with N the decisions taken."""
    rep, _ = finished
    steps = list(replay_states(rep))
    for k in (0, 7, len(rep.actions) // 2):
        assert result_line(steps[k].state) == f"Result: unfinished (stopped after {k} decisions)"


def test_an_action_after_the_game_ended_is_illegal(tmp_path, finished):
    """An action recorded after the game ended is refused at its position, not silently skipped."""
    rep, _ = finished
    acts = [list(a) for a in rep.actions] + [list(rep.actions[-1])]
    p = _bad(tmp_path, finished, actions=acts)
    with pytest.raises(ReplayError, match=rf"actions\[{len(rep.actions)}\] = .* is illegal") as ei:
        load_replay(p)
    assert ei.value.position == len(rep.actions)


def test_viewer_with_no_bot_name_and_a_bad_file_into_the_given_output(tmp_path, finished):
    """With no bot name a bot decision reads `P0 (bot)`; a file that cannot load is said into ``output``, status 2."""
    p = _bad(tmp_path, finished, seats={"human": 1})
    out = io.StringIO()
    assert run_replay(p, show_all=True, boards=False, output=out) == 0
    assert "· P0 (bot): " in out.getvalue() and "(bot None)" not in out.getvalue()
    bad = _bad(tmp_path, finished, version=7)
    out = io.StringIO()
    assert run_replay(bad, output=out) == 2
    assert out.getvalue().startswith(f"tcg replay: {bad}: unsupported replay version 7")


def test_numpy_action_rows_are_saved_as_plain_integers(tmp_path, finished):
    """Actions taken straight from legal_tuples (numpy int8 rows) are written as JSON integers and load back."""
    rep, _ = finished
    g = rep.new_state()
    rows = []
    for _ in range(5):
        rows.append(g.legal_tuples()[0])
        g.apply(rows[-1])
    p = save_replay(Replay(seed=rep.seed, decks=rep.decks, actions=rows), tmp_path / "np.json")
    assert load_replay(p).actions == [tuple(int(x) for x in r) for r in rows]
