"""Effect scenarios (damage, heal, buff, destroy, draw, summon, gain IKZ, grant), spells
with chosen targets and area effects, and weapons."""

from prefabs import Keyword
from verification.layout import (B_ATK, B_MAXHP, B_READY, B_SICK, B_WEAPON, P_IKZ_N, P_IKZ_TAPPED,
                                 P_IKZDECK_N, PH_MAIN)
from verification.spec import Primary

from scenario import (ENEMY_LEADER, MY_LEADER, Scenario, activate, assert_illegal, attach, attack,
                      board_names, choose_target, deck_names, discard_names, ent_board, ent_enemy_board,
                      ent_hand, hand_names, hp, leader_ability,
                      legal_set, play_spell, play_unit, pword, unit_hp, unit_kw, unit_name, uword)


def spells(st):
    return {t for t in legal_set(st) if t[0] == Primary.PLAY_SPELL}


# ----------------------------------------------------------------------------- DAMAGE
def test_damage_spell_on_any_target():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Firebolt", "Firebolt", "Firebolt"]).ikz(0, n=6)   # 3 damage to ANY
          .unit(0, 0, "Siege Golem")
          .unit(1, 0, "Iron Bulwark")
          .build())
    assert spells(st) >= {play_spell(0, t) for t in (MY_LEADER, ENEMY_LEADER, ent_board(0), ent_enemy_board(0))}
    st.apply(play_spell(0, ENEMY_LEADER))
    st.apply(play_spell(0, ent_enemy_board(0)))
    st.apply(play_spell(0, MY_LEADER))
    assert hp(st, 1) == 17 and unit_hp(st, 1, 0) == 3 and hp(st, 0) == 17
    assert discard_names(st, 0) == ["Firebolt"] * 3
    assert pword(st, 0, P_IKZ_TAPPED) == 6


def test_damage_kills_and_the_unit_goes_to_discard():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Spark Jolt"]).ikz(0, n=1)
          .unit(1, 4, "Scrapyard Mutt")
          .build())
    st.apply(play_spell(0, ent_enemy_board(4)))
    assert unit_name(st, 1, 4) is None
    assert discard_names(st, 1) == ["Scrapyard Mutt"]


# ----------------------------------------------------------------------------- HEAL
def test_heal_is_capped_at_max_health():
    st = (Scenario().main_phase(active=0)
          .leader(0, hp=18)
          .hand(0, ["Mending Light", "Mending Light", "Mending Light"]).ikz(0, n=3)   # heal 4, ANY
          .unit(0, 0, "Iron Bulwark", hp=1)                 # 1/6 health
          .unit(0, 1, "Siege Golem", hp=5)
          .build())
    st.apply(play_spell(0, MY_LEADER))
    assert hp(st, 0) == 20
    st.apply(play_spell(0, ent_board(0)))
    assert unit_hp(st, 0, 0) == 5
    st.apply(play_spell(0, ent_board(1)))
    assert unit_hp(st, 0, 1) == 6 and uword(st, 0, 1, B_MAXHP) == 6


def test_heal_ability_on_a_friendly_unit():
    st = (Scenario().main_phase(active=0)
          .ikz(0, n=1)
          .unit(0, 0, "Clockwork Medic")                    # (1): heal 2 to a FRIENDLY_UNIT
          .unit(0, 1, "Gate Shieldbearer", hp=2)            # 2/3 at 2
          .build())
    st.apply(activate(0, ent_board(1)))
    assert unit_hp(st, 0, 1) == 3


def test_leader_heal_ability_is_capped():
    st = Scenario().main_phase(active=0).leader(0, "Sela of the Thornwall", hp=19).ikz(0, n=2).build()
    st.apply(leader_ability())
    assert hp(st, 0) == 20


# ----------------------------------------------------------------------------- BUFF
def test_buff_raises_attack_health_and_max_health():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Blessing of Might"]).ikz(0, n=2)        # +2/+2 to a FRIENDLY_UNIT
          .unit(0, 2, "Gate Shieldbearer", hp=1)             # 2/3 at 1
          .unit(1, 0, "Scrapyard Mutt")
          .build())
    assert spells(st) == {play_spell(0, ent_board(2))}
    assert_illegal(st, play_spell(0, ent_enemy_board(0)),
                   "enemy garden slot 0 is not a legal target for 'Blessing of Might' (it needs a friendly unit)")
    st.apply(play_spell(0, ent_board(2)))
    assert uword(st, 0, 2, B_ATK) == 4 and unit_hp(st, 0, 2) == 3 and uword(st, 0, 2, B_MAXHP) == 5


def test_buff_is_capped_at_99():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Blessing of Might"]).ikz(0, n=2)        # +2/+2
          .unit(0, 0, "Gate Shieldbearer", atk=98, hp=98, max_hp=98)
          .build())
    st.apply(play_spell(0, ent_board(0)))
    assert uword(st, 0, 0, B_ATK) == 99
    assert unit_hp(st, 0, 0) == 99 and uword(st, 0, 0, B_MAXHP) == 99


def test_buff_all_friendly_units_on_play_includes_itself():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Pack Alpha"]).ikz(0, n=4)               # on play: +1/+1 to ALL_FRIENDLY_UNITS
          .unit(0, 0, "Scrapyard Mutt")
          .unit(1, 0, "Scrapyard Mutt")
          .build())
    st.apply(play_unit(0, slot=6))
    assert (uword(st, 0, 0, B_ATK), unit_hp(st, 0, 0)) == (3, 2)
    assert (uword(st, 0, 6, B_ATK), unit_hp(st, 0, 6)) == (4, 4)
    assert (uword(st, 1, 0, B_ATK), unit_hp(st, 1, 0)) == (2, 1)


# ----------------------------------------------------------------------------- DESTROY
def test_destroy_ignores_shield():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Unmake"]).ikz(0, n=4)                    # DESTROY an ENEMY_UNIT
          .unit(1, 0, "Tusked Mammoth")                      # 6/6 SHIELD
          .build())
    st.apply(play_spell(0, ent_enemy_board(0)))
    assert unit_name(st, 1, 0) is None
    assert discard_names(st, 1) == ["Tusked Mammoth"]


def test_destroy_all_units():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Grave Tide"]).ikz(0, n=8)
          .unit(0, 0, "Knight-Errant").unit(0, 7, "Shadow Lookout")
          .unit(1, 1, "Tusked Mammoth").unit(1, 9, "Siege Golem")
          .build())
    st.apply(play_spell(0))
    assert board_names(st, 0) == [None] * 10 and board_names(st, 1) == [None] * 10
    assert sorted(discard_names(st, 0)) == sorted(["Grave Tide", "Knight-Errant", "Shadow Lookout"])
    assert sorted(discard_names(st, 1)) == sorted(["Tusked Mammoth", "Siege Golem"])
    assert hp(st, 0) == 20 and hp(st, 1) == 20


# ----------------------------------------------------------------------------- DRAW
def test_draw_takes_cards_from_the_top():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Quick Study", "Secret Ledger"]).ikz(0, n=4)
          .deck(0, ["Firebolt", "Unmake", "Siege Golem", "Rusty Shiv"])
          .build())
    st.apply(play_spell(0))                                  # Quick Study: draw 1
    assert hand_names(st, 0) == ["Secret Ledger", "Firebolt"]
    st.apply(play_spell(0))                                  # Secret Ledger: draw 2
    assert hand_names(st, 0) == ["Firebolt", "Unmake", "Siege Golem"]
    assert deck_names(st, 0) == ["Rusty Shiv"]


def test_draw_on_play():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Guild Informant"]).ikz(0, n=4)
          .deck(0, ["Unmake"])
          .build())
    st.apply(play_unit(0, slot=0))
    assert hand_names(st, 0) == ["Unmake"] and deck_names(st, 0) == []


# ----------------------------------------------------------------------------- SUMMON
def test_summon_fills_empty_garden_slots_first():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Gardener's Call"]).ikz(0, n=2)           # summon 2 Sprouts
          .unit(0, 0, "Siege Golem").unit(0, 2, "Siege Golem")
          .build())
    st.apply(play_spell(0))
    assert board_names(st, 0)[:5] == ["Siege Golem", "Sprout", "Siege Golem", "Sprout", None]
    for slot in (1, 3):
        assert uword(st, 0, slot, B_SICK) == 1 and uword(st, 0, slot, B_READY) == 1
        assert_illegal(st, attack(slot), "that unit arrived this turn and lacks CHARGE")


def test_summon_goes_to_the_alley_when_the_garden_is_full():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Packmother Hound"]).ikz(0, n=2)          # on play: summon a Wolf Pup
          .garden_full(0, "Scrapyard Mutt")
          .unit(0, 5, "Shadow Lookout")
          .build())
    st.apply(play_unit(0, slot=7))
    assert board_names(st, 0)[5:] == ["Shadow Lookout", "Wolf Pup", "Packmother Hound", None, None]


def test_summon_on_a_full_board_does_nothing():
    sc = Scenario().main_phase(active=0).hand(0, ["Gardener's Call"]).ikz(0, n=2)
    for slot in range(10):
        sc.unit(0, slot, "Scrapyard Mutt")
    st = sc.build()
    st.apply(play_spell(0))
    assert board_names(st, 0) == ["Scrapyard Mutt"] * 10
    assert st.phase == PH_MAIN


def test_tokens_vanish_on_death_and_skip_the_discard():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Cinder Storm"]).ikz(0, n=4)              # 2 damage to ALL_ENEMY_UNITS
          .unit(1, 0, "Sprout").unit(1, 1, "Scrap Drone").unit(1, 2, "Scrapyard Mutt")
          .build())
    st.apply(play_spell(0))
    assert board_names(st, 1)[:3] == [None, None, None]
    assert discard_names(st, 1) == ["Scrapyard Mutt"]


# ----------------------------------------------------------------------------- GAIN_IKZ
def test_gain_ikz_adds_a_ready_ikz_card():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Leyline Tap"]).ikz(0, n=2)
          .build())
    deck_before = pword(st, 0, P_IKZDECK_N)
    st.apply(play_spell(0))
    assert pword(st, 0, P_IKZ_N) == 3 and pword(st, 0, P_IKZ_TAPPED) == 1
    assert pword(st, 0, P_IKZDECK_N) == deck_before - 1


def test_gain_ikz_resolves_the_arrival_effect():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Vein Prospector"]).ikz(0, n=3)           # on play: gain 1 IKZ
          .ikz_deck(0, ["Cinder IKZ"])                        # arrival: 1 damage to the enemy leader
          .build())
    st.apply(play_unit(0, slot=0))
    assert pword(st, 0, P_IKZ_N) == 4 and pword(st, 0, P_IKZ_TAPPED) == 3
    assert hp(st, 1) == 19


def test_gain_ikz_with_an_empty_ikz_deck_does_nothing():
    st = Scenario().main_phase(active=0).hand(0, ["Leyline Tap"]).ikz(0, n=1).ikz_deck(0, []).build()
    st.apply(play_spell(0))
    assert pword(st, 0, P_IKZ_N) == 1 and pword(st, 0, P_IKZ_TAPPED) == 1


# ----------------------------------------------------------------------------- GRANT
def test_grant_adds_keywords():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Oath of the Wall"]).ikz(0, n=2)          # GRANT GUARD|LIFESTEAL
          .unit(0, 1, "Siege Golem", keywords=Keyword.SHIELD)
          .build())
    st.apply(play_spell(0, ent_board(1)))
    assert unit_kw(st, 0, 1) == Keyword.GUARD | Keyword.LIFESTEAL | Keyword.SHIELD


def test_grant_on_play_with_chosen_target():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Banner Knight"]).ikz(0, n=3)             # on play: GRANT CHARGE to a FRIENDLY_UNIT
          .unit(0, 0, "Siege Golem", sick=True)
          .build())
    st.apply(play_unit(0, slot=1))
    st.apply(choose_target(ent_board(0)))
    assert Keyword.CHARGE in unit_kw(st, 0, 0)
    assert Keyword.CHARGE not in unit_kw(st, 0, 1)
    st.apply(attack(0))
    assert hp(st, 1) == 15


# ----------------------------------------------------------------------------- spells: targets and AoE
def test_spell_target_rules():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Spark Jolt"]).ikz(0, n=1)                # 2 damage to an ENEMY_UNIT
          .unit(0, 0, "Scrapyard Mutt")
          .unit(1, 2, "Siege Golem").unit(1, 8, "Shadow Lookout")
          .build())
    assert spells(st) == {play_spell(0, ent_enemy_board(2)), play_spell(0, ent_enemy_board(8))}
    assert_illegal(st, play_spell(0, ENEMY_LEADER), "enemy leader is not a legal target for 'Spark Jolt'")
    assert_illegal(st, play_spell(0, ent_board(0)), "is not a legal target for 'Spark Jolt'")
    assert_illegal(st, play_spell(0, ent_enemy_board(3)), "enemy garden slot 3 is not a legal target")
    st.apply(play_spell(0, ent_enemy_board(8)))             # alley units are fair game for spells
    assert unit_name(st, 1, 8) is None


def test_targeted_spell_without_targets_is_not_playable():
    st = Scenario().main_phase(active=0).hand(0, ["Spark Jolt"]).ikz(0, n=1).build()
    assert spells(st) == set()
    assert_illegal(st, play_spell(0, ent_enemy_board(0)), "is not a legal target")


def test_aoe_spell_takes_no_target():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Cinder Storm"]).ikz(0, n=4)
          .unit(1, 0, "Siege Golem")
          .build())
    assert spells(st) == {play_spell(0)}
    assert_illegal(st, play_spell(0, ENEMY_LEADER), "'Cinder Storm' takes no chosen target, so sub2 must be 0")


def test_aoe_enemy_units_spares_friends_and_leaders():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Cinder Storm"]).ikz(0, n=4)
          .unit(0, 0, "Siege Golem")
          .unit(1, 0, "Siege Golem").unit(1, 5, "Iron Bulwark").unit(1, 1, "Knight-Errant")
          .build())
    st.apply(play_spell(0))
    assert unit_hp(st, 0, 0) == 6
    assert unit_hp(st, 1, 0) == 4 and unit_hp(st, 1, 5) == 4
    assert unit_hp(st, 1, 1) == 4 and Keyword.SHIELD not in unit_kw(st, 1, 1)
    assert hp(st, 0) == 20 and hp(st, 1) == 20


def test_aoe_all_units_hits_both_sides():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Meteor Shower"]).ikz(0, n=6)             # 3 damage to ALL_UNITS
          .unit(0, 0, "Siege Golem").unit(0, 1, "Gravebloom Spirit")
          .unit(1, 0, "Hedge Sprite").unit(1, 6, "Iron Bulwark")
          .leader(0, hp=10)
          .build())
    st.apply(play_spell(0))
    assert unit_hp(st, 0, 0) == 3
    assert unit_name(st, 0, 1) is None and hp(st, 0) == 13     # Gravebloom's death heal
    assert unit_name(st, 1, 0) == "Sprout"                    # Hedge Sprite's token
    assert unit_hp(st, 1, 6) == 3
    assert hp(st, 1) == 20


def test_random_enemy_unit_spell_hits_the_only_enemy():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Bitter Hex"]).ikz(0, n=1)
          .unit(1, 7, "Siege Golem")
          .build())
    st.apply(play_spell(0))
    assert unit_hp(st, 1, 7) == 4


# ----------------------------------------------------------------------------- weapons
def test_attach_adds_attack_and_keywords():
    st = (Scenario().main_phase(active=0)
          .leader(0, hp=10)
          .hand(0, ["Vampiric Edge"]).ikz(0, n=3)             # +2 attack, LIFESTEAL
          .unit(0, 0, "Scrapyard Mutt")                      # 2/1
          .build())
    st.apply(attach(0, slot=0))
    assert uword(st, 0, 0, B_WEAPON) == st.pool.id_of("Vampiric Edge")
    assert uword(st, 0, 0, B_ATK) == 2                       # the bonus is not written into B_ATK
    assert Keyword.LIFESTEAL in unit_kw(st, 0, 0)
    assert pword(st, 0, P_IKZ_TAPPED) == 3
    assert hand_names(st, 0) == [] and discard_names(st, 0) == []
    st.apply(attack(0))
    assert hp(st, 1) == 16 and hp(st, 0) == 14


def test_weapon_ranged_lets_an_alley_unit_attack():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Hunter's Shortbow"]).ikz(0, n=2)
          .unit(0, 5, "Scrapyard Mutt")
          .build())
    assert_illegal(st, attack(5), "only RANGED units can attack from the alley")
    st.apply(attach(0, slot=5))
    st.apply(attack(5))
    assert hp(st, 1) == 20 - 3


def test_replacing_a_weapon_discards_the_old_one():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Rusty Shiv"]).ikz(0, n=1)
          .unit(0, 0, "Scrapyard Mutt", weapon="Duelist's Rapier")
          .build())
    st.apply(attach(0, slot=0))
    assert uword(st, 0, 0, B_WEAPON) == st.pool.id_of("Rusty Shiv")
    assert discard_names(st, 0) == ["Duelist's Rapier"]
    st.apply(attack(0))
    assert hp(st, 1) == 20 - 3


def test_replacing_a_weapon_keeps_the_keywords_the_old_one_added():
    """Documented rule (RULES.md §5, §9; layout B_KW): weapon keywords are ORed into the unit
    when attached, and replacing the weapon does not take them away."""
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Hunter's Shortbow", "Rusty Shiv"]).ikz(0, n=3)
          .unit(0, 5, "Scrapyard Mutt")
          .build())
    st.apply(attach(0, slot=5))                              # RANGED bow
    st.apply(attach(0, slot=5))                              # replaced by a plain blade
    assert discard_names(st, 0) == ["Hunter's Shortbow"]
    assert Keyword.RANGED in unit_kw(st, 0, 5)
    st.apply(attack(5))
    assert hp(st, 1) == 20 - 3


def test_weapon_goes_to_discard_when_its_unit_dies():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem")
          .unit(1, 0, "Scrapyard Mutt", ready=False, weapon="Duelist's Rapier")
          .build())
    st.apply(attack(0, 0))
    assert unit_name(st, 1, 0) is None
    assert sorted(discard_names(st, 1)) == sorted(["Scrapyard Mutt", "Duelist's Rapier"])
    assert unit_hp(st, 0, 0) == 6 - 4                        # it hit back with the weapon bonus


def test_weapon_on_a_token_goes_to_discard_and_the_token_does_not():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Spark Jolt"]).ikz(0, n=1)
          .unit(1, 0, "Sprout", weapon="Rusty Shiv")
          .build())
    st.apply(play_spell(0, ent_enemy_board(0)))
    assert discard_names(st, 1) == ["Rusty Shiv"]


def test_attach_needs_one_of_your_units():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Rusty Shiv"]).ikz(0, n=1)
          .unit(1, 0, "Scrapyard Mutt")
          .build())
    assert {t for t in legal_set(st) if t[0] == Primary.ATTACH_WEAPON} == set()
    assert_illegal(st, (int(Primary.ATTACH_WEAPON), ent_hand(0), ent_enemy_board(0), 0),
                   "sub2=12 (enemy garden slot 0) is not one of your units")
    assert_illegal(st, attach(0, slot=0), "(your garden slot 0) is not one of your units")


def test_card_type_must_match_the_primary():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Rusty Shiv", "Firebolt"]).ikz(0, n=3)
          .unit(0, 0, "Scrapyard Mutt")
          .build())
    assert_illegal(st, play_unit(0, slot=1), "'Rusty Shiv' is not the card type PLAY_UNIT needs (UNIT)")
    assert_illegal(st, attach(1, slot=0), "'Firebolt' is not the card type ATTACH_WEAPON needs (WEAPON)")
    assert_illegal(st, play_spell(2), "is not a card in your hand")
