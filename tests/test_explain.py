"""verification/explain.py: reasons the cross-check and the rule scenarios do not pin down.

Written for a mutation audit of the explainer. The cross-check (tests/test_crosscheck.py)
compares only legal/illegal with the enumerator, and the rule scenarios check the words of
most reasons; these tests cover what neither reaches: a sub-slot value past its bin's size
(the "out of range for PRIMARY" reason, which must win over the rule checks that would
read past the board), a mulligan on a hand shorter than MULLIGAN_HAND (a hand-built row:
play never deals one, but explain and the enumerator take any row and must agree), and
which sub-slot a "not one of your units" reason names.
"""
import numpy as np
import pytest

from scenario import (Scenario, activate, attach, attack, choose_mode, ent_board, ent_hand, legal_set, mulligan,
                      move, play_unit)
from tcg_env import GameState
from verification.explain import R_BIN_RANGE, R_MULL_MASK, R_SLOT_OCCUPIED, explain, explain_code
from verification.layout import P_DECK, P_DECK_N, P_HAND, P_HAND_N, PH_CHOOSE_MODE, PH_MULLIGAN
from verification.legal import enumerate_legal
from verification.rules import actor, pbase
from verification.spec import HEAD_SIZES, MAX_LEGAL, MULLIGAN_HAND, SLOT_SIZE, Primary


def test_a_sub_slot_past_its_bin_is_out_of_range_not_a_rule_reason():
    """A BIN sub-slot value equal to the bin's size (board slot 10 for PLAY_UNIT / MOVE, mode 3
    for CHOOSE_MODE) is refused as out of range, naming the slot, its value and the range
    allowed, before any rule reads that board slot or mode; the last in-range value is not."""
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Scrapyard Mutt"]).ikz(0, n=5)
          .unit(0, 0, "Siege Golem")
          .build())
    size = int(SLOT_SIZE[Primary.PLAY_UNIT, 1])
    assert size == 10 < HEAD_SIZES[2]
    allowed = f"(allowed 0..{size - 1})"
    assert st.explain(play_unit(0, slot=size)) == f"sub2={size} is out of range for PLAY_UNIT {allowed}"
    assert st.explain(play_unit(0, slot=size + 5)) == f"sub2={size + 5} is out of range for PLAY_UNIT {allowed}"
    assert st.explain(play_unit(0, slot=size - 1)) is None
    assert st.explain(move(0, size)) == f"sub2={size} is out of range for MOVE {allowed}"
    assert st.explain(move(0, size - 1)) is None
    code, detail = explain_code(st.row, st.pool.table, *play_unit(0, slot=size))
    assert (code, detail) == (R_BIN_RANGE, 2)
    assert explain_code(st.row, st.pool.table, *move(0, size)) == (R_BIN_RANGE, 2)
    assert play_unit(0, slot=size) not in legal_set(st)

    st = Scenario().main_phase(active=0).hand(0, ["Wisp Lantern"]).ikz(0, n=2).build()
    st.apply(play_unit(0, slot=0))
    assert st.phase == PH_CHOOSE_MODE
    n_bins = int(SLOT_SIZE[Primary.CHOOSE_MODE, 1])
    assert st.explain(choose_mode(n_bins)) == f"sub2={n_bins} is out of range for CHOOSE_MODE (allowed 0..{n_bins - 1})"
    assert explain_code(st.row, st.pool.table, *choose_mode(n_bins)) == (R_BIN_RANGE, 2)
    assert st.explain(choose_mode(2)) == "mode 2 does not exist (the card has 2 modes)"


def _short_hand_mulligan_row(k: int):
    """The first mulligan of a fresh game with the acting player's hand cut to k cards (the
    others go back on the deck, so no card is lost)."""
    g = GameState.new(None, None, seed=11)
    row = g.row.copy()
    assert g.phase == PH_MULLIGAN
    b = pbase(actor(row))
    n = int(row[b + P_HAND_N])
    assert n == MULLIGAN_HAND
    for h in range(k, n):
        row[b + P_DECK + row[b + P_DECK_N]] = row[b + P_HAND + h]
        row[b + P_DECK_N] += 1
        row[b + P_HAND + h] = 0
    row[b + P_HAND_N] = k
    return row, g.pool


@pytest.mark.parametrize("k", [3, 1])
def test_mulligan_mask_on_a_short_hand_agrees_with_the_enumerator(k):
    """With k < MULLIGAN_HAND cards in hand the mulligan bin allows masks 0..2**k - 1 only: explain
    says None exactly for the masks the enumerator lists and names the hand size and the allowed
    range for the others (R_MULL_MASK, detail k)."""
    row, pool = _short_hand_mulligan_row(k)
    legal = np.zeros((MAX_LEGAL, 4), np.int8)
    n = enumerate_legal(row, pool.table, legal)
    listed = {tuple(int(x) for x in t) for t in legal[:n]}
    assert listed == {mulligan(m) for m in range(1 << k)}
    for m in range(HEAD_SIZES[1]):
        why = explain(row, mulligan(m), pool)
        if m < (1 << k):
            assert why is None, (m, why)
        else:
            assert why == (f"mulligan mask {m} names positions beyond the {k}-card opening hand "
                           f"(allowed 0..{(1 << k) - 1})"), why
            assert explain_code(row, pool.table, *mulligan(m)) == (R_MULL_MASK, k)


def test_not_your_unit_names_the_sub_slot_that_points_at_the_wrong_entity():
    """ATTACK, MOVE and ACTIVATE name sub1 (the acting unit) and ATTACH_WEAPON names sub2 (the
    carrier) when that pointer is not one of your units: the reason quotes that slot's value."""
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Rusty Shiv"]).ikz(0, n=5)
          .unit(0, 0, "Siege Golem")
          .build())
    empty = ent_board(3)
    assert st.explain(attack(3)) == f"sub1={empty} (your garden slot 3) is not one of your units"
    assert st.explain(move(3, 6)) == f"sub1={empty} (your garden slot 3) is not one of your units"
    assert st.explain(activate(3)) == f"sub1={empty} (your garden slot 3) is not one of your units"
    assert st.explain(attach(0, slot=3)) == f"sub2={empty} (your garden slot 3) is not one of your units"
    assert st.explain(attach(0, slot=0)) is None
    assert ent_hand(0) != empty
    # the board-slot reason of MOVE names the destination slot
    st2 = Scenario().main_phase(active=0).unit(0, 0, "Siege Golem").unit(0, 6, "Scrapyard Mutt").build()
    assert explain_code(st2.row, st2.pool.table, *move(0, 6)) == (R_SLOT_OCCUPIED, 6)
