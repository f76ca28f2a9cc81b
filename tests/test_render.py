"""Text rendering of a state and of action tuples (tcg_env.render)."""
from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from prefabs import default_decks, default_pool
from tcg_env import GameState
from tcg_env.render import describe_action, render_state
from verification.layout import (B_CARD, B_WEAPON, B_WIDTH, DONE_TERMINAL, DONE_TRUNCATED, G_DONE, G_PHASE,
                                 G_WINNER, P0, P_BOARD, P_DISC, P_DISC_N, P_HAND, P_HAND_N, P_IKZ, P_IKZ_N,
                                 P_LEADER, PH_OVER, PLAYER_WORDS)
from verification.spec import BOARD_SLOTS, ENT_MY_BOARD, ENT_MY_HAND, Primary

from scenario import reshuffle_hidden

DECKS = list(default_decks())
POOL = default_pool()
MAX_STEPS = 2000


def pbase(p):
    return P0 + p * PLAYER_WORDS


def sbase(p, slot):
    return pbase(p) + P_BOARD + slot * B_WIDTH


def hand_names(s: GameState, p: int) -> list[str]:
    b = pbase(p)
    return [POOL[int(s.row[b + P_HAND + i])].name for i in range(int(s.row[b + P_HAND_N]))]


def board_names(s: GameState, p: int) -> list[str]:
    out = []
    for slot in range(BOARD_SLOTS):
        for f in (B_CARD, B_WEAPON):
            c = int(s.row[sbase(p, slot) + f])
            if c:
                out.append(POOL[c].name)
    return out


def public_names(s: GameState, viewer: int) -> set[str]:
    """Every card name the viewer may legitimately see somewhere in the render."""
    names = set(hand_names(s, viewer))
    for p in (0, 1):
        b = pbase(p)
        names.add(POOL[int(s.row[b + P_LEADER])].name)
        names.update(board_names(s, p))
        names.update(POOL[int(s.row[b + P_DISC + i])].name for i in range(int(s.row[b + P_DISC_N])))
        names.update(POOL[int(s.row[b + P_IKZ + i])].name for i in range(int(s.row[b + P_IKZ_N])))
    names.update(c.name for c in POOL.cards if c.token)   # token names can show in effect text
    return names


def section(text: str, header_start: str) -> list[str]:
    """The lines of one player's block (from its '--- Pk' header to the next blank line)."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(header_start))
    out = []
    for ln in lines[start:]:
        if not ln.strip():
            break
        out.append(ln)
    return out


def leader_name(s: GameState, p: int) -> str:
    return POOL[int(s.row[pbase(p) + P_LEADER])].name


def random_games(n_games: int, seed: int = 0):
    """Yield (state, chosen tuple, legal list) along random games over varied deck pairings."""
    rng = np.random.default_rng(seed)
    for k in range(n_games):
        s = GameState.new(DECKS[k % len(DECKS)], DECKS[(k // len(DECKS) + k) % len(DECKS)], seed=k)
        for _ in range(MAX_STEPS):
            if s.done:
                break
            legal = s.legal_tuples()
            t = legal[rng.integers(len(legal))]
            yield s, t, legal
            s.apply(t)
        assert s.done
        yield s, None, None


def test_random_games_render_and_describe():
    seen_primaries = set()
    units_checked = 0
    games_over = 0
    for s, t, legal in random_games(8):
        text = render_state(s)
        assert leader_name(s, 0) in text and leader_name(s, 1) in text
        for p in (0, 1):
            pv = render_state(s, perspective=p)
            assert leader_name(s, 0) in pv and leader_name(s, 1) in pv
            for name in board_names(s, p):
                assert name in text and name in pv
        if t is None:
            games_over += 1
            assert "Result:" in text
            assert all("Result:" in render_state(s, perspective=p) for p in (0, 1))
            continue
        assert "Result:" not in text
        me = s.current_player
        for row in legal[:: max(1, len(legal) // 12)]:
            d = describe_action(s, row)
            assert isinstance(d, str) and d
        d = describe_action(s, t)
        prim = Primary(int(t[0]))
        seen_primaries.add(prim)
        if prim in (Primary.PLAY_UNIT, Primary.PLAY_SPELL, Primary.ATTACH_WEAPON):
            card = POOL[int(s.row[pbase(me) + P_HAND + int(t[1]) - ENT_MY_HAND])]
            assert card.name in d and d.startswith("Play" if prim != Primary.ATTACH_WEAPON else "Equip")
        if prim in (Primary.ATTACK, Primary.BLOCK, Primary.ACTIVATE, Primary.MOVE):
            unit = POOL[int(s.row[sbase(me, int(t[1]) - ENT_MY_BOARD) + B_CARD])]
            assert unit.name in d
        if prim == Primary.END_TURN:
            assert d == "End turn"
        if prim == Primary.NO_BLOCK:
            assert d == "Don't block"
        if int(t[3]) == 1:
            assert d.endswith(" (using the IKZ token)")
        if prim == Primary.PLAY_UNIT:
            slot = int(t[2])
            assert d.endswith(("garden", "alley")[slot >= 5] + f" slot {slot % 5}") or "(using the IKZ token)" in d
            after = s.clone().apply(t)
            if int(after.row[sbase(me, slot) + B_CARD]) == card.id:   # still alive after its on-play effect
                mine = "\n".join(section(render_state(after), f"--- P{me}"))
                rows = mine.split("  Garden:")[1].split("  Alley:")   # [garden lines, alley lines]
                assert f"[{slot % 5}] {card.name} " in rows[slot >= 5]
                units_checked += 1
    assert games_over == 8
    assert units_checked > 10
    assert {Primary.MULLIGAN, Primary.PLAY_UNIT, Primary.ATTACK, Primary.END_TURN} <= seen_primaries


def test_perspective_hides_opponent_hand_and_decks():
    cases = 0
    for s, t, _ in random_games(6, seed=1):
        for me in (0, 1):
            opp = 1 - me
            text = render_state(s, perspective=me)
            mine = section(text, f"--- P{me} (you)")
            theirs = section(text, f"--- P{opp} (opponent)")
            hand_line = [ln for ln in theirs if ln.strip().startswith("Hand")]
            assert len(hand_line) == 1
            n = len(hand_names(s, opp))
            assert f"{n} card" in hand_line[0] and "hidden" in hand_line[0]
            assert not any(c.name in hand_line[0] for c in POOL.cards)
            my_hand = [ln for ln in mine if ln.strip().startswith("Hand")][0]
            assert all(name in my_hand for name in hand_names(s, me))
            assert "top first" not in text   # no deck order for anybody
            visible = public_names(s, me)
            hidden = {nm for nm in hand_names(s, opp)
                      if nm not in visible and not any(nm in v for v in visible)}
            for nm in hidden:
                assert nm not in text, f"opponent's hand card {nm!r} leaked into P{me}'s view"
                cases += 1
            # the omniscient view does show them
            for nm in hand_names(s, opp):
                assert nm in render_state(s)
    assert cases > 50


def test_perspective_view_does_not_depend_on_hidden_zones():
    """Re-dealing the opponent's hand and deck and reordering every deck and IKZ deck changes
    nothing in a seat's view (the omniscient view does change), so no hidden card, deck order
    or IKZ deck order reaches it, under any wording."""
    rng = np.random.default_rng(7)
    changed = 0
    for k, (s, _, _) in enumerate(random_games(4, seed=2)):
        if k % 3:
            continue
        for me in (0, 1):
            t = reshuffle_hidden(s, me, rng)
            assert render_state(t, perspective=me) == render_state(s, perspective=me), \
                f"P{me}'s view changed when only hidden zones changed"
            changed += render_state(t) != render_state(s)
    assert changed > 50


def test_result_lines():
    s = GameState.new(seed=5)
    over = s.clone()
    over.row[G_PHASE] = PH_OVER
    over.row[G_DONE] = DONE_TERMINAL
    over.row[G_WINNER] = 1
    assert f"Result: P1 wins ({leader_name(s, 1)})" in render_state(over)
    over.row[G_WINNER] = 2
    assert "Result: draw" in render_state(over)
    over.row[G_DONE] = DONE_TRUNCATED
    over.row[G_WINNER] = -1
    assert "Result: truncated" in render_state(over, perspective=0)


def test_mulligan_and_keep_descriptions():
    s = GameState.new(seed=2)
    p = s.current_player
    names = hand_names(s, p)
    assert describe_action(s, (Primary.MULLIGAN, 0, 0, 0)) == "Keep opening hand"
    d = describe_action(s, (Primary.MULLIGAN, 0b1001, 0, 0))
    assert d.startswith("Mulligan hand positions 0 and 3") and names[0] in d and names[3] in d


def test_describe_never_raises_on_odd_tuples():
    s = GameState.new(seed=3)
    values = (-1, 0, 1, 5, 12, 22, 31, 40, 127)
    for a0 in range(-1, len(Primary) + 1):
        for a1, a2, a3 in itertools.product(values, values, (0, 1, 2)):
            assert isinstance(describe_action(s, (a0, a1, a2, a3)), str)
    assert isinstance(describe_action(s, "nonsense"), str)


def test_render_method_and_bad_perspective():
    s = GameState.new(seed=4)
    assert s.render() == render_state(s)
    with pytest.raises(ValueError, match="perspective must be None, 0 or 1, got 2"):
        render_state(s, perspective=2)


def test_render_does_not_import_torch():
    code = "import sys, tcg_env.render; assert 'torch' not in sys.modules, 'torch imported'"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
