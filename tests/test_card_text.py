"""Card rules text (prefabs.text): exact words for every target rule, effect and card type,
including the cases no prebuilt card prints (zero amounts, a free card, a weapon with no
attack bonus, a token with keywords, a leader with keywords)."""
from dataclasses import replace
from types import SimpleNamespace

import pytest

from prefabs import Ability, Keyword, default_pool
from prefabs.enums import Effect, Target
from prefabs.text import ability_text, card_text, pool_table


@pytest.fixture(scope="module")
def pool():
    return default_pool()


EXACT = {
    "Sprout": "Sprout — token, UNIT (SPIRIT) 1/1.",
    "Plain IKZ": "Plain IKZ — IKZ. No effect.",
    "Alley Cutpurse": "Alley Cutpurse — 1 IKZ, UNIT (ROGUE) 1/1. On attack: deal 1 damage to the enemy leader.",
    "Hedge Sprite": "Hedge Sprite — 1 IKZ, UNIT (SPIRIT) 1/1. On death: summon a Sprout token (1/1).",
    "Rageborn Boar": "Rageborn Boar — 3 IKZ, UNIT (BEAST) 2/3. On attack: give this unit +1/+0.",
    "Hearth Spirit": "Hearth Spirit — 4 IKZ, UNIT (SPIRIT) 3/4. Activated (2 IKZ, once per turn): "
                     "give a friendly unit +0/+2.",
    "Torvald Anvilhand": "Torvald Anvilhand — LEADER (SMITH). Leader, 20 health. Ability (1 IKZ, once per turn): "
                         "give a friendly unit +1/+0.",
    "Spark Jolt": "Spark Jolt — 1 IKZ, SPELL (BOLT). Deal 2 damage to an enemy unit.",
    "Meteor Shower": "Meteor Shower — 6 IKZ, SPELL (BOLT). Deal 3 damage to all units.",
    "Bitter Hex": "Bitter Hex — 1 IKZ, SPELL (HEX). Deal 2 damage to a random enemy unit.",
    "Mending Light": "Mending Light — 1 IKZ, SPELL (RITE). Restore 4 health to any unit or leader.",
    "Grave Tide": "Grave Tide — 8 IKZ, SPELL (HEX). Destroy all units.",
    "Leyline Tap": "Leyline Tap — 1 IKZ, SPELL (SCHEME). Put the top card of your IKZ deck into your IKZ area, ready.",
    "Sage's Rod": "Sage's Rod — 3 IKZ, WEAPON (STAFF). +1 attack, grants RANGED and LIFESTEAL.",
    "Crossroads Charm": "Crossroads Charm — 3 IKZ, SPELL (CHARM). Choose one: deal 1 damage to all enemy units; "
                        "or give all friendly units +1/+1; or summon 2 Sprout tokens (1/1).",
}


def test_prebuilt_cards_read_exactly(pool):
    """Whole lines for cards that exercise each label and phrase: the token label, an IKZ card
    with no arrival effect, On attack / On death, a +0 buff, spells capitalised, a random
    target, all units."""
    for name, text in EXACT.items():
        assert card_text(pool.by_name[name], pool) == text


def test_every_target_rule_has_its_phrase():
    """Each target rule's noun phrase, as a damage effect prints it."""
    phrases = {
        Target.ANY: "any unit or leader", Target.ANY_UNIT: "a unit", Target.ENEMY_UNIT: "an enemy unit",
        Target.FRIENDLY_UNIT: "a friendly unit", Target.ENEMY_ANY: "an enemy unit or leader",
        Target.SELF: "this unit", Target.OWN_LEADER: "your leader", Target.ENEMY_LEADER: "the enemy leader",
        Target.ALL_ENEMY_UNITS: "all enemy units", Target.ALL_FRIENDLY_UNITS: "all friendly units",
        Target.ALL_UNITS: "all units", Target.RANDOM_ENEMY_UNIT: "a random enemy unit",
    }
    for t, phrase in phrases.items():
        assert ability_text(Ability(Effect.DAMAGE, 2, target=t)) == f"deal 2 damage to {phrase}"


def test_effect_wording_for_amounts_no_prebuilt_card_prints():
    """Singular and plural, zero amounts and the fallbacks: draw 0 / 1 / 3 cards, gain 2 IKZ,
    heal this unit, buff order (attack then health, signed), summon with amount 0 (one token),
    three keywords joined with commas and 'and', a grant of no known keyword, no effect."""
    assert ability_text(Ability(Effect.DRAW, 0)) == "draw 0 cards"
    assert ability_text(Ability(Effect.DRAW, 1)) == "draw a card"
    assert ability_text(Ability(Effect.DRAW, 3)) == "draw 3 cards"
    assert ability_text(Ability(Effect.GAIN_IKZ, 2)) == \
        "put the top 2 cards of your IKZ deck into your IKZ area, ready"
    assert ability_text(Ability(Effect.HEAL, 2, target=Target.SELF)) == "this unit restores 2 health"
    assert ability_text(Ability(Effect.BUFF, 3, 0, Target.SELF)) == "give this unit +3/+0"
    assert ability_text(Ability(Effect.BUFF, 0, -1, Target.ANY_UNIT)) == "give a unit +0/-1"
    assert ability_text(Ability(Effect.SUMMON, 0, token="Sprout"), default_pool()) == \
        "summon a Sprout token (1/1)"
    assert ability_text(Ability(Effect.SUMMON, 3, token="Sprout"), default_pool()) == \
        "summon 3 Sprout tokens (1/1)"
    assert ability_text(Ability(Effect.GRANT, 7, target=Target.FRIENDLY_UNIT)) == \
        "give a friendly unit GUARD, CHARGE and RANGED"
    assert ability_text(Ability(Effect.GRANT, 0, target=Target.SELF)) == "give this unit keyword bits 0"
    assert ability_text(Ability(Effect.NONE)) == "no effect"


def test_token_keywords_are_printed_with_its_stats(pool):
    """A summoned token's keywords follow its stats."""
    tok = replace(pool.by_name["Sprout"], keywords=Keyword.GUARD | Keyword.SHIELD)
    fake = SimpleNamespace(by_name={"Sprout": tok})
    assert ability_text(Ability(Effect.SUMMON, 2, token="Sprout"), fake) == \
        "summon 2 Sprout tokens (1/1 GUARD SHIELD)"


def test_cards_no_prebuilt_deck_prints(pool):
    """A free card says 'free', a weapon with no attack bonus prints only what it grants
    (capitalised), and a leader's keywords follow its health."""
    free = replace(pool.by_name["Quick Study"], cost=0)
    assert card_text(free, pool) == "Quick Study — free, SPELL (SCHEME). Draw a card."
    free_unit = replace(pool.by_name["Ember Whelp"], cost=0)
    assert card_text(free_unit, pool) == "Ember Whelp — free, UNIT (DRAGON) 2/1. CHARGE."
    blunt = replace(pool.by_name["Vampiric Edge"], attack=0)
    assert card_text(blunt, pool) == "Vampiric Edge — 3 IKZ, WEAPON (BLADE). Grants LIFESTEAL."
    guarded = replace(pool.by_name["Grask, Ember Warlord"], keywords=Keyword.GUARD)
    assert card_text(guarded, pool) == ("Grask, Ember Warlord — LEADER (WARLORD). Leader, 20 health. GUARD. "
                                        "Ability (2 IKZ, once per turn): deal 1 damage to an enemy unit or leader.")


def test_pool_table_right_aligns_the_ids(pool):
    """Ids are right-aligned to the widest id, then two spaces, then the card text."""
    lines = pool_table(pool).splitlines()
    width = len(str(len(pool)))
    assert width == 2
    assert lines[0] == " 1  " + card_text(pool.cards[0], pool)
    assert lines[-1] == f"{pool.cards[-1].id}  " + card_text(pool.cards[-1], pool)
