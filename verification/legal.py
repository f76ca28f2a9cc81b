"""Enumerate every legal action tuple of a state, in canonical (lexicographic) order.

``enumerate_legal(s, cards, out)`` writes rows ``out[0:n]`` and returns ``n``. Rows past
``n`` are never read by anyone. ``out`` must hold ``MAX_LEGAL`` rows (a proven bound,
see ``spec.MAX_LEGAL``); the function still checks and returns -1 rather than write
past the end, which callers turn into :class:`LegalCapacityError`.
"""
import numpy as np
from numba import njit

from prefabs import table as T
from prefabs.enums import CardType, Effect, Keyword, Target
from .layout import (B_CARD, B_MOVED, B_READY, B_SICK, B_USED, G_ATK_TGT, G_PEND_CARD, G_PEND_TGT,
                     G_PHASE, P_HAND, P_HAND_N, P_LEADER, P_LEADER_USED, P_TOKEN, PH_BLOCK, PH_CHOOSE_MODE,
                     PH_CHOOSE_TARGET, PH_MAIN, PH_MULLIGAN)
from .rules import actor, pbase, sbase, unit_attack, unit_keywords, untapped_ikz
from .spec import (BOARD_SLOTS, ENT_MY_BOARD, ENT_MY_HAND, ENT_OPP_BOARD, ENT_OPP_LEADER, GARDEN_SLOTS,
                   MAX_LEGAL, MULLIGAN_HAND, Primary)

P_END = int(Primary.END_TURN)
P_MULL = int(Primary.MULLIGAN)
P_UNIT = int(Primary.PLAY_UNIT)
P_SPELL = int(Primary.PLAY_SPELL)
P_WEAPON = int(Primary.ATTACH_WEAPON)
P_ATTACK = int(Primary.ATTACK)
P_BLOCK = int(Primary.BLOCK)
P_NOBLOCK = int(Primary.NO_BLOCK)
P_ACT = int(Primary.ACTIVATE)
P_LEADER_AB = int(Primary.LEADER_ABILITY)
P_MOVE = int(Primary.MOVE)
P_CTARGET = int(Primary.CHOOSE_TARGET)
P_CMODE = int(Primary.CHOOSE_MODE)

T_NONE = int(Target.NONE)
T_ANY = int(Target.ANY)
T_ANY_UNIT = int(Target.ANY_UNIT)
T_ENEMY_UNIT = int(Target.ENEMY_UNIT)
T_FRIENDLY_UNIT = int(Target.FRIENDLY_UNIT)
T_ENEMY_ANY = int(Target.ENEMY_ANY)
K_GUARD = int(Keyword.GUARD)
K_CHARGE = int(Keyword.CHARGE)
K_RANGED = int(Keyword.RANGED)
CT_UNIT = int(CardType.UNIT)
CT_SPELL = int(CardType.SPELL)
CT_WEAPON = int(CardType.WEAPON)
E_NONE = int(Effect.NONE)
NUM_TARGETABLE = ENT_MY_HAND   # entities 0-21 can be targets


@njit(cache=True)
def _push(out, n, a, b, c, d):
    if n < 0 or n >= out.shape[0]:   # overflow is sticky: -1 stays -1
        return -1
    out[n, 0] = a
    out[n, 1] = b
    out[n, 2] = c
    out[n, 3] = d
    return n + 1


@njit(cache=True)
def _target_ok(s, p, rule, e):
    """Is entity ``e`` (from player p's view) a legal choice for chosen target ``rule``?"""
    if e == 0:
        return rule == T_ANY
    if e == 1:
        return rule == T_ANY or rule == T_ENEMY_ANY
    if e < ENT_OPP_BOARD:
        if s[sbase(p, e - ENT_MY_BOARD) + B_CARD] == 0:
            return False
        return rule == T_ANY or rule == T_ANY_UNIT or rule == T_FRIENDLY_UNIT
    if e < ENT_MY_HAND:
        if s[sbase(1 - p, e - ENT_OPP_BOARD) + B_CARD] == 0:
            return False
        return rule == T_ANY or rule == T_ANY_UNIT or rule == T_ENEMY_UNIT or rule == T_ENEMY_ANY
    return False


@njit(cache=True)
def any_target(s, p, rule):
    """Does chosen-target ``rule`` have at least one legal target for player p?"""
    for e in range(NUM_TARGETABLE):
        if _target_ok(s, p, rule, e):
            return True
    return False


@njit(cache=True)
def _can_block(s, q, slot, tgt):
    bb = sbase(q, slot)
    return s[bb + B_CARD] != 0 and s[bb + B_READY] == 1 and slot != tgt


@njit(cache=True)
def any_blocker(s, q, tgt):
    """Can defender q block an attack on its board slot ``tgt`` (or its leader, tgt = 10)?"""
    for slot in range(GARDEN_SLOTS):
        if _can_block(s, q, slot, tgt):
            return True
    return False


@njit(cache=True)
def _is_chosen(rule):
    return rule >= T_ANY and rule <= T_ENEMY_ANY


@njit(cache=True)
def _push_paid_targets(s, p, out, n, prim, sub1, rule, cost):
    """Push (prim, sub1, target, token) for each legal target and token choice."""
    b = pbase(p)
    free = untapped_ikz(s, p)
    can0 = free >= cost
    can1 = s[b + P_TOKEN] == 1 and cost >= 1 and free + 1 >= cost
    if not can0 and not can1:
        return n
    if _is_chosen(rule):
        for e in range(NUM_TARGETABLE):
            if _target_ok(s, p, rule, e):
                if can0:
                    n = _push(out, n, prim, sub1, e, 0)
                    if n < 0:
                        return n
                if can1:
                    n = _push(out, n, prim, sub1, e, 1)
                    if n < 0:
                        return n
    else:
        if can0:
            n = _push(out, n, prim, sub1, 0, 0)
            if n < 0:
                return n
        if can1:
            n = _push(out, n, prim, sub1, 0, 1)
    return n


@njit(cache=True)
def _can_attack(s, cards, p, slot):
    b = sbase(p, slot)
    if s[b + B_CARD] == 0 or s[b + B_READY] == 0:
        return False
    kw = unit_keywords(s, p, slot)
    if s[b + B_SICK] == 1 and (kw & K_CHARGE) == 0:
        return False
    if slot >= GARDEN_SLOTS and (kw & K_RANGED) == 0:
        return False
    return unit_attack(s, cards, p, slot) >= 1


@njit(cache=True)
def enumerate_legal(s, cards, out):
    """Write the legal tuples of the decision in ``s`` to ``out``; return their count (0 if over, -1 on overflow)."""
    p = actor(s)
    if p < 0:
        return 0
    ph = s[G_PHASE]
    b = pbase(p)
    n = 0
    if ph == PH_MULLIGAN:
        k = s[b + P_HAND_N]
        if k > MULLIGAN_HAND:
            k = MULLIGAN_HAND
        for mask in range(1 << k):
            n = _push(out, n, P_MULL, mask, 0, 0)
        return n
    if ph == PH_BLOCK:
        tgt = s[G_ATK_TGT]
        for slot in range(GARDEN_SLOTS):
            if _can_block(s, p, slot, tgt):
                n = _push(out, n, P_BLOCK, ENT_MY_BOARD + slot, 0, 0)
        n = _push(out, n, P_NOBLOCK, 0, 0, 0)
        return n
    if ph == PH_CHOOSE_TARGET:
        rule = s[G_PEND_TGT]
        for e in range(NUM_TARGETABLE):
            if _target_ok(s, p, rule, e):
                n = _push(out, n, P_CTARGET, 0, e, 0)
        return n
    if ph == PH_CHOOSE_MODE:
        for m in range(cards[s[G_PEND_CARD], T.C_NMODES]):
            n = _push(out, n, P_CMODE, 0, m, 0)
        return n
    if ph != PH_MAIN:
        return 0

    n = _push(out, n, P_END, 0, 0, 0)
    hand_n = s[b + P_HAND_N]
    free = untapped_ikz(s, p)
    token = s[b + P_TOKEN]
    # PLAY_UNIT
    for h in range(hand_n):
        c = s[b + P_HAND + h]
        if cards[c, T.C_TYPE] != CT_UNIT:
            continue
        cost = cards[c, T.C_COST]
        can0 = free >= cost
        can1 = token == 1 and cost >= 1 and free + 1 >= cost
        if not can0 and not can1:
            continue
        for slot in range(BOARD_SLOTS):
            if s[sbase(p, slot) + B_CARD] != 0:
                continue
            if can0:
                n = _push(out, n, P_UNIT, ENT_MY_HAND + h, slot, 0)
            if can1:
                n = _push(out, n, P_UNIT, ENT_MY_HAND + h, slot, 1)
            if n < 0:
                return n
    # PLAY_SPELL
    for h in range(hand_n):
        c = s[b + P_HAND + h]
        if cards[c, T.C_TYPE] != CT_SPELL:
            continue
        rule = cards[c, T.C_PLAY_TGT]
        n = _push_paid_targets(s, p, out, n, P_SPELL, ENT_MY_HAND + h, rule, cards[c, T.C_COST])
        if n < 0:
            return n
    # ATTACH_WEAPON
    for h in range(hand_n):
        c = s[b + P_HAND + h]
        if cards[c, T.C_TYPE] != CT_WEAPON:
            continue
        cost = cards[c, T.C_COST]
        can0 = free >= cost
        can1 = token == 1 and cost >= 1 and free + 1 >= cost
        for slot in range(BOARD_SLOTS):
            if s[sbase(p, slot) + B_CARD] == 0:
                continue
            if can0:
                n = _push(out, n, P_WEAPON, ENT_MY_HAND + h, ENT_MY_BOARD + slot, 0)
            if can1:
                n = _push(out, n, P_WEAPON, ENT_MY_HAND + h, ENT_MY_BOARD + slot, 1)
            if n < 0:
                return n
    # ATTACK
    q = 1 - p
    guard = False
    for slot in range(GARDEN_SLOTS):
        if s[sbase(q, slot) + B_CARD] != 0 and (unit_keywords(s, q, slot) & K_GUARD) != 0:
            guard = True
    for slot in range(BOARD_SLOTS):
        if not _can_attack(s, cards, p, slot):
            continue
        if not guard:
            n = _push(out, n, P_ATTACK, ENT_MY_BOARD + slot, ENT_OPP_LEADER, 0)
        for t in range(GARDEN_SLOTS):
            if s[sbase(q, t) + B_CARD] == 0:
                continue
            if guard and (unit_keywords(s, q, t) & K_GUARD) == 0:
                continue
            n = _push(out, n, P_ATTACK, ENT_MY_BOARD + slot, ENT_OPP_BOARD + t, 0)
        if n < 0:
            return n
    # ACTIVATE
    for slot in range(BOARD_SLOTS):
        bb = sbase(p, slot)
        c = s[bb + B_CARD]
        if c == 0 or s[bb + B_USED] == 1 or cards[c, T.C_ACT_EFF] == E_NONE:
            continue
        n = _push_paid_targets(s, p, out, n, P_ACT, ENT_MY_BOARD + slot,
                               cards[c, T.C_ACT_TGT], cards[c, T.C_ACT_COST])
        if n < 0:
            return n
    # LEADER_ABILITY
    if s[b + P_LEADER_USED] == 0:
        lc = s[b + P_LEADER]
        n = _push_paid_targets(s, p, out, n, P_LEADER_AB, 0, cards[lc, T.C_ACT_TGT],
                               cards[lc, T.C_ACT_COST])
        if n < 0:
            return n
    # MOVE
    for slot in range(BOARD_SLOTS):
        bb = sbase(p, slot)
        if s[bb + B_CARD] == 0 or s[bb + B_MOVED] == 1:
            continue
        lo = GARDEN_SLOTS if slot < GARDEN_SLOTS else 0
        for d in range(lo, lo + GARDEN_SLOTS):
            if s[sbase(p, d) + B_CARD] == 0:
                n = _push(out, n, P_MOVE, ENT_MY_BOARD + slot, d, 0)
        if n < 0:
            return n
    return n


@njit(cache=True)
def is_listed(legal, count, a0, a1, a2, a3):
    """Is the tuple among the first ``count`` rows of a legal list?"""
    for r in range(count):
        if legal[r, 0] == a0 and legal[r, 1] == a1 and legal[r, 2] == a2 and legal[r, 3] == a3:
            return True
    return False


@njit(cache=True)
def legal_counts(rows, cards, counts):
    """``counts[i]`` = the number of legal tuples of state ``rows[i]`` (enumerate_legal's count:
    0 if over, -1 on overflow). For checking rows from outside, not for the hot path."""
    out = np.empty((MAX_LEGAL, 4), np.int8)
    for i in range(rows.shape[0]):
        counts[i] = enumerate_legal(rows[i], cards, out)
