"""Rule scenarios from a mutation audit of the engine and the legal-action enumerator.

Each test pins a rule of docs/RULES.md that prebuilt-deck random play rarely reaches and
that the other rule tests left open: a one-line change to ``tcg_env/engine.py`` or
``verification/legal.py`` that broke the rule passed every other rule test.
"""
from prefabs import Keyword
from verification.layout import (B_ATK, B_MOVED, B_READY, B_SICK, B_USED, B_WEAPON, B_WIDTH, P_IKZ_N, P_IKZ_TAPPED,
                                 P_TOKEN, PH_BLOCK, PH_CHOOSE_MODE, PH_CHOOSE_TARGET, PH_MAIN)

from scenario import (ENEMY_LEADER, Scenario, activate, attach, attack, block, board_names, choose_mode,
                      choose_target, discard_names, end_turn, ent_enemy_board, hand_names, hp, legal_set, move,
                      no_block, play_spell, play_unit, pword, unit_hp, unit_kw, unit_name, uword)


# ----------------------------------------------------------------------------- a pending attack and deaths
def test_an_enemy_dying_in_the_attacker_slot_number_does_not_cancel_the_attack():
    # RULES §9.3 / §10: the attack is cancelled only if the attacker or the attacked unit died.
    # The Sniper (my board slot 5) kills the enemy unit that sits in the enemy's board slot 5;
    # that is neither the attacker nor the target, so the attack on the leader goes on.
    st = (Scenario().main_phase(active=0)
          .unit(0, 5, "Rooftop Sniper")                    # 2/2 RANGED, on attack: 1 damage to a random enemy unit
          .unit(1, 5, "Scrapyard Mutt")                    # 2/1, the only enemy unit (in the alley)
          .build())
    st.apply(attack(5))
    assert unit_name(st, 1, 5) is None                     # the trigger killed it
    assert st.phase == PH_MAIN and st.current_player == 0
    assert hp(st, 1) == 20 - 2                             # the attack went through


def test_my_unit_dying_in_the_target_slot_number_does_not_cancel_the_attack():
    # The same rule from the other side. With this seed the Sniper's random 1 damage kills the
    # enemy Powder Keg, whose on-death 2 damage kills my Mutt in my board slot 1, the slot number
    # of the attacked enemy unit. Neither the attacker nor the attacked unit died: combat happens.
    st = (Scenario(seed=5).main_phase(active=0)
          .unit(0, 5, "Rooftop Sniper")                    # 2/2 RANGED, on attack: 1 damage to a random enemy unit
          .unit(0, 1, "Scrapyard Mutt")                    # 2/1
          .unit(1, 0, "Powder Keg Golem")                  # 2/1, on death: 2 damage to a random enemy unit
          .unit(1, 1, "Iron Bulwark", ready=False)         # 2/6, the attacked unit
          .build())
    st.apply(attack(5, 1))
    assert unit_name(st, 1, 0) is None and unit_name(st, 0, 1) is None   # the chain happened
    assert unit_name(st, 0, 5) == "Rooftop Sniper"
    assert st.phase == PH_MAIN
    assert unit_hp(st, 1, 1) == 6 - 2                      # combat: the Bulwark took the Sniper's 2
    assert unit_hp(st, 0, 5) == 2                          # RANGED from the alley: no retaliation


# ----------------------------------------------------------------------------- weapons, spells, leaders
def test_attaching_a_weapon_keeps_the_unit_printed_keywords():
    # RULES §5: a weapon ORs its keywords into the unit's; a weapon with none takes nothing away.
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Rusty Shiv", "Warding Staff"]).ikz(0, n=3)     # +1, no keywords; +1, SHIELD
          .unit(0, 0, "Cathedral Paladin")                 # GUARD, LIFESTEAL
          .build())
    st.apply(attach(0, slot=0))
    assert unit_kw(st, 0, 0) == Keyword.GUARD | Keyword.LIFESTEAL
    st.apply(attach(0, slot=0))
    assert unit_kw(st, 0, 0) == Keyword.GUARD | Keyword.LIFESTEAL | Keyword.SHIELD


def test_a_spell_is_in_the_discard_before_its_effect_resolves():
    # RULES §5: the spell goes to the discard, then its effect resolves. Secret Ledger from a full
    # hand: the hand drops to 9, the first draw fills it, the second is burned after the Ledger.
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Secret Ledger"] + ["Scrapyard Mutt"] * 9).ikz(0, n=3)
          .deck(0, ["Firebolt", "Spark Jolt"])
          .build())
    st.apply(play_spell(0))
    assert hand_names(st, 0) == ["Scrapyard Mutt"] * 9 + ["Firebolt"]
    assert discard_names(st, 0) == ["Secret Ledger", "Spark Jolt"]


def test_exactly_lethal_damage_ends_the_game():
    # RULES §11: a leader at exactly 0 health has lost (combat, a spell, and fatigue).
    st = Scenario().main_phase(active=0).leader(1, hp=2).unit(0, 0, "Scrapyard Mutt").build()
    st.apply(attack(0))
    assert hp(st, 1) == 0 and st.terminated and st.winner == 0
    st = Scenario().main_phase(active=0).leader(1, hp=3).hand(0, ["Ember Lance"]).ikz(0, n=2).build()
    st.apply(play_spell(0))
    assert hp(st, 1) == 0 and st.terminated and st.winner == 0
    st = Scenario().main_phase(active=0).leader(1, hp=3).fatigue(1, 2).deck(1, []).build()
    st.apply(end_turn())
    assert hp(st, 1) == 0 and st.terminated and st.winner == 0


def test_a_played_unit_can_block_on_the_next_enemy_turn():
    # RULES §9: units played on your turn enter ready and can block on the opponent's turn.
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Mire Leech"]).ikz(0, n=2)             # 1/3
          .unit(1, 0, "Scrapyard Mutt")
          .build())
    st.apply(play_unit(0, slot=1))
    st.apply(end_turn())
    st.apply(attack(0))
    assert st.phase == PH_BLOCK and st.current_player == 0
    assert legal_set(st) == {block(1), no_block()}


def test_the_weapon_of_a_dead_enemy_unit_goes_to_its_owner_discard():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Spark Jolt"]).ikz(0, n=1)
          .unit(1, 0, "Scrapyard Mutt", weapon="Rusty Shiv")
          .build())
    st.apply(play_spell(0, target=ent_enemy_board(0)))
    assert unit_name(st, 1, 0) is None
    assert discard_names(st, 0) == ["Spark Jolt"]
    assert discard_names(st, 1) == ["Rusty Shiv", "Scrapyard Mutt"]


# ----------------------------------------------------------------------------- on-play chosen targets
def test_on_play_target_in_the_last_enemy_alley_slot_is_offered():
    # RULES §7: the choose-target phase opens when at least one legal target exists, wherever it is.
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Dusk Assassin"]).ikz(0, n=5)          # on play: DESTROY an ENEMY_UNIT
          .unit(1, 9, "Siege Golem")                       # the only enemy unit: enemy alley slot 4
          .build())
    st.apply(play_unit(0, slot=0))
    assert st.phase == PH_CHOOSE_TARGET and st.current_player == 0
    assert legal_set(st) == {choose_target(ent_enemy_board(9))}
    st.apply(choose_target(ent_enemy_board(9)))
    assert unit_name(st, 1, 9) is None


def test_on_play_enemy_any_with_no_enemy_unit_still_offers_the_leader():
    # ENEMY_ANY includes the enemy leader, so on an empty enemy board the trigger does not fizzle.
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Cinder Hatchling"]).ikz(0, n=2)       # on play: 1 damage to an enemy unit or leader
          .build())
    st.apply(play_unit(0, slot=0))
    assert st.phase == PH_CHOOSE_TARGET
    assert legal_set(st) == {choose_target(ENEMY_LEADER)}
    st.apply(choose_target(ENEMY_LEADER))
    assert hp(st, 1) == 19


# ----------------------------------------------------------------------------- the response window
def test_a_lone_blocker_in_the_last_garden_slot_opens_the_window():
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Siege Golem")
          .unit(1, 4, "Scrapyard Mutt")                    # ready, enemy garden slot 4
          .build())
    st.apply(attack(0))
    assert st.phase == PH_BLOCK and st.current_player == 1
    assert legal_set(st) == {block(4), no_block()}


# ----------------------------------------------------------------------------- moves, random targets, modes
def test_move_keeps_the_weapon_and_every_flag():
    # RULES §12: MOVE keeps everything about the unit (readiness, arrived-this-turn, ability-used,
    # weapon, damage).
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Cogwork Scout", hp=1, ready=False, sick=True, used=True, weapon="Vampiric Edge")
          .build())
    before = [uword(st, 0, 0, f) for f in range(B_WIDTH)]
    st.apply(move(0, 5))
    assert unit_name(st, 0, 0) is None
    after = [uword(st, 0, 5, f) for f in range(B_WIDTH)]
    assert after[B_WEAPON] == st.pool.id_of("Vampiric Edge")
    assert after[B_MOVED] == 1
    assert [v for f, v in enumerate(after) if f != B_MOVED] == [v for f, v in enumerate(before) if f != B_MOVED]


def test_random_enemy_unit_is_not_always_the_first_enemy_unit():
    # RULES §8: RANDOM_ENEMY_UNIT picks uniformly among the occupied enemy slots (game generator).
    # Over a handful of seeds both enemy units are hit.
    hit = set()
    for seed in range(8):
        st = (Scenario(seed=seed).main_phase(active=0)
              .hand(0, ["Bitter Hex"]).ikz(0, n=1)         # 2 damage to a random enemy unit
              .unit(1, 0, "Siege Golem").unit(1, 7, "Siege Golem")
              .build())
        st.apply(play_spell(0))
        damaged = [slot for slot in (0, 7) if unit_hp(st, 1, slot) == 4]
        assert len(damaged) == 1
        hit.add(damaged[0])
    assert hit == {0, 7}


def test_the_second_player_chooses_the_mode_of_their_own_spell():
    # RULES §3 "Who decides": the choose-mode phase is decided by the controller of the pending effect.
    st = (Scenario().main_phase(active=1, turn=4)
          .leader(1, hp=10)
          .hand(1, ["Twin Fates"]).ikz(1, n=2)             # choose: draw 2; or your leader restores 4
          .build())
    st.apply(play_spell(0))
    assert st.phase == PH_CHOOSE_MODE and st.current_player == 1
    assert legal_set(st) == {choose_mode(0), choose_mode(1)}
    st.apply(choose_mode(1))
    assert hp(st, 1) == 14 and hp(st, 0) == 20
    assert st.phase == PH_MAIN and st.current_player == 1


def test_a_weapon_bonus_counts_for_the_attack_threshold():
    # RULES §9: a unit may attack when its attack including its weapon is at least 1.
    st = (Scenario().main_phase(active=0)
          .unit(0, 0, "Scrapyard Mutt", atk=0, weapon="Rusty Shiv")
          .unit(0, 1, "Scrapyard Mutt", atk=0)
          .build())
    legal = legal_set(st)
    assert attack(0) in legal and attack(1) not in legal
    st.apply(attack(0))
    assert hp(st, 1) == 19


# ----------------------------------------------------------------------------- the IKZ token
def test_an_unspent_token_never_expires():
    # RULES §4: once spent it is gone; an unspent token never expires (it survives turn starts).
    st = (Scenario().main_phase(active=1, turn=2)
          .token(1)
          .hand(1, ["Ember Lance"]).ikz(1, n=1, tapped=1)  # 2 IKZ: 3 damage to the enemy leader
          .deck(1, ["Scrapyard Mutt"] * 3).deck(0, ["Scrapyard Mutt"] * 3)
          .build())
    for _ in range(4):
        st.apply(end_turn())
    assert st.current_player == 1 and pword(st, 1, P_TOKEN) == 1
    assert pword(st, 1, P_IKZ_N) == 3 and pword(st, 1, P_IKZ_TAPPED) == 0
    st.apply(play_unit(1, slot=0)).apply(play_unit(1, slot=1))   # two Mutts: 1 untapped IKZ left
    st.apply(play_spell(0, token=True))
    assert hp(st, 0) == 17 and pword(st, 1, P_TOKEN) == 0


# ----------------------------------------------------------------------------- the last hand position and board slot
def test_the_last_hand_position_and_board_slot_are_in_the_legal_list():
    # RULES §12: hand positions 0-9 and board slots 0-9 all take part; slot 9 is alley slot 4.
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Rusty Shiv", "Spark Jolt"] + ["Ember Lance"] * 7 + ["Scrapyard Mutt"]).ikz(0, n=2)
          .unit(0, 9, "Shadow Lookout")                    # 2/1 RANGED, in alley slot 4
          .unit(0, 8, "Cogwork Scout")                     # activated (1): GRANT GUARD to SELF
          .unit(1, 9, "Iron Bulwark")                      # enemy alley slot 4
          .build())
    legal = legal_set(st)
    assert play_unit(9, slot=0) in legal                   # hand position 9
    assert attack(9) in legal                              # RANGED attacker in board slot 9
    assert attach(0, slot=9) in legal                      # weapon onto board slot 9
    assert play_spell(1, ent_enemy_board(9)) in legal      # spell onto enemy board slot 9
    st2 = st.clone()
    st2.apply(play_spell(1, ent_enemy_board(9)))
    assert unit_hp(st2, 1, 9) == 6 - 2
    st.apply(attack(9))
    assert hp(st, 1) == 18
    st = (Scenario().main_phase(active=0).ikz(0, n=1)
          .unit(0, 9, "Cogwork Scout")                     # activated (1): GRANT GUARD to SELF
          .build())
    assert activate(9) in legal_set(st)
    st.apply(activate(9))
    assert Keyword.GUARD in unit_kw(st, 0, 9)


def test_a_unit_in_board_slot_9_dies_and_is_readied():
    st = (Scenario().main_phase(active=0)
          .hand(0, ["Cinder Storm"]).ikz(0, n=4)           # 2 damage to all enemy units
          .unit(1, 9, "Scrapyard Mutt")                    # 2/1
          .unit(1, 8, "Iron Bulwark", ready=False)
          .unit(1, 7, "Iron Bulwark", ready=False, sick=True)
          .build())
    st.apply(play_spell(0))
    assert unit_name(st, 1, 9) is None
    assert discard_names(st, 1) == ["Scrapyard Mutt"]
    st = (Scenario().main_phase(active=0)
          .unit(1, 9, "Iron Bulwark", ready=False, sick=True, moved=True, used=True)
          .build())
    st.apply(end_turn())
    assert [uword(st, 1, 9, f) for f in (B_READY, B_SICK, B_MOVED, B_USED)] == [1, 0, 0, 0]


def test_summon_fills_board_slot_9_last():
    b = Scenario().main_phase(active=0).hand(0, ["Gardener's Call"]).ikz(0, n=2)
    for slot in range(8):
        b.unit(0, slot, "Rivet Sentry")
    st = b.build()
    st.apply(play_spell(0))
    assert board_names(st, 0)[8:] == ["Sprout", "Sprout"]


# ----------------------------------------------------------------------------- SELF in on-play abilities and modes
def _pool_with_self_cards():
    """The default pool plus two units whose on-play ability (or mode) targets SELF: the shipped
    pool has none, so the rule that SELF acts on the unit that played it is only reachable here."""
    from prefabs import CardPool, default_pool
    from prefabs.loader import card_raw, parse_cards
    raw = [card_raw(c) for c in default_pool().cards]
    raw.append({"name": "Audit Shapeshifter", "type": "UNIT", "subtype": "SPIRIT", "cost": 1, "attack": 1,
                "health": 1, "on_play": {"effect": "MODE", "amount": 0, "target": "NONE"},
                "modes": [{"effect": "BUFF", "amount": 2, "amount2": 0, "target": "SELF"},
                          {"effect": "GRANT", "amount": int(Keyword.GUARD), "target": "SELF"}]})
    raw.append({"name": "Audit Squire", "type": "UNIT", "subtype": "KNIGHT", "cost": 1, "attack": 1,
                "health": 1, "on_play": {"effect": "GRANT", "amount": int(Keyword.SHIELD), "target": "SELF"}})
    return CardPool(parse_cards(raw))


def test_self_on_play_and_self_modes_act_on_the_unit_that_played_them():
    # RULES §7-8: SELF is the unit that owns the ability; a mode with target SELF acts on the unit
    # that played it.
    pool = _pool_with_self_cards()
    st = (Scenario(pool=pool).main_phase(active=0)
          .hand(0, ["Audit Squire", "Audit Shapeshifter", "Audit Shapeshifter"]).ikz(0, n=3)
          .unit(0, 0, "Scrapyard Mutt")
          .build())
    st.apply(play_unit(0, slot=3))
    assert unit_kw(st, 0, 3) == Keyword.SHIELD
    st.apply(play_unit(0, slot=6))
    assert st.phase == PH_CHOOSE_MODE
    st.apply(choose_mode(0))
    assert uword(st, 0, 6, B_ATK) == 1 + 2
    st.apply(play_unit(0, slot=4))
    st.apply(choose_mode(1))
    assert unit_kw(st, 0, 4) == Keyword.GUARD
    assert uword(st, 0, 0, B_ATK) == 2 and unit_kw(st, 0, 0) == Keyword(0)    # the Mutt is untouched
