"""Second-round audit of the card text (prefabs/text.py).

Property checks over every member of the enums the text reads (Target, Effect, Trigger,
Keyword, CardType and the subtypes) and over every card of the default pool: the text names
the card, its cost, type, subtype, stats and keywords, and each ability with its trigger, amount
and target rule (docs/RULES.md §7, §8). Then the cases no prebuilt card prints: a token whose
attack and health differ or that has one keyword, a GRANT of each keyword, a leader whose
health is not 20, a free ability, a SUMMON printed without a pool or from an arrival,
activated or leader ability. Last, the appendix of docs/RULES.md, which says it is the text
``card_text`` renders, is checked against it card by card.
"""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from prefabs import Ability, CardPool, Keyword, default_pool
from prefabs.enums import KEYWORD_ORDER, SUBTYPES, CardType, Effect, Target, Trigger
from prefabs.loader import Card
from prefabs.text import TARGET_PHRASES, ability_text, card_text, keyword_names

RULES = Path(__file__).resolve().parents[1] / "docs" / "RULES.md"

# a target rule each effect accepts (RULES.md §8: NONE for the controller's effects, a unit rule
# for BUFF / DESTROY / GRANT)
_TARGET_FOR = {Effect.DRAW: Target.NONE, Effect.SUMMON: Target.NONE, Effect.GAIN_IKZ: Target.NONE,
               Effect.MODE: Target.NONE}
_LEFTOVERS = ("None", "{", "}", "_", "?", "  ")


@pytest.fixture(scope="module")
def pool():
    return default_pool()


def _no_leftovers(text: str, name: str = "") -> None:
    rest = text.replace(name, "", 1) if name else text
    for bad in _LEFTOVERS:
        assert bad not in rest, (bad, text)


def _extended_pool(pool, *cards: Card) -> CardPool:
    """The default pool plus ``cards`` (ids continue), checked as a cards file's would be, so
    each extra card is a valid prefab."""
    n = len(pool)
    return CardPool(list(pool.cards) + [replace(c, id=n + 1 + i) for i, c in enumerate(cards)])


# ----------------------------------------------------------------------------- every enum member

def test_every_target_rule_has_its_own_phrase():
    """Each target rule but NONE has a non-empty, distinct noun phrase in plain words."""
    rules = [t for t in Target if t != Target.NONE]
    assert set(TARGET_PHRASES) == set(Target)
    phrases = [TARGET_PHRASES[t] for t in rules]
    assert all(phrases) and len(set(phrases)) == len(phrases)
    for t, p in zip(rules, phrases):
        assert t.name not in p   # not the fallback, which prints the rule's name
        _no_leftovers(p)


def test_every_keyword_is_named_and_in_the_canonical_order():
    """KEYWORD_ORDER holds every keyword once; each bit alone names exactly that keyword, and all
    bits name all of them in that order."""
    members = [k for k in Keyword if k != Keyword.NONE]
    assert sorted(KEYWORD_ORDER) == sorted(members)
    for k in members:
        assert keyword_names(int(k)) == [k.name]
    assert keyword_names(sum(int(k) for k in members)) == [k.name for k in KEYWORD_ORDER]


def test_every_effect_has_its_own_wording():
    """Each effect but NONE renders a sentence of its own (not the generic ``name a1/a2 (target)``
    fallback), naming its amount and its target's phrase."""
    texts = {}
    for e in Effect:
        if e == Effect.NONE:
            continue
        t = _TARGET_FOR.get(e, Target.FRIENDLY_UNIT)
        amount = int(Keyword.GUARD) if e == Effect.GRANT else 2
        ab = Ability(e, amount, 0, t, token="Sprout" if e == Effect.SUMMON else None)
        s = ability_text(ab, default_pool())
        texts[e] = s
        assert not re.fullmatch(rf"{e.name.lower()} \d+/\d+ \(.*\)", s), s
        _no_leftovers(s)
        if t != Target.NONE:
            assert TARGET_PHRASES[t] in s, s
        if e not in (Effect.GRANT, Effect.MODE, Effect.DESTROY):
            assert "2" in s, s
    assert len(set(texts.values())) == len(texts)


def test_every_card_type_and_subtype_is_named():
    """A hand-built card of each type and subtype names its type (UNIT, WEAPON, SPELL, IKZ,
    LEADER) and, but for IKZ, its subtype."""
    cards = [Card(0, "Ikz Thing", CardType.IKZ, 0)]
    draw = Ability(Effect.DRAW, 1)
    for ctype, sub_enum in SUBTYPES.items():
        for sub in sub_enum:
            kw = dict(cost=2, attack=1, health=1) if ctype == CardType.UNIT else \
                dict(cost=2, attack=1) if ctype == CardType.WEAPON else \
                dict(cost=2, abilities={Trigger.PLAY: draw}) if ctype == CardType.SPELL else \
                dict(health=20, abilities={Trigger.ACTIVATED: replace(draw, cost=1)})
            cards.append(Card(0, f"Test {ctype.name} {sub.name}", ctype, int(sub), **kw))
    _extended_pool(default_pool(), *cards)   # every one is a valid prefab
    for c in cards:
        s = card_text(c)
        assert s.startswith(c.name + " — ")
        assert c.type.name in s.replace(c.name, "", 1)
        if c.type != CardType.IKZ:
            assert f"({c.subtype_name})" in s
        _no_leftovers(s, c.name)


def test_every_unit_trigger_has_its_own_label(pool):
    """A unit with all four ability slots labels each with its trigger (RULES.md §7): on play,
    on death, on attack, activated; each label is followed by that slot's own effect."""
    unit = Card(0, "Four Slots", CardType.UNIT, 1, cost=3, attack=2, health=2, abilities={
        Trigger.PLAY: Ability(Effect.DRAW, 1),
        Trigger.DEATH: Ability(Effect.DAMAGE, 2, target=Target.ENEMY_LEADER),
        Trigger.ATTACK: Ability(Effect.BUFF, 1, 0, Target.SELF),
        Trigger.ACTIVATED: Ability(Effect.HEAL, 3, target=Target.OWN_LEADER, cost=2)})
    ext = _extended_pool(pool, unit)
    s = card_text(ext.cards[-1], ext)
    assert "On play: draw a card." in s
    assert "On death: deal 2 damage to the enemy leader." in s
    assert "On attack: give this unit +1/+0." in s
    assert "Activated (2 IKZ, once per turn): your leader restores 3 health." in s


# ----------------------------------------------------------------------------- every pool card

_LABEL = {(CardType.UNIT, Trigger.PLAY): "On play: ", (CardType.UNIT, Trigger.DEATH): "On death: ",
          (CardType.UNIT, Trigger.ATTACK): "On attack: ", (CardType.IKZ, Trigger.PLAY): "On arrival: "}


def test_every_pool_card_states_name_cost_type_stats_and_keywords(pool):
    """Name first, then the cost (N IKZ / free / token) for cards with one, the type and subtype,
    a unit's attack/health, a leader's health, every keyword, and no leftover markup."""
    for c in pool.cards:
        s = card_text(c, pool)
        assert s.startswith(f"{c.name} — "), s
        after = s[len(c.name) + 3:]
        if c.type in (CardType.UNIT, CardType.WEAPON, CardType.SPELL):
            cost = "token" if c.token else (f"{c.cost} IKZ" if c.cost else "free")
            assert after.startswith(f"{cost}, {c.type.name} ({c.subtype_name})"), s
        elif c.type == CardType.LEADER:
            assert after.startswith(f"LEADER ({c.subtype_name}). Leader, {c.health} health."), s
        else:
            assert after.startswith("IKZ."), s
        if c.type == CardType.UNIT:
            assert f" {c.attack}/{c.health}." in s, s
        if c.type == CardType.WEAPON and c.attack:
            assert f"+{c.attack} attack" in s, s
        for kw in keyword_names(c.keywords):
            assert kw in after, (c.name, kw)
        _no_leftovers(s, c.name)


def test_every_pool_ability_says_its_trigger_amount_and_target(pool):
    """Each ability of each card appears after its trigger's label, with its target rule's phrase
    and its amount (a DRAW of 1 reads 'a card'); a MODE lists every mode, each with its own
    target phrase and amount."""
    def check(ab, s):
        if ab.target != Target.NONE:
            assert TARGET_PHRASES[ab.target] in s, s
        if ab.effect in (Effect.DAMAGE, Effect.HEAL):
            assert f" {ab.amount} " in f" {s} ", s
        if ab.effect == Effect.BUFF:
            assert f"+{ab.amount}/+{ab.amount2}" in s, s
        if ab.effect == Effect.DRAW:
            assert (" a card" if ab.amount == 1 else f" {ab.amount} cards") in s, s
        if ab.effect == Effect.SUMMON:
            tok = pool.by_name[ab.token]
            n = max(ab.amount, 1)
            head = f"a {ab.token} token" if n == 1 else f"{n} {ab.token} tokens"
            assert f"{head} ({tok.attack}/{tok.health}" in s, s
        if ab.effect == Effect.GRANT:
            for kw in keyword_names(ab.amount):
                assert kw in s, s

    for c in pool.cards:
        s = card_text(c, pool)
        for trig, ab in c.abilities.items():
            text = ability_text(ab, pool, c.modes)
            if trig == Trigger.ACTIVATED:
                label = "Ability" if c.type == CardType.LEADER else "Activated"
                cost = f"{ab.cost} IKZ" if ab.cost else "free"
                assert f"{label} ({cost}, once per turn): {text}." in s, s
            elif c.type == CardType.SPELL:
                assert f". {text[:1].upper()}{text[1:]}." in s, s
            else:
                assert f"{_LABEL[c.type, trig]}{text}." in s, s
            check(ab, text)
            if ab.effect == Effect.MODE:
                assert text.startswith("choose one: ")
                for m in c.modes:
                    assert ability_text(m, pool) in text
                    check(m, ability_text(m, pool))
                assert text.count("; or ") == len(c.modes) - 1


# ----------------------------------------------------------------------------- cases no prebuilt card prints

def test_a_summoned_token_reads_attack_then_health_and_its_one_keyword(pool):
    """A token's stats are attack/health as on a unit, and a token's single keyword is printed
    (every prebuilt token is 1/1 or 2/2 with no keyword)."""
    tok = replace(pool.by_name["Sprout"], attack=3, health=1, keywords=Keyword.RANGED)
    fake = SimpleNamespace(by_name={"Sprout": tok})
    assert ability_text(Ability(Effect.SUMMON, 1, token="Sprout"), fake) == "summon a Sprout token (3/1 RANGED)"


def test_a_grant_of_each_keyword_names_it():
    """GRANT gives exactly the keyword bits of its amount (RULES.md §8), SHIELD included; all
    five read in the canonical order, the last after 'and'."""
    for k in KEYWORD_ORDER:
        assert ability_text(Ability(Effect.GRANT, int(k), target=Target.FRIENDLY_UNIT)) == \
            f"give a friendly unit {k.name}"
    assert ability_text(Ability(Effect.GRANT, 31, target=Target.ALL_FRIENDLY_UNITS)) == \
        "give all friendly units GUARD, CHARGE, RANGED, LIFESTEAL and SHIELD"


def test_a_leader_prints_its_own_health(pool):
    """A leader's health is the card's (the schema allows 10-40; every prebuilt leader has 20)."""
    for hp in (10, 27, 40):
        leader = replace(pool.by_name["Oriel, Keeper of Pages"], health=hp)
        assert f"Leader, {hp} health." in card_text(leader, pool)


def test_a_free_ability_reads_free_like_a_free_card(pool):
    """An activated or leader ability of cost 0 says 'free', as a card of cost 0 does."""
    leader = pool.by_name["Grask, Ember Warlord"]
    free = replace(leader, abilities={Trigger.ACTIVATED: replace(leader.abilities[Trigger.ACTIVATED], cost=0)})
    assert "Ability (free, once per turn): deal 1 damage" in card_text(free, pool)
    titan = pool.by_name["Runeforged Titan"]
    free = replace(titan, abilities={Trigger.ACTIVATED: replace(titan.abilities[Trigger.ACTIVATED], cost=0)})
    assert "Activated (free, once per turn): deal 2 damage" in card_text(free, pool)


def test_summon_renders_without_a_pool(pool):
    """``pool`` is optional: without it a SUMMON names its tokens but not their stats."""
    assert ability_text(Ability(Effect.SUMMON, 2, token="Sprout")) == "summon 2 Sprout tokens"
    assert "On play: summon 2 Sprout tokens." in card_text(pool.by_name["Grove Matriarch"])


def test_token_stats_show_in_every_slot_that_can_summon(pool):
    """A SUMMON prints its token's stats whether it is an IKZ card's arrival effect, a unit's
    activated ability or a leader's ability (all valid prefabs), as it does on play."""
    summon = Ability(Effect.SUMMON, 1, token="Wolf Pup")
    ikz = Card(0, "Kennel IKZ", CardType.IKZ, 0, abilities={Trigger.PLAY: summon})
    unit = Card(0, "Kennel Keeper", CardType.UNIT, 1, cost=3, attack=1, health=3,
                abilities={Trigger.ACTIVATED: replace(summon, cost=2)})
    leader = Card(0, "Kennel Warden", CardType.LEADER, 4, health=20,
                  abilities={Trigger.ACTIVATED: replace(summon, cost=3)})
    ext = _extended_pool(pool, ikz, unit, leader)
    ikz, unit, leader = ext.cards[-3:]
    assert card_text(ikz, ext) == "Kennel IKZ — IKZ. On arrival: summon a Wolf Pup token (1/1)."
    assert card_text(unit, ext).endswith("Activated (2 IKZ, once per turn): summon a Wolf Pup token (1/1).")
    assert card_text(leader, ext).endswith("Ability (3 IKZ, once per turn): summon a Wolf Pup token (1/1).")


# ----------------------------------------------------------------------------- docs/RULES.md appendix

def test_rules_appendix_is_the_rendered_card_text(pool):
    """docs/RULES.md's appendix lists every card 'with its id and its text as rendered by
    prefabs/text.py': each row is exactly ``card_text`` of that card."""
    doc = RULES.read_text(encoding="utf-8")
    appendix = doc[doc.index("## Appendix: the card pool"):]
    rows = {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| (.*) \|$", appendix, re.M)}
    assert sorted(rows) == [c.id for c in pool.cards]
    for c in pool.cards:
        assert rows[c.id] == card_text(c, pool), c.name
