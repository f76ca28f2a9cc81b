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


# ----------------------------------------------------------------------------- hand-built positions
def _table():
    """P0 (Grask) to act on turn 3: a damaged, exhausted Prowling Wolf with a Duelist's Rapier
    (2/2 +2 attack, at 1 health) in garden 0, a Shadow Lookout in alley 1, 2 of 5 IKZ tapped and
    the leader ability spent, a 3-card deck; P1 (Sela, 17 health, the IKZ token, an Ember Lance in
    the discard) has a Rivet Sentry (1/2) in garden 2."""
    from scenario import Scenario
    return (Scenario(seed=1).main_phase(active=0, turn=3)
            .leader(0, "Grask, Ember Warlord", used=True).leader(1, "Sela of the Thornwall", hp=17)
            .hand(0, ["Ember Drake", "Firebolt", "Gardener's Call", "Rusty Shiv"]).ikz(0, n=5, tapped=2)
            .deck(0, ["Siege Golem", "Firebolt", "Spark Jolt"]).discard(1, ["Ember Lance"]).token(1)
            .unit(0, 0, "Prowling Wolf", hp=1, ready=False, weapon="Duelist's Rapier")
            .unit(0, 6, "Shadow Lookout")
            .unit(1, 2, "Rivet Sentry")
            .build())


def test_hand_built_board_lines():
    """Unit lines show attack with the weapon's bonus, current health (and max only when hurt),
    keywords, ready/exhausted and the weapon; the IKZ line counts untapped IKZ; the header says
    whose leader ability is spent."""
    s = _table()
    text = render_state(s, perspective=0)
    mine = section(text, "--- P0 (you)")
    theirs = section(text, "--- P1 (opponent)")
    assert "    [0] Prowling Wolf 4/1 (max 2) · CHARGE · exhausted · weapon: Duelist's Rapier (+2)" in mine
    assert "    [1] Shadow Lookout 2/1 · RANGED · ready" in mine
    assert "    [2] Rivet Sentry 1/2 · GUARD · ready" in theirs
    assert sum("(max" in ln for ln in text.splitlines()) == 1       # only the hurt unit shows its max
    assert mine[1].startswith("  IKZ 3/5 untapped")
    assert "leader ability used" in mine[0] and "leader ability used" not in theirs[0]
    assert "HP 17/20" in theirs[0] and "HP 20/20" in mine[0]
    assert "IKZ token spent" in mine[1] and "IKZ token available" in theirs[1]
    assert "  Hand (4): Ember Drake (3), Firebolt (2), Gardener's Call (2), Rusty Shiv (1)" in mine
    assert "  Deck: 3 cards" in mine and "  Discard (1): Ember Lance" in theirs
    assert "  Hand: 0 cards (hidden)" in theirs


def test_hand_built_action_descriptions():
    """What a human reads for each kind of action in the hand-built position (P0 to act)."""
    from scenario import ENEMY_LEADER, MY_LEADER, attach, attack, ent_enemy_board, move, play_spell, play_unit
    s = _table()
    assert describe_action(s, play_unit(0, slot=7)) == "Play Ember Drake (3 IKZ) to alley slot 2"
    assert describe_action(s, play_unit(0, slot=2, token=True)) == \
        "Play Ember Drake (3 IKZ) to garden slot 2 (using the IKZ token)"
    # Firebolt takes any target, the player's own leader included
    assert describe_action(s, play_spell(1, MY_LEADER)) == "Play Firebolt → your leader"
    assert describe_action(s, play_spell(1, ent_enemy_board(2))) == "Play Firebolt → enemy Rivet Sentry (1/2)"
    # an untargeted spell names no target, unless an (odd) tuple gives one anyway
    assert describe_action(s, play_spell(2)) == "Play Gardener's Call"
    assert describe_action(s, play_spell(2, ENEMY_LEADER)) == "Play Gardener's Call → enemy leader"
    # attacker and target with current attack/health (the wolf's 4 = 2 printed + 2 from the Rapier)
    assert describe_action(s, attack(0, 2)) == "Attack with Prowling Wolf (4/1) → enemy Rivet Sentry (1/2)"
    assert describe_action(s, attack(0)) == "Attack with Prowling Wolf (4/1) → enemy leader"
    assert describe_action(s, move(0, 5)) == "Move Prowling Wolf to alley slot 0"
    assert describe_action(s, move(6, 3)) == "Move Shadow Lookout to garden slot 3"
    assert describe_action(s, attach(3, 6)) == "Equip Rusty Shiv to Shadow Lookout"


def test_block_window_lines_name_both_sides():
    """In the block window the defender (P1) is the one to act: the pending-attack line names the
    attacker on P0's board and the target on P1's, and 'Block with' names P1's own unit."""
    from scenario import block
    from verification.layout import ATK_TGT_LEADER, G_ATK_SRC, G_ATK_TGT, PH_BLOCK
    s = _table()
    s.row[G_PHASE], s.row[G_ATK_SRC], s.row[G_ATK_TGT] = PH_BLOCK, 0, 2
    assert ("Pending attack: P0 (opponent)'s Prowling Wolf (4/1) → P1 (you)'s Rivet Sentry (1/2); "
            "P1 (you) may block") in render_state(s, perspective=1).splitlines()
    assert describe_action(s, block(2)) == "Block with Rivet Sentry"
    s.row[G_ATK_TGT] = ATK_TGT_LEADER
    assert ("Pending attack: P0's Prowling Wolf (4/1) → P1's leader Sela of the Thornwall (HP 17); "
            "P1 may block") in render_state(s).splitlines()
    from verification.layout import PH_MAIN
    s.row[G_PHASE] = PH_MAIN
    assert "Pending attack" not in render_state(s)


def test_result_line_names_the_winners_leader_and_mulligan_status():
    s = _table()
    over = s.clone()
    over.row[G_PHASE], over.row[G_DONE], over.row[G_WINNER] = PH_OVER, DONE_TERMINAL, 0
    assert "Result: P0 wins (Grask, Ember Warlord)" in render_state(over, perspective=1)
    over.row[G_WINNER] = 1
    assert "Result: P1 wins (Sela of the Thornwall)" in render_state(over, perspective=0)
    # mulligan: the player who has sent back (or kept) is 'done', the other 'pending'
    g = GameState.new(DECKS[0], DECKS[1], seed=3)
    first = g.current_player
    g.apply((int(Primary.MULLIGAN), 0, 0, 0))
    text = render_state(g)
    assert "mulligan done" in section(text, f"--- P{first}")[0]
    assert "mulligan pending" in section(text, f"--- P{1 - first}")[0]
