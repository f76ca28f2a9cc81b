"""The observation: one flat ``int8`` buffer per game, written for the player who acts next.

Named views (offset, shape, meaning), in the OpenSpiel manner:

============ ====== ========== ==================================================
view         offset shape      meaning
============ ====== ========== ==================================================
``globals``  0      (32,)      phase, turn, health, IKZ, counts (see GLOBAL_FEATURES)
``entities`` 32     (32, 24)   one row per entity pointer (see ENTITY_FEATURES);
                               row index = the entity index of ``verification.spec``
============ ====== ========== ==================================================

Hidden information never enters it: the opponent's hand appears only as a count;
no deck order or IKZ-deck content appears at all. The legal tuples travel beside it
(``legal_tuples``, ``legal_count``), not inside it.
"""
import numpy as np
from numba import njit

from prefabs import table as T
from verification.layout import (B_ATK, B_CARD, B_HP, B_KW, B_MAXHP, B_MOVED, B_READY, B_SICK, B_USED, B_WEAPON,
                                 G_ACTIVE, G_ATK_SRC, G_ATK_TGT, G_FIRST, G_PEND_CARD, G_PEND_PLAYER, G_PEND_TGT,
                                 G_PHASE, G_TURN, P_DECK_N, P_DISC_N, P_FATIGUE, P_HAND, P_HAND_N, P_HP,
                                 P_IKZ_N, P_IKZ_TAPPED, P_IKZDECK_N, P_LEADER, P_LEADER_USED, P_MAXHP,
                                 P_MULLIGANED, P_TOKEN, PH_CHOOSE_MODE, PH_CHOOSE_TARGET, ATK_TGT_LEADER, MAX_STAT,
                                 TURN_CAP)
from verification.rules import pbase, sbase
from verification.spec import (BOARD_SLOTS, ENT_MY_BOARD, ENT_MY_HAND, ENT_OPP_BOARD, GARDEN_SLOTS, HAND_MAX,
                               NUM_ENTITIES)

GLOBAL_FEATURES = (
    "phase", "turn", "i_went_first", "is_my_turn", "my_hp", "opp_hp", "my_ikz", "my_ikz_untapped", "opp_ikz",
    "opp_ikz_untapped", "my_token", "opp_token", "my_hand_count", "opp_hand_count", "my_deck_count",
    "opp_deck_count", "my_ikz_deck_count", "opp_ikz_deck_count", "my_discard_count", "opp_discard_count",
    "my_fatigue", "opp_fatigue", "my_leader_used", "opp_leader_used", "my_leader_card", "opp_leader_card",
    "pending_card", "pending_target_rule", "attacker_entity", "attack_target_entity", "my_mulliganed",
    "opp_mulliganed",
)
ENTITY_FEATURES = T.ENTITY_FEATURES   # one entity row; the card table carries each card's printed part
NUM_GLOBALS = len(GLOBAL_FEATURES)
NUM_ENTITY_FEATURES = len(ENTITY_FEATURES)
GLOBALS_OFFSET = 0
ENTITIES_OFFSET = NUM_GLOBALS
OBS_SIZE = NUM_GLOBALS + NUM_ENTITIES * NUM_ENTITY_FEATURES
OBS_DTYPE = np.int8

ZONE_LEADER = 1
ZONE_GARDEN = 2
ZONE_ALLEY = 3
ZONE_HAND = T.ZONE_HAND

VIEWS = {
    "globals": (GLOBALS_OFFSET, (NUM_GLOBALS,)),
    "entities": (ENTITIES_OFFSET, (NUM_ENTITIES, NUM_ENTITY_FEATURES)),
}

_G = {n: i for i, n in enumerate(GLOBAL_FEATURES)}
_F = {n: i for i, n in enumerate(ENTITY_FEATURES)}


def _bounds():
    lo = np.zeros(OBS_SIZE, dtype=np.int8)
    hi = np.zeros(OBS_SIZE, dtype=np.int8)
    g_hi = dict(phase=5, turn=TURN_CAP, my_hp=MAX_STAT, opp_hp=MAX_STAT, my_ikz=10, my_ikz_untapped=10, opp_ikz=10,
                opp_ikz_untapped=10, my_hand_count=HAND_MAX, opp_hand_count=HAND_MAX, my_deck_count=30,
                opp_deck_count=30, my_ikz_deck_count=10, opp_ikz_deck_count=10, my_discard_count=30,
                opp_discard_count=30, my_fatigue=MAX_STAT, opp_fatigue=MAX_STAT, my_leader_card=127,
                opp_leader_card=127, pending_card=127, pending_target_rule=16, attacker_entity=NUM_ENTITIES - 1,
                attack_target_entity=NUM_ENTITIES - 1)
    for i, n in enumerate(GLOBAL_FEATURES):
        hi[GLOBALS_OFFSET + i] = g_hi.get(n, 1)
        if n in ("attacker_entity", "attack_target_entity"):
            lo[GLOBALS_OFFSET + i] = -1
    f_hi = dict(card_id=127, zone=4, zone_slot=HAND_MAX - 1, card_type=5, subtype=10, cost=10, attack=MAX_STAT,
                health=MAX_STAT, max_health=MAX_STAT, weapon_card=127, weapon_bonus=MAX_STAT, ability_cost=10)
    for e in range(NUM_ENTITIES):
        for i, n in enumerate(ENTITY_FEATURES):
            hi[ENTITIES_OFFSET + e * NUM_ENTITY_FEATURES + i] = f_hi.get(n, 1)
    return lo, hi


OBS_LOW, OBS_HIGH = _bounds()


def view(obs: np.ndarray, name: str) -> np.ndarray:
    """A named view into an observation buffer of shape ``[..., OBS_SIZE]`` (no copy)."""
    if name not in VIEWS:
        raise ValueError(f"unknown observation view {name!r}; views: {', '.join(VIEWS)}")
    off, shape = VIEWS[name]
    size = int(np.prod(shape))
    return obs[..., off:off + size].reshape(obs.shape[:-1] + shape)


@njit(cache=True)
def _clip(v):
    """Stats are shown within their declared bounds 0..MAX_STAT."""
    return 0 if v < 0 else (MAX_STAT if v > MAX_STAT else v)


@njit(cache=True)
def _write_leader(s, cards, p, rel_owner, out, o):
    b = pbase(p)
    c = s[b + P_LEADER]
    out[o + 0] = 1
    out[o + 1] = c
    out[o + 2] = rel_owner
    out[o + 3] = 1
    out[o + 5] = cards[c, T.C_TYPE]
    out[o + 6] = cards[c, T.C_SUBTYPE]
    out[o + 7] = cards[c, T.C_ACT_COST]
    out[o + 9] = _clip(s[b + P_HP])
    out[o + 10] = _clip(s[b + P_MAXHP])
    out[o + 19] = s[b + P_LEADER_USED]
    out[o + 22] = 1
    out[o + 23] = cards[c, T.C_ACT_COST]


@njit(cache=True)
def write_obs(s, cards, me, out):
    """Write player ``me``'s observation of row ``s`` into ``out`` (int8[OBS_SIZE])."""
    out[:] = 0
    op = 1 - me
    mb = pbase(me)
    ob = pbase(op)
    g = GLOBALS_OFFSET
    out[g + 0] = s[G_PHASE]
    out[g + 1] = s[G_TURN]
    out[g + 2] = 1 if s[G_FIRST] == me else 0
    out[g + 3] = 1 if s[G_ACTIVE] == me else 0
    out[g + 4] = _clip(s[mb + P_HP])
    out[g + 5] = _clip(s[ob + P_HP])
    out[g + 6] = s[mb + P_IKZ_N]
    out[g + 7] = s[mb + P_IKZ_N] - s[mb + P_IKZ_TAPPED]
    out[g + 8] = s[ob + P_IKZ_N]
    out[g + 9] = s[ob + P_IKZ_N] - s[ob + P_IKZ_TAPPED]
    out[g + 10] = s[mb + P_TOKEN]
    out[g + 11] = s[ob + P_TOKEN]
    out[g + 12] = s[mb + P_HAND_N]
    out[g + 13] = s[ob + P_HAND_N]
    out[g + 14] = s[mb + P_DECK_N]
    out[g + 15] = s[ob + P_DECK_N]
    out[g + 16] = s[mb + P_IKZDECK_N]
    out[g + 17] = s[ob + P_IKZDECK_N]
    out[g + 18] = s[mb + P_DISC_N]
    out[g + 19] = s[ob + P_DISC_N]
    out[g + 20] = _clip(s[mb + P_FATIGUE])
    out[g + 21] = _clip(s[ob + P_FATIGUE])
    out[g + 22] = s[mb + P_LEADER_USED]
    out[g + 23] = s[ob + P_LEADER_USED]
    out[g + 24] = s[mb + P_LEADER]
    out[g + 25] = s[ob + P_LEADER]
    ph = s[G_PHASE]
    if (ph == PH_CHOOSE_TARGET or ph == PH_CHOOSE_MODE) and s[G_PEND_PLAYER] == me:
        out[g + 26] = s[G_PEND_CARD]
        out[g + 27] = s[G_PEND_TGT] if ph == PH_CHOOSE_TARGET else 0
    src = s[G_ATK_SRC]
    tgt = s[G_ATK_TGT]
    att = s[G_ACTIVE]
    if src >= 0:
        out[g + 28] = (ENT_MY_BOARD if att == me else ENT_OPP_BOARD) + src
        if tgt == ATK_TGT_LEADER:
            out[g + 29] = 1 if att == me else 0
        elif tgt >= 0:
            out[g + 29] = (ENT_OPP_BOARD if att == me else ENT_MY_BOARD) + tgt
        else:
            out[g + 29] = -1
    else:
        out[g + 28] = -1
        out[g + 29] = -1
    out[g + 30] = s[mb + P_MULLIGANED]
    out[g + 31] = s[ob + P_MULLIGANED]

    e0 = ENTITIES_OFFSET
    W = T.VIEW_WIDTH
    _write_leader(s, cards, me, 0, out, e0 + 0 * W)
    _write_leader(s, cards, op, 1, out, e0 + 1 * W)
    # Board units: the card's printed row from the table, then what play has changed. Written
    # inline: as a helper called 20 times this loop cost 2-3x more (numba did not inline it).
    for rel in range(2):
        p = me if rel == 0 else op
        ent0 = ENT_MY_BOARD if rel == 0 else ENT_OPP_BOARD
        for slot in range(BOARD_SLOTS):
            u = sbase(p, slot)
            c = s[u + B_CARD]
            if c == 0:
                continue
            o = e0 + (ent0 + slot) * W
            for f in range(W):
                out[o + f] = cards[c, T.C_VIEW + f]
            w = s[u + B_WEAPON]
            out[o + 2] = rel
            out[o + 3] = ZONE_GARDEN if slot < GARDEN_SLOTS else ZONE_ALLEY
            out[o + 4] = slot % GARDEN_SLOTS
            out[o + 8] = _clip(s[u + B_ATK] + cards[w, T.C_ATK])
            out[o + 9] = _clip(s[u + B_HP])
            out[o + 10] = _clip(s[u + B_MAXHP])
            kw = s[u + B_KW]   # keyword bits 1, 2, 4, 8, 16 in ENTITY_FEATURES order
            out[o + 11] = kw & 1
            out[o + 12] = (kw >> 1) & 1
            out[o + 13] = (kw >> 2) & 1
            out[o + 14] = (kw >> 3) & 1
            out[o + 15] = (kw >> 4) & 1
            out[o + 16] = s[u + B_READY]
            out[o + 17] = s[u + B_SICK]
            out[o + 18] = s[u + B_MOVED]
            out[o + 19] = s[u + B_USED]
            out[o + 20] = w
            out[o + 21] = cards[w, T.C_ATK]
    for h in range(s[mb + P_HAND_N]):
        c = s[mb + P_HAND + h]
        o = e0 + (ENT_MY_HAND + h) * W
        for f in range(T.VIEW_WIDTH):
            out[o + f] = cards[c, T.C_VIEW + f]
        out[o + 4] = h
