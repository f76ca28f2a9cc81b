"""A rule-based player in numba: it scores every legal tuple and plays the best.

It plays on curve (expensive affordable cards first), trades when a trade wins value,
attacks the leader when the board has lethal, blocks to survive or to win a trade, and
aims weapons, spells and abilities at the targets where they do the most. It only reads
the public state and the legal list handed to it; it decides nothing about legality.
"""
import numpy as np
from numba import njit

from prefabs import table as T
from prefabs.enums import Effect, Keyword, Target
from verification.layout import (ATK_TGT_LEADER, B_CARD, B_HP, B_KW, B_MAXHP, B_WEAPON, G_ATK_SRC, G_ATK_TGT,
                                 G_ACTIVE, G_PEND_A1, G_PEND_A2, G_PEND_CARD, G_PEND_EFF, G_PEND_SLOT, G_PEND_TGT,
                                 P_HAND, P_HAND_N, P_HP, P_LEADER, P_MAXHP)
from verification.rules import actor, pbase, sbase, unit_attack
from verification.spec import (BOARD_SLOTS, ENT_MY_BOARD, ENT_MY_HAND, ENT_OPP_BOARD, GARDEN_SLOTS, MULLIGAN_HAND,
                               Primary)

_E_DAMAGE = int(Effect.DAMAGE)
_E_HEAL = int(Effect.HEAL)
_E_BUFF = int(Effect.BUFF)
_E_DESTROY = int(Effect.DESTROY)
_E_DRAW = int(Effect.DRAW)
_E_SUMMON = int(Effect.SUMMON)
_E_GAIN = int(Effect.GAIN_IKZ)
_E_MODE = int(Effect.MODE)
_E_GRANT = int(Effect.GRANT)
_T_SELF = int(Target.SELF)
_T_OWN_LEADER = int(Target.OWN_LEADER)
_T_ENEMY_LEADER = int(Target.ENEMY_LEADER)
_T_ALL_ENEMY = int(Target.ALL_ENEMY_UNITS)
_T_ALL_FRIENDLY = int(Target.ALL_FRIENDLY_UNITS)
_T_ALL_UNITS = int(Target.ALL_UNITS)
_T_RANDOM_ENEMY = int(Target.RANDOM_ENEMY_UNIT)
_K_SHIELD = int(Keyword.SHIELD)
_K_RANGED = int(Keyword.RANGED)
_K_GUARD = int(Keyword.GUARD)


@njit(cache=True)
def _unit_value(s, cards, q, slot):
    u = sbase(q, slot)
    v = unit_attack(s, cards, q, slot) * 1.5 + s[u + B_HP]
    if (s[u + B_KW] & _K_GUARD) != 0:
        v += 1.0
    return v


@njit(cache=True)
def _on_unit(s, cards, p, q, slot, eff, a1, a2):
    """Value for player p of effect eff on unit (q, slot)."""
    u = sbase(q, slot)
    if s[u + B_CARD] == 0:
        return 0.0
    enemy = q != p
    val = _unit_value(s, cards, q, slot)
    sign = 1.0 if enemy else -1.0
    if eff == _E_DAMAGE:
        if (s[u + B_KW] & _K_SHIELD) != 0:
            return sign * 1.0
        if a1 >= s[u + B_HP]:
            return sign * (6.0 + val)
        return sign * 0.8 * a1
    if eff == _E_DESTROY:
        return sign * (6.0 + val)
    if eff == _E_HEAL:
        missing = s[u + B_MAXHP] - s[u + B_HP]
        return -sign * min(a1, missing) * 0.8
    if eff == _E_BUFF:
        return -sign * (2.0 + a1 * 1.2 + a2)
    if eff == _E_GRANT:
        return -sign * 2.5
    return 0.0


@njit(cache=True)
def _on_leader(s, p, q, eff, a1):
    b = pbase(q)
    if eff == _E_DAMAGE:
        if q != p:
            return 100.0 if a1 >= s[b + P_HP] else 1.5 * a1
        return -3.0 * a1
    if eff == _E_HEAL:
        missing = s[b + P_MAXHP] - s[b + P_HP]
        v = min(a1, missing) * (1.5 if s[b + P_HP] < 10 else 0.6)
        return v if q == p else -v
    return 0.0


@njit(cache=True)
def effect_value(s, cards, p, eff, a1, a2, rule, target, src_slot):
    """Heuristic value for player p of resolving an effect (target is an entity pointer)."""
    if eff == _E_DRAW:
        return 3.0 * a1 if s[pbase(p) + P_HAND_N] + a1 <= 9 else 0.5
    if eff == _E_GAIN:
        return 3.5 * a1
    if eff == _E_SUMMON:
        free = 0
        for slot in range(BOARD_SLOTS):
            if s[sbase(p, slot) + B_CARD] == 0:
                free += 1
        return 3.0 * min(a2, free)
    if eff == _E_MODE:
        return 5.0
    if rule < 10:
        if target == 0:
            return _on_leader(s, p, p, eff, a1)
        if target == 1:
            return _on_leader(s, p, 1 - p, eff, a1)
        if target < ENT_OPP_BOARD:
            return _on_unit(s, cards, p, p, target - ENT_MY_BOARD, eff, a1, a2)
        if target < ENT_MY_HAND:
            return _on_unit(s, cards, p, 1 - p, target - ENT_OPP_BOARD, eff, a1, a2)
        return 0.0
    if rule == _T_SELF:
        return _on_unit(s, cards, p, p, src_slot, eff, a1, a2) if src_slot >= 0 else 0.0
    if rule == _T_OWN_LEADER:
        return _on_leader(s, p, p, eff, a1)
    if rule == _T_ENEMY_LEADER:
        return _on_leader(s, p, 1 - p, eff, a1)
    tot = 0.0
    k = 0
    for q in range(2):
        if (rule == _T_ALL_ENEMY or rule == _T_RANDOM_ENEMY) and q == p:
            continue
        if rule == _T_ALL_FRIENDLY and q != p:
            continue
        for slot in range(BOARD_SLOTS):
            if s[sbase(q, slot) + B_CARD] != 0:
                tot += _on_unit(s, cards, p, q, slot, eff, a1, a2)
                k += 1
    if rule == _T_RANDOM_ENEMY and k > 0:
        return tot / k
    return tot


@njit(cache=True)
def lethal_on_board(s, cards, p, legal, n):
    """Sum of attack of distinct attackers that may hit the enemy leader now."""
    total = 0
    seen = np.zeros(BOARD_SLOTS, dtype=np.bool_)
    for r in range(n):
        if legal[r, 0] == Primary.ATTACK and legal[r, 2] == 1:
            slot = legal[r, 1] - ENT_MY_BOARD
            if not seen[slot]:
                seen[slot] = True
                total += unit_attack(s, cards, p, slot)
    return total >= s[pbase(1 - p) + P_HP]


@njit(cache=True)
def score(s, cards, p, a0, a1, a2, a3, lethal):
    if a0 == Primary.END_TURN or a0 == Primary.NO_BLOCK:
        return 0.0
    if a0 == Primary.MULLIGAN:
        want = 0
        for h in range(min(s[pbase(p) + P_HAND_N], MULLIGAN_HAND)):
            if cards[s[pbase(p) + P_HAND + h], T.C_COST] >= 5:
                want |= 1 << h
        return 10.0 if a1 == want else 0.0
    tok = 2.5 * a3
    if a0 == Primary.PLAY_UNIT:
        c = s[pbase(p) + P_HAND + a1 - ENT_MY_HAND]
        ranged = (cards[c, T.C_KW] & _K_RANGED) != 0
        v = 12.0 + 2.0 * cards[c, T.C_COST] - tok
        if (a2 >= GARDEN_SLOTS) == ranged:
            v += 1.0
        pe = cards[c, T.C_PLAY_EFF]
        if pe != 0 and cards[c, T.C_PLAY_TGT] >= 10:
            v += 0.3 * effect_value(s, cards, p, pe, cards[c, T.C_PLAY_A1], cards[c, T.C_PLAY_A2],
                                    cards[c, T.C_PLAY_TGT], 0, a2)
        return v
    if a0 == Primary.PLAY_SPELL:
        c = s[pbase(p) + P_HAND + a1 - ENT_MY_HAND]
        v = effect_value(s, cards, p, cards[c, T.C_PLAY_EFF], cards[c, T.C_PLAY_A1], cards[c, T.C_PLAY_A2],
                         cards[c, T.C_PLAY_TGT], a2, -1)
        return v + 5.0 - tok if v > 1.0 else -1.0
    if a0 == Primary.ATTACH_WEAPON:
        c = s[pbase(p) + P_HAND + a1 - ENT_MY_HAND]
        slot = a2 - ENT_MY_BOARD
        u = sbase(p, slot)
        v = 8.0 + cards[c, T.C_COST] + 0.5 * s[u + B_HP] - tok
        if s[u + B_WEAPON] != 0:
            v -= 8.0
        if slot >= GARDEN_SLOTS and ((s[u + B_KW] | cards[c, T.C_KW]) & _K_RANGED) == 0:
            v -= 4.0
        return v
    if a0 == Primary.ATTACK:
        src = a1 - ENT_MY_BOARD
        atk = unit_attack(s, cards, p, src)
        if a2 == 1:
            return 200.0 if lethal else 3.0 + 0.5 * atk
        q = 1 - p
        t = a2 - ENT_OPP_BOARD
        tu = sbase(q, t)
        kills = atk >= s[tu + B_HP] and (s[tu + B_KW] & _K_SHIELD) == 0
        back = unit_attack(s, cards, q, t)
        safe = (src >= GARDEN_SLOTS and (s[sbase(p, src) + B_KW] & _K_RANGED) != 0)
        survives = safe or back < s[sbase(p, src) + B_HP] or (s[sbase(p, src) + B_KW] & _K_SHIELD) != 0
        mine = _unit_value(s, cards, p, src)
        theirs = _unit_value(s, cards, q, t)
        if lethal:
            return 1.0
        if kills and survives:
            return 9.0 + theirs
        if kills:
            return 4.0 + theirs - mine if theirs >= mine else 0.5
        if survives:
            return 0.8
        return -1.0
    if a0 == Primary.BLOCK:
        slot = a1 - ENT_MY_BOARD
        act = s[G_ACTIVE]
        src = s[G_ATK_SRC]
        A = unit_attack(s, cards, act, src)
        H = s[sbase(act, src) + B_HP]
        u = sbase(p, slot)
        b = unit_attack(s, cards, p, slot)
        survives = s[u + B_HP] > A or (s[u + B_KW] & _K_SHIELD) != 0
        kills = b >= H and (s[sbase(act, src) + B_KW] & _K_SHIELD) == 0
        if s[G_ATK_TGT] == ATK_TGT_LEADER and s[pbase(p) + P_HP] <= A:
            return 50.0
        if survives and kills:
            return 8.0
        if survives:
            return 3.0 if s[G_ATK_TGT] == ATK_TGT_LEADER else 1.0
        if kills and _unit_value(s, cards, act, src) > _unit_value(s, cards, p, slot):
            return 2.0
        return -1.0
    if a0 == Primary.ACTIVATE:
        slot = a1 - ENT_MY_BOARD
        c = s[sbase(p, slot) + B_CARD]
        v = effect_value(s, cards, p, cards[c, T.C_ACT_EFF], cards[c, T.C_ACT_A1], cards[c, T.C_ACT_A2],
                         cards[c, T.C_ACT_TGT], a2, slot)
        return v + 1.0 - tok if v > 1.0 else -1.0
    if a0 == Primary.LEADER_ABILITY:
        c = s[pbase(p) + P_LEADER]
        v = effect_value(s, cards, p, cards[c, T.C_ACT_EFF], cards[c, T.C_ACT_A1], cards[c, T.C_ACT_A2],
                         cards[c, T.C_ACT_TGT], a2, -1)
        return v + 0.5 - tok if v > 1.0 else -1.0
    if a0 == Primary.MOVE:
        src = a1 - ENT_MY_BOARD
        ranged = (s[sbase(p, src) + B_KW] & _K_RANGED) != 0
        if src < GARDEN_SLOTS and ranged:
            return 1.5
        if src >= GARDEN_SLOTS and not ranged and unit_attack(s, cards, p, src) > 0:
            return 2.0
        return -1.0
    if a0 == Primary.CHOOSE_TARGET:
        return effect_value(s, cards, p, s[G_PEND_EFF], s[G_PEND_A1], s[G_PEND_A2], s[G_PEND_TGT], a2,
                            s[G_PEND_SLOT])
    if a0 == Primary.CHOOSE_MODE:
        c = s[G_PEND_CARD]
        o = T.C_MODES + a2 * T.ABIL_WIDTH
        return effect_value(s, cards, p, cards[c, o + T.AB_EFF], cards[c, o + T.AB_A1], cards[c, o + T.AB_A2],
                            cards[c, o + T.AB_TGT], 0, s[G_PEND_SLOT])
    return 0.0


@njit(cache=True)
def heuristic_choice(s, cards, legal, n):
    """Index of the best-scoring legal row (the first on ties)."""
    p = actor(s)
    lethal = lethal_on_board(s, cards, p, legal, n)
    best = 0
    best_v = -1e30
    for r in range(n):
        v = score(s, cards, p, legal[r, 0], legal[r, 1], legal[r, 2], legal[r, 3], lethal)
        if v > best_v:
            best_v = v
            best = r
    return best
