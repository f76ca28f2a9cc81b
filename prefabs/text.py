"""Human-readable card text, rendered from card prefabs.

Pure presentation: it reads :class:`prefabs.loader.Card` / :class:`Ability` data and
never touches the engine. Example::

    >>> card_text(pool.by_name["Ember Drake"], pool)
    'Ember Drake — 3 IKZ, UNIT (DRAGON) 3/2. CHARGE. On play: deal 1 damage to an enemy unit or leader.'
"""
from __future__ import annotations

from typing import Iterable

from .enums import KEYWORD_ORDER, CardType, Effect, Target, Trigger
from .loader import Ability, Card, CardPool

# Noun phrase for each target rule.
TARGET_PHRASES = {
    Target.NONE: "",
    Target.ANY: "any unit or leader",
    Target.ANY_UNIT: "a unit",
    Target.ENEMY_UNIT: "an enemy unit",
    Target.FRIENDLY_UNIT: "a friendly unit",
    Target.ENEMY_ANY: "an enemy unit or leader",
    Target.SELF: "this unit",
    Target.OWN_LEADER: "your leader",
    Target.ENEMY_LEADER: "the enemy leader",
    Target.ALL_ENEMY_UNITS: "all enemy units",
    Target.ALL_FRIENDLY_UNITS: "all friendly units",
    Target.ALL_UNITS: "all units",
    Target.RANDOM_ENEMY_UNIT: "a random enemy unit",
}

# Prefix for each ability slot of a unit.
_UNIT_TRIGGER_LABELS = {
    Trigger.PLAY: "On play",
    Trigger.DEATH: "On death",
    Trigger.ATTACK: "On attack",
}


def keyword_names(bits: int) -> list[str]:
    """Names of the keyword bits set in ``bits``, in canonical order (GUARD, CHARGE, ...)."""
    bits = int(bits)
    return [k.name for k in KEYWORD_ORDER if bits & int(k)]


def _join_and(items: Iterable[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _plural(n: int, word: str) -> str:
    return f"a {word}" if n == 1 else f"{n} {word}s"


def _signed(n: int) -> str:
    return f"+{n}" if n >= 0 else str(n)


def _token_phrase(ab: Ability, pool: CardPool | None) -> str:
    n = max(ab.amount, 1)
    name = ab.token or "?"
    noun = f"{name} token" if n == 1 else f"{name} tokens"
    head = f"a {noun}" if n == 1 else f"{n} {noun}"
    tok = pool.by_name.get(name) if pool is not None and ab.token else None
    if tok is not None:
        stats = f"{tok.attack}/{tok.health}"
        kws = keyword_names(tok.keywords)
        if kws:
            stats += " " + " ".join(kws)
        head += f" ({stats})"
    return head


def ability_text(ab: Ability, pool: CardPool | None = None, modes: tuple[Ability, ...] = ()) -> str:
    """Plain-English text of one effect, lower-case, without the trigger prefix or cost.

    ``modes`` are the card's modes, used when ``ab`` is a MODE effect.
    """
    e, t = ab.effect, ab.target
    tgt = TARGET_PHRASES.get(t, t.name if isinstance(t, Target) else str(t))
    if e == Effect.DAMAGE:
        return f"deal {ab.amount} damage to {tgt}"
    if e == Effect.HEAL:
        if t == Target.OWN_LEADER:
            return f"your leader restores {ab.amount} health"
        if t == Target.SELF:
            return f"this unit restores {ab.amount} health"
        return f"restore {ab.amount} health to {tgt}"
    if e == Effect.BUFF:
        return f"give {tgt} {_signed(ab.amount)}/{_signed(ab.amount2)}"
    if e == Effect.DESTROY:
        return f"destroy {tgt}"
    if e == Effect.DRAW:
        return f"draw {_plural(ab.amount, 'card')}"
    if e == Effect.SUMMON:
        return f"summon {_token_phrase(ab, pool)}"
    if e == Effect.GAIN_IKZ:
        if ab.amount == 1:
            return "put the top card of your IKZ deck into your IKZ area, ready"
        return f"put the top {ab.amount} cards of your IKZ deck into your IKZ area, ready"
    if e == Effect.MODE:
        if not modes:
            return "choose one of this card's modes"
        return "choose one: " + "; or ".join(ability_text(m, pool) for m in modes)
    if e == Effect.GRANT:
        names = keyword_names(ab.amount) or [f"keyword bits {ab.amount}"]
        return f"give {tgt} {_join_and(names)}"
    if e == Effect.NONE:
        return "no effect"
    return f"{Effect(e).name.lower()} {ab.amount}/{ab.amount2} ({tgt})"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:] if s else s


def _cost_label(cost: int) -> str:
    return f"{cost} IKZ" if cost else "free"


def _activated_text(ab: Ability, pool: CardPool | None, label: str) -> str:
    return f"{label} ({_cost_label(ab.cost)}, once per turn): {ability_text(ab, pool)}."


def card_text(card: Card, pool: CardPool | None = None) -> str:
    """One line of rules text for ``card``: name, cost, type, stats, keywords and abilities."""
    parts: list[str] = []
    kws = keyword_names(card.keywords)
    sub = f" ({card.subtype_name})" if card.subtype_name else ""
    if card.type == CardType.UNIT:
        cost = "token" if card.token else _cost_label(card.cost)
        head = f"{card.name} — {cost}, UNIT{sub} {card.attack}/{card.health}."
        if kws:
            parts.append(", ".join(kws) + ".")
        for trig, label in _UNIT_TRIGGER_LABELS.items():
            ab = card.abilities.get(trig)
            if ab is not None:
                parts.append(f"{label}: {ability_text(ab, pool, card.modes)}.")
        act = card.abilities.get(Trigger.ACTIVATED)
        if act is not None:
            parts.append(_activated_text(act, pool, "Activated"))
    elif card.type == CardType.WEAPON:
        head = f"{card.name} — {_cost_label(card.cost)}, WEAPON{sub}."
        bits = []
        if card.attack:
            bits.append(f"{_signed(card.attack)} attack")
        if kws:
            bits.append("grants " + _join_and(kws))
        parts.append(_cap(", ".join(bits)) + ".")
    elif card.type == CardType.SPELL:
        head = f"{card.name} — {_cost_label(card.cost)}, SPELL{sub}."
        ab = card.abilities.get(Trigger.PLAY)
        if ab is not None:
            parts.append(_cap(ability_text(ab, pool, card.modes)) + ".")
    elif card.type == CardType.IKZ:
        head = f"{card.name} — IKZ."
        ab = card.abilities.get(Trigger.PLAY)
        parts.append(f"On arrival: {ability_text(ab, pool)}." if ab is not None else "No effect.")
    elif card.type == CardType.LEADER:
        head = f"{card.name} — LEADER{sub}."
        parts.append(f"Leader, {card.health} health.")
        if kws:
            parts.append(", ".join(kws) + ".")
        ab = card.abilities.get(Trigger.ACTIVATED)
        if ab is not None:
            parts.append(_activated_text(ab, pool, "Ability"))
    else:
        head = f"{card.name} — {card.type.name}."
    return " ".join([head] + parts)


def pool_table(pool: CardPool) -> str:
    """Every card of ``pool``, one per line: id, then its card text."""
    width = len(str(len(pool)))
    return "\n".join(f"{c.id:>{width}}  {card_text(c, pool)}" for c in pool.cards)


__all__ = ["TARGET_PHRASES", "ability_text", "card_text", "keyword_names", "pool_table"]
