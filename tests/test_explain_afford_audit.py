"""verification/explain.py and policy/affordances.py: what a second mutation audit found untested.

The cross-check over random states (tests/test_crosscheck.py) and the rule scenarios pin down
most of the explainer, but only for what a prebuilt-deck game reaches and mostly legal/illegal,
not every reason's details. These tests reach the rest on hand-built rows, each also checked
against the enumerator over the whole tuple product space (``crosscheck_state``):

- every chosen target rule on every entity, for a spell and for a pending target choice,
  ANY_UNIT included (no default card aims at it; a card file may);
- the words of the reasons: the slot, card, entity or value they quote is the offending one,
  and a wrong phase lists every primary the phase takes;
- rows from outside that the state-row checks accept: a hand position holding no card, an
  empty slot with a leftover GUARD bit;
- ``check_range``'s limits, a bool in any position, and the typed errors' tuple and message;
- the affordance features' names, and a narrower entity axis.

Two of these found defects, fixed with them: a bin value past its primary's range was refused
without naming the range allowed, and a pointer past a narrower entity axis flagged the axis's
last entity.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from prefabs import CardPool, default_pool
from prefabs.enums import CHOSEN_TARGETS, Keyword, Target, Trigger
from scenario import (ENEMY_LEADER, MY_LEADER, Scenario, attack, choose_target, ent_board, ent_enemy_board, ent_hand,
                      legal_set, move, play_spell, play_unit)
from verification.crosscheck import crosscheck_state, new_scratch
from verification.explain import explain_code
from verification.layout import (G_PEND_A1, G_PEND_A2, G_PEND_CARD, G_PEND_EFF, G_PEND_PLAYER, G_PEND_TGT, G_PHASE,
                                 PH_CHOOSE_TARGET)
from verification.spec import (BOARD_SLOTS, ENT_MY_BOARD, ENT_OPP_BOARD, GARDEN_SLOTS, NUM_ENTITIES, Primary,
                               entity_name)


def _agrees(st) -> int:
    """Cross-check one hand-built state over every tuple; returns the legal count. A mismatch
    names the first tuple the explainer and the enumerator disagree on."""
    legal, listed = new_scratch()
    n, bad, f0, f1, f2, f3, order_bad = crosscheck_state(st.row, st.pool.table, legal, listed)
    assert bad == 0 and order_bad == 0, (bad, (f0, f1, f2, f3), st.explain((f0, f1, f2, f3)))
    return n


# ----------------------------------------------------------------------------- target rules
# my units in the first garden and the last alley slot, enemy units in the last garden slot and
# both ends of the alley; the other slots are empty (an empty slot is never a target)
_MY_UNITS = (0, BOARD_SLOTS - 1)
_ENEMY_UNITS = (GARDEN_SLOTS - 1, GARDEN_SLOTS, BOARD_SLOTS - 1)
_MINE = {ENT_MY_BOARD + s for s in _MY_UNITS}
_THEIRS = {ENT_OPP_BOARD + s for s in _ENEMY_UNITS}
# the design's target rules (RULES / prefabs.enums.Target), as sets of entity pointers
_ALLOWED = {Target.ANY: {MY_LEADER, ENEMY_LEADER} | _MINE | _THEIRS,
            Target.ANY_UNIT: _MINE | _THEIRS,
            Target.ENEMY_UNIT: set(_THEIRS),
            Target.FRIENDLY_UNIT: set(_MINE),
            Target.ENEMY_ANY: {ENEMY_LEADER} | _THEIRS}
# what a refused target's reason says each rule needs
_NEEDS = {Target.ANY: "any unit or leader", Target.ANY_UNIT: "a unit", Target.ENEMY_UNIT: "an enemy unit",
          Target.FRIENDLY_UNIT: "a friendly unit", Target.ENEMY_ANY: "an enemy unit or leader"}


def _pool_with_spark_jolt_aimed_at(rule: Target) -> CardPool:
    """The default cards with "Spark Jolt" (2 damage) aimed by ``rule``: a valid prefab, so a
    cards file could hold it; ANY_UNIT is a chosen rule no default card uses."""
    cards = []
    for c in default_pool().cards:
        if c.name == "Spark Jolt":
            ab = c.abilities[Trigger.PLAY]
            c = dataclasses.replace(c, abilities={Trigger.PLAY: dataclasses.replace(ab, target=rule)})
        cards.append(c)
    return CardPool(cards)


def _target_board(pool=None) -> Scenario:
    sc = Scenario(pool=pool).main_phase(active=0).ikz(0, n=5)
    for s in _MY_UNITS:
        sc.unit(0, s, "Siege Golem")
    for s in _ENEMY_UNITS:
        sc.unit(1, s, "Scrapyard Mutt")
    return sc


@pytest.mark.parametrize("rule", CHOSEN_TARGETS, ids=lambda r: r.name)
def test_each_chosen_target_rule_allows_exactly_its_entities(rule):
    """A spell aimed by each chosen rule: the explainer says None for exactly the entities the
    rule allows (the enumerator lists the same ones) and, for every other entity (an empty slot,
    a hand card, the wrong side, a leader), names the entity and the card."""
    assert set(_ALLOWED) == set(CHOSEN_TARGETS)
    st = _target_board(_pool_with_spark_jolt_aimed_at(rule)).hand(0, ["Spark Jolt"]).build()
    _agrees(st)
    listed = {t[2] for t in legal_set(st) if t[0] == Primary.PLAY_SPELL and t[3] == 0}
    assert listed == _ALLOWED[rule]
    for e in range(NUM_ENTITIES):
        why = st.explain(play_spell(0, target=e))
        if e in _ALLOWED[rule]:
            assert why is None, (e, why)
        else:
            assert why == f"{entity_name(e)} is not a legal target for 'Spark Jolt' (it needs {_NEEDS[rule]})", (e, why)


@pytest.mark.parametrize("rule", CHOSEN_TARGETS, ids=lambda r: r.name)
def test_a_pending_target_choice_allows_exactly_its_rules_entities(rule):
    """The same rules in the choose-target phase (the pending card's rule is read from the row):
    CHOOSE_TARGET is legal for exactly the rule's entities, and the reason names the pending card."""
    pool = _pool_with_spark_jolt_aimed_at(rule)
    ability = pool.by_name["Spark Jolt"].abilities[Trigger.PLAY]   # the pending words are its, as the engine stores them
    st = (_target_board(pool)
          .set_word(G_PHASE, PH_CHOOSE_TARGET).set_word(G_PEND_PLAYER, 0)
          .set_word(G_PEND_CARD, pool.id_of("Spark Jolt")).set_word(G_PEND_TGT, int(rule))
          .set_word(G_PEND_EFF, int(ability.effect)).set_word(G_PEND_A1, ability.amount)
          .set_word(G_PEND_A2, ability.amount2)
          .build())
    _agrees(st)
    assert {t[2] for t in legal_set(st)} == _ALLOWED[rule]
    for e in range(NUM_ENTITIES):
        why = st.explain(choose_target(e))
        assert (why is None) == (e in _ALLOWED[rule]), (e, why)
        if why is not None:
            assert why == f"{entity_name(e)} is not a legal target for 'Spark Jolt' (it needs {_NEEDS[rule]})", (e, why)


# ----------------------------------------------------------------------------- the words of each reason
def test_play_unit_on_an_occupied_slot_names_that_slot():
    """PLAY_UNIT into a taken board slot names the slot asked for (garden or alley), not some
    other one; the empty slots stay legal."""
    st = (Scenario().main_phase(active=0).hand(0, ["Scrapyard Mutt"]).ikz(0, n=5)
          .unit(0, 3, "Siege Golem").unit(0, GARDEN_SLOTS + 2, "Siege Golem").build())
    _agrees(st)
    for slot in (3, GARDEN_SLOTS + 2):
        assert st.explain(play_unit(0, slot=slot)) == f"board slot {slot} is not empty"
        assert explain_code(st.row, st.pool.table, *play_unit(0, slot=slot))[1] == slot
    assert st.explain(play_unit(0, slot=0)) is None


# the design's primaries of each decision (verification.spec, RULES): what a phase reason must list
_PHASE_PRIMARIES = {
    "mulligan": {Primary.MULLIGAN},
    "main": {Primary.END_TURN, Primary.PLAY_UNIT, Primary.PLAY_SPELL, Primary.ATTACH_WEAPON, Primary.ATTACK,
             Primary.ACTIVATE, Primary.LEADER_ABILITY, Primary.MOVE},
    "block (response window)": {Primary.BLOCK, Primary.NO_BLOCK},
    "choose target": {Primary.CHOOSE_TARGET},
    "choose mode": {Primary.CHOOSE_MODE},
}


def _one_state_per_phase():
    from tcg_env import GameState
    main = (Scenario().main_phase(active=0).hand(0, ["Cinder Hatchling", "Wisp Lantern"]).ikz(0, n=5)
            .unit(0, 0, "Siege Golem").unit(1, 2, "Siege Golem").build())
    block_ = main.clone().apply(attack(0))
    target = main.clone().apply(play_unit(0, slot=1))
    mode = main.clone().apply(play_unit(1, slot=1))
    return {"mulligan": GameState.new(None, None, seed=0), "main": main, "block (response window)": block_,
            "choose target": target, "choose mode": mode}


def test_a_wrong_phase_reason_names_the_phase_and_every_primary_it_allows():
    """In each decision, each primary the phase does not take is refused with the phase's name
    and the full list of primaries it does take; the enumerator lists no other primary."""
    states = _one_state_per_phase()
    for phase, st in states.items():
        _agrees(st)
        assert {Primary(t[0]) for t in legal_set(st)} <= _PHASE_PRIMARIES[phase], phase
        for p in Primary:
            if p in _PHASE_PRIMARIES[phase]:
                continue
            why = st.explain((int(p), 0, 0, 0))
            head, sep, allowed = why.partition("; allowed: ")
            assert head == f"{p.name} is not allowed in the {phase} phase" and sep, why
            assert {Primary[name] for name in allowed.split(", ")} == _PHASE_PRIMARIES[phase], why


def test_a_sub_slot_past_its_bin_names_the_allowed_range():
    """A value past a primary's bin (board slot 10 for PLAY_UNIT and MOVE) is refused naming the
    slot, the value and, as check_range does for a head, the range the bin allows."""
    from verification.spec import SLOT_SIZE
    st = (Scenario().main_phase(active=0).hand(0, ["Scrapyard Mutt"]).ikz(0, n=5)
          .unit(0, 0, "Siege Golem").build())
    for prim, action in ((Primary.PLAY_UNIT, play_unit(0, slot=BOARD_SLOTS)), (Primary.MOVE, move(0, BOARD_SLOTS))):
        why = st.explain(action)
        assert why.startswith(f"sub2={BOARD_SLOTS} is out of range"), why
        assert f"0..{int(SLOT_SIZE[prim, 1]) - 1}" in why, why


def test_a_hand_position_holding_no_card_is_refused_in_words():
    """A row whose hand count covers a position holding card id 0 gets a reason naming "card 0",
    not a crash looking up a card 0 the pool does not have; the enumerator does not list it
    either. (The state-row checks refuse such a row from bytes or ``load_state``; a GameState
    plays it, since the kernels can read it: a hand-built position.)"""
    from tcg_env.state import state_rows_problem
    from verification.layout import P_HAND
    from verification.rules import pbase
    st = Scenario().main_phase(active=0).hand(0, ["Scrapyard Mutt", "Spark Jolt"]).ikz(0, n=5).build()
    st.row[pbase(0) + P_HAND] = 0
    assert "player 0 hand position 0" in state_rows_problem(st.row, st.pool)
    _agrees(st)
    for prim, need in ((Primary.PLAY_UNIT, "UNIT"), (Primary.PLAY_SPELL, "SPELL"), (Primary.ATTACH_WEAPON, "WEAPON")):
        assert st.explain((int(prim), ent_hand(0), 0, 0)) == f"card 0 is not the card type {prim.name} needs ({need})"
    assert st.explain(play_spell(1, target=ENEMY_LEADER)) == "enemy leader is not a legal target for 'Spark Jolt' (it needs an enemy unit)"


# ----------------------------------------------------------------------------- check_range and the typed error
def test_an_out_of_range_error_carries_the_tuple_and_names_the_head_and_its_range():
    """ActionOutOfRangeError for a value past its head keeps the offending tuple (as ints) on
    ``.action`` and in the message, names the head and its allowed range; shape errors, which
    have no tuple to keep, carry None."""
    from verification.errors import ActionOutOfRangeError
    from verification.explain import check_range
    from verification.spec import HEAD_SIZES
    names = ("primary", "sub1", "sub2", "sub3")
    for j, size in enumerate(HEAD_SIZES):
        for bad in (size, -1):
            a = [0, 0, 0, 0]
            a[j] = bad
            with pytest.raises(ActionOutOfRangeError) as e:
                check_range(np.array(a, dtype=np.int64))
            assert e.value.action == tuple(a) and all(type(x) is int for x in e.value.action)
            assert e.value.reason == f"{names[j]}={bad} is out of range 0..{size - 1}"
            assert str(e.value) == f"action {tuple(a)}: {e.value.reason}"
        a = [0, 0, 0, 0]
        a[j] = size - 1
        assert check_range(a) == tuple(a)
    with pytest.raises(ActionOutOfRangeError) as e:
        check_range((0, 0, 0))
    assert e.value.action is None and str(e.value) == e.value.reason   # no tuple to name: the reason alone


def test_each_reason_quotes_the_offending_value_and_the_entity_it_names():
    """The reasons that quote a sub-slot name the entity of that sub-slot (not another one's), and a
    wrong card type names the card in hand, on a board where each of these tuples is illegal."""
    st = (Scenario().main_phase(active=0).hand(0, ["Spark Jolt", "Scrapyard Mutt"]).ikz(0, n=5)
          .unit(0, 0, "Siege Golem").unit(0, 1, "Siege Golem")
          .unit(1, 0, "Scrapyard Mutt").unit(1, GARDEN_SLOTS, "Scrapyard Mutt")
          .build())
    _agrees(st)
    alley0 = ent_enemy_board(GARDEN_SLOTS)
    cases = {
        play_unit(0, slot=2): "'Spark Jolt' is not the card type PLAY_UNIT needs (UNIT)",
        play_spell(1, target=ent_enemy_board(0)): "'Scrapyard Mutt' is not the card type PLAY_SPELL needs (SPELL)",
        (int(Primary.PLAY_UNIT), ent_board(0), 2, 0): (f"sub1={ent_board(0)} (your garden slot 0) is not a card in "
                                                       f"your hand"),
        (int(Primary.PLAY_UNIT), ent_hand(2), 2, 0): f"sub1={ent_hand(2)} (hand card 2) is not a card in your hand",
        attack(0, GARDEN_SLOTS): ("enemy alley slot 0 cannot be attacked; targets are the enemy leader or an "
                                  "enemy garden unit"),
        (int(Primary.ATTACK), ent_board(0), ent_board(1), 0): ("your garden slot 1 cannot be attacked; targets are "
                                                               "the enemy leader or an enemy garden unit"),
        (int(Primary.ATTACK), ent_board(0), MY_LEADER, 0): ("your leader cannot be attacked; targets are the enemy "
                                                            "leader or an enemy garden unit"),
        (int(Primary.ATTACK), ent_board(0), ent_hand(0), 0): ("hand card 0 cannot be attacked; targets are the "
                                                              "enemy leader or an enemy garden unit"),
        (int(Primary.ATTACK), alley0, ENEMY_LEADER, 0): f"sub1={alley0} (enemy alley slot 0) is not one of your units",
    }
    for action, reason in cases.items():
        assert st.explain(action) == reason, action
        assert action not in legal_set(st)
    assert st.explain(attack(0, 0)) is None and st.explain(attack(0)) is None


@pytest.mark.parametrize("bad", [(True, 0, 0, 0), (0, 0, 0, True), [1, 0, False, 0]])
def test_a_bool_anywhere_in_the_tuple_is_refused_not_read_as_an_integer(bad):
    """A bool in any position (not only when every value is one) is refused as not an integer,
    and the state is left alone: (True, 0, 0, 0) is not MULLIGAN with mask 0."""
    from verification.errors import ActionOutOfRangeError
    from verification.explain import check_range
    from tcg_env import GameState
    g = GameState.new(None, None, seed=0)   # the first mulligan: (1, 0, 0, 0) keeps the hand
    assert (int(Primary.MULLIGAN), 0, 0, 0) in legal_set(g)
    before = g.row.copy()
    with pytest.raises(ActionOutOfRangeError, match="4 integers") as e:
        g.apply(bad)
    assert e.value.action is None
    assert np.array_equal(g.row, before)
    with pytest.raises(ActionOutOfRangeError, match="4 integers"):
        check_range(bad)


def test_the_typed_errors_keep_the_tuple_as_plain_ints():
    """An action error built from numpy integers (a row of a legal-tuple array) keeps and prints
    the tuple as plain ints, so ``.action`` compares equal to the Python tuple and the message
    reads the same whatever the caller's array type."""
    from verification.errors import ActionOutOfRangeError, IllegalActionError
    for cls in (IllegalActionError, ActionOutOfRangeError):
        err = cls(np.array([5, 2, 1, 0], dtype=np.int8), "some reason")
        assert err.action == (5, 2, 1, 0) and all(type(x) is int for x in err.action)
        assert str(err) == "action (5, 2, 1, 0): some reason" and err.reason == "some reason"
        assert isinstance(err, ValueError)


# ----------------------------------------------------------------------------- affordances
def _entity_flags(rows, num_entities=NUM_ENTITIES):
    from policy.affordances import AFFORD_NAMES, affordances
    legal = torch.tensor([rows], dtype=torch.int8)
    ent, _ = affordances(legal, torch.tensor([len(rows)]), num_entities)
    return {(int(e), AFFORD_NAMES[int(f)]) for e, f in ent[0].nonzero().tolist()}


def test_affordance_names_say_which_primary_and_head_each_flag_comes_from():
    """``AFFORD_NAMES`` labels each entity feature by the primary and the head (sub1/sub2) the
    entity filled in a legal tuple: a spell's card in hand under sub1 and its target under sub2,
    an attacker and its target, a leader ability's and a pending choice's target under sub2."""
    rows = [(int(Primary.PLAY_SPELL), ent_hand(1), ent_enemy_board(2), 0),
            (int(Primary.ATTACK), ent_board(3), ENEMY_LEADER, 0),
            (int(Primary.LEADER_ABILITY), 0, ent_board(5), 1),
            (int(Primary.MOVE), ent_board(4), 7, 0),
            (int(Primary.CHOOSE_TARGET), 0, ent_enemy_board(9), 0)]
    assert _entity_flags(rows) == {(ent_hand(1), "play_spell.sub1"), (ent_enemy_board(2), "play_spell.sub2"),
                                   (ent_board(3), "attack.sub1"), (ENEMY_LEADER, "attack.sub2"),
                                   (ent_board(5), "leader_ability.sub2"), (ent_board(4), "move.sub1"),
                                   (ent_enemy_board(9), "choose_target.sub2")}


def test_a_narrower_entity_axis_is_the_prefix_of_the_full_one():
    """``num_entities`` sizes the entity axis; a narrower axis should be the full view's first
    entities (test_affordances checks this only for lists that never point past the axis). A
    spell in hand position 3 (entity 25) must not flag entity 23 (hand position 1) when the axis
    stops at 24."""
    rows = [(int(Primary.PLAY_SPELL), ent_hand(3), ent_enemy_board(2), 0)]
    full = _entity_flags(rows)
    assert _entity_flags(rows, num_entities=24) == {(e, name) for e, name in full if e < 24}


def test_an_empty_enemy_slot_with_leftover_guard_bits_does_not_force_attacks():
    """Only a unit holds a keyword: an empty enemy garden slot whose keyword word still has the
    GUARD bit (a hand-built row; the state-row checks refuse it from bytes or ``load_state``) does not
    make the enemy leader or other units unattackable, for the explainer as for the enumerator."""
    from tcg_env.state import state_rows_problem
    from verification.layout import B_KW
    from verification.rules import sbase
    st = (Scenario().main_phase(active=0).unit(0, 0, "Siege Golem").unit(1, 2, "Scrapyard Mutt").build())
    st.row[sbase(1, 0) + B_KW] = int(Keyword.GUARD)
    assert "player 1 board slot 0 is empty but its keyword bits" in state_rows_problem(st.row, st.pool)
    _agrees(st)
    assert st.explain(attack(0)) is None and st.explain(attack(0, 2)) is None
