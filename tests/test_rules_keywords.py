"""Keyword scenarios: GUARD, CHARGE, RANGED, LIFESTEAL, SHIELD."""
from prefabs import Keyword
from verification.layout import B_ATK, B_SICK, PH_MAIN
from verification.spec import Primary

from scenario import (Scenario, assert_illegal, assert_legal, attack, discard_names, end_turn, ent_board,
                      ent_enemy_board, hp,
                      legal_set, play_spell, play_unit, unit_hp, unit_kw, unit_name, uword)


def attacks(st):
    return {t for t in legal_set(st) if t[0] == Primary.ATTACK}


# ----------------------------------------------------------------------------- GUARD
def test_guard_must_be_attacked_first():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem")
          .unit(1, 0, "Scrapyard Mutt", ready=False)
          .unit(1, 1, "Rivet Sentry", ready=False)
          .build())
    assert attacks(st) == {attack(0, 1)}
    assert_illegal(st, attack(0), "an enemy GUARD unit (enemy garden slot 1) must be attacked first")
    assert_illegal(st, attack(0, 0), "an enemy GUARD unit (enemy garden slot 1) must be attacked first")
    st.apply(attack(0, 1))
    assert unit_name(st, 1, 1) is None                      # 5 damage kills the 1/2 sentry
    assert unit_hp(st, 0, 0) == 6 - 1                       # and it hit back for 1
    assert discard_names(st, 1) == ["Rivet Sentry"]


def test_guard_in_the_alley_does_not_protect():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem")
          .unit(1, 5, "Rivet Sentry", ready=False)
          .build())
    assert attacks(st) == {attack(0)}                      # alley units cannot be attacked at all
    assert_illegal(st, attack(0, 5), "cannot be attacked; targets are the enemy leader or an enemy garden unit")
    st.apply(attack(0))
    assert hp(st, 1) == 20 - 5


def test_two_guards_either_may_be_attacked():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem")
          .unit(1, 2, "Rivet Sentry", ready=False)
          .unit(1, 4, "Gate Shieldbearer", ready=False)
          .unit(1, 3, "Scrapyard Mutt", ready=False)
          .build())
    assert attacks(st) == {attack(0, 2), attack(0, 4)}
    assert_illegal(st, attack(0), "must be attacked first")


def test_guard_from_a_weapon_counts():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem")
          .unit(1, 3, "Scrapyard Mutt", ready=False, weapon="Forge Mallet")
          .build())
    assert attacks(st) == {attack(0, 3)}
    assert_illegal(st, attack(0), "an enemy GUARD unit (enemy garden slot 3) must be attacked first")


# ----------------------------------------------------------------------------- CHARGE
def test_charge_attacks_on_arrival_and_a_plain_unit_cannot():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Ember Whelp", "Scrapyard Mutt"]).ikz(0, n=2)
          .build())
    st.apply(play_unit(0, slot=0))          # Ember Whelp (CHARGE)
    st.apply(play_unit(0, slot=1))          # Scrapyard Mutt
    assert uword(st, 0, 0, B_SICK) == 1 and uword(st, 0, 1, B_SICK) == 1
    assert attacks(st) == {attack(0)}
    assert_illegal(st, attack(1), "that unit arrived this turn and lacks CHARGE")
    st.apply(attack(0))
    assert hp(st, 1) == 20 - 2


def test_sick_unit_can_attack_on_the_next_turn():
    st = Scenario().main_phase(active=0).unit(0, 0, "Scrapyard Mutt", sick=True).build()
    assert_illegal(st, attack(0), "lacks CHARGE")
    st.apply(end_turn())
    st.apply(end_turn())
    assert st.current_player == 0 and uword(st, 0, 0, B_SICK) == 0
    assert_legal(st, attack(0))


def test_granted_charge_lets_a_sick_unit_attack():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem", sick=True)
          .hand(0, ["Battle Trance"]).ikz(0, n=1)
          .build())
    assert_illegal(st, attack(0), "lacks CHARGE")
    st.apply(play_spell(0, target=ent_board(0)))
    assert Keyword.CHARGE in unit_kw(st, 0, 0)
    st.apply(attack(0))
    assert hp(st, 1) == 20 - 5


# ----------------------------------------------------------------------------- RANGED
def test_ranged_attacks_from_the_alley_without_retaliation():
    st = (Scenario().main_phase(active=0)
          .unit(0, 5, "Shadow Lookout")               # 2/1 RANGED in the alley
          .unit(1, 0, "Siege Golem", ready=False)     # 5/6
          .build())
    assert attacks(st) == {attack(5), attack(5, 0)}
    st.apply(attack(5, 0))
    assert unit_hp(st, 1, 0) == 6 - 2
    assert unit_hp(st, 0, 5) == 1                   # no retaliation
    assert unit_name(st, 0, 5) == "Shadow Lookout"


def test_non_ranged_alley_unit_cannot_attack():
    st = (Scenario().main_phase(active=0)
          .unit(0, 6, "Siege Golem")
          .unit(1, 0, "Scrapyard Mutt", ready=False)
          .build())
    assert attacks(st) == set()
    assert_illegal(st, attack(6), "only RANGED units can attack from the alley")
    assert_illegal(st, attack(6, 0), "only RANGED units can attack from the alley")


def test_ranged_unit_in_the_garden_takes_retaliation():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Hillside Longbowman")          # 2/3 RANGED
          .unit(1, 0, "Iron Bulwark", ready=False)    # 2/6
          .build())
    st.apply(attack(0, 0))
    assert unit_hp(st, 1, 0) == 6 - 2
    assert unit_hp(st, 0, 0) == 3 - 2


# ----------------------------------------------------------------------------- LIFESTEAL
def test_lifesteal_attacking_the_leader_heals_own_leader():
    st = (Scenario().main_phase(active=0)
          .leader(0, hp=10)
          .unit(0, 0, "Bloodfang Stalker")            # 3/2 LIFESTEAL
          .build())
    st.apply(attack(0))
    assert hp(st, 1) == 20 - 3
    assert hp(st, 0) == 10 + 3


def test_lifesteal_heal_is_capped_at_max_health():
    st = Scenario().main_phase(active=0).leader(0, hp=19).unit(0, 0, "Bloodfang Stalker").build()
    st.apply(attack(0))
    assert hp(st, 0) == 20


def test_lifesteal_on_a_defending_unit_heals_its_leader():
    st = (Scenario().main_phase(active=0)
          .leader(1, hp=15)
          .unit(0, 0, "Siege Golem")                  # 5/6
          .unit(1, 0, "Mire Leech", ready=False)      # 1/3 LIFESTEAL
          .build())
    st.apply(attack(0, 0))
    assert unit_name(st, 1, 0) is None
    assert unit_hp(st, 0, 0) == 6 - 1
    assert hp(st, 1) == 15 + 1
    assert hp(st, 0) == 20


def test_lifesteal_attacking_a_unit_heals_by_damage_dealt():
    st = (Scenario().main_phase(active=0)
          .leader(0, hp=5)
          .unit(0, 0, "Bloodfang Stalker")
          .unit(1, 0, "Iron Bulwark", ready=False)
          .build())
    st.apply(attack(0, 0))
    assert unit_hp(st, 1, 0) == 6 - 3
    assert hp(st, 0) == 5 + 3


def test_lifesteal_heals_only_the_health_actually_removed():
    st = (Scenario().main_phase(active=0)
          .leader(0, hp=10)
          .unit(0, 0, "Bloodfang Stalker")                   # 3 attack
          .unit(1, 0, "Scrapyard Mutt", ready=False)         # 1 health left to remove
          .build())
    st.apply(attack(0, 0))
    assert unit_name(st, 1, 0) is None
    assert hp(st, 0) == 10 + 1


def test_lifesteal_on_the_leader_heals_only_the_health_actually_removed():
    st = (Scenario().main_phase(active=0)
          .leader(0, hp=10).leader(1, hp=1)
          .unit(0, 0, "Bloodfang Stalker")                   # 3 attack LIFESTEAL, only 1 health to remove
          .build())
    st.apply(attack(0))
    assert hp(st, 1) == 0 and st.winner == 0
    assert hp(st, 0) == 10 + 1                               # overkill on the leader does not heal


def test_defending_lifesteal_heals_only_the_health_actually_removed():
    st = (Scenario().main_phase(active=0)
          .leader(1, hp=10)
          .unit(0, 0, "Scrapyard Mutt")                      # 2/1
          .unit(1, 0, "Mire Leech", atk=3, ready=False)      # 3/3 LIFESTEAL: retaliates for 3 into 1 health
          .build())
    st.apply(attack(0, 0))
    assert unit_name(st, 0, 0) is None
    assert unit_hp(st, 1, 0) == 3 - 2
    assert hp(st, 1) == 10 + 1


def test_lifesteal_heals_nothing_when_shield_absorbs():
    st = (Scenario().main_phase(active=0)
          .leader(0, hp=10)
          .unit(0, 0, "Bloodfang Stalker")
          .unit(1, 0, "Knight-Errant", ready=False)          # SHIELD
          .build())
    st.apply(attack(0, 0))
    assert hp(st, 0) == 10
    assert unit_hp(st, 1, 0) == 4


# ----------------------------------------------------------------------------- SHIELD
def test_shield_absorbs_the_first_damage_then_is_lost():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem").unit(0, 1, "Siege Golem")
          .unit(1, 0, "Eager Squire", ready=False)    # 1/1 SHIELD
          .build())
    st.apply(attack(0, 0))
    assert unit_name(st, 1, 0) == "Eager Squire"
    assert unit_hp(st, 1, 0) == 1
    assert Keyword.SHIELD not in unit_kw(st, 1, 0)
    assert unit_hp(st, 0, 0) == 6 - 1
    st.apply(attack(1, 0))
    assert unit_name(st, 1, 0) is None
    assert discard_names(st, 1) == ["Eager Squire"]


def test_shield_absorbs_spell_damage():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Spark Jolt", "Spark Jolt"]).ikz(0, n=2)
          .unit(1, 0, "Knight-Errant")                # 4/4 SHIELD
          .build())
    st.apply(play_spell(0, target=ent_enemy_board(0)))
    assert unit_hp(st, 1, 0) == 4 and Keyword.SHIELD not in unit_kw(st, 1, 0)
    st.apply(play_spell(0, target=ent_enemy_board(0)))
    assert unit_hp(st, 1, 0) == 2
    assert st.phase == PH_MAIN


def test_shielded_attacker_takes_no_retaliation_once():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Knight-Errant")                # 4/4 SHIELD
          .unit(1, 0, "Iron Bulwark", ready=False)    # 2/6
          .build())
    st.apply(attack(0, 0))
    assert unit_hp(st, 0, 0) == 4 and Keyword.SHIELD not in unit_kw(st, 0, 0)
    assert unit_hp(st, 1, 0) == 2
    assert uword(st, 0, 0, B_ATK) == 4


def test_zero_damage_does_not_use_up_shield():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Knight-Errant")                       # 4/4 SHIELD
          .unit(1, 0, "Iron Bulwark", atk=0, ready=False)    # retaliates for 0
          .build())
    st.apply(attack(0, 0))
    assert unit_hp(st, 1, 0) == 6 - 4
    assert unit_hp(st, 0, 0) == 4
    assert Keyword.SHIELD in unit_kw(st, 0, 0)               # a 0-damage hit leaves SHIELD in place
