"""Trigger scenarios: on-play (chosen target, fizzle, MODE), on-death, on-attack,
activated abilities and leader abilities."""
import pytest

from prefabs import Keyword
from verification.layout import (B_ATK, B_READY, B_SICK, B_USED, G_PEND_CARD, P_IKZ_N, P_IKZ_TAPPED,
                                 P_LEADER_USED, PH_BLOCK, PH_CHOOSE_MODE, PH_CHOOSE_TARGET, PH_MAIN)
from verification.spec import Primary

from scenario import (ENEMY_LEADER, MY_LEADER, Scenario, activate, assert_illegal, assert_legal, attack, block,
                      board_names, choose_mode, choose_target, deck_names, discard_names, end_turn, ent_board,
                      ent_enemy_board, hand_names, hp, leader_ability, legal_set, no_block, play_spell, play_unit,
                      pword, unit_hp, unit_kw, unit_name, uword)


# ----------------------------------------------------------------------------- on-play with a chosen target
def test_on_play_chosen_target_waits_for_the_choice_then_resolves():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Cinder Hatchling"]).ikz(0, n=2)          # on play: 1 damage to ENEMY_ANY
          .unit(0, 1, "Scrapyard Mutt")
          .unit(1, 3, "Hedge Sprite")
          .unit(1, 7, "Ember Whelp")
          .build())
    st.apply(play_unit(0, slot=0))
    assert st.phase == PH_CHOOSE_TARGET and st.current_player == 0
    assert st.row[G_PEND_CARD] == st.pool.id_of("Cinder Hatchling")
    assert legal_set(st) == {choose_target(ENEMY_LEADER), choose_target(ent_enemy_board(3)),
                             choose_target(ent_enemy_board(7))}
    assert_illegal(st, choose_target(ent_board(1)), "your garden slot 1 is not a legal target for 'Cinder Hatchling' "
                   "(it needs an enemy unit or leader)")
    assert_illegal(st, choose_target(MY_LEADER), "is not a legal target")
    assert_illegal(st, end_turn(), "END_TURN is not allowed in the choose target phase")
    st.apply(choose_target(ent_enemy_board(7)))
    assert st.phase == PH_MAIN and st.current_player == 0
    assert unit_name(st, 1, 7) is None
    assert hp(st, 1) == 20


def test_on_play_chosen_target_from_the_second_player_view():
    st = (Scenario().main_phase(active=1)
          .hand(1, ["Cinder Hatchling"]).ikz(1, n=2)
          .build())
    st.apply(play_unit(0, slot=2))
    assert st.phase == PH_CHOOSE_TARGET and st.current_player == 1
    st.apply(choose_target(ENEMY_LEADER))          # player 1's enemy is player 0
    assert hp(st, 0) == 19 and hp(st, 1) == 20
    assert st.current_player == 1


def test_on_play_chosen_target_fizzles_without_a_target():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Dusk Assassin"]).ikz(0, n=5)             # on play: DESTROY an ENEMY_UNIT
          .build())
    st.apply(play_unit(0, slot=0))
    assert st.phase == PH_MAIN and st.current_player == 0
    assert unit_name(st, 0, 0) == "Dusk Assassin"
    assert st.row[G_PEND_CARD] == 0
    assert_illegal(st, choose_target(ENEMY_LEADER), "CHOOSE_TARGET is not allowed in the main phase")


def test_on_play_destroy_resolves_on_the_chosen_unit():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Dusk Assassin"]).ikz(0, n=5)
          .unit(1, 0, "Knight-Errant").unit(1, 1, "Scrapyard Mutt")
          .build())
    st.apply(play_unit(0, slot=0))
    assert legal_set(st) == {choose_target(ent_enemy_board(0)), choose_target(ent_enemy_board(1))}
    assert_illegal(st, choose_target(ENEMY_LEADER), "enemy leader is not a legal target for 'Dusk Assassin'")
    st.apply(choose_target(ent_enemy_board(0)))
    assert board_names(st, 1)[:2] == [None, "Scrapyard Mutt"]


# ----------------------------------------------------------------------------- on-play MODE
def test_mode_unit_waits_for_the_mode():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Wisp Lantern"]).ikz(0, n=2)
          .build())
    st.apply(play_unit(0, slot=0))
    assert st.phase == PH_CHOOSE_MODE and st.current_player == 0
    assert legal_set(st) == {choose_mode(0), choose_mode(1)}
    assert_illegal(st, choose_mode(2), "mode 2 does not exist (the card has 2 modes)")
    assert_illegal(st, attack(0), "ATTACK is not allowed in the choose mode phase")


@pytest.mark.parametrize("mode", [0, 1])
def test_mode_unit_each_mode_resolves(mode):
    st = (Scenario().main_phase(active=0)
          .leader(0, hp=10)
          .hand(0, ["Wisp Lantern"]).ikz(0, n=2)
          .deck(0, ["Siege Golem", "Firebolt"])
          .build())
    st.apply(play_unit(0, slot=0))
    st.apply(choose_mode(mode))
    assert st.phase == PH_MAIN
    if mode == 0:    # draw 1
        assert hand_names(st, 0) == ["Siege Golem"] and hp(st, 0) == 10
    else:            # heal own leader 3
        assert hand_names(st, 0) == [] and hp(st, 0) == 13
    assert unit_name(st, 0, 0) == "Wisp Lantern"


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_mode_spell_each_mode_resolves(mode):
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Crossroads Charm"]).ikz(0, n=3)
          .unit(0, 0, "Scrapyard Mutt")                    # 2/1
          .unit(1, 0, "Rivet Sentry").unit(1, 6, "Hedge Sprite")
          .build())
    st.apply(play_spell(0))
    assert st.phase == PH_CHOOSE_MODE
    assert legal_set(st) == {choose_mode(0), choose_mode(1), choose_mode(2)}
    st.apply(choose_mode(mode))
    assert st.phase == PH_MAIN
    if mode == 0:    # 1 damage to all enemy units
        assert unit_hp(st, 1, 0) == 1
        assert unit_name(st, 1, 6) is None                    # Hedge Sprite died ...
        assert board_names(st, 1)[1] == "Sprout"              # ... and its Sprout took the first empty slot
        assert unit_hp(st, 0, 0) == 1
    elif mode == 1:  # +1/+1 to all friendly units
        assert uword(st, 0, 0, B_ATK) == 3 and unit_hp(st, 0, 0) == 2
        assert unit_hp(st, 1, 0) == 2
    else:            # summon 2 Sprouts
        assert board_names(st, 0)[:3] == ["Scrapyard Mutt", "Sprout", "Sprout"]


def test_mode_damage_to_enemy_leader():
    st = Scenario().main_phase(active=0).hand(0, ["Ashen Wyvern"]).ikz(0, n=5).build()
    st.apply(play_unit(0, slot=4))
    st.apply(choose_mode(0))
    assert hp(st, 1) == 17


# ----------------------------------------------------------------------------- on-death
def test_on_death_heals_the_owner_leader():
    st = (Scenario().main_phase(active=0)
          .leader(1, hp=10)
          .hand(0, ["Unmake"]).ikz(0, n=4)
          .unit(1, 2, "Gravebloom Spirit")                 # on death: heal own leader 3
          .build())
    st.apply(play_spell(0, target=ent_enemy_board(2)))
    assert unit_name(st, 1, 2) is None
    assert hp(st, 1) == 13 and hp(st, 0) == 20


def test_on_death_summon_takes_the_first_empty_garden_slot():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem")
          .unit(1, 2, "Hedge Sprite", ready=False)          # on death: summon a Sprout
          .unit(1, 5, "Scrapyard Mutt")
          .build())
    st.apply(attack(0, 2))
    assert board_names(st, 1)[:3] == ["Sprout", None, None]
    assert unit_hp(st, 0, 0) == 6 - 1


def test_on_death_random_enemy_damage():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Powder Keg Golem")                  # 2/1, on death: 2 damage to a random enemy unit
          .unit(1, 0, "Siege Golem", ready=False)          # the only enemy unit
          .build())
    st.apply(attack(0, 0))
    assert unit_name(st, 0, 0) is None
    assert unit_hp(st, 1, 0) == 6 - 2 - 2


@pytest.mark.parametrize("me,turn", [(0, 3), (1, 4)])
def test_deaths_are_processed_active_player_first(me, turn):
    # Both units die in the same exchange. The active player's Powder Keg is removed first: its
    # random 2 damage can only hit the enemy Hedge Sprite (still in its slot at 0 health), and the
    # Sprout that Hedge Sprite summons afterwards survives. Processing the other order would let
    # the Keg's damage kill the freshly summoned Sprout. With player 1 active too: a scan that
    # always starts with player 0 gives the same order only when player 0 is active.
    st = (Scenario().main_phase(active=me, turn=turn)
          .unit(me, 0, "Powder Keg Golem")                 # 2/1, on death: 2 damage to a random enemy unit
          .unit(1 - me, 0, "Hedge Sprite", ready=False)    # 1/1, on death: summon a Sprout
          .build())
    st.apply(attack(0, 0))
    assert unit_name(st, me, 0) is None
    assert board_names(st, 1 - me)[0] == "Sprout"
    assert unit_hp(st, 1 - me, 0) == 1


def test_deaths_repeat_until_no_unit_is_at_zero():
    # Cinder Storm kills the enemy Powder Keg; its on-death damage then drops the active player's
    # Mutt (a slot the first pass already scanned) to 0, so a second pass must remove it.
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Cinder Storm"]).ikz(0, n=4)           # 2 damage to all enemy units
          .unit(0, 0, "Scrapyard Mutt")                    # 2/1, the only unit the Keg can hit
          .unit(1, 0, "Powder Keg Golem")                  # 2/1, on death: 2 damage to a random enemy unit
          .build())
    st.apply(play_spell(0))
    assert unit_name(st, 1, 0) is None and unit_name(st, 0, 0) is None
    assert discard_names(st, 0) == ["Cinder Storm", "Scrapyard Mutt"]
    assert discard_names(st, 1) == ["Powder Keg Golem"]


def test_on_death_gain_ikz():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Spark Jolt"]).ikz(0, n=1)
          .ikz(1, n=2, tapped=2)
          .unit(1, 0, "Leyline Acolyte")                   # 1/2, on death: gain 1 IKZ
          .build())
    st.apply(play_spell(0, target=ent_enemy_board(0)))
    assert pword(st, 1, P_IKZ_N) == 3 and pword(st, 1, P_IKZ_TAPPED) == 2
    assert pword(st, 0, P_IKZ_N) == 1


def test_on_death_gain_ikz_resolves_the_arrival_effect_for_the_owner():
    # Player 1's Acolyte dies on player 0's turn: the Cinder IKZ arrives in player 1's area and
    # its arrival effect is player 1's, so it burns player 0's leader.
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Spark Jolt"]).ikz(0, n=1)
          .unit(1, 0, "Leyline Acolyte")                   # 1/2, on death: gain 1 IKZ
          .ikz_deck(1, ["Cinder IKZ"])                     # arrival: 1 damage to the enemy leader
          .build())
    st.apply(play_spell(0, target=ent_enemy_board(0)))
    assert pword(st, 1, P_IKZ_N) == 1
    assert hp(st, 0) == 19 and hp(st, 1) == 20


# ----------------------------------------------------------------------------- on-attack
def test_on_attack_damage_then_combat():
    st = Scenario().main_phase(active=0).unit(0, 0, "Alley Cutpurse").build()
    st.apply(attack(0))
    assert hp(st, 1) == 20 - 1 - 1


def test_on_attack_self_buff_applies_before_combat():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Rageborn Boar")                     # 2/3, on attack: +1 attack to itself
          .unit(1, 0, "Iron Bulwark", ready=False)         # 2/6
          .build())
    st.apply(attack(0, 0))
    assert uword(st, 0, 0, B_ATK) == 3
    assert unit_hp(st, 1, 0) == 6 - 3
    assert unit_hp(st, 0, 0) == 3 - 2


def test_on_attack_trigger_resolves_before_the_response_window():
    st = (Scenario().main_phase(active=0)
          .leader(0, hp=10)
          .unit(0, 0, "Oathsworn Crusader")                # on attack: heal own leader 2
          .unit(1, 1, "Scrapyard Mutt")                    # a ready blocker
          .build())
    st.apply(attack(0))
    assert st.phase == PH_BLOCK
    assert hp(st, 0) == 12


def test_attack_ends_when_its_target_dies_to_the_on_attack_trigger():
    st = (Scenario().main_phase(active=0)
          .unit(0, 5, "Rooftop Sniper")                    # RANGED, on attack: 1 damage to a random enemy unit
          .unit(1, 0, "Hedge Sprite")                      # the only enemy unit (and a ready blocker)
          .build())
    st.apply(attack(5, 0))
    assert st.phase == PH_MAIN and st.current_player == 0    # no response window, no combat
    assert board_names(st, 1)[0] == "Sprout"                 # the Sprout is not attacked in its place
    assert unit_hp(st, 1, 0) == 1
    assert hp(st, 1) == 20
    assert_illegal(st, attack(5, 0), "that unit is exhausted")


def test_attack_ends_when_the_attacker_dies_during_its_on_attack_trigger():
    # The Sniper's trigger kills one Powder Keg (whichever it hits); that Keg's on-death damage can
    # only hit the Sniper, which dies before the response window. The attack is cancelled: no
    # window for the other, ready Keg, and no damage to the leader.
    st = (Scenario().main_phase(active=0)
          .unit(0, 5, "Rooftop Sniper")                    # 2/2 RANGED, on attack: 1 damage to a random enemy unit
          .unit(1, 0, "Powder Keg Golem")                  # 2/1, on death: 2 damage to a random enemy unit
          .unit(1, 1, "Powder Keg Golem")                  # a ready blocker
          .build())
    st.apply(attack(5))
    assert unit_name(st, 0, 5) is None and discard_names(st, 0) == ["Rooftop Sniper"]
    assert board_names(st, 1)[:2].count("Powder Keg Golem") == 1
    assert st.phase == PH_MAIN and st.current_player == 0    # no response window, no combat
    assert hp(st, 1) == 20


def test_a_token_summoned_during_the_attack_can_block():
    st = (Scenario().main_phase(active=0)
          .unit(0, 5, "Rooftop Sniper")                    # on attack: 1 damage to a random enemy unit
          .unit(1, 1, "Hedge Sprite", ready=False)         # exhausted, so no blocker before the trigger
          .build())
    st.apply(attack(5))
    assert board_names(st, 1)[0] == "Sprout"               # the Sprite died and left a ready Sprout
    assert st.phase == PH_BLOCK and st.current_player == 1
    assert legal_set(st) == {block(0), no_block()}
    st.apply(block(0))
    assert unit_name(st, 1, 0) is None and hp(st, 1) == 20
    assert unit_hp(st, 0, 5) == 2                          # RANGED from the alley: no retaliation


# ----------------------------------------------------------------------------- activated abilities
def test_activated_ability_pays_and_is_once_per_turn():
    st = (Scenario().main_phase(active=0)
          .ikz(0, n=3)
          .unit(0, 0, "Cogwork Scout", sick=True, ready=False)   # activated (1): GRANT GUARD to SELF
          .build())
    assert_illegal(st, activate(0, target=ENEMY_LEADER), "takes no chosen target, so sub2 must be 0")
    st.apply(activate(0))
    assert Keyword.GUARD in unit_kw(st, 0, 0)
    assert uword(st, 0, 0, B_READY) == 0                    # no need to be ready, and ...
    assert uword(st, 0, 0, B_SICK) == 1                     # ... usable the turn it arrived
    assert pword(st, 0, P_IKZ_TAPPED) == 1
    assert uword(st, 0, 0, B_USED) == 1
    assert_illegal(st, activate(0), "'Cogwork Scout' already used its ability this turn")
    st.apply(end_turn())
    st.apply(end_turn())
    assert uword(st, 0, 0, B_USED) == 0
    assert_legal(st, activate(0))


def test_activated_ability_with_chosen_target():
    st = (Scenario().main_phase(active=0)
          .ikz(0, n=2)
          .unit(0, 0, "Smoke Fencer")                      # activated (2): 1 damage to ENEMY_ANY
          .unit(1, 0, "Scrapyard Mutt")
          .build())
    acts = {t for t in legal_set(st) if t[0] == Primary.ACTIVATE}
    assert acts == {activate(0, ENEMY_LEADER), activate(0, ent_enemy_board(0))}
    assert_illegal(st, activate(0, MY_LEADER), "your leader is not a legal target for 'Smoke Fencer' "
                   "(it needs an enemy unit or leader)")
    st.apply(activate(0, ENEMY_LEADER))
    assert hp(st, 1) == 19
    assert pword(st, 0, P_IKZ_TAPPED) == 2


def test_activated_ability_needs_ikz():
    st = Scenario().main_phase(active=0).ikz(0, n=2, tapped=1).unit(0, 0, "Smoke Fencer").build()
    assert_illegal(st, activate(0, ENEMY_LEADER), "not enough untapped IKZ to pay 2")


def test_unit_without_ability_cannot_activate():
    st = Scenario().main_phase(active=0).ikz(0, n=2).unit(0, 0, "Siege Golem").build()
    assert_illegal(st, activate(0), "'Siege Golem' has no activated ability")


# ----------------------------------------------------------------------------- leader abilities
def test_leader_ability_once_per_turn():
    st = (Scenario().main_phase(active=0)
          .leader(0, "Grask, Ember Warlord").ikz(0, n=5)   # (2): 1 damage to ENEMY_ANY
          .build())
    st.apply(leader_ability(ENEMY_LEADER))
    assert hp(st, 1) == 19
    assert pword(st, 0, P_IKZ_TAPPED) == 2 and pword(st, 0, P_LEADER_USED) == 1
    assert_illegal(st, leader_ability(ENEMY_LEADER), "your leader ability was already used this turn")
    st.apply(end_turn())
    st.apply(end_turn())
    assert pword(st, 0, P_LEADER_USED) == 0
    assert_legal(st, leader_ability(ENEMY_LEADER))


def test_leader_ability_without_target_draws():
    st = (Scenario().main_phase(active=0)
          .leader(0, "Oriel, Keeper of Pages").ikz(0, n=3)  # (3): draw 1
          .deck(0, ["Firebolt", "Unmake"])
          .build())
    assert_illegal(st, leader_ability(ENEMY_LEADER), "takes no chosen target, so sub2 must be 0")
    st.apply(leader_ability())
    assert hand_names(st, 0) == ["Firebolt"]
    assert deck_names(st, 0) == ["Unmake"]


def test_leader_ability_buffs_a_friendly_unit():
    st = (Scenario().main_phase(active=0)
          .leader(0, "Torvald Anvilhand").ikz(0, n=1)      # (1): +1 attack to a FRIENDLY_UNIT
          .unit(0, 3, "Scrapyard Mutt")
          .unit(1, 0, "Scrapyard Mutt")
          .build())
    assert {t for t in legal_set(st) if t[0] == Primary.LEADER_ABILITY} == {leader_ability(ent_board(3))}
    assert_illegal(st, leader_ability(ent_enemy_board(0)),
                   "is not a legal target for 'Torvald Anvilhand' (it needs a friendly unit)")
    st.apply(leader_ability(ent_board(3)))
    assert uword(st, 0, 3, B_ATK) == 3 and unit_hp(st, 0, 3) == 1


def test_leader_ability_needs_ikz():
    st = Scenario().main_phase(active=0).leader(0, "Sela of the Thornwall", hp=10).ikz(0, n=1).build()
    assert_illegal(st, leader_ability(), "not enough untapped IKZ to pay 2")
