"""Explain one action tuple: legal, or the first rule it breaks, in words.

This is a second, independent code path: it checks a single tuple rule by rule and
never calls the enumerator. ``crosscheck`` compares the two over the whole product
space of tuples. ``explain_code`` (numba) returns ``(code, detail)``; ``explain``
turns that into a sentence.
"""
import operator

import numpy as np
from numba import njit

from prefabs import table as T
from prefabs.enums import CHOSEN_TARGETS, CardType, Effect, Keyword, Target
from prefabs.text import TARGET_PHRASES
from .errors import ActionOutOfRangeError
from .layout import (B_CARD, B_MOVED, B_READY, B_SICK, B_USED, G_ATK_TGT, G_PEND_CARD, G_PEND_TGT, G_PHASE,
                     P_HAND, P_HAND_N, P_LEADER, P_LEADER_USED, P_TOKEN, PH_BLOCK, PH_CHOOSE_MODE,
                     PH_CHOOSE_TARGET, PH_MAIN, PH_MULLIGAN, PH_OVER)
from .rules import actor, pbase, sbase, unit_attack, unit_keywords, untapped_ikz
from .spec import (GARDEN_SLOTS, HEAD_SIZES, MULLIGAN_HAND, SLOT_KIND, SLOT_SIZE,
                   Primary, SlotKind, entity_name)

OK = 0
R_GAME_OVER = 1
R_PHASE = 2
R_UNUSED_SLOT = 3
R_MULL_MASK = 4
R_NOT_HAND = 5
R_CARD_TYPE = 6
R_BIN_RANGE = 7
R_SLOT_OCCUPIED = 8
R_CANT_PAY = 9
R_NO_TOKEN = 10
R_TOKEN_ZERO_COST = 11
R_BAD_TARGET = 12
R_TARGET_NOT_ZERO = 13
R_NOT_YOUR_UNIT = 14
R_EXHAUSTED = 15
R_SICK = 16
R_ALLEY_NO_RANGED = 17
R_ZERO_ATTACK = 18
R_ATTACK_TARGET = 19
R_GUARD = 20
R_BLOCKER = 21
R_BLOCK_TARGET = 22
R_NO_ABILITY = 23
R_ABILITY_USED = 24
R_LEADER_USED = 25
R_ALREADY_MOVED = 26
R_MOVE_ROW = 27
R_MODE = 28

_PH_ALLOWED = np.zeros((6, len(Primary)), dtype=np.bool_)
_PH_ALLOWED[PH_MULLIGAN, Primary.MULLIGAN] = True
for _p in (Primary.END_TURN, Primary.PLAY_UNIT, Primary.PLAY_SPELL, Primary.ATTACH_WEAPON, Primary.ATTACK,
           Primary.ACTIVATE, Primary.LEADER_ABILITY, Primary.MOVE):
    _PH_ALLOWED[PH_MAIN, _p] = True
_PH_ALLOWED[PH_BLOCK, Primary.BLOCK] = True
_PH_ALLOWED[PH_BLOCK, Primary.NO_BLOCK] = True
_PH_ALLOWED[PH_CHOOSE_TARGET, Primary.CHOOSE_TARGET] = True
_PH_ALLOWED[PH_CHOOSE_MODE, Primary.CHOOSE_MODE] = True

_UNUSED = int(SlotKind.UNUSED)
_BIN = int(SlotKind.BIN)
_TYPE_FOR = np.zeros(len(Primary), dtype=np.int32)
_TYPE_FOR[Primary.PLAY_UNIT] = CardType.UNIT
_TYPE_FOR[Primary.PLAY_SPELL] = CardType.SPELL
_TYPE_FOR[Primary.ATTACH_WEAPON] = CardType.WEAPON
_K_GUARD = int(Keyword.GUARD)
_K_CHARGE = int(Keyword.CHARGE)
_K_RANGED = int(Keyword.RANGED)
_E_NONE = int(Effect.NONE)
_T_ANY = int(Target.ANY)
_T_ANY_UNIT = int(Target.ANY_UNIT)
_T_ENEMY_UNIT = int(Target.ENEMY_UNIT)
_T_FRIENDLY_UNIT = int(Target.FRIENDLY_UNIT)
_T_ENEMY_ANY = int(Target.ENEMY_ANY)


@njit(cache=True)
def _decode(e):
    """Entity pointer -> (relative owner 0 me / 1 enemy, kind 0 leader / 1 board / 2 hand, index)."""
    if e == 0:
        return 0, 0, 0
    if e == 1:
        return 1, 0, 0
    if e < 12:
        return 0, 1, e - 2
    if e < 22:
        return 1, 1, e - 12
    return 0, 2, e - 22


@njit(cache=True)
def _check_target(s, p, rule, e):
    """OK if entity e satisfies chosen target rule ``rule`` for player p."""
    owner, kind, idx = _decode(e)
    if kind == 2:
        return R_BAD_TARGET
    if kind == 1 and s[sbase((p + owner) % 2, idx) + B_CARD] == 0:
        return R_BAD_TARGET
    is_leader = kind == 0
    enemy = owner == 1
    if rule == _T_ANY:
        return OK
    if rule == _T_ANY_UNIT:
        return R_BAD_TARGET if is_leader else OK
    if rule == _T_ENEMY_UNIT:
        return OK if (enemy and not is_leader) else R_BAD_TARGET
    if rule == _T_FRIENDLY_UNIT:
        return OK if (not enemy and not is_leader) else R_BAD_TARGET
    if rule == _T_ENEMY_ANY:
        return OK if enemy else R_BAD_TARGET
    return R_BAD_TARGET


@njit(cache=True)
def _check_payment(s, p, cost, use_token):
    free = untapped_ikz(s, p)
    if use_token == 1:
        if s[pbase(p) + P_TOKEN] != 1:
            return R_NO_TOKEN
        if cost == 0:
            return R_TOKEN_ZERO_COST
        return OK if free + 1 >= cost else R_CANT_PAY
    return OK if free >= cost else R_CANT_PAY


@njit(cache=True)
def _check_effect_target(s, p, rule, e):
    if rule >= _T_ANY and rule <= _T_ENEMY_ANY:
        return _check_target(s, p, rule, e)
    return OK if e == 0 else R_TARGET_NOT_ZERO


@njit(cache=True)
def explain_code(s, cards, a0, a1, a2, a3):
    """Return (reason code, detail). Code 0 means legal. Values are assumed in head range."""
    p = actor(s)
    if p < 0 or s[G_PHASE] == PH_OVER:
        return R_GAME_OVER, 0
    if not _PH_ALLOWED[s[G_PHASE], a0]:
        return R_PHASE, s[G_PHASE]
    subs = (a1, a2, a3)
    for j in range(3):
        if SLOT_KIND[a0, j] == _UNUSED and subs[j] != 0:
            return R_UNUSED_SLOT, j + 1
        if SLOT_KIND[a0, j] == _BIN and subs[j] >= SLOT_SIZE[a0, j]:
            return R_BIN_RANGE, j + 1
    b = pbase(p)
    if a0 == Primary.END_TURN or a0 == Primary.NO_BLOCK:
        return OK, 0
    if a0 == Primary.MULLIGAN:
        k = min(s[b + P_HAND_N], MULLIGAN_HAND)
        return (OK, 0) if a1 < (1 << k) else (R_MULL_MASK, k)
    if a0 == Primary.PLAY_UNIT or a0 == Primary.PLAY_SPELL or a0 == Primary.ATTACH_WEAPON:
        owner, kind, h = _decode(a1)
        if kind != 2 or h >= s[b + P_HAND_N]:
            return R_NOT_HAND, 0
        c = s[b + P_HAND + h]
        if cards[c, T.C_TYPE] != _TYPE_FOR[a0]:
            return R_CARD_TYPE, c
        if a0 == Primary.PLAY_UNIT:
            if s[sbase(p, a2) + B_CARD] != 0:
                return R_SLOT_OCCUPIED, a2
        elif a0 == Primary.PLAY_SPELL:
            r = _check_effect_target(s, p, cards[c, T.C_PLAY_TGT], a2)
            if r != OK:
                return r, c
        else:
            owner, kind, slot = _decode(a2)
            if owner != 0 or kind != 1 or s[sbase(p, slot) + B_CARD] == 0:
                return R_NOT_YOUR_UNIT, 2
        return _check_payment(s, p, cards[c, T.C_COST], a3), cards[c, T.C_COST]
    if a0 == Primary.ATTACK:
        owner, kind, slot = _decode(a1)
        if owner != 0 or kind != 1 or s[sbase(p, slot) + B_CARD] == 0:
            return R_NOT_YOUR_UNIT, 1
        u = sbase(p, slot)
        kw = unit_keywords(s, p, slot)
        if s[u + B_READY] == 0:
            return R_EXHAUSTED, 0
        if s[u + B_SICK] == 1 and (kw & _K_CHARGE) == 0:
            return R_SICK, 0
        if slot >= GARDEN_SLOTS and (kw & _K_RANGED) == 0:
            return R_ALLEY_NO_RANGED, 0
        if unit_attack(s, cards, p, slot) < 1:
            return R_ZERO_ATTACK, 0
        towner, tkind, tslot = _decode(a2)
        q = 1 - p
        if towner != 1 or tkind == 2 or (tkind == 1 and (tslot >= GARDEN_SLOTS or s[sbase(q, tslot) + B_CARD] == 0)):
            return R_ATTACK_TARGET, 0
        target_guard = tkind == 1 and (unit_keywords(s, q, tslot) & _K_GUARD) != 0
        if not target_guard:
            for g in range(GARDEN_SLOTS):
                if s[sbase(q, g) + B_CARD] != 0 and (unit_keywords(s, q, g) & _K_GUARD) != 0:
                    return R_GUARD, g
        return OK, 0
    if a0 == Primary.BLOCK:
        owner, kind, slot = _decode(a1)
        if owner != 0 or kind != 1 or slot >= GARDEN_SLOTS or s[sbase(p, slot) + B_CARD] == 0:
            return R_BLOCKER, 0
        if s[sbase(p, slot) + B_READY] == 0:
            return R_EXHAUSTED, 0
        if slot == s[G_ATK_TGT]:
            return R_BLOCK_TARGET, 0
        return OK, 0
    if a0 == Primary.ACTIVATE:
        owner, kind, slot = _decode(a1)
        if owner != 0 or kind != 1 or s[sbase(p, slot) + B_CARD] == 0:
            return R_NOT_YOUR_UNIT, 1
        c = s[sbase(p, slot) + B_CARD]
        if cards[c, T.C_ACT_EFF] == _E_NONE:
            return R_NO_ABILITY, c
        if s[sbase(p, slot) + B_USED] == 1:
            return R_ABILITY_USED, c
        r = _check_effect_target(s, p, cards[c, T.C_ACT_TGT], a2)
        if r != OK:
            return r, c
        return _check_payment(s, p, cards[c, T.C_ACT_COST], a3), cards[c, T.C_ACT_COST]
    if a0 == Primary.LEADER_ABILITY:
        if s[b + P_LEADER_USED] == 1:
            return R_LEADER_USED, 0
        c = s[b + P_LEADER]
        r = _check_effect_target(s, p, cards[c, T.C_ACT_TGT], a2)
        if r != OK:
            return r, c
        return _check_payment(s, p, cards[c, T.C_ACT_COST], a3), cards[c, T.C_ACT_COST]
    if a0 == Primary.MOVE:
        owner, kind, slot = _decode(a1)
        if owner != 0 or kind != 1 or s[sbase(p, slot) + B_CARD] == 0:
            return R_NOT_YOUR_UNIT, 1
        if s[sbase(p, slot) + B_MOVED] == 1:
            return R_ALREADY_MOVED, 0
        if (slot < GARDEN_SLOTS) == (a2 < GARDEN_SLOTS):
            return R_MOVE_ROW, 0
        if s[sbase(p, a2) + B_CARD] != 0:
            return R_SLOT_OCCUPIED, a2
        return OK, 0
    if a0 == Primary.CHOOSE_TARGET:
        return _check_target(s, p, s[G_PEND_TGT], a2), s[G_PEND_CARD]
    if a0 == Primary.CHOOSE_MODE:
        n = cards[s[G_PEND_CARD], T.C_NMODES]
        return (OK, 0) if a2 < n else (R_MODE, n)
    return R_PHASE, s[G_PHASE]


_PHASE_NAMES = ["mulligan", "main", "block (response window)", "choose target", "choose mode", "game over"]
_PHASE_ALLOWED_TEXT = {
    PH_MULLIGAN: "MULLIGAN", PH_MAIN: "END_TURN, PLAY_UNIT, PLAY_SPELL, ATTACH_WEAPON, ATTACK, ACTIVATE, "
                                      "LEADER_ABILITY, MOVE",
    PH_BLOCK: "BLOCK, NO_BLOCK", PH_CHOOSE_TARGET: "CHOOSE_TARGET", PH_CHOOSE_MODE: "CHOOSE_MODE",
}
_SLOT_NAMES = {1: "sub1", 2: "sub2", 3: "sub3"}


def explain(row, action, pool) -> str | None:
    """``explain(state, tuple)`` of the design: None if ``action`` is legal in the state row
    ``row`` (int32[STATE_SIZE]) with the card pool ``pool`` (a ``prefabs.CardPool``), else the
    first rule it breaks, in words. Checked rule by rule by :func:`explain_code`, a code path of
    its own (not the enumerator's); an out-of-range or malformed tuple raises
    :class:`ActionOutOfRangeError`. ``GameState.explain`` is this function on its row."""
    return explain_checked(row, check_range(action), pool)


def explain_checked(row, a: tuple[int, int, int, int], pool) -> str | None:
    """:func:`explain` of a tuple :func:`check_range` returned (no second check: a checked apply
    calls both, and the range check is most of its Python time)."""
    code, detail = explain_code(row, pool.table, *a)
    if code == OK:
        return None
    rule = None
    if code == R_BAD_TARGET:   # the chosen-target rule the entity fails, read where explain_code read it
        if a[0] == Primary.CHOOSE_TARGET:
            rule = int(row[G_PEND_TGT])
        else:
            rule = int(pool.table[detail, T.C_PLAY_TGT if a[0] == Primary.PLAY_SPELL else T.C_ACT_TGT])
    return reason_text(int(code), int(detail), a, int(row[G_PHASE]), pool, target_rule=rule)


def check_range(action) -> tuple[int, int, int, int]:
    """Validate the tuple's shape and head ranges; raise :class:`ActionOutOfRangeError`."""
    if not isinstance(action, (tuple, list, np.ndarray)) or getattr(action, "ndim", 1) != 1:
        # bytes, a set (unordered), a dict (its keys) or a generator would be read as some other tuple
        raise ActionOutOfRangeError(None, f"an action is a tuple, list or 1-D array of 4 integers (primary, sub1, "
                                          f"sub2, sub3), got {type(action).__name__} {action!r}")
    try:   # operator.index: integers only, so 1.7 or "1" is refused rather than rounded or parsed
        items = list(action)
        vals = [operator.index(x) for x in items]
    except TypeError:
        vals = None
    if vals is None or any(isinstance(x, (bool, np.bool_)) for x in items):
        raise ActionOutOfRangeError(None, f"an action is 4 integers (primary, sub1, sub2, sub3), got {action!r}")
    if len(vals) != 4:
        raise ActionOutOfRangeError(None, f"an action has 4 values (primary, sub1, sub2, sub3), got {len(vals)}")
    names = ("primary", "sub1", "sub2", "sub3")
    for j, (v, size) in enumerate(zip(vals, HEAD_SIZES)):
        if not 0 <= v < size:
            raise ActionOutOfRangeError(vals, f"{names[j]}={v} is out of range 0..{size - 1}")
    return tuple(vals)


_CHOSEN = {int(t) for t in CHOSEN_TARGETS}


def reason_text(code: int, detail: int, action, phase: int, pool=None, target_rule: int | None = None) -> str:
    """The words for ``explain_code``'s (code, detail) of ``action``; ``target_rule`` (the chosen
    target rule an R_BAD_TARGET entity fails) adds what the rule allows."""
    a0, a1, a2, a3 = action
    prim = Primary(a0).name

    def card(cid):
        if pool is not None and cid > 0:
            return f"'{pool[cid].name}'"
        return f"card {cid}"

    texts = {
        R_GAME_OVER: lambda: "the game is over; no action is legal",
        R_PHASE: lambda: f"{prim} is not allowed in the {_PHASE_NAMES[phase]} phase; allowed: {_PHASE_ALLOWED_TEXT.get(phase, 'none')}",
        R_UNUSED_SLOT: lambda: f"{_SLOT_NAMES.get(detail)} is unused by {prim} and must be 0",
        R_MULL_MASK: lambda: f"mulligan mask {a1} names positions beyond the {detail}-card opening hand (allowed 0..{(1 << detail) - 1})",
        R_NOT_HAND: lambda: f"sub1={a1} ({entity_name(a1)}) is not a card in your hand",
        R_CARD_TYPE: lambda: f"{card(detail)} is not the card type {prim} needs ({CardType(_TYPE_FOR[a0]).name})",
        R_BIN_RANGE: lambda: (f"{_SLOT_NAMES.get(detail)}={action[detail]} is out of range for {prim} "
                              f"(allowed 0..{int(SLOT_SIZE[a0, detail - 1]) - 1})"),
        R_SLOT_OCCUPIED: lambda: f"board slot {detail} is not empty",
        R_CANT_PAY: lambda: f"not enough untapped IKZ to pay {detail}" + (" even with the IKZ token" if a3 == 1 else ""),
        R_NO_TOKEN: lambda: "you have no IKZ token to spend",
        R_TOKEN_ZERO_COST: lambda: "the IKZ token cannot be spent on a cost of 0",
        R_BAD_TARGET: lambda: f"{entity_name(a2)} is not a legal target for {card(detail)}" + (
            f" (it needs {TARGET_PHRASES[Target(target_rule)]})" if target_rule in _CHOSEN else ""),
        R_TARGET_NOT_ZERO: lambda: f"{card(detail)} takes no chosen target, so sub2 must be 0",
        R_NOT_YOUR_UNIT: lambda: f"sub{detail}={action[detail]} ({entity_name(action[detail])}) is not one of your units",
        R_EXHAUSTED: lambda: "that unit is exhausted",
        R_SICK: lambda: "that unit arrived this turn and lacks CHARGE",
        R_ALLEY_NO_RANGED: lambda: "only RANGED units can attack from the alley",
        R_ZERO_ATTACK: lambda: "a unit with 0 attack cannot attack",
        R_ATTACK_TARGET: lambda: f"{entity_name(a2)} cannot be attacked; targets are the enemy leader or an enemy garden unit",
        R_GUARD: lambda: f"an enemy GUARD unit (enemy garden slot {detail}) must be attacked first",
        R_BLOCKER: lambda: f"{entity_name(a1)} is not one of your garden units",
        R_BLOCK_TARGET: lambda: "the attacked unit cannot block its own attack",
        R_NO_ABILITY: lambda: f"{card(detail)} has no activated ability",
        R_ABILITY_USED: lambda: f"{card(detail)} already used its ability this turn",
        R_LEADER_USED: lambda: "your leader ability was already used this turn",
        R_ALREADY_MOVED: lambda: "that unit already moved this turn",
        R_MOVE_ROW: lambda: f"slot {a2} is not in the other row",
        R_MODE: lambda: f"mode {a2} does not exist (the card has {detail} modes)",
    }
    make = texts.get(code)
    return make() if make else f"rule {code}"
