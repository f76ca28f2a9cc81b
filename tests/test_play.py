"""`tcg play` (human vs bot in the terminal) and `tcg replay` (tcg_env.play, tcg_env.replay)."""
from __future__ import annotations

import io
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from prefabs import default_decks
from tcg_env import GameState
from tcg_env.bots import make_bot
from tcg_env.play import (PlayError, _headline, _PlainUI, _RichUI, _Session, describe_for, list_decks_text, play_game,
                          resolve_deck_name)
from tcg_env.render import describe_action
from tcg_env.replay import (Replay, ReplayError, load_replay, replay_states, result_line, run_replay, save_replay)
from training.cli import main as cli_main
from verification.layout import P0, P_HAND, P_HAND_N, PH_BLOCK, PH_MAIN, PLAYER_WORDS
from verification.spec import ACTION_SPEC_VERSION, Primary

from scenario import hidden_cards_moved, reshuffle_hidden

ROOT = Path(__file__).resolve().parents[1]
PROMPT = re.compile(r"Choose 1-(\d+) \(or help\)> ")
RESULT = re.compile(r"Result: [^\r\n]+")
DECKS = list(default_decks())


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache" / "tests"))
    env["COLUMNS"] = "120"
    return env


class Typist:
    """An input stream that answers every prompt with a seeded random choice from the list
    just printed to ``out`` (so a scripted game reaches every kind of decision)."""

    def __init__(self, out: io.StringIO, seed: int = 0, limit: int = 5000):
        self.out, self.rng, self.limit, self.lines = out, random.Random(seed), limit, 0

    def readline(self) -> str:
        self.lines += 1
        if self.lines > self.limit:
            return ""
        text = self.out.getvalue()
        n = int(PROMPT.match(text, text.rfind("Choose 1-")).group(1))
        return f"{self.rng.randint(1, n)}\n"


def _play(text: str = "", **kw):
    out = io.StringIO()
    kw.setdefault("opponent", "random")
    kw.setdefault("seed", 3)
    res = play_game(input=io.StringIO(text), output=out, **kw)
    return res, out.getvalue()


def _hand(state: GameState, p: int) -> list[int]:
    b = P0 + p * PLAYER_WORDS
    return [int(state.row[b + P_HAND + i]) for i in range(int(state.row[b + P_HAND_N]))]


def _first_human_state(seed: int, seat: int, decks, opponent: str = "random") -> tuple[GameState, list]:
    """The state at the human's first decision, reached with the same bot as play_game builds."""
    s = GameState.new(decks[0], decks[1], seed)
    bot = make_bot(opponent, seed)
    acts = []
    while s.current_player != seat:
        a = bot.act(s)
        acts.append(tuple(a))
        s.apply(a)
    return s, acts


# ----------------------------------------------------------------------------- a whole game in a terminal
def test_pexpect_game_then_replay(tmp_path):
    pexpect = pytest.importorskip("pexpect")
    replay_file = tmp_path / "game.json"
    child = pexpect.spawn(sys.executable, ["-m", "training.cli", "play", "--opponent", "random", "--seed", "3",
                                           "--plain", "--replay-out", str(replay_file)],
                          cwd=str(ROOT), env=_env(), encoding="utf-8", timeout=240, dimensions=(50, 160))
    child.delaybeforesend = None
    rng = random.Random(1)
    result, answers = None, 0
    try:
        while True:
            k = child.expect([PROMPT, RESULT, pexpect.EOF])
            if k == 0:
                answers += 1
                assert answers < 2000, "the game does not end"
                child.sendline(str(rng.randint(1, int(child.match.group(1)))))
            elif k == 1:
                result = child.match.group(0).strip()
                child.expect(pexpect.EOF)
                break
            else:
                raise AssertionError(f"tcg play ended without a result line:\n{child.before[-3000:]}")
    finally:
        child.close()
    assert child.exitstatus == 0
    assert result in ("Result: you win", "Result: you lose", "Result: draw", "Result: truncated at the turn cap")
    assert answers > 5
    assert replay_file.exists()
    rep = load_replay(replay_file)
    assert rep.seats == {"human": 0, "bot": "random"} and rep.seed == 3
    assert rep.result["line"] == result and rep.result["finished"]

    out = subprocess.run([sys.executable, "-m", "training.cli", "replay", str(replay_file), "--all"], cwd=str(ROOT),
                         env=_env(), capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    assert lines[-1] == result
    assert sum(1 for ln in lines if re.match(r"#\d+ · turn \d+ · P[01] \((you|bot random)\): ", ln)) == \
        len(rep.actions)


# ----------------------------------------------------------------------------- input handling
def test_bad_input_reprompts_with_reasons():
    res, out = _play("abc\n99\n\nhelp\n0\n-3\ncard\ncard 42\nfrobnicate now\n\u00b2\n   \nquit\n")
    assert res.outcome == "quit"
    assert "'abc' is not a number or a command" in out
    assert "There is no action 99" in out
    assert "There is no action 0" in out and "There is no action -3" in out
    assert "Please type the number of an action" in out
    assert "Commands (type one and press Enter)" in out and "Rules in brief" in out
    assert "Usage: card N" in out and "Your hand has no card #42" in out
    assert "'frobnicate now' is not a number or a command" in out
    assert "'\u00b2' is not a number or a command" in out
    assert len(PROMPT.findall(out)) == 12          # one prompt per line typed: nothing crashed
    assert res.replay.actions == [tuple(a) for a in _first_human_state(3, 0, DECKS[:2])[1]]
    assert "\x1b" not in out                        # plain text: no escape codes


def test_q_and_exit_quit_as_the_help_says():
    for word in ("q", "exit", " QUIT "):
        res, out = _play(f"help\n{word}\n")
        assert res.outcome == "quit" and "You quit." in out, word
    assert "quit       stop now (also q or exit)" in out


def test_card_info_and_board_commands():
    state, _ = _first_human_state(3, 0, DECKS[:2])
    first = GameState.new(DECKS[0], DECKS[1], 3).pool[_hand(state, 0)[0]].name
    res, out = _play("card 1\ncard #1\ncard firebolt\ninfo\nboard\nquit\n")
    assert out.count(f"#1 {first} — ") >= 3          # the hand list, card 1, card #1
    assert "Firebolt — 2 IKZ, SPELL (BOLT). Deal 3 damage to any unit or leader." in out
    assert "leader: Sela of the Thornwall — LEADER" in out and "hand: 5 cards (hidden)" in out
    assert out.count("==== Ikazuchi Duel · turn") == 2   # board redraws the screen


def test_undo_restores_the_state_before_the_last_decision():
    decks = DECKS[:2]
    before, bot_first = _first_human_state(3, 0, decks)
    res, out = _play("1\nundo\nquit\n")
    assert "Undone: Keep opening hand" in out
    assert res.state == before                      # the very state of the human's first decision
    assert res.replay.actions == bot_first          # later actions are gone from the replay
    events_after_undo = out.split("Undone:")[1].split("Recent events:")[1].split("\n\n")[0]
    assert "You: " not in events_after_undo         # and so are the later events

    # Undo also rewinds the bot's generator: the same choices again give the same game.
    straight, _ = _play("1\n2\n3\nquit\n")
    with_undo, out2 = _play("1\n2\nundo\nundo\n1\n2\n3\nquit\n")
    assert out2.count("Undone:") == 2
    assert with_undo.replay.actions == straight.replay.actions
    assert with_undo.state == straight.state

    nothing, out3 = _play("undo\nquit\n")
    assert "Nothing to undo" in out3


def test_quit_and_eof_write_a_replay(tmp_path):
    for text, said in (("quit\n", "You quit."), ("", "End of input: quitting."), ("1\n", "End of input")):
        path = tmp_path / f"r{len(text)}.json"
        res, out = _play(text, replay_out=path)
        assert res.outcome == "quit" and said in out
        assert path.exists() and res.replay_path == path
        assert out.rstrip().splitlines()[-1] == res.line == result_line(res.state, 0)
        assert res.line.startswith("Result: unfinished")
        rep = load_replay(path)
        assert rep.meta["quit"] is True and rep.result["finished"] is False
        assert rep.actions == res.replay.actions
        data = json.loads(path.read_text())
        assert data["format"] == "tcg-replay" and data["version"] == 1
        assert data["action_spec_version"] == ACTION_SPEC_VERSION
        assert data["decks"] == DECKS[:2] and data["seats"] == {"human": 0, "bot": "random"}


def test_scripted_full_game_result_and_replay(tmp_path):
    for seed, seat, opponent in ((3, 0, "random"), (11, 1, "heuristic")):
        out = io.StringIO()
        path = tmp_path / f"g{seed}.json"
        res = play_game(opponent=opponent, seed=seed, seat=seat, deck="anvil", opponent_deck="sagefire",
                        input=Typist(out, seed), output=out, replay_out=path)
        text = out.getvalue()
        assert res.state.done and res.outcome in ("win", "loss", "draw", "truncated")
        assert res.line == {"win": "Result: you win", "loss": "Result: you lose", "draw": "Result: draw",
                            "truncated": "Result: truncated at the turn cap"}[res.outcome]
        assert text.rstrip().splitlines()[-1] == res.line
        assert "Bot: " in text and "You: " in text
        assert re.search(r"(You|Bot): .* \[.*(\d+→\d+ HP|dies).*\]", text)   # what a decision did
        rep = load_replay(path)
        expect = ["Anvil Vanguard", "Sagefire Circle"] if seat == 0 else ["Sagefire Circle", "Anvil Vanguard"]
        assert list(rep.decks) == expect and rep.seats == {"human": seat, "bot": opponent}
        steps = list(replay_states(rep))
        assert len(steps) == len(rep.actions) + 1 and steps[-1].state == res.state
        view = io.StringIO()
        assert run_replay(path, show_all=True, output=view) == 0
        assert view.getvalue().rstrip().splitlines()[-1] == res.line


def test_response_window_prompt():
    """When the bot attacks and the human may block, the prompt names the attack."""
    seen = 0
    for seed in range(40):
        out = io.StringIO()
        play_game(opponent="random", seed=seed, input=Typist(out, seed), output=out)
        for m in re.finditer(r"The bot attacks (.+) → (.+)\. Block\?\n((?:  \d+\) .*\n)+)", out.getvalue()):
            seen += 1
            opts = m.group(3)
            assert re.search(r"\d+\) Block with ", opts) and re.search(r"\d+\) Don't block", opts)
            assert m.group(2).startswith("your ")
        if seen >= 3:
            break
    assert seen >= 3


def test_headline_in_block_phase():
    rng_bot = make_bot("random", 5)
    for seed in range(50):
        s = GameState.new(DECKS[0], DECKS[1], seed)
        while not s.done and s.phase != PH_BLOCK:
            s.apply(rng_bot.act(s))
        if s.phase == PH_BLOCK:
            text = _headline(s, s.current_player)
            assert text.startswith("The bot attacks ") and " → your " in text and text.endswith("Block?")
            return
    pytest.fail("no block window reached")


def test_bot_actions_are_described_from_the_humans_seat():
    s = GameState.new(DECKS[0], DECKS[1], 3)
    actor = s.current_player
    mull = next(t for t in s.legal_tuples() if t[1] == 0b10011)
    assert describe_for(s, mull, 1 - actor) == "Mulligan 3 cards"      # which cards is hidden
    assert describe_for(s, (int(Primary.MULLIGAN), 0, 0, 0), 1 - actor) == "Keep opening hand"
    assert describe_for(s, mull, actor).startswith("Mulligan hand positions 0, 1 and 4 (")
    # "enemy leader" from the bot's seat is "your leader" from the human's
    attack = (int(Primary.ATTACK), 2, 1, 0)
    assert describe_for(s, attack, 1 - actor).endswith("→ your leader")
    assert describe_for(s, (int(Primary.CHOOSE_TARGET), 0, 0, 0), 1 - actor) == "Choose target: their leader"
    assert describe_for(s, (int(Primary.CHOOSE_TARGET), 0, 0, 0), actor) == "Choose target: your leader"
    # a mode's card text, chosen by the bot: its "your" is "their", "enemy" is "your"
    wyvern = next(c for c in s.pool.cards if c.name == "Ashen Wyvern")
    from verification.layout import G_PEND_CARD, G_PEND_PLAYER, G_PHASE, PH_CHOOSE_MODE
    s.row[G_PHASE], s.row[G_PEND_CARD], s.row[G_PEND_PLAYER] = PH_CHOOSE_MODE, wyvern.id, actor
    assert describe_for(s, (int(Primary.CHOOSE_MODE), 0, 0, 0), 1 - actor) == \
        "Choose mode 0: deal 3 damage to your leader"
    assert describe_for(s, (int(Primary.CHOOSE_MODE), 0, 1, 0), 1 - actor) == \
        "Choose mode 1: deal 1 damage to all your units"
    assert describe_for(s, (int(Primary.CHOOSE_MODE), 0, 0, 0), actor) == \
        "Choose mode 0: deal 3 damage to the enemy leader"


def test_opponent_hand_is_never_shown():
    # Emberfang Rush and Thornwall Bastion share no card: any bot hand card name on the first
    # screen (before the bot plays anything) would be a leak.
    for seat in (0, 1):
        for seed in (1, 2, 3):
            decks = (DECKS[0], DECKS[1]) if seat == 0 else (DECKS[1], DECKS[0])
            state, _ = _first_human_state(seed, seat, decks)
            hidden = {state.pool[c].name for c in _hand(state, 1 - seat)}
            _, out = _play("info\nquit\n", seed=seed, seat=seat)
            assert not [n for n in hidden if n in out], seat
            assert re.search(r"hand 5 cards · deck", out)


def _what_the_human_sees(state: GameState, seat: int, seed: int) -> str:
    """The plain and the rich screen, ``info`` and ``card 1`` for the human in ``seat`` at ``state``."""
    parts = []
    for ui_class in (_PlainUI, _RichUI):
        out = io.StringIO()
        ui = ui_class(out)
        sess = _Session(bot=None, opponent="random", seed=seed, decks=(DECKS[0], DECKS[1]), human=seat, ui=ui,
                        inp=io.StringIO())
        sess.state = state
        texts = [describe_action(state, t) for t in state.legal_tuples()]
        ui.screen(sess, texts, _headline(state, seat))
        parts += [out.getvalue(), sess.info_text(), sess.card_command("1"), sess.card_command("#2")]
    return "\n".join(parts)


def test_the_humans_screen_does_not_depend_on_hidden_zones():
    """Re-dealing the bot's hand and deck and reordering every deck and IKZ deck changes nothing
    the human is shown (plain and rich screen, info, card N), so no hidden card, deck order or
    IKZ deck order can reach it, whatever the wording."""
    rng = np.random.default_rng(5)
    cases = 0
    for seed in (1, 2):
        for seat in (0, 1):
            decks = (DECKS[0], DECKS[1]) if seat == 0 else (DECKS[1], DECKS[0])
            s, _ = _first_human_state(seed, seat, decks)
            bot = make_bot("random", seed)
            for _ in range(400):                      # the human's decisions over the first turns
                if s.done or s.turn > 4:
                    break
                if s.current_player == seat and (s.phase != PH_MAIN or rng.random() < 0.3):
                    seen = _what_the_human_sees(s, seat, seed)
                    t = reshuffle_hidden(s, seat, rng)
                    assert hidden_cards_moved(t.row, s.row)
                    assert _what_the_human_sees(t, seat, seed) == seen, (seed, seat, s.turn)
                    cases += 1
                s.apply(bot.act(s))
    assert cases >= 12


def test_bot_mulligan_event_names_no_card():
    """The bot's mulligan is shown as a count: the cards it sent back stay hidden."""
    seen = 0
    for seed in range(1, 12):
        for seat in (0, 1):
            _, out = _play("quit\n", seed=seed, seat=seat)
            for m in re.finditer(r"Bot: (.*)", out):
                if "ulligan" in m.group(1) or "opening hand" in m.group(1):
                    seen += 1
                    assert re.fullmatch(r"Mulligan \d cards?|Keep opening hand", m.group(1)), m.group(1)
    assert seen >= 8


def test_action_number_one_past_the_list_is_refused():
    """Typing n+1 (just past the numbered list) is refused with the range, and loses nothing."""
    state, bot_first = _first_human_state(3, 0, DECKS[:2])
    n = len(state.legal_tuples())
    res, out = _play(f"{n + 1}\n{n}0\nquit\n")
    assert f"There is no action {n + 1}: choose a number from 1 to {n}." in out
    assert f"There is no action {n}0: choose a number from 1 to {n}." in out
    assert res.outcome == "quit" and res.state == state and res.replay.actions == bot_first


def test_seed_flags_outside_the_documented_range_are_refused(capsys, tmp_path):
    """Seeds are 0..2**63-1 for tcg play (the replay's seed): 2**63 and -1 are refused by name."""
    for bad in (2 ** 63, 2 ** 64 - 1, -1, 1.5, "7"):
        with pytest.raises(PlayError, match=r"seed must be an integer in 0\.\.2\*\*63-1"):
            _play("quit\n", seed=bad)
    import argparse
    from tcg_env.play import play_command
    for bad in (2 ** 63, -1):   # play_command checks the seed itself too (not only argparse's seed_arg)
        args = argparse.Namespace(list_decks=False, seed=bad, seat=0, deck=None, opponent_deck=None,
                                  opponent="random", replay_out=str(tmp_path / "x.json"), plain=True)
        assert play_command(args) == 2
        assert "tcg play: --seed must be an integer in 0..2**63-1" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
    res, _ = _play("quit\n", seed=2 ** 63 - 1)         # the top of the range plays
    assert res.replay.seed == 2 ** 63 - 1


def test_undo_after_bot_moves_replays_the_same_bot_moves():
    """Undo rewinds the bot's generator too: taking back a decision the bot answered with several
    moves and taking it again gives the very same game (seeds reproduce through undo)."""
    for seed in (3, 4):
        straight, _ = _play("1\n" * 4 + "quit\n", seed=seed)
        again, out = _play("1\n" * 4 + "undo\n1\nquit\n", seed=seed)
        assert re.search(r"Undone: .* and the bot's \d+ moves? after it\.", out), out[-2000:]
        assert again.replay.actions == straight.replay.actions
        assert again.state == straight.state


def test_rich_screen_smoke():
    out = io.StringIO()
    res = play_game(opponent="random", seed=3, plain=False, input=io.StringIO("board\nundo\n1\nquit\n"), output=out)
    text = out.getvalue()
    assert "Your hand" in text and "Recent events" in text and "Opponent P1" in text
    assert res.line.startswith("Result: ")


def test_decks_and_settings():
    assert resolve_deck_name(None, "Anvil Vanguard") == "Anvil Vanguard"
    assert resolve_deck_name("emberfang", "x") == "Emberfang Rush"
    assert resolve_deck_name("thornwall-bastion", "x") == "Thornwall Bastion"
    assert resolve_deck_name("SAGEFIRE CIRCLE", "x") == "Sagefire Circle"
    with pytest.raises(PlayError, match="unknown deck 'nope'"):
        resolve_deck_name("nope", "x")
    text = list_decks_text()
    for d in default_decks().values():
        assert d.name in text and f"({d.plan})" in text and d.description[:30] in text
    with pytest.raises(PlayError, match="seat must be 0 or 1, got 2"):
        _play("", seat=2)


def test_cli_errors_exit_2(capsys, tmp_path):
    assert cli_main(["play", "--list-decks"]) == 0
    assert "Emberfang Rush (aggro)" in capsys.readouterr().out
    assert cli_main(["play", "--deck", "nope", "--replay-out", str(tmp_path / "x.json")]) == 2
    assert "tcg play: unknown deck 'nope'" in capsys.readouterr().err
    assert cli_main(["play", "--opponent", "nobody", "--replay-out", str(tmp_path / "x.json")]) == 2
    assert "unknown bot 'nobody'" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
    # --replay-out is checked before the game: an existing file is never overwritten, and an
    # unwritable place is refused up front instead of losing the finished game's replay
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    for out, says in ((precious, "already exists"), (tmp_path, "already exists"),
                      (precious / "x.json", f"{precious} is a file, not a folder"),
                      (precious / "sub" / "x.json", f"{precious} is a file, not a folder"),
                      (Path("/proc/tcg-test/x.json"), "no file can be written in")):   # root passes os.access there
        assert cli_main(["play", "--replay-out", str(out)]) == 2
        assert says in capsys.readouterr().err
    assert precious.read_text() == "keep me"


def test_an_unwritable_default_replay_folder_is_said_before_the_game(tmp_path, monkeypatch, capsys):
    """Without --replay-out the replay goes to replays/; if that cannot be written the player is
    told before the game (and the game is still played), not after it."""
    import argparse
    from tcg_env.play import play_command
    monkeypatch.chdir(tmp_path)
    (tmp_path / "replays").write_text("a file where the folder would be")
    monkeypatch.setattr(sys, "stdin", io.StringIO("quit\n"))
    args = argparse.Namespace(list_decks=False, seed=4, seat=0, deck=None, opponent_deck=None, opponent="random",
                              replay_out=None, plain=True)
    assert play_command(args) == 0
    captured = capsys.readouterr()
    assert "replay will not be saved (give --replay-out FILE)" in captured.err
    assert "Result:" in captured.out


def test_checkpoint_opponent_message(capsys, tmp_path):
    """A missing checkpoint is one clear line naming the file, exit status 2, no traceback and no
    replay; make_bot says the same with a CheckpointError."""
    from training.checkpoint import CheckpointError
    missing = tmp_path / "missing.pt"
    rc = cli_main(["play", "--opponent", f"checkpoint:{missing}", "--seed", "1",
                   "--replay-out", str(tmp_path / "x.json")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("tcg play: ") and "does not exist" in err and str(missing) in err
    assert "Traceback" not in err
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(CheckpointError, match="does not exist"):
        make_bot(f"checkpoint:{missing}")


# ----------------------------------------------------------------------------- replay files
def _good_replay(tmp_path) -> tuple[Path, dict]:
    res, _ = _play("1\n2\n1\nquit\n", replay_out=tmp_path / "good.json")
    return tmp_path / "good.json", json.loads((tmp_path / "good.json").read_text())


def _write(tmp_path, name, data) -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


def test_load_replay_round_trip(tmp_path):
    path, data = _good_replay(tmp_path)
    rep = load_replay(path)
    assert isinstance(rep, Replay) and rep.to_json()["actions"] == data["actions"]
    again = save_replay(rep, tmp_path / "sub" / "again.json")
    assert json.loads(again.read_text()) == data
    steps = list(replay_states(rep))
    assert steps[0].index == -1 and steps[0].action is None
    assert [s.action for s in steps[1:]] == [tuple(a) for a in data["actions"]]
    assert all(s.player in (0, 1) and s.text for s in steps[1:])


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: "{ not json", "not valid JSON (line 1, column 3"),
    (lambda d: [1, 2], "a replay is a JSON object"),
    (lambda d: {**d, "format": "pickle"}, "not a tcg replay: format is 'pickle'"),
    (lambda d: {**d, "version": 2}, "unsupported replay version 2: this tool reads version 1"),
    (lambda d: {k: v for k, v in d.items() if k != "version"}, "unsupported replay version None"),
    (lambda d: {**d, "action_spec_version": 99}, "action spec version 99"),
    (lambda d: {**d, "seed": -1}, "seed must be an integer"),
    (lambda d: {**d, "decks": ["Emberfang Rush", "Nope"]}, "unknown deck 'Nope'"),
    (lambda d: {**d, "decks": [["x"], "Nope"]}, "unknown deck ['x']"),
    (lambda d: {**d, "version": True}, "unsupported replay version True"),
    (lambda d: {**d, "actions": {"0": [0, 0, 0, 0]}}, "actions must be a list"),
    (lambda d: {**d, "actions": d["actions"] + [[1, 2]]}, "is not a list of 4 integers"),
    (lambda d: {**d, "result": {**d["result"], "finished": True}}, "stored result says finished=True"),
])
def test_load_replay_errors_name_the_problem(tmp_path, mutate, needle):
    _, data = _good_replay(tmp_path)
    bad = _write(tmp_path, "bad.json", mutate(data))
    with pytest.raises(ReplayError) as ei:
        load_replay(bad)
    assert needle in str(ei.value) and str(bad) in str(ei.value)


def test_load_replay_missing_file(tmp_path):
    with pytest.raises(ReplayError, match="replay file not found"):
        load_replay(tmp_path / "nope.json")
    with pytest.raises(ReplayError, match="is a directory"):
        load_replay(tmp_path)


def test_load_replay_illegal_action_names_its_position(tmp_path):
    _, data = _good_replay(tmp_path)
    k = len(data["actions"]) - 1
    acts = [list(a) for a in data["actions"]]
    acts[k] = [int(Primary.CHOOSE_MODE), 0, 1, 0]             # not allowed in this phase
    with pytest.raises(ReplayError) as ei:
        load_replay(_write(tmp_path, "illegal.json", {**data, "actions": acts}))
    assert ei.value.position == k
    assert f"actions[{k}] = [12, 0, 1, 0] is illegal: " in str(ei.value)
    acts[k] = [5, 40, 0, 0]                                    # out of range
    with pytest.raises(ReplayError, match=rf"actions\[{k}\] = \[5, 40, 0, 0\] is illegal: sub1=40 is out of range"):
        load_replay(_write(tmp_path, "range.json", {**data, "actions": acts}))


def test_replay_cli(tmp_path, capsys):
    path, data = _good_replay(tmp_path)
    assert cli_main(["replay", str(path), "--all", "--no-board"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == data["result"]["line"]
    assert sum(1 for ln in out if ln.startswith("#")) == len(data["actions"])
    bad = _write(tmp_path, "bad.json", "[]")
    assert cli_main(["replay", str(bad), "--all"]) == 2
    assert "a replay is a JSON object" in capsys.readouterr().err
    assert cli_main(["replay", str(tmp_path / "none.json")]) == 2
    assert "replay file not found" in capsys.readouterr().err


def test_replay_viewer_steps_on_enter(tmp_path):
    path, data = _good_replay(tmp_path)

    class TTY(io.StringIO):
        def isatty(self):
            return True

    out = TTY()
    assert run_replay(path, input=TTY("\nq\n"), output=out) == 0
    text = out.getvalue()
    assert text.count("[Enter] next") == 2
    assert "#1 · " in text and "#2 · " not in text           # the start, one step, then q
    assert text.rstrip().splitlines()[-1] == data["result"]["line"]


def test_recent_events_cover_the_bots_whole_turn():
    from tcg_env.play import EVENTS_MAX, EVENTS_SHOWN, _Session

    sess = _Session.__new__(_Session)
    sess.events = [f"turn 1 · Bot: e{i}" for i in range(3)]
    assert sess.recent_events() == sess.events
    sess.events = [f"turn {i} · Bot: e{i}" for i in range(20)]
    assert len(sess.recent_events()) == EVENTS_SHOWN
    sess.events = ["turn 1 · You: mine"] + [f"turn 2 · Bot: e{i}" for i in range(10)]
    assert sess.recent_events() == sess.events                 # everything since your last decision
    sess.events = ["turn 1 · You: mine"] + [f"turn 2 · Bot: e{i}" for i in range(40)]
    assert len(sess.recent_events()) == EVENTS_MAX


def test_replay_json_the_parser_cannot_read_is_a_replay_error(tmp_path):
    from tcg_env.replay import ReplayError, load_replay
    deep, huge = tmp_path / "deep.json", tmp_path / "huge.json"
    deep.write_text("[" * 100000)
    huge.write_text('{"format": ' + "9" * 5000 + "}")
    for path in (deep, huge):
        with pytest.raises(ReplayError, match="cannot be read|not valid JSON"):
            load_replay(path)


# ----------------------------------------------------------------------------- hand-built positions and sessions
def _table_state():
    """P0 (Grask) to act on turn 3 with the IKZ token, 2 of 5 IKZ tapped, three cards in hand, a
    hurt and exhausted Prowling Wolf (2/2 +2 from a Duelist's Rapier, at 1 health) in garden 0, a
    Shadow Lookout in alley 0, the leader ability used this turn;
    P1 (Sela, 17 health) has a Rivet Sentry (1/2) in garden 2 and no IKZ."""
    from scenario import Scenario
    return (Scenario(seed=1).main_phase(active=0, turn=3)
            .leader(0, "Grask, Ember Warlord", used=True).leader(1, "Sela of the Thornwall", hp=17)
            .hand(0, ["Ember Drake", "Firebolt", "Gardener's Call"]).ikz(0, n=5, tapped=2).token(0)
            .unit(0, 0, "Prowling Wolf", hp=1, ready=False, weapon="Duelist's Rapier")
            .unit(0, 5, "Shadow Lookout")
            .unit(1, 2, "Rivet Sentry").hand(1, ["Spark Jolt", "Ember Lance"])
            .build())


def _session(state: GameState, human: int, out: io.StringIO) -> _Session:
    sess = _Session(bot=None, opponent="random", seed=1, decks=(DECKS[0], DECKS[1]), human=human, ui=_PlainUI(out),
                    inp=io.StringIO())
    sess.state = state
    return sess


def test_plain_screen_info_and_card_text_of_a_hand_built_position():
    s = _table_state()
    out = io.StringIO()
    sess = _session(s, 0, out)
    sess.ui.screen(sess, ["End turn"], "headline")
    lines = out.getvalue().splitlines()
    assert "Opponent P1 (random bot) · Sela of the Thornwall · HP 17/20 · IKZ 0/0 untapped · IKZ token: none" in lines
    assert "You P0 · Grask, Ember Warlord · HP 20/20 · IKZ 3/5 untapped · IKZ token: available" in lines
    assert "  Garden: [0] Prowling Wolf 4/1 (max 2) · CHARGE · weapon Duelist's Rapier (+2) · exhausted" in lines
    assert "  Garden: [2] Rivet Sentry 1/2 · GUARD · ready" in lines
    assert "  Alley : [0] Shadow Lookout 2/1 · RANGED · ready" in lines
    you = lines.index("You P0 · Grask, Ember Warlord · HP 20/20 · IKZ 3/5 untapped · IKZ token: available")
    assert lines[you + 1].endswith("(used this turn)") and "leader ability (2 IKZ" in lines[you + 1]
    assert "(used this turn)" not in out.getvalue().replace(lines[you + 1], "")
    assert "  1) End turn" in lines
    info = sess.info_text().splitlines()
    assert info[0] == "Opponent (P1):" and "You (P0):" in info
    mine = info[info.index("You (P0):"):]
    assert "  hand: 2 cards (hidden)" in info[:info.index("You (P0):")]
    assert any(ln.startswith("  garden 0: Prowling Wolf now 4/1 (max 2) CHARGE · Prowling Wolf — ") for ln in mine)
    assert any(ln.startswith("  alley 0: Shadow Lookout now 2/1 RANGED · Shadow Lookout — ") for ln in mine)
    assert "      weapon: Duelist's Rapier — 2 IKZ, WEAPON (BLADE). +2 attack." in mine
    assert any(ln.startswith("  hand #3: Gardener's Call — ") for ln in mine)
    assert sess.card_command("3").startswith("#3 Gardener's Call — ")     # the last card of the hand
    assert sess.card_command("4") == "Your hand has no card #4: choose 1-3."


def test_block_headline_names_the_attacked_unit():
    from verification.layout import ATK_TGT_LEADER, G_ATK_SRC, G_ATK_TGT, G_PHASE
    s = _table_state()
    s.row[G_PHASE], s.row[G_ATK_SRC], s.row[G_ATK_TGT] = PH_BLOCK, 0, 2
    assert _headline(s, 1) == "The bot attacks Prowling Wolf (4/1) → your Rivet Sentry (1/2). Block?"
    s.row[G_ATK_TGT] = ATK_TGT_LEADER
    assert _headline(s, 1) == "The bot attacks Prowling Wolf (4/1) → your leader Sela of the Thornwall (HP 17). Block?"


def test_event_lines_say_what_a_decision_did_and_to_whom():
    """A fight's visible results, from the human's seat (P0): health changes and deaths, each
    credited to the right side."""
    from scenario import Scenario, attack, no_block
    s = (Scenario(seed=1).main_phase(active=0, turn=3)
         .unit(0, 0, "Siege Golem").unit(0, 1, "Prowling Wolf").unit(1, 1, "Iron Bulwark").build())
    sess = _session(s, 0, io.StringIO())
    for slot, effects in ((0, "[your Siege Golem 6→4 HP; the bot's Iron Bulwark 6→1 HP]"),
                          (1, "[your Prowling Wolf dies; the bot's Iron Bulwark dies]")):
        sess._take(attack(slot, 1), "You", "attack")
        if sess.state.phase == PH_BLOCK:         # the fight happens once the bot has answered
            sess._take(no_block(), "Bot", "Don't block")
        assert sess.events[-1].endswith(effects), sess.events[-1]
    assert len([e for e in sess.events if "[" in e]) == 2


def test_recent_events_start_at_your_last_decision_not_your_first():
    sess = _Session.__new__(_Session)
    sess.events = (["turn 1 · You: a"] + [f"turn 1 · Bot: b{i}" for i in range(3)] + ["turn 3 · You: c"]
                   + [f"turn 3 · Bot: d{i}" for i in range(8)])
    assert sess.recent_events() == sess.events[4:]        # from 'You: c' on: 9 events


def test_who_goes_first_is_told_right_for_both_seats():
    """The opening note, the mulligan headline and the turn headings agree with the seed's first player."""
    from verification.layout import G_FIRST
    for seat in (0, 1):
        decks = (DECKS[0], DECKS[1]) if seat == 0 else (DECKS[1], DECKS[0])
        state, _ = _first_human_state(3, seat, decks)
        first = int(state.row[G_FIRST])
        _, out = _play("1\n1\nquit\n", seat=seat)
        me_first = first == seat
        assert f"P{first} goes first ({'you' if me_first else 'the bot'})." in out
        assert f"Mulligan (you go {'first' if me_first else 'second'}):" in out
        assert f"--- Turn 1: {'your' if me_first else 'the bot' + chr(39) + 's'} turn ---" in out
        assert f"--- Turn 2: {'the bot' + chr(39) + 's' if me_first else 'your'} turn ---" in out


def test_undo_message_counts_the_bots_moves_it_takes_back():
    """'Undone: X and the bot's N moves after it.' where N is the number of bot events shown since
    that decision; with no bot move in between the message has no such clause."""
    checked = {"none": 0, "some": 0}
    for seed in (3, 4):
        _, out = _play("1\n1\nundo\n2\nundo\nquit\n", seed=seed)
        bots = 0
        for ln in PROMPT.sub("\n", out).splitlines():
            if ln.startswith("  You: "):
                bots = 0
            elif ln.startswith("  Bot: "):
                bots += 1
            elif ln.startswith("Undone: "):
                if bots == 0:
                    assert "the bot's" not in ln and ln.endswith("."), ln
                    checked["none"] += 1
                else:
                    assert ln.endswith(f" and the bot's {bots} move{'s' if bots != 1 else ''} after it."), (ln, bots)
                    checked["some"] += 1
    assert checked["none"] >= 1 and checked["some"] >= 1, checked


def test_rich_screen_numbers_the_options_from_one():
    """The rich list, short or in columns, numbers the options 1..n in order, as the prompt asks."""
    s = _table_state()
    for n in (3, 15):
        out = io.StringIO()
        sess = _Session(bot=None, opponent="random", seed=1, decks=(DECKS[0], DECKS[1]), human=0, ui=_RichUI(out),
                        inp=io.StringIO())
        sess.state = s
        sess.ui.console.width = 160
        sess.ui.screen(sess, [f"option-{i:02d}" for i in range(1, n + 1)], "headline")
        pairs = re.findall(r"(\d+)\) option-(\d+)", out.getvalue())
        assert len(pairs) == n and all(int(a) == int(b) for a, b in pairs), pairs


def test_a_number_with_trailing_text_is_not_an_action_number():
    state, bot_first = _first_human_state(3, 0, DECKS[:2])
    res, out = _play("1st\n2 please\nquit\n")
    assert "'1st' is not a number or a command" in out and "'2 please' is not a number or a command" in out
    assert res.outcome == "quit" and res.replay.actions == bot_first


def test_ctrl_c_quits_and_still_writes_the_replay(tmp_path):
    class CtrlC(io.StringIO):
        def readline(self, *a):
            raise KeyboardInterrupt

    out = io.StringIO()
    path = tmp_path / "int.json"
    res = play_game(opponent="random", seed=3, input=CtrlC(), output=out, replay_out=path)
    assert "Interrupted: quitting." in out.getvalue()
    assert res.outcome == "quit" and res.line.startswith("Result: unfinished")
    rep = load_replay(path)
    assert rep.meta["quit"] is True and rep.result["finished"] is False


def test_play_command_exits_1_when_the_replay_cannot_be_written_after_the_game(tmp_path, monkeypatch, capsys):
    import argparse
    import tcg_env.play as play_mod
    from tcg_env.play import play_command

    def refuse(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(play_mod, "save_replay", refuse)
    monkeypatch.setattr(sys, "stdin", io.StringIO("quit\n"))
    args = argparse.Namespace(list_decks=False, seed=4, seat=0, deck=None, opponent_deck=None, opponent="random",
                              replay_out=str(tmp_path / "r.json"), plain=True)
    assert play_command(args) == 1
    out = capsys.readouterr().out
    assert "! could not write the replay to" in out and "No space left on device" in out


def test_leader_healing_shows_in_the_event_line():
    from scenario import Scenario, leader_ability
    s = (Scenario(seed=1).main_phase(active=0, turn=3).leader(0, "Sela of the Thornwall", hp=15).ikz(0, n=2)
         .build())
    sess = _session(s, 0, io.StringIO())
    sess._take(leader_ability(), "You", "Leader ability")
    assert sess.events[-1] == "turn 3 · You: Leader ability [your leader 15→17 HP]"


def test_a_finished_game_ends_with_the_final_board():
    out = io.StringIO()
    res = play_game(opponent="random", seed=3, input=Typist(out, 3), output=out)
    assert res.state.done
    text = PROMPT.sub("\n", out.getvalue())
    last_event = max(text.rfind("\n  Bot: "), text.rfind("\n  You: "))    # the game's last decision
    final = text[last_event:]
    assert "==== Ikazuchi Duel · turn" in final and "\nGame over.\n" in final   # the board is drawn once more
    assert final.rstrip().endswith("Game over.\n" + res.line)


def test_default_replay_path_and_card_lookup_by_prefix():
    import datetime as dt
    from tcg_env.play import default_replay_path
    assert default_replay_path(7, dt.datetime(2024, 1, 2, 3, 4, 5)) == Path("replays/20240102-030405-seed7.json")
    sess = _session(_table_state(), 0, io.StringIO())
    # a prefix names the card it begins (not every card that merely contains the text)
    assert sess.card_command("fire") == "Firebolt — 2 IKZ, SPELL (BOLT). Deal 3 damage to any unit or leader."
    assert sess.card_command("FIREBOLT") == sess.card_command("fire")
    assert sess.card_command("nothing like it") == "No card is called 'nothing like it'."


def test_card_lookup_with_many_matches_lists_at_most_eight_and_marks_only_a_longer_list():
    """`card NAME` matching more than four cards lists the names instead of their text: up to
    eight, followed by ", ..." only when more matched than are listed."""
    sess = _session(_table_state(), 0, io.StringIO())
    names = [c.name for c in sess.state.pool.cards]
    by_letter = {k: [n for n in names if n.lower().startswith(k)] for k in {n[0].lower() for n in names}}
    many = max(by_letter, key=lambda k: len(by_letter[k]))
    some = next(k for k, hits in sorted(by_letter.items()) if 5 <= len(hits) <= 8)
    assert len(by_letter[many]) > 8
    for key in (many, some):
        hits = by_letter[key]
        said = sess.card_command(key)
        assert said.startswith(f"{len(hits)} cards match {key!r}: "), said
        listed = said.split(": ", 1)[1].removesuffix("; type more of the name.").removesuffix(", ...").split(", ")
        assert listed == hits[:8]
        assert said.endswith(", ...; type more of the name.") == (len(hits) > 8), said
