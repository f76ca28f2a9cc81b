"""Load card prefabs and decks from TOML data files, validate them, and compile the
card pool into the flat integer table the engine reads.

Prefabs are data: ``prefabs/data/cards.toml`` and ``prefabs/data/decks.toml``.
Anything malformed raises :class:`PrefabError` or :class:`DeckError` naming the card
or deck, the field, the bad value and what is allowed.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import numpy as np

from .enums import SUBTYPES, CardType, Effect, Keyword, Target, TARGET_AUTO_MIN, Trigger
from . import table as T

DATA_DIR = Path(__file__).parent / "data"

MAX_COST = 10
MAX_STAT_PRINTED = 12
MAX_AMOUNT = 10
DECK_MAIN = 30
DECK_IKZ = 10
MAX_COPIES = 3
MAX_MODES = 3
MAX_CARDS = 127   # card ids travel in the int8 observation
MAX_KEYWORD_BITS = int(Keyword.GUARD | Keyword.CHARGE | Keyword.RANGED | Keyword.LIFESTEAL | Keyword.SHIELD)


class PrefabError(ValueError):
    """A card prefab is malformed."""


class DeckError(ValueError):
    """A deck list breaks a deck-building rule."""


@dataclass(frozen=True)
class Ability:
    effect: Effect
    amount: int = 0
    amount2: int = 0
    target: Target = Target.NONE
    cost: int = 0          # activated / leader abilities only
    token: str | None = None  # SUMMON: name of the token card


@dataclass(frozen=True)
class Card:
    id: int
    name: str
    type: CardType
    subtype: int
    cost: int = 0
    attack: int = 0
    health: int = 0
    keywords: Keyword = Keyword.NONE
    token: bool = False
    abilities: Mapping[Trigger, Ability] = field(default_factory=dict)
    modes: tuple[Ability, ...] = ()
    flavor: str = ""

    @property
    def subtype_name(self) -> str:
        if self.type == CardType.IKZ:
            return ""
        return SUBTYPES[self.type](self.subtype).name


@dataclass(frozen=True)
class Deck:
    name: str
    plan: str
    leader: str
    main: tuple[str, ...]     # 30 card names
    ikz: tuple[str, ...]      # 10 IKZ card names
    description: str = ""


# Which ability keys each card type may carry, and the trigger they map to.
_ABILITY_KEYS = {
    CardType.UNIT: {"on_play": Trigger.PLAY, "on_death": Trigger.DEATH, "on_attack": Trigger.ATTACK,
                    "activated": Trigger.ACTIVATED},
    CardType.SPELL: {"effect": Trigger.PLAY},
    CardType.IKZ: {"on_arrival": Trigger.PLAY},
    CardType.LEADER: {"ability": Trigger.ACTIVATED},
    CardType.WEAPON: {},
}
_CARD_KEYS = {"name", "type", "subtype", "cost", "attack", "health", "keywords", "token", "modes", "flavor"}
_UNIT_ONLY_TARGETS = {Target.ANY_UNIT, Target.ENEMY_UNIT, Target.FRIENDLY_UNIT, Target.SELF,
                      Target.ALL_ENEMY_UNITS, Target.ALL_FRIENDLY_UNITS, Target.ALL_UNITS, Target.RANDOM_ENEMY_UNIT}


def _enum(enum_cls, value, where: str):
    # ASCII only: str.upper() maps "ı" and "ſ" to I and S, so "unıt" read as UNIT
    if isinstance(value, str) and value.isascii() and value.upper() in enum_cls.__members__:
        return enum_cls[value.upper()]
    allowed = ", ".join(m for m in enum_cls.__members__ if m != "NONE")
    raise PrefabError(f"{where}: {value!r} is not a valid {enum_cls.__name__}; allowed: {allowed}")


def _int(raw: dict, key: str, lo: int, hi: int, where: str, default: int = 0) -> int:
    v = raw.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise PrefabError(f"{where}: field '{key}' = {v!r} must be an integer in {lo}..{hi}")
    return v


def _parse_ability(raw, where: str, *, activated: bool) -> Ability:
    if not isinstance(raw, dict):
        raise PrefabError(f"{where}: must be a table with 'effect' (and amount, amount2, target)")
    allowed = {"effect", "amount", "amount2", "target", "token"} | ({"cost"} if activated else set())
    extra = set(raw) - allowed
    if extra:
        raise PrefabError(f"{where}: unknown field(s) {sorted(extra)}; allowed: {sorted(allowed)}")
    if "effect" not in raw:
        raise PrefabError(f"{where}: missing 'effect'")
    eff = _enum(Effect, raw["effect"], f"{where}.effect")
    tgt = _enum(Target, raw.get("target", "NONE"), f"{where}.target")
    if activated and "cost" not in raw:
        raise PrefabError(f"{where}: missing 'cost' (0..{MAX_COST}): an activated or leader ability "
                          f"says what it costs, 0 for a free one")
    cost = _int(raw, "cost", 0, MAX_COST, where) if activated else 0
    if "amount2" in raw and eff != Effect.BUFF:
        raise PrefabError(f"{where}: 'amount2' is only used by BUFF (extra health), not {eff.name}")
    amount_max = MAX_KEYWORD_BITS if eff == Effect.GRANT else MAX_AMOUNT
    token = raw.get("token")
    if token is not None and not isinstance(token, str):
        raise PrefabError(f"{where}: 'token' must be the name of a token unit, got {token!r}")
    return Ability(eff, _int(raw, "amount", 0, amount_max, where), _int(raw, "amount2", 0, MAX_AMOUNT, where),
                   tgt, cost, token)


def _check_effect_target(ab: Ability, where: str, *, chosen_ok: bool, self_ok: bool) -> None:
    e, t = ab.effect, ab.target
    if e in (Effect.DRAW, Effect.SUMMON, Effect.GAIN_IKZ, Effect.MODE):
        if t != Target.NONE:
            raise PrefabError(f"{where}: effect {e.name} acts on its controller and takes target NONE, not {t.name}")
        if e != Effect.MODE and ab.amount < 1:
            raise PrefabError(f"{where}: effect {e.name} needs amount >= 1")
    elif e == Effect.NONE:
        raise PrefabError(f"{where}: effect NONE is not an ability; leave the field out")
    else:
        if t == Target.NONE:
            raise PrefabError(f"{where}: effect {e.name} needs a target rule")
        if e in (Effect.BUFF, Effect.DESTROY, Effect.GRANT) and t not in _UNIT_ONLY_TARGETS:
            raise PrefabError(f"{where}: effect {e.name} applies to units only; target {t.name} can name a leader")
        if e in (Effect.DAMAGE, Effect.HEAL) and ab.amount < 1:
            raise PrefabError(f"{where}: effect {e.name} needs amount >= 1")
        if e == Effect.BUFF and ab.amount + ab.amount2 < 1:
            raise PrefabError(f"{where}: BUFF needs amount (attack) or amount2 (health) >= 1")
        if e == Effect.GRANT:
            if not 1 <= ab.amount <= MAX_KEYWORD_BITS:
                raise PrefabError(f"{where}: GRANT amount is keyword bits 1..{MAX_KEYWORD_BITS}")
    if t < TARGET_AUTO_MIN and t != Target.NONE and not chosen_ok:
        raise PrefabError(f"{where}: a chosen target ({t.name}) is not allowed here; use an automatic rule "
                          f"(SELF, OWN_LEADER, ENEMY_LEADER, ALL_*, RANDOM_ENEMY_UNIT)")
    if t == Target.SELF and not self_ok:
        raise PrefabError(f"{where}: target SELF is only for a unit's own abilities")


def parse_cards(raw_cards: list) -> list[Card]:
    """Validate raw card tables (from TOML) and assign ids 1..n in file order."""
    if not isinstance(raw_cards, list) or not raw_cards:
        raise PrefabError("cards file must contain a non-empty [[card]] array")
    if len(raw_cards) > MAX_CARDS:
        raise PrefabError(f"the pool has {len(raw_cards)} cards; at most {MAX_CARDS} fit the int8 observation")
    names: dict[str, int] = {}
    parsed = []
    for idx, raw in enumerate(raw_cards):
        where = f"card #{idx + 1}"
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"].strip():
            raise PrefabError(f"{where}: missing a non-empty 'name'")
        name = raw["name"]
        problem = _name_problem(name)
        if problem:
            raise PrefabError(f"{where}: name {name[:MAX_NAME + 3]!r} {problem}")
        where = f"card '{name}'"
        if name in names:
            raise PrefabError(f"{where}: duplicate name (also card #{names[name]})")
        names[name] = idx + 1
        ctype = _enum(CardType, raw.get("type"), f"{where}.type")
        if ctype == CardType.NONE:
            raise PrefabError(f"{where}.type: NONE is not a card type")
        ab_keys = _ABILITY_KEYS[ctype]
        extra = set(raw) - _CARD_KEYS - set(ab_keys)
        if extra:
            raise PrefabError(f"{where}: field(s) {sorted(extra)} not allowed on a {ctype.name}; "
                              f"ability fields allowed: {sorted(ab_keys) or 'none'}")
        if ctype == CardType.IKZ:
            if "subtype" in raw:
                raise PrefabError(f"{where}: IKZ cards have no subtype")
            subtype = 0
        else:
            if "subtype" not in raw:
                raise PrefabError(f"{where}: missing 'subtype'; allowed: {', '.join(SUBTYPES[ctype].__members__)}")
            subtype = int(_enum(SUBTYPES[ctype], raw["subtype"], f"{where}.subtype"))
        kws = Keyword.NONE
        if not isinstance(raw.get("keywords", []), list):
            raise PrefabError(f"{where}: 'keywords' must be a list such as [\"GUARD\"], got {raw['keywords']!r}")
        if "keywords" in raw and ctype not in (CardType.UNIT, CardType.WEAPON):
            raise PrefabError(f"{where}: a {ctype.name} card has no 'keywords'")
        if ctype in (CardType.UNIT, CardType.WEAPON, CardType.SPELL) and "cost" not in raw and not raw.get("token"):
            raise PrefabError(f"{where}: missing 'cost' (0..{MAX_COST})")
        for need in {CardType.UNIT: ("attack", "health"), CardType.LEADER: ("health",)}.get(ctype, ()):
            if need not in raw:
                raise PrefabError(f"{where}: missing '{need}' on a {ctype.name}")
        for banned in {CardType.WEAPON: ("health",), CardType.LEADER: ("attack",)}.get(ctype, ()):
            if banned in raw:
                raise PrefabError(f"{where}: a {ctype.name} card has no '{banned}'")
        for k in raw.get("keywords", []):
            kws |= _enum(Keyword, k, f"{where}.keywords")
        cost = _int(raw, "cost", 0, MAX_COST, where)
        atk = hp = 0
        if ctype == CardType.UNIT:
            atk = _int(raw, "attack", 0, MAX_STAT_PRINTED, where)
            hp = _int(raw, "health", 1, MAX_STAT_PRINTED, where, default=-1)
        elif ctype == CardType.WEAPON:
            atk = _int(raw, "attack", 0, MAX_STAT_PRINTED, where)
            if atk == 0 and kws == Keyword.NONE:
                raise PrefabError(f"{where}: a weapon must give attack or keywords")
        elif ctype == CardType.LEADER:
            hp = _int(raw, "health", 10, 40, where, default=-1)
        for key in ("attack", "health", "keywords"):
            if key in raw and ctype in (CardType.SPELL, CardType.IKZ):
                raise PrefabError(f"{where}: a {ctype.name} card has no '{key}'")
        if ctype in (CardType.IKZ, CardType.LEADER) and "cost" in raw:
            raise PrefabError(f"{where}: a {ctype.name} card has no cost")
        token = raw.get("token", False)
        if not isinstance(token, bool):
            raise PrefabError(f"{where}: 'token' must be true or false, got {token!r}")
        if token and ctype != CardType.UNIT:
            raise PrefabError(f"{where}: only units can be tokens")
        abilities = {}
        for key, trig in ab_keys.items():
            if key in raw:
                ab = _parse_ability(raw[key], f"{where}.{key}", activated=trig == Trigger.ACTIVATED)
                chosen_ok = trig in (Trigger.PLAY, Trigger.ACTIVATED) and ctype != CardType.IKZ
                # on death the unit is already gone, so SELF would name nothing
                _check_effect_target(ab, f"{where}.{key}", chosen_ok=chosen_ok,
                                     self_ok=ctype == CardType.UNIT and trig != Trigger.DEATH)
                if ctype == CardType.IKZ and ab.effect in (Effect.GAIN_IKZ, Effect.MODE):
                    raise PrefabError(f"{where}.{key}: an IKZ arrival effect cannot be {ab.effect.name}")
                if ab.effect == Effect.MODE and not (trig == Trigger.PLAY and ctype in (CardType.UNIT, CardType.SPELL)):
                    raise PrefabError(f"{where}.{key}: MODE is only allowed as a spell's effect or a unit's on_play")
                abilities[trig] = ab
        if ctype == CardType.SPELL and Trigger.PLAY not in abilities:
            raise PrefabError(f"{where}: a spell needs an 'effect'")
        if ctype == CardType.LEADER and Trigger.ACTIVATED not in abilities:
            raise PrefabError(f"{where}: a leader needs an 'ability'")
        modes: tuple[Ability, ...] = ()
        uses_mode = any(a.effect == Effect.MODE for a in abilities.values())
        if uses_mode:
            raw_modes = raw.get("modes")
            if not isinstance(raw_modes, list) or not 2 <= len(raw_modes) <= MAX_MODES:
                raise PrefabError(f"{where}: effect MODE needs 'modes', a list of 2..{MAX_MODES} abilities")
            ms = []
            for m, rm in enumerate(raw_modes):
                ab = _parse_ability(rm, f"{where}.modes[{m}]", activated=False)
                if ab.effect == Effect.MODE:
                    raise PrefabError(f"{where}.modes[{m}]: a mode cannot be MODE again")
                _check_effect_target(ab, f"{where}.modes[{m}]", chosen_ok=False, self_ok=ctype == CardType.UNIT)
                ms.append(ab)
            modes = tuple(ms)
        elif "modes" in raw:
            raise PrefabError(f"{where}: 'modes' given but no ability uses effect MODE")
        if not isinstance(raw.get("flavor", ""), str):
            raise PrefabError(f"{where}: 'flavor' must be text, got {raw['flavor']!r}")
        parsed.append(Card(id=idx + 1, name=name, type=ctype, subtype=subtype, cost=cost, attack=atk, health=hp,
                           keywords=kws, token=token, abilities=abilities, modes=modes,
                           flavor=raw.get("flavor", "")))
    # SUMMON must name a token unit
    by_name = {d.name: d for d in parsed}
    for c in parsed:
        labelled = [(trig.name.lower(), ab) for trig, ab in c.abilities.items()]
        labelled += [(f"modes[{m}]", ab) for m, ab in enumerate(c.modes)]
        for label, ab in labelled:
            if ab.effect == Effect.SUMMON:
                target = by_name.get(ab.token)
                if target is None or not target.token:
                    raise PrefabError(f"card '{c.name}' ({label}): SUMMON needs 'token' naming a token unit, "
                                      f"got {ab.token!r}")
            elif ab.token is not None:
                raise PrefabError(f"card '{c.name}' ({label}): 'token' is only for SUMMON")
    loop = _summon_loop(parsed)
    if loop:
        raise PrefabError(f"card '{loop[0]}': its SUMMON effects bring it back ({' -> '.join(loop)}): a token that "
                          f"summons itself, directly or through other tokens, could refill the board and repeat a "
                          f"turn's attacks for ever; a token may summon only tokens that never summon it")
    return parsed


def _summon_loop(cards: list[Card]) -> list[str]:
    """The names along a loop of SUMMON effects among tokens (``[a, b, a]``: token a summons b,
    which summons a), or ``[]``. Only tokens enter play through SUMMON, so without such a loop
    each card played summons a bounded tree of tokens, and every turn ends (RULES.md, Tokens)."""
    summons = {c.name: sorted({ab.token for ab in (*c.abilities.values(), *c.modes) if ab.effect == Effect.SUMMON})
               for c in cards if c.token}
    state: dict[str, int] = {}   # 1 on the path being walked, 2 done
    for start in summons:
        if state.get(start):
            continue
        path, stack = [start], [iter(summons[start])]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(summons[nxt]))
    return []


def _member_name(enum_cls, v):
    """``v``'s member name in ``enum_cls`` (what a cards file spells), or ``v`` itself when it
    names none, so that :func:`parse_cards` refuses it with the allowed names."""
    try:
        return enum_cls(v).name if not isinstance(v, bool) else v
    except (ValueError, TypeError):
        return v


def _ability_raw(ab, activated: bool = False) -> dict:
    if not isinstance(ab, Ability):
        return ab   # parse_cards says what an ability must be
    raw = {"effect": _member_name(Effect, ab.effect), "amount": ab.amount,
           "target": _member_name(Target, ab.target)}
    if ab.amount2 != 0:
        raw["amount2"] = ab.amount2
    if activated or ab.cost != 0:
        raw["cost"] = ab.cost
    if ab.token is not None:
        raw["token"] = ab.token
    return raw


def card_raw(card: Card) -> dict:
    """The ``[[card]]`` table a cards file would hold for ``card``: :func:`parse_cards` of it gives
    ``card`` back exactly when ``card`` is a valid prefab at that position."""
    raw: dict = {"name": card.name, "type": _member_name(CardType, card.type)}
    keys = {trig: key for key, trig in _ABILITY_KEYS.get(card.type, {}).items()}
    if card.type != CardType.IKZ or card.subtype != 0:
        raw["subtype"] = _member_name(SUBTYPES[card.type], card.subtype) if card.type in SUBTYPES else card.subtype
    if card.type in (CardType.UNIT, CardType.WEAPON, CardType.SPELL) or card.cost != 0:
        raw["cost"] = card.cost
    if card.type in (CardType.UNIT, CardType.WEAPON) or card.attack != 0:
        raw["attack"] = card.attack
    if card.type in (CardType.UNIT, CardType.LEADER) or card.health != 0:
        raw["health"] = card.health
    if card.keywords:
        known = [k for k in Keyword if k and isinstance(card.keywords, int) and k & card.keywords]
        rest = card.keywords if not known else card.keywords & ~sum(known)
        raw["keywords"] = [k.name for k in known] + ([rest] if rest else [])   # unknown bits: refused
    if card.token is not False:
        raw["token"] = card.token
    # abilities or modes of the wrong kind (None, a number) are left out: check_cards then names the field
    for trig, ab in (card.abilities.items() if isinstance(card.abilities, Mapping) else ()):
        raw[keys.get(trig, f"{_member_name(Trigger, trig)} trigger")] = _ability_raw(ab, trig == Trigger.ACTIVATED)
    if card.modes and isinstance(card.modes, (tuple, list)):
        raw["modes"] = [_ability_raw(m) for m in card.modes]
    if card.flavor:
        raw["flavor"] = card.flavor
    return raw


def check_cards(cards) -> list[Card]:
    """``cards`` as a list, if it is exactly what :func:`parse_cards` would build from a cards file
    (ids 1..n in list order, every field within the file's rules); :class:`PrefabError` naming
    the card and the field otherwise. Cards built by hand pass the same checks as a file's."""
    cards = list(cards)
    for i, c in enumerate(cards):
        if not isinstance(c, Card):
            raise PrefabError(f"card #{i + 1}: expected a prefabs.Card, got {type(c).__name__}")
    again = parse_cards([card_raw(c) for c in cards])
    for i, (c, d) in enumerate(zip(cards, again)):
        if c != d:
            fields = [f.name for f in dataclasses.fields(Card) if getattr(c, f.name) != getattr(d, f.name)]
            why = {"id": f"ids run 1..n in list order, so this card's id must be {i + 1}"}
            raise PrefabError(f"card '{c.name}': field(s) {fields} differ from the card a cards file would "
                              f"give ({why.get(fields[0], f'{fields[0]} = {getattr(d, fields[0])!r} there')})")
    return cards


class CardPool:
    """The validated card list, lookups by name and id, and the compiled table. The cards are
    checked as a cards file's would be (:func:`check_cards`), also when built by hand."""

    def __init__(self, cards: list[Card]):
        cards = check_cards(cards)
        self.cards = cards
        self.by_name = {c.name: c for c in cards}
        self.table = compile_table(cards)
        # the kernels index by its fields (a SUMMON's token id, a cost): read-only, so that no edit
        # from outside makes them read out of bounds; a changed pool is a new CardPool
        self.table.flags.writeable = False

    def __len__(self) -> int:
        return len(self.cards)

    def __getitem__(self, card_id: int) -> Card:
        if not 1 <= card_id <= len(self.cards):
            raise KeyError(f"card id {card_id} out of range 1..{len(self.cards)}")
        return self.cards[card_id - 1]

    def id_of(self, name: str) -> int:
        try:
            return self.by_name[name].id
        except KeyError:
            raise DeckError(f"unknown card {name!r}") from None


def _ability_row(ab: Ability, pool_names: dict[str, int]) -> tuple[int, int, int, int]:
    a1 = pool_names[ab.token] if ab.effect == Effect.SUMMON else ab.amount
    return int(ab.effect), a1, ab.amount2 if ab.effect != Effect.SUMMON else max(ab.amount, 1), int(ab.target)


def compile_table(cards: list[Card]) -> np.ndarray:
    """Flatten cards into ``int32[len(cards) + 1, CARD_FIELDS]`` (row 0 is the empty card).

    SUMMON stores the token's card id in a1 and the copy count in a2.
    """
    names = {c.name: c.id for c in cards}
    tab = np.zeros((len(cards) + 1, T.CARD_FIELDS), dtype=np.int32)
    for c in cards:
        r = tab[c.id]
        r[T.C_TYPE] = int(c.type)
        r[T.C_SUBTYPE] = c.subtype
        r[T.C_COST] = c.cost
        r[T.C_ATK] = c.attack
        r[T.C_HP] = c.health
        r[T.C_KW] = int(c.keywords)
        r[T.C_TOKEN] = int(c.token)
        for trig, ab in c.abilities.items():
            for f, v in enumerate(_ability_row(ab, names)):
                r[T.ability_col(int(trig), f)] = v
            if trig == Trigger.ACTIVATED:
                r[T.C_ACT_COST] = ab.cost
        r[T.C_NMODES] = len(c.modes)
        for m, ab in enumerate(c.modes):
            for f, v in enumerate(_ability_row(ab, names)):
                r[T.mode_col(m, f)] = v
        _fill_view(r, c.id)
    return tab


def _fill_view(r: np.ndarray, card_id: int) -> None:
    """The card's observation entity row as seen in hand (``T.ENTITY_FEATURES`` order)."""
    view = dict(present=1, card_id=card_id, zone=T.ZONE_HAND, card_type=r[T.C_TYPE], subtype=r[T.C_SUBTYPE],
                cost=r[T.C_COST], attack=r[T.C_ATK], health=r[T.C_HP], max_health=r[T.C_HP],
                has_ability=int(r[T.C_ACT_EFF] != 0), ability_cost=r[T.C_ACT_COST])
    for k, name in enumerate(("guard", "charge", "ranged", "lifesteal", "shield")):
        view[name] = (int(r[T.C_KW]) >> k) & 1
    for f, name in enumerate(T.ENTITY_FEATURES):
        r[T.C_VIEW + f] = view.get(name, 0)


DECK_FIELDS = ("name", "plan", "leader", "description", "main", "ikz")


MAX_NAME = 60   # characters in a card's or deck's name (the shipped ones run to 23)


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a card or deck, or None. Names are printed on the terminal (the
    board, the play script, replays), matched by what a user types and used as keys: printable
    characters only (no control or escape character, no line break), no leading or trailing
    space, at most MAX_NAME characters."""
    if len(name) > MAX_NAME:
        return f"is {len(name)} characters long; at most {MAX_NAME}"
    if not name.isprintable():
        return "holds a control character (a name is printable text)"
    if name != name.strip():
        return "begins or ends with a space"
    return None


def parse_decks(raw_decks: list, pool: CardPool) -> dict[str, Deck]:
    if not isinstance(raw_decks, list) or not raw_decks:
        raise DeckError("decks file must contain a non-empty [[deck]] array")
    decks = {}
    for i, raw in enumerate(raw_decks):
        name = raw.get("name") if isinstance(raw, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise DeckError(f"deck #{i + 1}: missing a non-empty 'name'")
        problem = _name_problem(name)
        if problem:
            raise DeckError(f"deck #{i + 1}: name {name[:MAX_NAME + 3]!r} {problem}")
        if name in decks:
            raise DeckError(f"deck '{name}': duplicate name")
        extra = set(raw) - set(DECK_FIELDS)
        if extra:   # a misspelt 'descripton' or 'mian' is named, never dropped
            raise DeckError(f"deck '{name}': unknown field(s) {sorted(extra)}; allowed: {list(DECK_FIELDS)}")
        for key in ("plan", "leader", "description"):
            if not isinstance(raw.get(key, ""), str):
                raise DeckError(f"deck '{name}': '{key}' must be a string, got {raw[key]!r}")

        def expand(counts, what):
            if not isinstance(counts, dict):
                raise DeckError(f"deck '{name}': '{what}' must be a table of card name = copies")
            out = []
            for card, n in counts.items():
                if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= DECK_MAIN:
                    # bounded before the list is built: a count of 2**40 is a DeckError, not a MemoryError
                    raise DeckError(f"deck '{name}': {what} count for {card!r} must be an integer in 1..{DECK_MAIN}, "
                                    f"got {n!r}")
                out.extend([card] * n)
            return tuple(out)

        deck = Deck(name=name, plan=raw.get("plan", ""), leader=raw.get("leader", ""),
                    main=expand(raw.get("main", {}), "main"), ikz=expand(raw.get("ikz", {}), "ikz"),
                    description=raw.get("description", ""))
        validate_deck(deck, pool)
        decks[name] = deck
    return decks


def validate_deck(deck: Deck, pool: CardPool) -> None:
    """Raise :class:`DeckError` naming the first deck-building rule the deck breaks."""
    where = f"deck '{deck.name}'"
    leader = pool.by_name.get(deck.leader)
    if leader is None or leader.type != CardType.LEADER:
        leaders = ", ".join(c.name for c in pool.cards if c.type == CardType.LEADER)
        raise DeckError(f"{where}: leader {deck.leader!r} is not a leader card; leaders: {leaders}")
    if len(deck.main) != DECK_MAIN:
        raise DeckError(f"{where}: main deck has {len(deck.main)} cards; it must have exactly {DECK_MAIN}")
    if len(deck.ikz) != DECK_IKZ:
        raise DeckError(f"{where}: IKZ deck has {len(deck.ikz)} cards; it must have exactly {DECK_IKZ}")
    counts: dict[str, int] = {}
    for name in deck.main:
        card = pool.by_name.get(name)
        if card is None:
            raise DeckError(f"{where}: unknown card {name!r} in the main deck")
        if card.type not in (CardType.UNIT, CardType.WEAPON, CardType.SPELL) or card.token:
            raise DeckError(f"{where}: {name!r} is a {'token' if card.token else card.type.name}; the main deck "
                            f"holds only non-token UNIT, WEAPON and SPELL cards")
        counts[name] = counts.get(name, 0) + 1
        if counts[name] > MAX_COPIES:
            raise DeckError(f"{where}: {counts[name]} copies of {name!r}; at most {MAX_COPIES} are allowed")
    for name in deck.ikz:
        card = pool.by_name.get(name)
        if card is None:
            raise DeckError(f"{where}: unknown card {name!r} in the IKZ deck")
        if card.type != CardType.IKZ:
            raise DeckError(f"{where}: {name!r} is a {card.type.name}; the IKZ deck holds only IKZ cards")


def deck_ids(deck: Deck, pool: CardPool) -> np.ndarray:
    """``int32[41]``: leader id, 30 main-deck ids, 10 IKZ ids (the engine's deck row)."""
    validate_deck(deck, pool)
    ids = [pool.id_of(deck.leader)] + [pool.id_of(n) for n in deck.main] + [pool.id_of(n) for n in deck.ikz]
    return np.asarray(ids, dtype=np.int32)


def read_text(path: Path, what: str, error: type[ValueError]) -> str:
    """The text of the ``what`` file ``path``; a missing, unreadable or non-UTF-8 file raises
    ``error`` naming the path."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) else f"not UTF-8 text: {e.reason}"
        raise error(f"{what} file {path} cannot be read ({why})") from None


def _read_toml(path: Path, what: str, top: str, error: type[ValueError]) -> list:
    """The ``[[top]]`` array of the TOML file ``path``; any unreadable or malformed file (missing,
    a folder, not UTF-8, not TOML, other top-level keys) raises ``error`` naming the path."""
    return _parse_toml(read_text(path, what, error), str(path), what, top, error)


def _parse_toml(text: str, where: str, what: str, top: str, error: type[ValueError]) -> list:
    """The ``[[top]]`` array of TOML ``text`` (read from ``where``, named in the errors)."""
    if not isinstance(text, str):
        raise error(f"{where}: a {what} file's text must be a string, got {type(text).__name__}")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error(f"{where}: not valid TOML: {e}") from None
    except (ValueError, RecursionError) as e:   # an integer past Python's digit limit; nesting past the stack
        raise error(f"{where}: not valid TOML ({type(e).__name__}: {str(e)[:200]})") from None
    extra = set(raw) - {top}
    if extra:
        raise error(f"{where}: unknown top-level key(s) {sorted(extra)}; a {what} file holds only [[{top}]] tables")
    return raw.get(top, [])


def _data_path(path, what: str, error: type[ValueError]) -> Path:
    """``path``, or the shipped ``prefabs/data/WHAT.toml`` for None; an empty name is refused
    with ``error`` (as a path it would read as the current folder, and it is not None)."""
    if path is None:
        return DATA_DIR / f"{what}.toml"
    if not str(path).strip():
        raise error(f"a {what} file is named by its path, got {str(path)!r}")
    return Path(path)


def load_pool(path: Path | str | None = None) -> CardPool:
    """The card pool of a cards file (default: the shipped ``prefabs/data/cards.toml``)."""
    return CardPool(parse_cards(_read_toml(_data_path(path, "cards", PrefabError), "cards", "card", PrefabError)))


def load_decks(pool: CardPool, path: Path | str | None = None) -> dict[str, Deck]:
    """The decks of a decks file (default: the shipped ``prefabs/data/decks.toml``), validated against ``pool``."""
    return parse_decks(_read_toml(_data_path(path, "decks", DeckError), "decks", "deck", DeckError), pool)


def pool_from_text(text: str, where: str = "cards text") -> CardPool:
    """The card pool of a cards file's ``text`` (as :func:`load_pool` reads it from a file; a
    checkpoint carries its run's cards this way). Every error names ``where`` first."""
    try:
        return CardPool(parse_cards(_parse_toml(text, where, "cards", "card", PrefabError)))
    except PrefabError as e:
        raise _named(e, where) from None


def decks_from_text(text: str, pool: CardPool, where: str = "decks text") -> dict[str, Deck]:
    """The decks of a decks file's ``text``, validated against ``pool`` (as :func:`load_decks`).
    Every error names ``where`` first."""
    try:
        return parse_decks(_parse_toml(text, where, "decks", "deck", DeckError), pool)
    except DeckError as e:
        raise _named(e, where) from None


def _named(e: ValueError, where: str) -> ValueError:
    """``e`` (a PrefabError or DeckError) with its message beginning ``where: ``."""
    return e if str(e).startswith(f"{where}: ") else type(e)(f"{where}: {e}")


def find_deck(name, decks: Mapping[str, "Deck"] | None = None) -> str:
    """The name of the deck in ``decks`` (default: the prebuilt ones) that ``name`` means: the
    exact name, else the one matching in any case (``-`` or ``_`` for spaces), else the only one
    it begins, else the only one containing it. Raises :class:`DeckError` listing the decks when
    none or several match."""
    decks = default_decks() if decks is None else decks
    kind = "prebuilt decks" if decks is default_decks() else "decks"
    if not isinstance(name, str):
        raise DeckError(f"a deck is given by name (or as a Deck), got {name!r}; {kind}: {', '.join(decks)}")
    if name in decks:
        return name
    def norm(text):   # any case, '-' or '_' for spaces: applied to the query and the names alike
        return " ".join(text.strip().lower().replace("-", " ").replace("_", " ").split())
    key, names = norm(name), {d: norm(d) for d in decks}
    hits = [d for d in decks if names[d] == key] or [d for d in decks if key and names[d].startswith(key)] or \
        [d for d in decks if key and key in names[d]]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise DeckError(f"deck {name!r} is ambiguous: it could be {', '.join(hits)}")
    raise DeckError(f"unknown deck {name!r}; {kind}: {', '.join(decks)}")


def deck_choice(text: str, decks: Mapping[str, "Deck"] | None = None) -> str | None:
    """A ``decks`` setting as the trainer and ``tcg demos`` take it: ``'all'`` in any case (every
    pairing of ``decks``, default the prebuilt ones) is None, anything else the one deck it names
    (:func:`find_deck`, used by both seats). Raises :class:`DeckError` listing the decks, and
    'all', for anything else."""
    if isinstance(text, str) and text.strip().lower() == "all":
        return None
    try:
        return find_deck(text, decks)
    except DeckError as e:
        raise DeckError(f"{e} (or 'all': every pairing)") from None


@lru_cache(maxsize=1)
def default_pool() -> CardPool:
    return load_pool()


@lru_cache(maxsize=1)
def default_decks() -> dict[str, Deck]:
    return load_decks(default_pool())
