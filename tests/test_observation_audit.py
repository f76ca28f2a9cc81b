"""Observation features read back from hand-built positions (a mutation audit of
``tcg_env/observation.py``): each expected value comes from the scenario's own words or from
the printed card (``prefabs``), not from the encoder."""
import numpy as np
import pytest

from prefabs import Keyword
from prefabs.enums import CardType, Trigger
from scenario import Scenario, play_spell, play_unit
from tcg_env.observation import ENTITY_FEATURES, GLOBAL_FEATURES, OBS_HIGH, OBS_LOW, view
from verification.layout import PH_CHOOSE_MODE, PH_CHOOSE_TARGET, PH_MAIN

G = {n: i for i, n in enumerate(GLOBAL_FEATURES)}
F = {n: i for i, n in enumerate(ENTITY_FEATURES)}
MY_LEADER, OPP_LEADER, MY_BOARD, OPP_BOARD, MY_HAND = 0, 1, 2, 12, 22   # the documented entity rows
ZONE_LEADER, ZONE_GARDEN, ZONE_ALLEY, ZONE_HAND = 1, 2, 3, 4


def _views(st, p):
    obs = st.observation(p)
    return view(obs, "globals"), view(obs, "entities")


def _row(ents, e):
    return {n: int(ents[e, i]) for n, i in F.items()}


def test_globals_of_a_hand_built_position_for_both_seats():
    """Every global of a main-phase position where nothing is attacking or pending: turn and
    seat flags, health, IKZ (tapped ones not counted as untapped), tokens, zone counts,
    fatigue, leaders, and the attack pointers at -1."""
    sc = (Scenario(seed=3).main_phase(active=1, turn=6, first=0)
          .leader(0, "Torvald Anvilhand", hp=13, used=True).leader(1, "Oriel, Keeper of Pages", hp=17)
          .ikz(0, 4, tapped=1).ikz(1, 2, tapped=2).token(1)
          .hand(0, ["Firebolt", "Siege Golem", "Wolf Pup"]).hand(1, ["Spark Jolt"])
          .discard(0, ["Rusty Shiv", "Spark Jolt"]).discard(1, ["Firebolt", "Firebolt", "Unmake", "Sprout"])
          .deck(0, ["Siege Golem"] * 7).deck(1, ["Wolf Pup"] * 12)
          .fatigue(0, 2).fatigue(1, 5))
    st = sc.build()
    pool = sc.pool
    torvald, oriel = pool.id_of("Torvald Anvilhand"), pool.id_of("Oriel, Keeper of Pages")
    want = {
        0: dict(phase=PH_MAIN, turn=6, i_went_first=1, is_my_turn=0, my_hp=13, opp_hp=17, my_ikz=4,
                my_ikz_untapped=3, opp_ikz=2, opp_ikz_untapped=0, my_token=0, opp_token=1, my_hand_count=3,
                opp_hand_count=1, my_deck_count=7, opp_deck_count=12, my_ikz_deck_count=6, opp_ikz_deck_count=8,
                my_discard_count=2, opp_discard_count=4, my_fatigue=2, opp_fatigue=5, my_leader_used=1,
                opp_leader_used=0, my_leader_card=torvald, opp_leader_card=oriel, pending_card=0,
                pending_target_rule=0, attacker_entity=-1, attack_target_entity=-1, my_mulliganed=1,
                opp_mulliganed=1),
        1: dict(phase=PH_MAIN, turn=6, i_went_first=0, is_my_turn=1, my_hp=17, opp_hp=13, my_ikz=2,
                my_ikz_untapped=0, opp_ikz=4, opp_ikz_untapped=3, my_token=1, opp_token=0, my_hand_count=1,
                opp_hand_count=3, my_deck_count=12, opp_deck_count=7, my_ikz_deck_count=8, opp_ikz_deck_count=6,
                my_discard_count=4, opp_discard_count=2, my_fatigue=5, opp_fatigue=2, my_leader_used=0,
                opp_leader_used=1, my_leader_card=oriel, opp_leader_card=torvald, pending_card=0,
                pending_target_rule=0, attacker_entity=-1, attack_target_entity=-1, my_mulliganed=1,
                opp_mulliganed=1),
    }
    assert set(want[0]) == set(GLOBAL_FEATURES)
    for p in (0, 1):
        glob, _ = _views(st, p)
        got = {n: int(glob[i]) for n, i in G.items()}
        assert got == want[p], p


def test_leader_rows_show_current_health_maximum_use_and_ability_cost():
    sc = (Scenario(seed=3).main_phase(active=0)
          .leader(0, "Torvald Anvilhand", hp=13, max_hp=22, used=True)
          .leader(1, "Oriel, Keeper of Pages", hp=20, max_hp=25))
    st = sc.build()
    pool = sc.pool
    torvald, oriel = pool.by_name["Torvald Anvilhand"], pool.by_name["Oriel, Keeper of Pages"]
    for p in (0, 1):
        _, ents = _views(st, p)
        mine, theirs = (torvald, oriel) if p == 0 else (oriel, torvald)
        for e, card, owner in ((MY_LEADER, mine, 0), (OPP_LEADER, theirs, 1)):
            r = _row(ents, e)
            hp, max_hp, used = (13, 22, 1) if card is torvald else (20, 25, 0)
            cost = card.abilities[Trigger.ACTIVATED].cost
            assert (r["present"], r["card_id"], r["owner"], r["zone"], r["zone_slot"]) == (1, card.id, owner,
                                                                                           ZONE_LEADER, 0), (p, e)
            assert (r["card_type"], r["subtype"]) == (int(CardType.LEADER), card.subtype)
            assert (r["health"], r["max_health"], r["ability_used"]) == (hp, max_hp, used), (p, e)
            assert (r["has_ability"], r["ability_cost"]) == (1, cost), (p, e)
            assert r["attack"] == r["weapon_card"] == r["weapon_bonus"] == 0


def _board_scenario():
    return (Scenario(seed=3).main_phase(active=0)
            .unit(0, 0, "Rivet Sentry", atk=3, hp=1, max_hp=4, keywords=Keyword.GUARD | Keyword.RANGED,
                  ready=False, sick=True)
            .unit(0, 4, "Siege Golem", keywords=Keyword.CHARGE | Keyword.SHIELD, moved=True,
                  weapon="Duelist's Rapier")
            .unit(0, 5, "Mire Leech", keywords=Keyword.NONE, used=True)
            .unit(0, 9, "Wolf Pup", keywords=Keyword.LIFESTEAL, weapon="Rusty Shiv")
            .unit(1, 2, "Iron Bulwark", hp=5, keywords=Keyword.SHIELD, ready=False)
            .unit(1, 7, "Prowling Wolf", keywords=Keyword.CHARGE, weapon="Titan Warmaul"))


def test_board_rows_show_zone_slot_stats_weapon_keywords_and_flags():
    """Each board row, from both seats: the garden (slots 0-4) and alley (5-9) zones with the
    slot within its zone, attack with the weapon's bonus, health and maximum, the weapon, each
    keyword bit on its own, and the ready / arrived / moved / used flags."""
    sc = _board_scenario()
    st = sc.build()
    pool = sc.pool
    rapier, shiv, maul = (pool.by_name[n] for n in ("Duelist's Rapier", "Rusty Shiv", "Titan Warmaul"))
    # (player, slot): name, attack shown, health, max health, keywords (granted by the weapon too),
    #                 ready, arrived, moved, used, weapon
    units = {
        (0, 0): ("Rivet Sentry", 3, 1, 4, Keyword.GUARD | Keyword.RANGED, 0, 1, 0, 0, None),
        (0, 4): ("Siege Golem", 5 + rapier.attack, 6, 6, Keyword.CHARGE | Keyword.SHIELD, 1, 0, 1, 0, rapier),
        (0, 5): ("Mire Leech", 1, 3, 3, Keyword.NONE, 1, 0, 0, 1, None),
        (0, 9): ("Wolf Pup", 1 + shiv.attack, 1, 1, Keyword.LIFESTEAL, 1, 0, 0, 0, shiv),
        (1, 2): ("Iron Bulwark", 2, 5, 6, Keyword.SHIELD, 0, 0, 0, 0, None),
        (1, 7): ("Prowling Wolf", 2 + maul.attack, 2, 2, Keyword.CHARGE | maul.keywords, 1, 0, 0, 0, maul),
    }
    kw_names = [("guard", Keyword.GUARD), ("charge", Keyword.CHARGE), ("ranged", Keyword.RANGED),
                ("lifesteal", Keyword.LIFESTEAL), ("shield", Keyword.SHIELD)]
    for seat in (0, 1):
        _, ents = _views(st, seat)
        for (p, slot), (name, atk, hp, max_hp, kw, ready, sick, moved, used, weapon) in units.items():
            card = pool.by_name[name]
            e = (MY_BOARD if p == seat else OPP_BOARD) + slot
            r = _row(ents, e)
            assert (r["present"], r["card_id"], r["owner"]) == (1, card.id, int(p != seat)), (seat, p, slot)
            assert r["zone"] == (ZONE_GARDEN if slot < 5 else ZONE_ALLEY), (seat, p, slot)
            assert r["zone_slot"] == slot % 5, (seat, p, slot)
            assert (r["card_type"], r["subtype"], r["cost"]) == (int(CardType.UNIT), card.subtype, card.cost)
            assert (r["attack"], r["health"], r["max_health"]) == (atk, hp, max_hp), (seat, p, slot)
            for n, bit in kw_names:
                assert r[n] == int(bool(kw & bit)), (seat, p, slot, n)
            assert (r["ready"], r["arrived_this_turn"], r["moved"], r["ability_used"]) == (ready, sick, moved, used), \
                (seat, p, slot)
            assert (r["weapon_card"], r["weapon_bonus"]) == ((weapon.id, weapon.attack) if weapon else (0, 0)), \
                (seat, p, slot)
        # the empty slots are all-zero rows
        for p in (0, 1):
            for slot in range(10):
                if (p, slot) not in units:
                    e = (MY_BOARD if p == seat else OPP_BOARD) + slot
                    assert not ents[e].any(), (seat, p, slot)


def test_hand_rows_are_the_own_hand_in_order_and_the_rest_is_blank():
    sc = (Scenario(seed=3).main_phase(active=0)
          .hand(0, ["Firebolt", "Siege Golem", "Twin Fates"])
          .hand(1, ["Wolf Pup", "Spark Jolt", "Unmake", "Sprout", "Rusty Shiv"]))
    st = sc.build()
    pool = sc.pool
    for seat, names in ((0, ["Firebolt", "Siege Golem", "Twin Fates"]),
                        (1, ["Wolf Pup", "Spark Jolt", "Unmake", "Sprout", "Rusty Shiv"])):
        _, ents = _views(st, seat)
        for h, name in enumerate(names):
            card = pool.by_name[name]
            r = _row(ents, MY_HAND + h)
            assert (r["present"], r["card_id"], r["owner"], r["zone"], r["zone_slot"]) == (1, card.id, 0,
                                                                                           ZONE_HAND, h), (seat, h)
            assert (r["card_type"], r["cost"]) == (int(card.type), card.cost)
        for h in range(len(names), 10):
            assert not ents[MY_HAND + h].any(), (seat, h)


def test_full_hands_stay_within_the_declared_bounds():
    """Ten cards in each hand (the most a hand holds): the counts read 10, the last hand row has
    zone_slot 9, and the whole observation stays inside OBS_LOW..OBS_HIGH."""
    ten = ["Firebolt", "Siege Golem", "Twin Fates", "Wolf Pup", "Spark Jolt", "Unmake", "Sprout", "Rusty Shiv",
           "Mire Leech", "Ember Drake"]
    st = Scenario(seed=3).main_phase(active=0).hand(0, ten).hand(1, ten[::-1]).ikz(0, 10).ikz(1, 10).build()
    for p in (0, 1):
        obs = st.observation(p)
        glob, ents = view(obs, "globals"), view(obs, "entities")
        assert glob[G["my_hand_count"]] == glob[G["opp_hand_count"]] == 10
        assert ents[MY_HAND + 9, F["zone_slot"]] == 9
        assert np.all(obs >= OBS_LOW) and np.all(obs <= OBS_HIGH), np.nonzero((obs < OBS_LOW) | (obs > OBS_HIGH))


@pytest.mark.parametrize("kind", ["target", "mode"])
def test_a_pending_choice_shows_its_card_and_rule_to_the_chooser_only(kind):
    """Reached by play: Ember Drake's on-play damage waits for a target (rule ENEMY_ANY); Twin
    Fates waits for a mode (no target rule)."""
    sc = Scenario(seed=3).main_phase(active=0).ikz(0, 5).unit(1, 0, "Rivet Sentry")
    if kind == "target":
        st = sc.hand(0, ["Ember Drake"]).build()
        st.apply(play_unit(0, slot=0))
        card = sc.pool.by_name["Ember Drake"]
        phase, rule = PH_CHOOSE_TARGET, int(card.abilities[Trigger.PLAY].target)
    else:
        st = sc.hand(0, ["Twin Fates"]).build()
        st.apply(play_spell(0))
        card = sc.pool.by_name["Twin Fates"]
        phase, rule = PH_CHOOSE_MODE, 0
    assert st.phase == phase and st.current_player == 0
    g0, _ = _views(st, 0)
    g1, _ = _views(st, 1)
    assert (g0[G["phase"]], g0[G["pending_card"]], g0[G["pending_target_rule"]]) == (phase, card.id, rule)
    assert (g1[G["phase"]], g1[G["pending_card"]], g1[G["pending_target_rule"]]) == (phase, 0, 0)


def test_hidden_zones_with_other_cards_leave_the_views_unchanged():
    """Not a reshuffle but other cards: the opponent's hand (same size), both main decks and
    both IKZ decks (same sizes) hold different cards; seat 0's view does not change, and seat
    1's changes only in its own hand rows."""
    def build(opp_hand, deck_card, ikz_card):
        return (Scenario(seed=3).main_phase(active=0).ikz(0, 3).ikz(1, 2)
                .hand(0, ["Firebolt", "Wolf Pup"]).hand(1, opp_hand)
                .deck(0, [deck_card] * 9).deck(1, [deck_card] * 11)
                .ikz_deck(0, [ikz_card] * 7).ikz_deck(1, [ikz_card] * 8)
                .unit(0, 1, "Rivet Sentry").unit(1, 6, "Wolf Pup").build())
    a = build(["Siege Golem", "Unmake", "Sprout"], "Siege Golem", "Cinder IKZ")
    b = build(["Spark Jolt", "Rusty Shiv", "Ember Drake"], "Wolf Pup", "Verdant IKZ")
    assert np.array_equal(a.observation(0), b.observation(0))
    oa, ob = a.observation(1), b.observation(1)
    ea, eb = view(oa, "entities").copy(), view(ob, "entities").copy()
    assert not np.array_equal(ea[MY_HAND:MY_HAND + 3], eb[MY_HAND:MY_HAND + 3])
    ea[MY_HAND:], eb[MY_HAND:] = 0, 0
    assert np.array_equal(view(oa, "globals"), view(ob, "globals")) and np.array_equal(ea, eb)
