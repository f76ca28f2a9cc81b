"""Card prefab data, deck lists, loader validation and card text."""
from __future__ import annotations

import copy
import re

import numpy as np
import pytest

from prefabs import (Ability, CardPool, CardType, Deck, DeckError, Effect, Keyword, LeaderSubtype, PrefabError,
                     SpellSubtype, Target, Trigger, UnitSubtype, WeaponSubtype, default_decks, default_pool, deck_ids,
                     load_pool, validate_deck)
from prefabs import table as T
from prefabs.enums import CHOSEN_TARGETS, KEYWORD_ORDER
from prefabs.loader import DECK_IKZ, DECK_MAIN, MAX_COPIES, parse_cards, parse_decks
from prefabs.text import ability_text, card_text, keyword_names, pool_table

PLANS = {"aggro", "control", "weapons", "spells"}


@pytest.fixture(scope="module")
def pool() -> CardPool:
    return default_pool()


@pytest.fixture(scope="module")
def decks(pool):
    return default_decks()


def of_type(pool, t):
    return [c for c in pool.cards if c.type == t]


def all_abilities(card):
    return list(card.abilities.values()) + list(card.modes)


# ---------------------------------------------------------------------------- the default pool

def test_default_pool_loads_and_ids_are_dense(pool):
    assert len(pool) >= 64
    assert [c.id for c in pool.cards] == list(range(1, len(pool) + 1))
    for c in pool.cards:
        assert pool[c.id] is c
        assert pool.id_of(c.name) == c.id
    with pytest.raises(KeyError):
        pool[0]
    with pytest.raises(KeyError):
        pool[len(pool) + 1]


def test_at_least_60_distinct_cards(pool):
    names = [c.name for c in pool.cards]
    assert len(set(names)) == len(names) >= 60


def test_card_counts_by_type(pool):
    leaders = of_type(pool, CardType.LEADER)
    assert len(leaders) == 4
    assert {LeaderSubtype(c.subtype) for c in leaders} == set(LeaderSubtype)
    for c in leaders:
        assert c.health == 20
        ab = c.abilities[Trigger.ACTIVATED]
        assert 1 <= ab.cost <= 3
    assert len({(a.effect, a.amount, a.amount2, a.target)
                for a in (c.abilities[Trigger.ACTIVATED] for c in leaders)}) == 4, "leader abilities must differ"

    ikz = {c.name: c for c in of_type(pool, CardType.IKZ)}
    assert len(ikz) == 3
    assert ikz["Plain IKZ"].abilities == {}
    arrivals = {(a.effect, a.target) for c in ikz.values() for a in c.abilities.values()}
    assert (Effect.HEAL, Target.OWN_LEADER) in arrivals
    assert (Effect.DAMAGE, Target.ENEMY_LEADER) in arrivals

    tokens = [c for c in of_type(pool, CardType.UNIT) if c.token]
    assert len(tokens) >= 2
    for t in tokens:
        assert t.cost == 0 and t.attack + t.health <= 4

    units = [c for c in of_type(pool, CardType.UNIT) if not c.token]
    assert len(units) >= 30
    assert len(of_type(pool, CardType.WEAPON)) >= 8
    assert len(of_type(pool, CardType.SPELL)) >= 14


def test_subtypes_used(pool):
    units = of_type(pool, CardType.UNIT)
    assert len({c.subtype for c in units}) >= 5
    assert {UnitSubtype(c.subtype) for c in units if not c.token} == set(UnitSubtype)
    assert {WeaponSubtype(c.subtype) for c in of_type(pool, CardType.WEAPON)} == set(WeaponSubtype)
    assert {SpellSubtype(c.subtype) for c in of_type(pool, CardType.SPELL)} == set(SpellSubtype)


def test_every_non_ikz_card_has_a_subtype(pool):
    for c in pool.cards:
        if c.type == CardType.IKZ:
            assert c.subtype == 0, c.name
            assert c.subtype_name == ""
        else:
            assert c.subtype >= 1, c.name
            assert c.subtype_name  # resolves through the subtype enum


def test_unit_curve_and_power_band(pool):
    units = [c for c in of_type(pool, CardType.UNIT) if not c.token]
    costs = {c.cost for c in units}
    assert set(range(1, 9)) <= costs
    for c in units:
        budget = 2 * c.cost + 1
        assert c.attack + c.health <= budget + 1, f"{c.name} is above the power band"
        if not c.abilities and not c.keywords:
            assert c.attack + c.health >= budget - 1, f"vanilla {c.name} is below the power band"
    for w in of_type(pool, CardType.WEAPON):
        assert 1 <= w.cost <= 5


def test_every_keyword_appears_at_least_twice(pool):
    units = [c for c in of_type(pool, CardType.UNIT) if not c.token]
    for kw in KEYWORD_ORDER:
        assert sum(1 for c in units if c.keywords & kw) >= 2, kw.name
    weapon_kws = Keyword.NONE
    for w in of_type(pool, CardType.WEAPON):
        weapon_kws |= w.keywords
    assert weapon_kws & Keyword.LIFESTEAL and weapon_kws & Keyword.SHIELD and weapon_kws & Keyword.RANGED


def test_every_effect_appears(pool):
    used = {a.effect for c in pool.cards for a in all_abilities(c)}
    assert set(Effect) - {Effect.NONE} <= used


def test_every_trigger_appears_several_times(pool):
    units = [c for c in of_type(pool, CardType.UNIT) if not c.token]
    for trig in Trigger:
        assert sum(1 for c in units if trig in c.abilities) >= 3, trig.name
    chosen_on_play = [c for c in units if Trigger.PLAY in c.abilities
                      and c.abilities[Trigger.PLAY].target in CHOSEN_TARGETS]
    assert len(chosen_on_play) >= 2
    assert any(c.abilities.get(Trigger.PLAY) and c.abilities[Trigger.PLAY].effect == Effect.MODE for c in units)
    for c in pool.cards:
        for trig in (Trigger.DEATH, Trigger.ATTACK):
            if trig in c.abilities:
                assert c.abilities[trig].target not in CHOSEN_TARGETS, c.name


def test_spells_cover_the_required_effects(pool):
    spells = of_type(pool, CardType.SPELL)
    plays = [s.abilities[Trigger.PLAY] for s in spells]
    assert any(a.effect == Effect.DAMAGE and a.target == Target.ALL_ENEMY_UNITS for a in plays)
    assert any(a.effect == Effect.DAMAGE and a.target in (Target.ENEMY_LEADER, Target.ENEMY_ANY) for a in plays)
    for eff in (Effect.DESTROY, Effect.DRAW, Effect.GAIN_IKZ, Effect.MODE):
        assert any(a.effect == eff for a in plays), eff.name
    for s in spells:
        if SpellSubtype(s.subtype) == SpellSubtype.CHARM:
            assert s.abilities[Trigger.PLAY].effect == Effect.MODE
            assert 2 <= len(s.modes) <= 3


def test_summons_name_tokens(pool):
    for c in pool.cards:
        for a in all_abilities(c):
            if a.effect == Effect.SUMMON:
                assert pool.by_name[a.token].token and pool.by_name[a.token].type == CardType.UNIT


def test_every_card_has_flavor(pool):
    for c in pool.cards:
        assert c.flavor.strip(), c.name


# ---------------------------------------------------------------------------- compiled table

def test_compiled_table_shape_and_contents(pool):
    tab = pool.table
    assert tab.dtype == np.int32
    assert tab.shape == (len(pool) + 1, T.CARD_FIELDS)
    assert not tab[0].any(), "row 0 is the empty card"
    for c in pool.cards:
        r = tab[c.id]
        assert r[T.C_TYPE] == int(c.type)
        assert r[T.C_SUBTYPE] == c.subtype
        assert r[T.C_COST] == c.cost
        assert r[T.C_ATK] == c.attack
        assert r[T.C_HP] == c.health
        assert r[T.C_KW] == int(c.keywords)
        assert r[T.C_TOKEN] == int(c.token)
        assert r[T.C_NMODES] == len(c.modes)
        for trig in Trigger:
            ab = c.abilities.get(trig)
            eff = r[T.ability_col(int(trig), T.AB_EFF)]
            assert eff == (int(ab.effect) if ab else 0)
        if Trigger.ACTIVATED in c.abilities:
            assert r[T.C_ACT_COST] == c.abilities[Trigger.ACTIVATED].cost
    summoner = pool.by_name["Grove Matriarch"]
    ab = summoner.abilities[Trigger.PLAY]
    r = tab[summoner.id]
    assert r[T.ability_col(T.SLOT_PLAY, T.AB_EFF)] == Effect.SUMMON
    assert r[T.ability_col(T.SLOT_PLAY, T.AB_A1)] == pool.id_of(ab.token)
    assert r[T.ability_col(T.SLOT_PLAY, T.AB_A2)] == ab.amount


# ---------------------------------------------------------------------------- decks

def test_four_decks_with_the_four_plans(pool, decks):
    assert len(decks) >= 4
    assert {d.plan for d in decks.values()} >= PLANS
    for d in decks.values():
        validate_deck(d, pool)
        assert d.description.strip()
        assert len(d.main) == DECK_MAIN and len(d.ikz) == DECK_IKZ
        ids = deck_ids(d, pool)
        assert ids.shape == (1 + DECK_MAIN + DECK_IKZ,) and ids.dtype == np.int32
        assert pool[int(ids[0])].type == CardType.LEADER


def test_decks_are_playable(pool, decks):
    for d in decks.values():
        cards = [pool.by_name[n] for n in d.main]
        units = [c for c in cards if c.type == CardType.UNIT]
        assert len(units) >= 12, d.name
        assert max(d.main.count(n) for n in d.main) <= MAX_COPIES
        assert all(pool.by_name[n].type == CardType.IKZ for n in d.ikz)


def test_decks_match_their_plans(pool, decks):
    by_plan = {d.plan: [pool.by_name[n] for n in d.main] for d in decks.values()}

    def avg_cost(cards):
        return sum(c.cost for c in cards) / len(cards)

    aggro = by_plan["aggro"]
    assert avg_cost(aggro) < min(avg_cost(by_plan[p]) for p in PLANS - {"aggro"})
    assert sum(1 for c in aggro if c.keywords & Keyword.CHARGE) >= 6
    control = by_plan["control"]
    assert sum(1 for c in control if c.keywords & Keyword.GUARD) >= 6
    assert any(a.target == Target.ALL_ENEMY_UNITS for c in control for a in all_abilities(c))
    assert any(a.effect == Effect.DESTROY for c in control for a in all_abilities(c))
    assert any(a.effect == Effect.HEAL for c in control for a in all_abilities(c))
    assert sum(1 for c in by_plan["weapons"] if c.type == CardType.WEAPON) >= 8
    spells = by_plan["spells"]
    assert sum(1 for c in spells if c.type == CardType.SPELL) >= 14


# ---------------------------------------------------------------------------- card text

def test_card_text_renders_every_card(pool):
    for c in pool.cards:
        s = card_text(c, pool)
        assert s.startswith(c.name) and len(s) > len(c.name) + 5
        for kw in keyword_names(c.keywords):
            assert kw in s, (c.name, kw)
        assert "?" not in s and "None" not in s, s


def test_card_text_examples(pool):
    assert card_text(pool.by_name["Ember Drake"], pool) == (
        "Ember Drake — 3 IKZ, UNIT (DRAGON) 3/2. CHARGE. On play: deal 1 damage to an enemy unit or leader.")
    assert "summon 2 Sprout tokens (1/1)" in card_text(pool.by_name["Grove Matriarch"], pool)
    assert "choose one: draw a card; or your leader restores 3 health" in card_text(pool.by_name["Wisp Lantern"])
    assert "deal 2 damage to all enemy units" in card_text(pool.by_name["Cinder Storm"], pool).lower()
    assert "+2 attack, grants LIFESTEAL" in card_text(pool.by_name["Vampiric Edge"], pool)
    assert "Activated (2 IKZ, once per turn): deal 2 damage to an enemy unit" in \
        card_text(pool.by_name["Runeforged Titan"], pool)
    leader = card_text(pool.by_name["Grask, Ember Warlord"], pool)
    assert "Leader, 20 health. Ability (2 IKZ, once per turn): deal 1 damage to an enemy unit or leader" in leader
    assert "On arrival" in card_text(pool.by_name["Cinder IKZ"], pool)


def test_ability_text_and_keyword_names():
    from prefabs import Ability
    assert keyword_names(0) == []
    assert keyword_names(Keyword.GUARD | Keyword.SHIELD) == ["GUARD", "SHIELD"]
    assert keyword_names(31) == [k.name for k in KEYWORD_ORDER]
    assert ability_text(Ability(Effect.DRAW, 2)) == "draw 2 cards"
    assert ability_text(Ability(Effect.HEAL, 4, target=Target.OWN_LEADER)) == "your leader restores 4 health"
    assert ability_text(Ability(Effect.GRANT, 9, target=Target.FRIENDLY_UNIT)) == \
        "give a friendly unit GUARD and LIFESTEAL"
    assert ability_text(Ability(Effect.BUFF, 1, 2, Target.ALL_FRIENDLY_UNITS)) == "give all friendly units +1/+2"
    assert ability_text(Ability(Effect.DESTROY, target=Target.ENEMY_UNIT)) == "destroy an enemy unit"


def test_pool_table_lists_every_card(pool):
    lines = pool_table(pool).splitlines()
    assert len(lines) == len(pool)
    for c, line in zip(pool.cards, lines):
        assert c.name in line and line.lstrip().startswith(str(c.id))


# ---------------------------------------------------------------------------- bad card input

def unit(**kw):
    raw = {"name": "Test Unit", "type": "UNIT", "subtype": "BEAST", "cost": 2, "attack": 2, "health": 2}
    raw.update(kw)
    return raw


TOKEN = {"name": "Test Token", "type": "UNIT", "subtype": "SPIRIT", "token": True, "attack": 1, "health": 1}


def test_valid_minimal_cards_parse():
    cards = parse_cards([unit(on_play={"effect": "SUMMON", "amount": 2, "token": "Test Token"}), TOKEN])
    assert [c.id for c in cards] == [1, 2]
    assert cards[0].abilities[Trigger.PLAY].token == "Test Token"


def _assert_refused(raw, fragments):
    """parse_cards refuses the cards ``raw`` (plus the token) with a PrefabError naming every fragment."""
    with pytest.raises(PrefabError) as ei:
        parse_cards(copy.deepcopy(raw) + [copy.deepcopy(TOKEN)])
    msg = str(ei.value)
    for frag in fragments:
        assert frag in msg, (frag, msg)


@pytest.mark.parametrize("raw, fragments", [
    ([unit(type="MINION")], ["Test Unit", "type", "MINION"]),
    ([unit(keywords=["FLYING"])], ["Test Unit", "keywords", "FLYING"]),
    ([{k: v for k, v in unit().items() if k != "subtype"}], ["Test Unit", "subtype"]),
    ([{"name": "Odd IKZ", "type": "IKZ", "subtype": "BEAST"}], ["Odd IKZ", "subtype"]),
    ([unit(on_death={"effect": "DAMAGE", "amount": 1, "target": "ENEMY_UNIT"})], ["Test Unit", "on_death", "ENEMY_UNIT"]),
    ([unit(on_play={"effect": "MODE"})], ["Test Unit", "MODE", "modes"]),
    ([{"name": "Odd Charm", "type": "SPELL", "subtype": "CHARM", "cost": 1, "effect": {"effect": "MODE"},
       "modes": [{"effect": "DRAW", "amount": 1}]}], ["Odd Charm", "modes"]),
    ([unit(on_play={"effect": "SUMMON", "amount": 1, "token": "Other Unit"}), unit(name="Other Unit")],
     ["Test Unit", "SUMMON", "token", "Other Unit"]),
    ([unit(on_play={"effect": "SUMMON", "amount": 1, "token": "Nobody"})], ["Test Unit", "SUMMON", "Nobody"]),
    ([unit(), unit(attack=3)], ["Test Unit", "duplicate"]),
    ([unit(cost=-1)], ["Test Unit", "cost", "-1"]),
    ([unit(health=0)], ["Test Unit", "health"]),
    ([unit(on_play={"effect": "FIREBALL", "target": "ENEMY_UNIT"})], ["Test Unit", "on_play", "FIREBALL"]),
    ([unit(on_play={"effect": "DAMAGE", "amount": 1, "target": "EVERYONE"})], ["Test Unit", "target", "EVERYONE"]),
    ([unit(on_play={"effect": "DAMAGE", "amount": 1})], ["Test Unit", "on_play", "target"]),
    ([unit(on_play={"effect": "DESTROY", "target": "ENEMY_ANY"})], ["Test Unit", "DESTROY", "ENEMY_ANY"]),
    ([unit(on_play={"effect": "DRAW", "amount": 1, "target": "OWN_LEADER"})], ["Test Unit", "DRAW", "NONE"]),
    ([unit(effect={"effect": "DRAW", "amount": 1})], ["Test Unit", "effect"]),
    ([unit(on_death={"effect": "MODE"}, modes=[{"effect": "DRAW", "amount": 1},
                                               {"effect": "DRAW", "amount": 2}])], ["Test Unit", "on_death", "MODE"]),
    ([unit(on_play={"effect": "MODE"}, modes=[{"effect": "DRAW", "amount": 1},
                                              {"effect": "DAMAGE", "amount": 1, "target": "ENEMY_UNIT"}])],
     ["Test Unit", "modes[1]", "ENEMY_UNIT"]),
    ([unit(modes=[{"effect": "DRAW", "amount": 1}, {"effect": "DRAW", "amount": 2}])], ["Test Unit", "modes"]),
    ([{"name": "Odd IKZ", "type": "IKZ", "on_arrival": {"effect": "DAMAGE", "amount": 1, "target": "ENEMY_ANY"}}],
     ["Odd IKZ", "on_arrival", "ENEMY_ANY"]),
    ([{"name": "Odd IKZ", "type": "IKZ", "cost": 1}], ["Odd IKZ", "cost"]),
    ([{"name": "Odd Spell", "type": "SPELL", "subtype": "BOLT", "cost": 1}], ["Odd Spell", "effect"]),
    ([{"name": "Odd Spell", "type": "SPELL", "subtype": "HEX", "cost": 1, "attack": 2,
       "effect": {"effect": "DESTROY", "target": "ENEMY_UNIT"}}], ["Odd Spell", "attack"]),
    ([{"name": "Odd Leader", "type": "LEADER", "subtype": "SAGE", "health": 20}], ["Odd Leader", "ability"]),
    ([{"name": "Odd Leader", "type": "LEADER", "subtype": "SAGE", "health": 20,
       "ability": {"effect": "DRAW", "amount": 1}}], ["Odd Leader", "ability", "missing 'cost'"]),
    ([unit(activated={"effect": "DRAW", "amount": 1})], ["Test Unit", "activated", "missing 'cost'"]),
    ([{"name": "Odd Leader", "type": "LEADER", "subtype": "SAGE", "health": 20,
       "ability": {"effect": "BUFF", "amount": 1, "target": "SELF", "cost": 1}}], ["Odd Leader", "SELF"]),
    ([{"name": "Odd Weapon", "type": "WEAPON", "subtype": "BLADE", "cost": 1}], ["Odd Weapon", "attack or keywords"]),
    ([{"name": "Odd Weapon", "type": "WEAPON", "subtype": "WAND", "cost": 1, "attack": 1}], ["Odd Weapon", "WAND"]),
    ([{"name": "Odd Weapon", "type": "WEAPON", "subtype": "BLADE", "cost": 1, "attack": 1, "token": True}],
     ["Odd Weapon", "token"]),
    ([{"type": "UNIT"}], ["card #1", "name"]),
])
def test_parse_cards_rejects_malformed(raw, fragments):
    _assert_refused(raw, fragments)


@pytest.mark.parametrize("name, why", [
    ("Bolt\x00", "holds a control character"), ("Bo\nlt", "holds a control character"),
    ("\x1b]0;title\x07Bolt", "holds a control character"), ("Bolt\ud800", "holds a control character"),
    ("Bolt ", "begins or ends with a space"), ("\tBolt", "holds a control character"),
    ("B" * 61, "is 61 characters long; at most 60"),
])
def test_a_card_name_that_is_not_plain_printable_text_is_refused(name, why):
    """Names are printed on the board and in replays and matched by what a user types: a NUL,
    a line break, a terminal escape sequence or a surrounding space is refused by name."""
    _assert_refused([unit(name=name)], ["card #1: name ", why])
    parse_cards([unit(name="B" * 60), copy.deepcopy(TOKEN)])   # the longest name allowed loads


def _token(name, **kw):
    return {**TOKEN, "name": name, **kw}


def test_a_summon_loop_among_tokens_is_refused_by_name():
    """A token that brings itself back through SUMMON, directly or through other tokens, by any
    trigger or mode, could refill the board for ever: a CHARGE token that summons itself when it
    dies attacks an enemy copy, both die, both return ready, and the turn never ends (the
    heuristic bot played such a pool for 50,000 decisions in one turn, and the search bot's
    rollout never returned). The loader names the loop; a chain of tokens that ends loads."""
    summon = lambda to, **kw: {"effect": "SUMMON", "amount": 1, "token": to, **kw}
    play = unit(on_play=summon("Test Token"))
    _assert_refused([play, _token("Phoenix", keywords=["CHARGE"], on_death=summon("Phoenix"))],
                    ["card 'Phoenix'", "(Phoenix -> Phoenix)"])
    _assert_refused([play, _token("Ash", on_death=summon("Ember")), _token("Ember", on_attack=summon("Ash"))],
                    ["(Ash -> Ember -> Ash)"])
    _assert_refused([play, _token("A", activated=summon("B", cost=0)),
                     _token("B", on_play={"effect": "MODE"}, modes=[summon("C"), {"effect": "DRAW", "amount": 1}]),
                     _token("C", on_death=summon("A"))], ["(A -> B -> C -> A)"])
    # a loop reached from a chain still names the loop alone
    _assert_refused([play, _token("Head", on_death=summon("Loop")), _token("Loop", on_death=summon("Loop"))],
                    ["(Loop -> Loop)"])
    # chains that end, a tail two tokens share, and units (never summoned) summoning tokens: all load
    cards = parse_cards([unit(on_death=summon("A")), unit(name="Other", on_attack=summon("A")),
                         _token("A", on_death=summon("B", amount=2)), _token("B", on_death=summon("C")),
                         _token("C", keywords=["CHARGE"]), _token("D", on_death=summon("C"))])
    assert [c.name for c in cards if c.token] == ["A", "B", "C", "D"]


def test_parse_cards_rejects_empty():
    with pytest.raises(PrefabError):
        parse_cards([])


def test_enum_names_are_matched_in_ascii_only():
    """Enum names are matched in any case, but only in ASCII: str.upper() maps the dotless "ı"
    to I and the long "ſ" to S, so "unıt" read as UNIT and "ſhield" as SHIELD."""
    assert parse_cards([unit(type="unit", subtype="beast", keywords=["shield"])])[0].type == CardType.UNIT
    _assert_refused([unit(type="un\u0131t")], ["'un\u0131t' is not a valid CardType"])
    _assert_refused([unit(keywords=["\u017fhield"])], ["'\u017fhield' is not a valid Keyword"])


def test_load_pool_rejects_bad_toml(tmp_path):
    p = tmp_path / "cards.toml"
    p.write_text("[[card]]\nname = 'Broken\n")
    with pytest.raises(PrefabError, match="not valid TOML"):
        load_pool(p)


def test_cards_and_decks_files_past_the_parsers_limits_or_named_empty_are_refused(tmp_path):
    """Nesting past the stack and a 5,000-digit integer are the loader's typed errors naming the
    file, not a RecursionError or a bare ValueError; an empty name is refused, not read as the
    shipped file (None is the shipped file)."""
    from prefabs import DeckError, default_pool, load_decks
    for name, text, why in (("deep.toml", "x = " + "[" * 100_000 + "]" * 100_000 + "\n", "RecursionError"),
                            ("big.toml", "[[card]]\ncost = " + "9" * 5_000 + "\n", "ValueError: Exceeds the limit")):
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(PrefabError, match=re.escape(f"{p}: not valid TOML ({why}")):
            load_pool(p)
        with pytest.raises(DeckError, match=re.escape(f"{p}: not valid TOML ({why}")):
            load_decks(default_pool(), p)
    with pytest.raises(PrefabError, match="a cards file is named by its path, got ''"):
        load_pool("")
    with pytest.raises(DeckError, match="a decks file is named by its path, got ' '"):
        load_decks(default_pool(), " ")
    assert len(load_pool(None).cards) == len(default_pool().cards)


# ---------------------------------------------------------------------------- bad decks

@pytest.fixture
def good_deck(decks):
    return next(d for d in decks.values() if d.plan == "aggro")


def with_(deck: Deck, **kw) -> Deck:
    fields = dict(name=deck.name, plan=deck.plan, leader=deck.leader, main=deck.main, ikz=deck.ikz,
                  description=deck.description)
    fields.update(kw)
    return Deck(**fields)


def first_with_copies(deck: Deck, n: int) -> str:
    return next(x for x in deck.main if deck.main.count(x) == n)


def test_validate_deck_rejects_29_cards(pool, good_deck):
    with pytest.raises(DeckError, match="exactly 30"):
        validate_deck(with_(good_deck, main=good_deck.main[:-1]), pool)


def test_validate_deck_rejects_31_cards(pool, good_deck):
    with pytest.raises(DeckError, match="exactly 30"):
        validate_deck(with_(good_deck, main=good_deck.main + good_deck.main[:1]), pool)


def test_validate_deck_rejects_four_copies(pool, good_deck):
    three = first_with_copies(good_deck, 3)
    main = list(good_deck.main)
    other = next(x for x in main if x != three)
    main[main.index(other)] = three
    with pytest.raises(DeckError, match="4 copies") as ei:
        validate_deck(with_(good_deck, main=tuple(main)), pool)
    assert three in str(ei.value)


def test_validate_deck_rejects_ikz_in_main(pool, good_deck):
    main = ("Plain IKZ",) + good_deck.main[1:]
    with pytest.raises(DeckError, match="Plain IKZ") as ei:
        validate_deck(with_(good_deck, main=main), pool)
    assert "IKZ" in str(ei.value) and "main deck" in str(ei.value)


def test_validate_deck_rejects_unit_in_ikz_deck(pool, good_deck):
    ikz = ("Ember Whelp",) + good_deck.ikz[1:]
    with pytest.raises(DeckError, match="IKZ deck holds only IKZ"):
        validate_deck(with_(good_deck, ikz=ikz), pool)


def test_validate_deck_rejects_wrong_ikz_count(pool, good_deck):
    with pytest.raises(DeckError, match="exactly 10"):
        validate_deck(with_(good_deck, ikz=good_deck.ikz[:-1]), pool)


def test_validate_deck_rejects_unknown_card(pool, good_deck):
    main = ("Nonexistent Card",) + good_deck.main[1:]
    with pytest.raises(DeckError, match="unknown card 'Nonexistent Card'"):
        validate_deck(with_(good_deck, main=main), pool)
    with pytest.raises(DeckError, match="unknown card 'Nonexistent IKZ'"):
        validate_deck(with_(good_deck, ikz=("Nonexistent IKZ",) + good_deck.ikz[1:]), pool)


def test_validate_deck_rejects_non_leader_leader(pool, good_deck):
    with pytest.raises(DeckError, match="not a leader"):
        validate_deck(with_(good_deck, leader="Ember Whelp"), pool)
    with pytest.raises(DeckError, match="not a leader"):
        validate_deck(with_(good_deck, leader="Nobody At All"), pool)


def test_validate_deck_rejects_token_in_main(pool, good_deck):
    main = ("Sprout",) + good_deck.main[1:]
    with pytest.raises(DeckError, match="token"):
        validate_deck(with_(good_deck, main=main), pool)


def test_validate_deck_rejects_leader_in_main(pool, good_deck):
    main = (good_deck.leader,) + good_deck.main[1:]
    with pytest.raises(DeckError, match="LEADER"):
        validate_deck(with_(good_deck, main=main), pool)


def test_parse_decks_rejects_bad_tables(pool, good_deck):
    main = {}
    for n in good_deck.main:
        main[n] = main.get(n, 0) + 1
    ikz = {}
    for n in good_deck.ikz:
        ikz[n] = ikz.get(n, 0) + 1
    raw = {"name": "X", "plan": "aggro", "leader": good_deck.leader, "main": main, "ikz": ikz}
    assert parse_decks([raw], pool)["X"].main == good_deck.main
    with pytest.raises(DeckError, match="duplicate"):
        parse_decks([raw, dict(raw)], pool)
    bad = dict(raw, main=dict(main, **{"Ember Whelp": 0}))
    with pytest.raises(DeckError, match="must be an integer in 1..30"):
        parse_decks([bad], pool)
    with pytest.raises(DeckError, match="missing a non-empty 'name'"):
        parse_decks([{k: v for k, v in raw.items() if k != "name"}], pool)
    for name, why in (("X\x1b[2J", "holds a control character"), (" X", "begins or ends with a space"),
                      ("X" * 61, "is 61 characters long; at most 60")):
        with pytest.raises(DeckError, match=re.escape(why)):
            parse_decks([dict(raw, name=name)], pool)
    # a misspelt field is named, not dropped (a 'descripton' or 'Main' used to vanish silently)
    for typo in ("descripton", "Main", "copies"):
        with pytest.raises(DeckError, match=rf"deck 'X': unknown field\(s\) \['{typo}'\]; allowed: .*'description'"):
            parse_decks([dict(raw, **{typo: "x"})], pool)
    for key in ("plan", "leader", "description"):
        with pytest.raises(DeckError, match=f"'{key}' must be a string"):
            parse_decks([dict(raw, **{key: 3})], pool)


def test_deck_and_card_files_that_cannot_be_read_are_named(tmp_path, pool):
    """A missing file, a folder, bytes that are not UTF-8, or another top-level key than
    [[card]] / [[deck]]: PrefabError or DeckError naming the path, never OSError or a silent skip."""
    from prefabs import load_decks
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"\xff\xfe[[card]]")
    extra = tmp_path / "x.toml"
    extra.write_text("[[decks]]\nname = 'Y'\n")
    for path, says in ((tmp_path / "missing.toml", "cannot be read"), (tmp_path, "cannot be read"),
                       (binary, "not UTF-8"), (extra, r"unknown top-level key\(s\) \['decks'\]")):
        with pytest.raises(PrefabError, match=says) as ei:
            load_pool(path)
        assert str(path) in str(ei.value)
        with pytest.raises(DeckError, match=says) as ei:
            load_decks(pool, path)
        assert str(path) in str(ei.value)


def test_find_deck_takes_any_case_or_a_unique_prefix(decks):
    """Every face names prebuilt decks the same way (`tcg play` always did)."""
    from prefabs import find_deck
    name = next(iter(decks))
    assert find_deck(name) == name
    assert find_deck(name.upper()) == name == find_deck(name.lower().replace(" ", "-"))
    assert find_deck(name[:4].lower()) == name
    with pytest.raises(DeckError, match="unknown deck 'Nope'; prebuilt decks: "):
        find_deck("Nope")
    with pytest.raises(DeckError, match="unknown deck ''"):
        find_deck("")
    two = {"Alpha One": None, "Alpha Two": None}
    assert find_deck("alpha_two", two) == "Alpha Two"
    with pytest.raises(DeckError, match="'alpha' is ambiguous: it could be Alpha One, Alpha Two"):
        find_deck("alpha", two)
    with pytest.raises(DeckError, match="given by name"):
        find_deck(5)


def test_grant_can_give_shield():
    cards = parse_cards([unit(on_play={"effect": "GRANT", "amount": int(Keyword.SHIELD), "target": "FRIENDLY_UNIT"})])
    assert cards[0].abilities[Trigger.PLAY].amount == Keyword.SHIELD


# ---------------------------------------------------------------------------- limits, exactly

def test_pool_size_limit_is_exactly_127_cards():
    """127 cards fit the int8 observation's card ids; the 128th is refused, naming the limit."""
    from prefabs.loader import MAX_CARDS
    many = [unit(name=f"U{i}") for i in range(MAX_CARDS - 1)] + [copy.deepcopy(TOKEN)]
    assert len(parse_cards(many)) == MAX_CARDS == 127
    with pytest.raises(PrefabError, match="the pool has 128 cards; at most 127"):
        parse_cards(many + [unit(name="One Too Many")])


def test_mode_count_limit_is_exactly_three():
    from prefabs.loader import MAX_MODES
    draw = [{"effect": "DRAW", "amount": k} for k in range(1, MAX_MODES + 2)]
    ok = parse_cards([unit(on_play={"effect": "MODE"}, modes=draw[:MAX_MODES])])
    assert len(ok[0].modes) == MAX_MODES == 3
    with pytest.raises(PrefabError, match=r"card 'Test Unit': effect MODE needs 'modes', a list of 2\.\.3"):
        parse_cards([unit(on_play={"effect": "MODE"}, modes=draw[:MAX_MODES + 1])])


def test_leader_health_range_is_10_to_40():
    def leader(hp):
        return {"name": "Odd Leader", "type": "LEADER", "subtype": "SAGE", "health": hp,
                "ability": {"effect": "DRAW", "amount": 1, "cost": 2}}
    for hp in (10, 40):
        assert parse_cards([leader(hp)])[0].health == hp
    for hp in (9, 41, 0):
        with pytest.raises(PrefabError, match=rf"card 'Odd Leader': field 'health' = {hp} must be an integer in 10\.\.40"):
            parse_cards([leader(hp)])


@pytest.mark.parametrize("raw, fragments", [
    # a field a card type does not have is refused, naming the card and the field
    ([{"name": "Odd Leader", "type": "LEADER", "subtype": "SAGE", "health": 20, "keywords": ["GUARD"],
       "ability": {"effect": "DRAW", "amount": 1}}], ["Odd Leader", "LEADER", "keywords"]),
    ([{"name": "Odd Leader", "type": "LEADER", "subtype": "SAGE", "health": 20, "attack": 2,
       "ability": {"effect": "DRAW", "amount": 1}}], ["Odd Leader", "LEADER", "attack"]),
    ([{"name": "Odd Leader", "type": "LEADER", "subtype": "SAGE", "health": 20, "cost": 3,
       "ability": {"effect": "DRAW", "amount": 1}}], ["Odd Leader", "LEADER", "cost"]),
    ([{"name": "Odd Weapon", "type": "WEAPON", "subtype": "BLADE", "cost": 1, "attack": 1, "health": 2}],
     ["Odd Weapon", "WEAPON", "health"]),
    # 'cost' belongs to activated abilities only
    ([unit(on_play={"effect": "DRAW", "amount": 1, "cost": 2})], ["Test Unit'.on_play", "cost", "allowed"]),
    # amounts that would do nothing
    ([unit(on_play={"effect": "DRAW", "amount": 0})], ["Test Unit'.on_play", "DRAW", "amount >= 1"]),
    ([unit(on_play={"effect": "GAIN_IKZ"})], ["Test Unit'.on_play", "GAIN_IKZ", "amount >= 1"]),
    ([unit(on_play={"effect": "GRANT", "amount": 0, "target": "FRIENDLY_UNIT"})],
     ["Test Unit'.on_play", "GRANT", "keyword bits 1..31"]),
    ([unit(on_play={"effect": "BUFF", "target": "FRIENDLY_UNIT"})], ["Test Unit'.on_play", "BUFF", "amount2"]),
    # a mode cannot open another choice
    ([unit(on_play={"effect": "MODE"}, modes=[{"effect": "DRAW", "amount": 1}, {"effect": "MODE"}])],
     ["Test Unit'.modes[1]", "MODE"]),
])
def test_parse_cards_rejects_fields_and_amounts_a_card_cannot_have(raw, fragments):
    _assert_refused(raw, fragments)


# -- cards built by hand (CardPool checks them as a cards file's would be)

def test_card_raw_round_trips_every_shipped_card(pool):
    from prefabs.loader import card_raw
    again = parse_cards([card_raw(c) for c in pool.cards])
    assert again == list(pool.cards)
    assert np.array_equal(CardPool(list(pool.cards)).table, pool.table)


def test_a_valid_card_built_by_hand_joins_the_pool(pool):
    from dataclasses import replace
    unit = next(c for c in pool.cards if c.type == CardType.UNIT and not c.token)
    extra = replace(unit, id=len(pool) + 1, name="Hand-made", attack=7, health=1, keywords=Keyword.GUARD,
                    abilities={Trigger.PLAY: Ability(Effect.DRAW, 2),
                               Trigger.ACTIVATED: Ability(Effect.DRAW, 1, cost=0)}, modes=())
    grown = CardPool(list(pool.cards) + [extra])   # a free activated ability: its cost 0 is written out
    row = grown.table[extra.id]
    assert (row[T.C_ATK], row[T.C_HP], row[T.C_KW]) == (7, 1, int(Keyword.GUARD))
    assert row[T.ability_col(int(Trigger.PLAY), 0)] == int(Effect.DRAW)
    assert row[T.ability_col(int(Trigger.PLAY), 1)] == 2


def _spoil(pool, kind):
    """The shipped cards with one card spoiled as ``kind`` says, and the message fragments."""
    from dataclasses import replace
    cards = list(pool.cards)
    i, unit = next((i, c) for i, c in enumerate(cards) if c.type == CardType.UNIT and not c.token)
    spoiled = {
        "attack": (replace(unit, attack=200), [unit.name, "attack", "0..12"]),
        "draw": (replace(unit, abilities={Trigger.PLAY: Ability(Effect.DRAW, 10 ** 9)}),
                 [unit.name, "amount", "0..10"]),
        "summon": (replace(unit, abilities={Trigger.PLAY: Ability(Effect.SUMMON, 1, token=unit.name)}),
                   [unit.name, "SUMMON", "token unit"]),
        "keyword": (replace(unit, keywords=1024), [unit.name, "keywords", "1024", "GUARD"]),
        "subtype": (replace(unit, subtype=77), [unit.name, "subtype", "77", "BEAST"]),
        "type": (replace(unit, type=99), [unit.name, "type", "99"]),
        "trigger": (replace(unit, abilities={Trigger.ACTIVATED: Ability(Effect.DRAW, 1, cost=99)}),
                    [unit.name, "cost", "0..10"]),
        "id": (replace(unit, id=i + 2), [unit.name, "id", f"must be {i + 1}"]),
        "not a card": ("Sprout", [f"card #{i + 1}", "Card", "str"]),
    }[kind]
    cards[i] = spoiled[0]
    return cards, spoiled[1]


@pytest.mark.parametrize("kind", ["attack", "draw", "summon", "keyword", "subtype", "type", "trigger", "id",
                                  "not a card"])
def test_card_pool_refuses_a_card_built_by_hand_that_a_cards_file_could_not_hold(pool, kind):
    # Before CardPool checked its cards, each of these compiled into the engine's table: an
    # attack past the int8 observation, a draw of 10**9 cards, a SUMMON of a non-token.
    cards, fragments = _spoil(pool, kind)
    with pytest.raises(PrefabError) as e:
        CardPool(cards)
    for f in fragments:
        assert f in str(e.value), (kind, str(e.value))


def test_card_pool_refuses_two_cards_in_swapped_order(pool):
    cards = list(pool.cards)
    cards[0], cards[1] = cards[1], cards[0]
    with pytest.raises(PrefabError, match="ids run 1..n in list order"):
        CardPool(cards)


# ---------------------------------------------------------------------------- mutation audit of the loader
# Each case below is a rule of docs/RULES.md §5, §7, §8 or §14 that no earlier test pinned.

def _spell(**kw):
    raw = {"name": "Test Spell", "type": "SPELL", "subtype": "CHARM", "cost": 1}
    raw.update(kw)
    return raw


@pytest.mark.parametrize("raw, fragments", [
    # integers are integers: a TOML boolean is not a cost of 1
    ([unit(cost=True)], ["Test Unit", "cost", "True"]),
    ([unit(on_play={"effect": "DRAW", "amount": True})], ["Test Unit", "amount", "True"]),
    # amount2 is used only by BUFF (§8)
    ([unit(on_play={"effect": "DAMAGE", "amount": 1, "amount2": 1, "target": "ENEMY_UNIT"})],
     ["Test Unit'.on_play", "amount2", "DAMAGE"]),
    # SUMMON's token is a card name; 'token' belongs to SUMMON only
    ([unit(on_play={"effect": "SUMMON", "amount": 1, "token": ["Test Token"]})], ["Test Unit'.on_play", "token"]),
    ([unit(on_play={"effect": "DRAW", "amount": 1, "token": "Test Token"})], ["Test Unit", "token", "only for SUMMON"]),
    # GRANT is unit-only: it cannot name a leader (§8)
    ([unit(on_play={"effect": "GRANT", "amount": 1, "target": "OWN_LEADER"})], ["Test Unit'.on_play", "GRANT", "OWN_LEADER"]),
    ([unit(on_play={"effect": "GRANT", "amount": 1, "target": "ENEMY_ANY"})], ["Test Unit'.on_play", "GRANT", "ENEMY_ANY"]),
    # HEAL needs a1 >= 1 (§8)
    ([unit(on_play={"effect": "HEAL", "amount": 0, "target": "OWN_LEADER"})], ["Test Unit'.on_play", "HEAL", "amount >= 1"]),
    # on_attack never takes a chosen target (§7)
    ([unit(on_attack={"effect": "DAMAGE", "amount": 1, "target": "ENEMY_UNIT"})], ["Test Unit'.on_attack", "ENEMY_UNIT"]),
    # on death the unit has left the board: SELF would name nothing
    ([unit(on_death={"effect": "BUFF", "amount": 1, "target": "SELF"})], ["Test Unit'.on_death", "SELF"]),
    # an IKZ arrival cannot be GAIN_IKZ (§7)
    ([{"name": "Odd IKZ", "type": "IKZ", "on_arrival": {"effect": "GAIN_IKZ", "amount": 1}}],
     ["Odd IKZ'.on_arrival", "GAIN_IKZ"]),
    # SELF is a unit's own: a spell's mode cannot use it (§7)
    ([_spell(effect={"effect": "MODE"}, modes=[{"effect": "BUFF", "amount": 1, "target": "SELF"},
                                               {"effect": "DRAW", "amount": 1}])], ["Test Spell'.modes[0]", "SELF"]),
    # 'token' is true or false
    ([unit(name="Odd Token", token=1, on_play=None)], ["Odd Token", "token", "true or false"]),
    # required fields: a weapon's cost, a unit's attack
    ([{"name": "Odd Weapon", "type": "WEAPON", "subtype": "BLADE", "attack": 1}], ["Odd Weapon", "cost"]),
    ([{k: v for k, v in unit().items() if k != "attack"}], ["Test Unit", "attack", "UNIT"]),
    # a name of blanks is no name
    ([unit(name="   ")], ["card #1", "name"]),
])
def test_parse_cards_rejects_what_the_mutation_audit_found_unpinned(raw, fragments):
    raw = [{k: v for k, v in r.items() if v is not None} for r in raw]
    _assert_refused(raw, fragments)


def test_the_boundary_cards_of_the_audit_parse():
    """The legal neighbours of the refused cases above: SELF on a unit's on_play and in a unit's
    mode, BUFF with only amount2, HEAL 1 on a leader, a token without cost."""
    cards = parse_cards([
        unit(on_play={"effect": "MODE"}, modes=[{"effect": "BUFF", "amount": 1, "target": "SELF"},
                                                {"effect": "DRAW", "amount": 1}],
             on_attack={"effect": "BUFF", "amount2": 1, "target": "SELF"},
             on_death={"effect": "HEAL", "amount": 1, "target": "OWN_LEADER"}),
        TOKEN])
    assert cards[0].modes[0] == Ability(Effect.BUFF, 1, 0, Target.SELF)
    assert cards[0].abilities[Trigger.ATTACK] == Ability(Effect.BUFF, 0, 1, Target.SELF)
    assert cards[1].token is True and cards[1].cost == 0


def test_card_pool_refuses_a_hand_built_card_whose_flavor_is_not_text(pool):
    from dataclasses import replace
    cards = list(pool.cards)
    cards[0] = replace(cards[0], flavor=5)   # a cards file would give the text "5"
    with pytest.raises(PrefabError, match="flavor"):
        CardPool(cards)


_VIEW_CARDS = [
    {"name": "Viewed Unit", "type": "UNIT", "subtype": "KNIGHT", "cost": 4, "attack": 3, "health": 5,
     "keywords": ["CHARGE", "SHIELD"], "activated": {"effect": "DAMAGE", "amount": 2, "target": "ENEMY_UNIT", "cost": 2},
     "on_play": {"effect": "MODE"},
     "modes": [{"effect": "DAMAGE", "amount": 1, "target": "ENEMY_LEADER"},
               {"effect": "BUFF", "amount": 2, "amount2": 3, "target": "ALL_FRIENDLY_UNITS"},
               {"effect": "SUMMON", "amount": 2, "token": "Test Token"}]},
    TOKEN,
]


def test_compiled_modes_and_hand_view_of_a_hand_written_card():
    """Mode columns hold effect, a1, a2, target (SUMMON: token id, copies); the view columns are the
    hand row of RULES §13: printed stats, max_health = printed health, keyword bits, ability flag and cost."""
    cards = parse_cards(copy.deepcopy(_VIEW_CARDS))
    tab = CardPool(cards).table
    r = tab[1]
    assert r[T.C_NMODES] == 3
    modes = [[int(r[T.mode_col(m, f)]) for f in range(4)] for m in range(3)]
    assert modes == [[int(Effect.DAMAGE), 1, 0, int(Target.ENEMY_LEADER)],
                     [int(Effect.BUFF), 2, 3, int(Target.ALL_FRIENDLY_UNITS)],
                     [int(Effect.SUMMON), 2, 2, int(Target.NONE)]]
    view = {name: int(r[T.C_VIEW + f]) for f, name in enumerate(T.ENTITY_FEATURES)}
    assert view == dict(view, present=1, card_id=1, owner=0, zone=4, card_type=1, subtype=3, cost=4, attack=3,
                        health=5, max_health=5, guard=0, charge=1, ranged=0, lifesteal=0, shield=1,
                        has_ability=1, ability_cost=2)
    token = {name: int(tab[2][T.C_VIEW + f]) for f, name in enumerate(T.ENTITY_FEATURES)}
    assert (token["has_ability"], token["ability_cost"], token["max_health"], token["card_id"]) == (0, 0, 1, 2)


def _raw_deck(deck: Deck) -> dict:
    def counts(names):
        out = {}
        for n in names:
            out[n] = out.get(n, 0) + 1
        return out
    return {"name": "X", "plan": deck.plan, "leader": deck.leader, "main": counts(deck.main), "ikz": counts(deck.ikz)}


def test_parse_decks_refuses_boolean_counts_and_lists(pool, good_deck):
    raw = _raw_deck(good_deck)
    one = next(n for n, k in raw["main"].items() if k == 1) if 1 in raw["main"].values() else None
    name = one or next(iter(raw["main"]))
    bad = dict(raw, main=dict(raw["main"], **{name: True}))
    with pytest.raises(DeckError, match="must be an integer in 1..30, got True"):
        parse_decks([bad], pool)
    with pytest.raises(DeckError, match="'ikz' must be a table"):
        parse_decks([dict(raw, ikz=list(good_deck.ikz))], pool)


def test_deck_ids_are_leader_then_main_then_ikz_and_validated(pool, good_deck):
    ids = deck_ids(good_deck, pool)
    assert [pool[int(i)].name for i in ids] == [good_deck.leader, *good_deck.main, *good_deck.ikz]
    with pytest.raises(DeckError, match="exactly 30"):
        deck_ids(with_(good_deck, main=good_deck.main[:-1]), pool)


def test_deck_choice_takes_all_in_any_case(decks):
    from prefabs.loader import deck_choice
    for text in ("all", "ALL", " All "):
        assert deck_choice(text) is None
    name = next(iter(decks))
    assert deck_choice(name) == name
    with pytest.raises(DeckError, match="or 'all'"):
        deck_choice("nope")


@pytest.mark.parametrize("raw, fragments", [
    ([unit(type="NONE")], ["Test Unit", "type", "NONE"]),
    ([unit(on_play=5)], ["Test Unit'.on_play", "table"]),
    ([unit(on_play={"amount": 1, "target": "ENEMY_UNIT"})], ["Test Unit'.on_play", "missing 'effect'"]),
    ([unit(on_play={"effect": "SUMMON", "amount": 0, "token": "Test Token"})], ["Test Unit'.on_play", "SUMMON", "amount >= 1"]),
    ([{"name": "Odd IKZ", "type": "IKZ", "attack": 1}], ["Odd IKZ", "IKZ", "attack"]),
    ([{"name": "Odd IKZ", "type": "IKZ", "health": 1}], ["Odd IKZ", "IKZ", "health"]),
    ([_spell(subtype="BOLT", effect={"effect": "DRAW", "amount": 1},
             on_death={"effect": "DRAW", "amount": 1})], ["Test Spell", "on_death", "SPELL"]),
])
def test_parse_cards_rejects_more_malformed_fields(raw, fragments):
    _assert_refused(raw, fragments)


def test_empty_card_and_deck_files_are_refused(tmp_path, pool):
    from prefabs import load_decks
    empty = tmp_path / "empty.toml"
    empty.write_text("# nothing here\n")
    with pytest.raises(PrefabError, match=r"non-empty \[\[card\]\] array"):
        load_pool(empty)
    with pytest.raises(DeckError, match=r"non-empty \[\[deck\]\] array"):
        load_decks(pool, empty)
    with pytest.raises(DeckError, match="non-empty"):
        parse_decks([], pool)


def test_find_deck_prefers_the_exact_name_then_a_whole_name_in_any_case():
    from prefabs import find_deck
    two = {"Alpha": None, "ALPHA": None}
    assert find_deck("Alpha", two) == "Alpha" and find_deck("ALPHA", two) == "ALPHA"
    with pytest.raises(DeckError, match="ambiguous"):
        find_deck("alpha", two)
    nested = {"Fire": None, "Fire Storm": None}
    assert find_deck("fire", nested) == "Fire"
    assert find_deck("FIRE_STORM", nested) == "Fire Storm"
    with pytest.raises(DeckError, match="ambiguous"):
        find_deck("ir", nested)


@pytest.mark.parametrize("raw, fragments", [
    ([unit(on_play={"effect": "BUFF", "amount": 1, "target": "ANY"})], ["Test Unit'.on_play", "BUFF", "ANY"]),
    ([unit(on_play={"effect": "NONE", "target": "ENEMY_UNIT"})], ["Test Unit'.on_play", "NONE"]),
    ([unit(keywords=5)], ["Test Unit", "keywords", "list"]),
    ([unit(keywords="GUARD")], ["Test Unit", "keywords", "list"]),
])
def test_parse_cards_rejects_targets_effects_and_keyword_shapes(raw, fragments):
    _assert_refused(raw, fragments)


def test_validate_deck_caps_spells_at_three_copies_too(pool, good_deck):
    spell = next(n for n in good_deck.main if pool.by_name[n].type == CardType.SPELL)
    main = list(good_deck.main)
    for i, n in enumerate(main):
        if main.count(spell) == MAX_COPIES + 1:
            break
        if n != spell:
            main[i] = spell
    assert len(main) == DECK_MAIN and main.count(spell) == 4
    with pytest.raises(DeckError, match=f"4 copies of '{spell}'"):
        validate_deck(with_(good_deck, main=tuple(main)), pool)


@pytest.mark.parametrize("raw, fragments", [
    ([{"name": "Odd IKZ", "type": "IKZ", "on_arrival": {"effect": "BUFF", "amount": 1, "target": "SELF"}}],
     ["Odd IKZ'.on_arrival", "SELF"]),
    ([{"name": "Odd IKZ", "type": "IKZ", "subtype": 0}], ["Odd IKZ", "subtype"]),
    ([{k: v for k, v in unit(token=False).items() if k != "cost"}], ["Test Unit", "cost"]),
    ([unit(activated={"effect": "MODE", "cost": 1}, modes=[{"effect": "DRAW", "amount": 1},
                                                          {"effect": "DRAW", "amount": 2}])], ["Test Unit'.activated", "MODE"]),
])
def test_parse_cards_rejects_self_on_ikz_an_ikz_subtype_and_misplaced_mode(raw, fragments):
    _assert_refused(raw, fragments)


@pytest.mark.parametrize("field, value", [("type", True), ("subtype", True), ("keywords", "GUARD"), ("keywords", 1.0)])
def test_card_pool_refuses_hand_built_fields_of_the_wrong_kind(pool, field, value):
    """True is not the type UNIT nor subtype 1, and keywords are Keyword bits, not text or floats."""
    from dataclasses import replace
    cards = list(pool.cards)
    i = next(i for i, c in enumerate(cards) if c.type == CardType.UNIT and not c.token)
    cards[i] = replace(cards[i], **{field: value})
    with pytest.raises(PrefabError, match=cards[i].name):
        CardPool(cards)


def test_unknown_names_in_the_pool_and_non_table_decks_raise_deck_errors(pool):
    with pytest.raises(DeckError, match="unknown card 'Nobody'"):
        pool.id_of("Nobody")
    with pytest.raises(DeckError, match="deck #1: missing a non-empty 'name'"):
        parse_decks(["Emberfang Rush"], pool)


def test_loader_bugs_the_audit_found_are_refused_by_name(pool):
    """A copy count of 2**40 is a DeckError before any list is built (it was a MemoryError); a
    flavor that is not text is refused (it was turned into text); a deck name with '-' matches
    in any case and with spaces for the hyphen (it matched only exactly)."""
    from prefabs.loader import find_deck
    leader = next(c.name for c in pool.cards if c.type == CardType.LEADER)
    unit = next(c.name for c in pool.cards if c.type == CardType.UNIT and not c.token)
    ikz = next(c.name for c in pool.cards if c.type == CardType.IKZ)
    for n in (2 ** 40, 2 ** 63, 31):
        with pytest.raises(DeckError, match=f"count for '{unit}' must be an integer in 1..30, got {n}"):
            parse_decks([{"name": "X", "leader": leader, "main": {unit: n}, "ikz": {ikz: 10}}], pool)
    with pytest.raises(PrefabError, match=r"card 'Odd': 'flavor' must be text, got \['a', 1\]"):
        parse_cards([{"name": "Odd", "type": "UNIT", "subtype": "BEAST", "cost": 1, "attack": 1, "health": 1,
                      "flavor": ["a", 1]}])
    decks = {"Knight-Errant Deck": None, "Other": None}
    for query in ("knight-errant deck", "KNIGHT-ERRANT DECK", "knight errant deck", "knight_errant"):
        assert find_deck(query, decks) == "Knight-Errant Deck", query


def test_card_pool_names_abilities_or_modes_of_the_wrong_kind(pool):
    """abilities=None or modes=5 on a hand-built card is a PrefabError naming the field, not a TypeError."""
    from dataclasses import replace
    cards = list(pool.cards)
    i = next(i for i, c in enumerate(cards) if c.type == CardType.UNIT and c.abilities)
    for field, value in (("abilities", None), ("modes", 5)):
        spoiled = cards[:i] + [replace(cards[i], **{field: value})] + cards[i + 1:]
        with pytest.raises(PrefabError, match=rf"card '{cards[i].name}': field\(s\) \['{field}'\] differ"):
            CardPool(spoiled)
