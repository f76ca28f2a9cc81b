"""Turn-structure scenarios: mulligan, IKZ payment and the IKZ token, drawing (overdraw
burn, fatigue), end of turn, the turn cap, and how the game ends."""
from collections import Counter

import numpy as np
import pytest

from tcg_env.state import GameState
from verification.errors import ActionOutOfRangeError
from verification.layout import (MAX_STAT, B_MOVED, B_READY, B_SICK, B_USED, DECISION_CAP, DECK_SIZE, G_ATK_SRC,
                                 G_ATK_TGT, G_DECISIONS, G_FIRST, G_MULL_PLAYER, P0, P_DECK_N, P_DECKLIST, P_FATIGUE,
                                 P_HAND_N, P_IKZ_N, P_IKZ_TAPPED, P_LEADER_USED, P_MULLIGANED, P_TOKEN, PH_BLOCK,
                                 PH_MAIN, PH_MULLIGAN, PH_OVER, PLAYER_WORDS, TURN_CAP)
from verification.spec import MULLIGAN_HAND, Primary

from scenario import (ENEMY_LEADER, MY_LEADER, Scenario, activate, assert_illegal, assert_legal, attack,
                      choose_target, deck_names, discard_names, end_turn, ent_enemy_board, hand_names, hp,
                      leader_ability, legal_set, mulligan, no_block, play_spell, play_unit, pword, uword)


def decklist(st, p):
    b = P0 + p * PLAYER_WORDS + P_DECKLIST
    return Counter(st.pool[int(c)].name for c in st.row[b:b + DECK_SIZE])


# ----------------------------------------------------------------------------- mulligan
@pytest.mark.parametrize("seed", [0, 3])      # seed 0: player 0 goes first; seed 3: player 1
def test_mulligan_first_player_then_second_and_replaced_cards_are_redrawn(seed):
    st = GameState.new(seed=seed)
    first = int(st.row[G_FIRST])
    second = 1 - first
    assert (seed, first) in ((0, 0), (3, 1))
    assert st.phase == PH_MULLIGAN and st.current_player == first
    for p in (0, 1):
        assert pword(st, p, P_HAND_N) == MULLIGAN_HAND
        assert pword(st, p, P_DECK_N) == DECK_SIZE - MULLIGAN_HAND
    assert legal_set(st) == {mulligan(m) for m in range(1 << MULLIGAN_HAND)}
    assert_illegal(st, end_turn(), "END_TURN is not allowed in the mulligan phase")

    hand0 = hand_names(st, first)
    deck0 = Counter(deck_names(st, first))
    st.apply(mulligan(0b00011))                             # replace positions 0 and 1
    hand1 = hand_names(st, first)
    assert len(hand1) == MULLIGAN_HAND
    assert hand1[:3] == hand0[2:]                           # kept cards stay, in order
    redrawn = Counter(hand1[3:])
    replaced = Counter(hand0[:2])
    assert Counter(deck_names(st, first)) == deck0 + replaced - redrawn
    assert Counter(hand1) + Counter(deck_names(st, first)) == decklist(st, first)
    assert pword(st, first, P_MULLIGANED) == 1 and pword(st, second, P_MULLIGANED) == 0

    assert st.phase == PH_MULLIGAN and st.current_player == second
    st.apply(mulligan(0b11111))                             # replace the whole hand
    assert len(hand_names(st, second)) == MULLIGAN_HAND
    assert pword(st, second, P_DECK_N) == DECK_SIZE - MULLIGAN_HAND
    assert Counter(hand_names(st, second)) + Counter(deck_names(st, second)) == decklist(st, second)
    assert st.row[G_MULL_PLAYER] == -1

    assert st.phase == PH_MAIN and st.current_player == first and st.turn == 1
    assert len(hand_names(st, first)) == MULLIGAN_HAND      # the first turn has no draw
    assert pword(st, first, P_IKZ_N) == 1 and pword(st, first, P_IKZ_TAPPED) == 0
    assert_illegal(st, mulligan(0), "MULLIGAN is not allowed in the main phase")


def test_keeping_the_hand_changes_nothing_but_the_turn_order():
    st = GameState.new(seed=5)
    first = int(st.row[G_FIRST])
    hand = hand_names(st, first)
    deck = deck_names(st, first)
    st.apply(mulligan(0))
    assert hand_names(st, first) == hand and deck_names(st, first) == deck
    assert st.current_player == 1 - first


# ----------------------------------------------------------------------------- IKZ token
def test_only_the_second_player_gets_the_token():
    for seed in (0, 3):
        st = GameState.new(seed=seed)
        first = int(st.row[G_FIRST])
        assert pword(st, first, P_TOKEN) == 0
        assert pword(st, 1 - first, P_TOKEN) == 1


def test_token_pays_one_and_is_consumed():
    st = (Scenario().main_phase(active=1, turn=2)
          .token(1)
          .hand(1, ["Ember Drake", "Gate Shieldbearer"]).ikz(1, n=2)
          .build())
    assert_illegal(st, play_unit(0, slot=0), "not enough untapped IKZ to pay 3")
    assert_legal(st, play_unit(0, slot=0, token=True))
    st.apply(play_unit(0, slot=0, token=True))
    st.apply(choose_target(ENEMY_LEADER))
    assert pword(st, 1, P_TOKEN) == 0
    assert pword(st, 1, P_IKZ_TAPPED) == 2
    assert hp(st, 0) == 19
    st = Scenario().main_phase(active=1, turn=2).hand(1, ["Gate Shieldbearer"]).ikz(1, n=2).build()
    assert_illegal(st, play_unit(0, slot=1, token=True), "you have no IKZ token to spend")


def test_token_pays_one_of_an_ability_cost():
    # ACTIVATE and LEADER_ABILITY pay like the card primaries: the token covers 1, IKZ the rest.
    for action in (activate(0, ENEMY_LEADER, token=True), leader_ability(ENEMY_LEADER, token=True)):
        st = (Scenario().main_phase(active=1, turn=2)
              .token(1).ikz(1, n=1)
              .leader(1, "Grask, Ember Warlord")                 # ability (2): 1 damage to ENEMY_ANY
              .unit(1, 0, "Smoke Fencer")                        # activated (2): 1 damage to ENEMY_ANY
              .build())
        assert_illegal(st, action[:3] + (0,), "not enough untapped IKZ to pay 2")
        st.apply(action)
        assert hp(st, 0) == 19
        assert pword(st, 1, P_TOKEN) == 0
        assert pword(st, 1, P_IKZ_TAPPED) == 1


def test_token_cannot_pay_a_zero_cost():
    st = (Scenario().main_phase(active=1, turn=2)
          .token(1)
          .hand(1, ["Sprout"])
          .build())
    assert_legal(st, play_unit(0, slot=0))
    assert_illegal(st, play_unit(0, slot=0, token=True), "the IKZ token cannot be spent on a cost of 0")


def test_token_may_be_spent_even_when_ikz_would_do():
    st = (Scenario().main_phase(active=1, turn=2)
          .token(1)
          .hand(1, ["Quick Study"]).ikz(1, n=1)
          .build())
    st.apply(play_spell(0, token=True))
    assert pword(st, 1, P_IKZ_TAPPED) == 0 and pword(st, 1, P_TOKEN) == 0


def test_token_cannot_cover_more_than_one():
    st = (Scenario().main_phase(active=1, turn=2)
          .token(1)
          .hand(1, ["Unmake"]).ikz(1, n=2)
          .unit(0, 0, "Siege Golem")
          .build())
    assert_illegal(st, play_spell(0, ent_enemy_board(0), token=True),
                   "not enough untapped IKZ to pay 4 even with the IKZ token")


# ----------------------------------------------------------------------------- IKZ payment
def test_paying_taps_ikz():
    st = Scenario().main_phase(active=0).hand(0, ["Ember Drake"]).ikz(0, n=5, tapped=1).build()
    st.apply(play_unit(0, slot=3))
    assert pword(st, 0, P_IKZ_TAPPED) == 4 and pword(st, 0, P_IKZ_N) == 5


def test_insufficient_ikz_is_illegal():
    st = Scenario().main_phase(active=0).hand(0, ["Siege Golem", "Firebolt"]).ikz(0, n=5, tapped=1).build()
    assert {t for t in legal_set(st) if t[0] == Primary.PLAY_UNIT} == set()
    assert_illegal(st, play_unit(0, slot=0), "not enough untapped IKZ to pay 5")
    assert_legal(st, play_spell(1, ENEMY_LEADER))


# ----------------------------------------------------------------------------- drawing
def test_overdraw_burns_the_card():
    st = (Scenario().main_phase(active=0)
          .hand(1, ["Scrapyard Mutt"] * 10)
          .deck(1, ["Firebolt", "Unmake"])
          .build())
    st.apply(end_turn())
    assert st.current_player == 1
    assert hand_names(st, 1) == ["Scrapyard Mutt"] * 10
    assert discard_names(st, 1) == ["Firebolt"]
    assert deck_names(st, 1) == ["Unmake"]


def test_a_draw_into_a_hand_of_nine_fills_the_tenth_position():
    st = (Scenario().main_phase(active=0)
          .hand(1, ["Scrapyard Mutt"] * 9)
          .deck(1, ["Firebolt", "Unmake"])
          .build())
    st.apply(end_turn())
    assert hand_names(st, 1) == ["Scrapyard Mutt"] * 9 + ["Firebolt"]
    assert discard_names(st, 1) == []
    assert deck_names(st, 1) == ["Unmake"]


def test_overdraw_from_an_effect_burns_the_card():
    st = (Scenario().main_phase(active=0)
          .leader(0, "Oriel, Keeper of Pages").ikz(0, n=3)
          .hand(0, ["Scrapyard Mutt"] * 10)
          .deck(0, ["Firebolt"])
          .build())
    st.apply(leader_ability())
    assert pword(st, 0, P_HAND_N) == 10 and discard_names(st, 0) == ["Firebolt"]


def test_fatigue_from_an_empty_deck_deals_1_then_2():
    st = Scenario().main_phase(active=0).deck(1, []).build()
    st.apply(end_turn())
    assert hp(st, 1) == 19 and pword(st, 1, P_FATIGUE) == 1
    st.apply(end_turn())
    st.apply(end_turn())
    assert hp(st, 1) == 19 - 2 and pword(st, 1, P_FATIGUE) == 2
    assert hp(st, 0) == 20


def test_fatigue_within_one_effect_escalates():
    st = Scenario().main_phase(active=0).hand(0, ["Secret Ledger"]).ikz(0, n=3).deck(0, []).build()
    st.apply(play_spell(0))
    assert hp(st, 0) == 20 - 1 - 2 and pword(st, 0, P_FATIGUE) == 2


def test_the_fatigue_counter_stops_at_the_stat_cap():
    """The counter is held at MAX_STAT (99) like every stat the observation carries: a position
    at 98 draws twice (Secret Ledger; an effect goes on drawing after the leader falls) and
    stays at 99, without writing a 100 the row checks would refuse. (A real game never gets near:
    leaders start at 20-40 health. The scenario's zones do not conserve the decklist, so only
    the row checks are asked, not check_invariants.)"""
    from tcg_env.state import state_rows_problem
    st = (Scenario().main_phase(active=0).leader(0, hp=99, max_hp=99).fatigue(0, 98)
          .hand(0, ["Secret Ledger"]).ikz(0, n=3).deck(0, []).build())
    assert state_rows_problem(st.row, st.pool) is None
    st.apply(play_spell(0))
    assert pword(st, 0, P_FATIGUE) == MAX_STAT and hp(st, 0) == 0 and st.done
    assert state_rows_problem(st.row, st.pool) is None   # before the cap: "player 0 fatigue ... is 100"


# ----------------------------------------------------------------------------- end of turn
def test_end_turn_readies_the_next_player_and_untaps_ikz():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem", ready=False)
          .unit(1, 0, "Cogwork Scout", ready=False, sick=True, moved=True, used=True)
          .unit(1, 7, "Shadow Lookout", ready=False)
          .ikz(1, n=3, tapped=3)
          .leader(1, used=True)
          .hand(1, ["Siege Golem"])
          .deck(1, ["Firebolt"])
          .build())
    turn = st.turn
    st.apply(end_turn())
    assert st.current_player == 1 and st.turn == turn + 1 and st.phase == PH_MAIN
    for slot in (0, 7):
        assert uword(st, 1, slot, B_READY) == 1 and uword(st, 1, slot, B_SICK) == 0
    assert uword(st, 1, 0, B_MOVED) == 0 and uword(st, 1, 0, B_USED) == 0
    assert pword(st, 1, P_IKZ_N) == 4 and pword(st, 1, P_IKZ_TAPPED) == 0   # untapped, plus one new
    assert pword(st, 1, P_LEADER_USED) == 0
    assert hand_names(st, 1) == ["Siege Golem", "Firebolt"]
    assert uword(st, 0, 0, B_READY) == 0                   # the player who ended stays exhausted


def test_first_player_skips_the_first_draw_and_the_second_draws():
    st = GameState.new(seed=0)
    st.apply(mulligan(0)).apply(mulligan(0))
    first = int(st.row[G_FIRST])
    second = 1 - first
    assert pword(st, first, P_HAND_N) == 5 and pword(st, first, P_DECK_N) == 25
    st.apply(end_turn())
    assert st.turn == 2 and st.current_player == second
    assert pword(st, second, P_HAND_N) == 6 and pword(st, second, P_DECK_N) == 24
    assert pword(st, second, P_IKZ_N) == 1
    st.apply(end_turn())
    assert st.turn == 3 and pword(st, first, P_HAND_N) == 6 and pword(st, first, P_IKZ_N) == 2


def test_turn_cap_truncates():
    st = Scenario().main_phase(active=0, turn=TURN_CAP - 1).build()
    st.apply(end_turn())
    assert st.turn == TURN_CAP and not st.done
    st.apply(end_turn())
    assert st.done and st.truncated and not st.terminated
    assert st.winner is None
    assert st.phase == PH_OVER and st.current_player == -1
    assert len(st.legal_tuples()) == 0
    assert_illegal(st, end_turn(), "the game is over; no action is legal")


def test_the_decision_cap_truncates_in_any_phase_and_drops_a_pending_attack():
    """The game's DECISION_CAP-th decision ends it truncated whatever it left pending: an attack
    that would open the defender's response window is dropped unresolved (a game over holds no
    pending attack), while one decision earlier the same attack opens the window as usual and the
    cap falls on the answer, after the combat."""
    def window():
        return (Scenario().main_phase(active=0).unit(0, 0, "Siege Golem")
                .unit(1, 2, "Scrapyard Mutt").build())   # a ready garden unit that can block
    st = window()
    st.row[G_DECISIONS] = DECISION_CAP - 2
    st.apply(attack(0))
    assert st.phase == PH_BLOCK and not st.done and st.decisions == DECISION_CAP - 1
    st.apply(no_block())
    assert st.done and st.truncated and st.winner is None and hp(st, 1) < 20   # the combat resolved first
    st = window()
    st.row[G_DECISIONS] = DECISION_CAP - 1
    st.apply(attack(0))
    assert st.done and st.truncated and not st.terminated and st.winner is None
    assert st.phase == PH_OVER and st.decisions == DECISION_CAP and hp(st, 1) == 20
    assert (int(st.row[G_ATK_SRC]), int(st.row[G_ATK_TGT])) == (-1, -1)
    assert len(st.legal_tuples()) == 0


def _chain_pool(length: int, copies: int):
    """A loop-free chain of 1/1 CHARGE tokens T1 -> ... -> Tk, each summoning ``copies`` of the
    next when it dies, and a deck of 0-cost spells that summon T1: the loader accepts it (no
    token brings itself back), and each trade on the board brings fresh attackers."""
    from prefabs import CardPool, Deck
    from prefabs.loader import parse_cards
    raw = [{"name": "Chain Leader", "type": "LEADER", "subtype": "WARLORD", "health": 40,
            "ability": {"effect": "DRAW", "amount": 1, "cost": 10}},
           {"name": "Plain", "type": "IKZ"}]
    for i in range(1, length + 1):
        raw.append({"name": f"T{i}", "type": "UNIT", "subtype": "DRAGON", "attack": 1, "health": 1, "token": True,
                    "keywords": ["CHARGE"],
                    **({"on_death": {"effect": "SUMMON", "token": f"T{i + 1}", "amount": copies}} if i < length else {})})
    raw += [{"name": f"Call {i}", "type": "SPELL", "subtype": "RITE", "cost": 0,
             "effect": {"effect": "SUMMON", "token": "T1", "amount": 1}} for i in range(10)]
    pool = CardPool(parse_cards(raw))
    deck = Deck(name="Chain", plan="", leader="Chain Leader", main=tuple(f"Call {i % 10}" for i in range(30)),
                ikz=("Plain",) * 10)
    return pool, deck


def test_a_custom_pool_whose_turns_run_long_still_ends_at_the_decision_cap():
    """A custom pool can make one turn enormous without a summon loop (found by a fuzz of
    custom pools: 40 chained CHARGE tokens gave the heuristic bot 187,251 decisions in one
    turn). The decision cap ends such a game truncated at exactly DECISION_CAP decisions, in a
    row that passes every check, through GameState, VecTCG (which starts the next game) and the
    search bot's rollouts to the end (horizon 0), which never returned before."""
    from tcg_env import VecTCG
    from tcg_env.bots import HeuristicBot
    from tcg_env.bots.search import SearchBot
    from tcg_env.state import state_rows_problem
    pool, deck = _chain_pool(40, 2)
    st, bot = GameState.new(deck, deck, seed=0, pool=pool), HeuristicBot(0)
    while not st.done:
        st.apply(bot.act(st))
    assert st.decisions == DECISION_CAP and st.truncated and st.winner is None and st.turn <= 3
    assert state_rows_problem(st.row, pool) is None
    env = VecTCG(2, seed=0, decks=(deck, deck), pool=pool)
    truncated = np.zeros(2, bool)
    for _ in range(DECISION_CAP):
        _, _, term, trunc, _ = env.step(bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count))
        assert not term.any()
        truncated |= trunc
    assert truncated.all() and (env.state[:, G_DECISIONS] < DECISION_CAP).all()   # the next games began
    st = GameState.new(deck, deck, seed=0, pool=pool)
    for t in ((1, 0, 0, 0), (1, 0, 0, 0), (3, 22, 0, 0), (0, 0, 0, 0), (3, 22, 0, 0)):   # keep, keep, Call, end, Call
        st.apply(t)
    assert tuple(SearchBot(0, simulations=2, horizon=0).act(st)) in {tuple(t) for t in st.legal_tuples().tolist()}


# ----------------------------------------------------------------------------- the end of the game
@pytest.mark.parametrize("winner", [0, 1])
def test_a_leader_at_zero_loses(winner):
    loser = 1 - winner
    st = (Scenario().main_phase(active=winner, turn=3 + winner)
          .leader(loser, hp=3)
          .hand(winner, ["Firebolt"]).ikz(winner, n=2)
          .build())
    st.apply(play_spell(0, ENEMY_LEADER))
    assert hp(st, loser) == 0
    assert st.done and st.terminated and not st.truncated
    assert st.winner == winner
    assert st.phase == PH_OVER and st.current_player == -1
    assert len(st.legal_tuples()) == 0
    assert_illegal(st, end_turn(), "the game is over")


def test_health_does_not_go_below_zero():
    st = Scenario().main_phase(active=0).leader(1, hp=1).unit(0, 0, "Siege Golem").build()
    st.apply(attack(0))
    assert hp(st, 1) == 0 and st.winner == 0


def test_fatigue_can_kill_at_the_start_of_a_turn():
    st = Scenario().main_phase(active=0).leader(1, hp=1).deck(1, []).build()
    st.apply(end_turn())
    assert st.terminated and st.winner == 0


def test_both_leaders_dying_together_is_a_draw():
    st = (Scenario().main_phase(active=0)
          .leader(0, hp=1).leader(1, hp=1)
          .deck(1, [])                                       # player 1 takes 1 fatigue on the draw ...
          .ikz_deck(1, ["Cinder IKZ"])                       # ... and its arriving IKZ burns player 0 for 1
          .build())
    st.apply(end_turn())
    assert hp(st, 0) == 0 and hp(st, 1) == 0
    assert st.terminated and st.winner == 2
    assert st.phase == PH_OVER


def test_a_game_won_by_an_on_attack_trigger_ends_before_the_response_window():
    st = (Scenario().main_phase(active=0)
          .leader(1, hp=1)
          .unit(0, 0, "Alley Cutpurse")                      # on attack: 1 damage to the enemy leader
          .unit(1, 0, "Scrapyard Mutt")                      # a ready blocker
          .build())
    st.apply(attack(0))
    assert hp(st, 1) == 0
    assert st.terminated and st.winner == 0
    assert st.phase == PH_OVER and st.current_player == -1
    assert len(st.legal_tuples()) == 0


def test_a_leader_at_zero_has_lost_even_if_healed_later_in_the_same_step():
    # RULES §11: a leader that reaches 0 has fallen, and a fallen leader is not healed: the
    # Verdant IKZ arriving after the fatigue draw leaves it at 0 (the result, not just the winner)
    st = (Scenario().main_phase(active=0)
          .leader(1, hp=1)
          .deck(1, [])                                       # fatigue 1 takes player 1 to 0 ...
          .ikz_deck(1, ["Verdant IKZ"])                      # ... then its IKZ arrival would heal 1
          .build())
    st.apply(end_turn())
    assert pword(st, 1, P_IKZ_N) == 1                        # the Verdant IKZ did arrive
    assert hp(st, 1) == 0
    assert st.terminated and st.winner == 0
    assert st.phase == PH_OVER and st.current_player == -1 and len(st.legal_tuples()) == 0


# ----------------------------------------------------------------------------- malformed tuples
def test_out_of_range_and_unused_slots():
    st = Scenario().main_phase(active=0).build()
    before = st.row.copy()
    with pytest.raises(ActionOutOfRangeError, match="primary=13 is out of range"):
        st.apply((13, 0, 0, 0))
    with pytest.raises(ActionOutOfRangeError):
        st.apply((0, 0, 0))
    assert np.array_equal(st.row, before)
    assert_illegal(st, (int(Primary.END_TURN), 1, 0, 0), "sub1 is unused by END_TURN and must be 0")
    assert_illegal(st, (int(Primary.PLAY_UNIT), MY_LEADER, 0, 0), "is not a card in your hand")
