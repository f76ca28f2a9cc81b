"""Combat scenarios: damage exchange and death, attack restrictions, the defender's
response window (BLOCK / NO_BLOCK), and moving between garden and alley."""
from verification.layout import B_HP, B_MOVED, B_READY, B_SICK, G_ACTIVE, G_ATK_SRC, G_ATK_TGT, PH_BLOCK, PH_MAIN
from verification.spec import Primary

from scenario import (Scenario, assert_illegal, assert_legal, attack, block, board_names, discard_names, end_turn,
                      hp, legal_set, move, no_block, play_unit, unit_hp, unit_name, uword)


# ----------------------------------------------------------------------------- damage exchange
def test_combat_exchanges_damage_and_the_loser_dies():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem")                         # 5/6
          .unit(1, 3, "Rageborn Boar", ready=False)          # 2/3
          .build())
    st.apply(attack(0, 3))
    assert unit_name(st, 1, 3) is None
    assert discard_names(st, 1) == ["Rageborn Boar"]
    assert unit_hp(st, 0, 0) == 4
    assert uword(st, 0, 0, B_READY) == 0
    assert st.row[G_ATK_SRC] == -1 and st.row[G_ATK_TGT] == -1
    assert hp(st, 1) == 20


def test_combat_both_units_die():
    st = (Scenario().main_phase(active=0)
          .unit(0, 1, "Cutthroat Captain")                   # 4/3
          .unit(1, 0, "Guild Informant", ready=False)        # 3/3
          .build())
    st.apply(attack(1, 0))
    assert unit_name(st, 0, 1) is None and unit_name(st, 1, 0) is None
    assert discard_names(st, 0) == ["Cutthroat Captain"]
    assert discard_names(st, 1) == ["Guild Informant"]


def test_retaliation_includes_the_defender_weapon_bonus():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem")                                          # 5/6
          .unit(1, 0, "Scrapyard Mutt", ready=False, weapon="Duelist's Rapier")  # 2/1 with +2 attack
          .build())
    st.apply(attack(0, 0))
    assert unit_name(st, 1, 0) is None
    assert unit_hp(st, 0, 0) == 6 - (2 + 2)
    assert discard_names(st, 1) == ["Duelist's Rapier", "Scrapyard Mutt"]


def test_attacking_the_leader_has_no_retaliation():
    st = Scenario().main_phase(active=0).unit(0, 0, "Scrapyard Mutt").build()
    st.apply(attack(0))
    assert hp(st, 1) == 18 and unit_hp(st, 0, 0) == 1


def test_attacker_is_exhausted_after_attacking():
    st = Scenario().main_phase(active=0).unit(0, 0, "Siege Golem").build()
    st.apply(attack(0))
    assert_illegal(st, attack(0), "that unit is exhausted")


def test_zero_attack_unit_cannot_attack():
    st = Scenario().main_phase(active=0).unit(0, 0, "Siege Golem", atk=0).build()
    assert {t for t in legal_set(st) if t[0] == Primary.ATTACK} == set()
    assert_illegal(st, attack(0), "a unit with 0 attack cannot attack")


def test_attack_needs_your_own_unit():
    st = Scenario().main_phase(active=0).unit(1, 0, "Siege Golem").build()
    assert_illegal(st, attack(0), "sub1=2 (your garden slot 0) is not one of your units")


# ----------------------------------------------------------------------------- response window
def _window_scenario():
    return (Scenario().main_phase(active=0)
            .unit(0, 0, "Siege Golem")                       # 5/6 attacker
            .unit(1, 2, "Scrapyard Mutt")                    # ready garden unit: can block
            .unit(1, 3, "Rageborn Boar", ready=False)        # exhausted: cannot block
            .unit(1, 5, "Siege Golem")                       # alley: cannot block
            .build())


def test_attack_opens_the_response_window_for_the_defender():
    st = _window_scenario()
    st.apply(attack(0))
    assert st.phase == PH_BLOCK
    assert st.current_player == 1 and st.row[G_ACTIVE] == 0   # the defender decides during the attacker's turn
    assert legal_set(st) == {block(2), no_block()}
    assert hp(st, 1) == 20                                   # nothing resolved yet
    assert_illegal(st, end_turn(), "END_TURN is not allowed in the block (response window) phase")
    assert_illegal(st, attack(2), "ATTACK is not allowed in the block (response window) phase")
    assert_illegal(st, block(3), "that unit is exhausted")
    assert_illegal(st, block(5), "your alley slot 0 is not one of your garden units")
    assert_illegal(st, block(0), "your garden slot 0 is not one of your garden units")


def test_block_redirects_the_attack_and_exhausts_the_blocker():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Scrapyard Mutt")                      # 2/1
          .unit(1, 2, "Siege Golem")                         # 5/6 blocker
          .build())
    st.apply(attack(0))
    st.apply(block(2))
    assert st.phase == PH_MAIN and st.current_player == 0
    assert hp(st, 1) == 20
    assert unit_hp(st, 1, 2) == 4 and uword(st, 1, 2, B_READY) == 0
    assert unit_name(st, 0, 0) is None
    assert discard_names(st, 0) == ["Scrapyard Mutt"]


def test_blocker_dies_like_any_defender():
    st = _window_scenario()
    st.apply(attack(0))
    st.apply(block(2))
    assert unit_name(st, 1, 2) is None and discard_names(st, 1) == ["Scrapyard Mutt"]
    assert unit_hp(st, 0, 0) == 4 and hp(st, 1) == 20
    assert st.current_player == 0


def test_no_block_lets_the_attack_through():
    st = _window_scenario()
    st.apply(attack(0))
    st.apply(no_block())
    assert st.phase == PH_MAIN and st.current_player == 0
    assert hp(st, 1) == 15
    assert uword(st, 1, 2, B_READY) == 1


def test_the_attacked_unit_cannot_block():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem")
          .unit(1, 0, "Scrapyard Mutt").unit(1, 1, "Siege Golem")
          .build())
    st.apply(attack(0, 0))
    assert st.phase == PH_BLOCK
    assert legal_set(st) == {block(1), no_block()}
    assert_illegal(st, block(0), "the attacked unit cannot block its own attack")
    st.apply(block(1))
    assert unit_name(st, 1, 0) == "Scrapyard Mutt"
    assert unit_hp(st, 1, 1) == 1 and unit_hp(st, 0, 0) == 1


def test_no_window_when_only_the_attacked_unit_could_block():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem")
          .unit(1, 0, "Scrapyard Mutt")
          .unit(1, 1, "Siege Golem", ready=False)
          .unit(1, 6, "Siege Golem")
          .build())
    st.apply(attack(0, 0))
    assert st.phase == PH_MAIN and st.current_player == 0
    assert unit_name(st, 1, 0) is None


def test_no_window_without_ready_garden_units():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem")
          .unit(1, 0, "Scrapyard Mutt", ready=False)
          .unit(1, 5, "Scrapyard Mutt")
          .build())
    st.apply(attack(0))
    assert st.phase == PH_MAIN and st.current_player == 0
    assert hp(st, 1) == 15


def test_a_sick_ready_unit_can_block():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem")
          .unit(1, 4, "Iron Bulwark", keywords=0, sick=True)
          .build())
    st.apply(attack(0))
    assert_legal(st, block(4))


# ----------------------------------------------------------------------------- move
def test_move_to_the_other_row_once_per_turn():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem", hp=3, ready=False)
          .build())
    moves = {t for t in legal_set(st) if t[0] == Primary.MOVE}
    assert moves == {move(0, d) for d in range(5, 10)}
    st.apply(move(0, 7))
    assert unit_name(st, 0, 0) is None and unit_name(st, 0, 7) == "Siege Golem"
    assert uword(st, 0, 7, B_HP) == 3 and uword(st, 0, 7, B_READY) == 0
    assert uword(st, 0, 7, B_MOVED) == 1
    assert_illegal(st, move(7, 0), "that unit already moved this turn")
    st.apply(end_turn())
    st.apply(end_turn())
    assert uword(st, 0, 7, B_MOVED) == 0
    assert_legal(st, move(7, 0))


def test_move_from_the_alley_to_the_garden():
    st = Scenario().main_phase(active=0).unit(0, 9, "Scrapyard Mutt").build()
    st.apply(move(9, 4))
    assert board_names(st, 0)[4] == "Scrapyard Mutt"
    st.apply(attack(4))
    assert hp(st, 1) == 18


def test_move_destination_must_be_in_the_other_row_and_empty():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem")
          .unit(0, 6, "Scrapyard Mutt")
          .build())
    assert_illegal(st, move(0, 1), "slot 1 is not in the other row")
    assert_illegal(st, move(6, 8), "slot 8 is not in the other row")
    assert_illegal(st, move(0, 6), "board slot 6 is not empty")
    assert_illegal(st, move(3, 6), "is not one of your units")


def test_played_unit_keeps_sickness_after_a_move():
    st = Scenario().main_phase(active=0).hand(0, ["Scrapyard Mutt"]).ikz(0, n=1).build()
    st.apply(play_unit(0, slot=5))
    st.apply(move(5, 0))
    assert uword(st, 0, 0, B_SICK) == 1
    assert_illegal(st, attack(0), "lacks CHARGE")
