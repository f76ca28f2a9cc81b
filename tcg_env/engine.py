"""The numba game engine: reset, apply, effects, combat, and the fused batch kernels.

A game is one ``int32`` row (layout in ``verification.layout``); a batch is
``int32[N, STATE_SIZE]``. Every random draw comes from the row's own xorshift64*
state, so game i's trajectory depends only on its seed and its actions.

``apply_action`` assumes a legal tuple (the faces check with ``verification.explain``
first; the batch kernel checks membership in the legal list and counts misses).
"""
import numpy as np
from numba import njit

from prefabs import table as T
from prefabs.enums import Effect, Keyword, Target
from verification.layout import (ATK_TGT_LEADER, B_ATK, B_CARD, B_HP, B_KW, B_MAXHP, B_MOVED, B_READY, B_SICK,
                                 B_USED, B_WEAPON, B_WIDTH, DECISION_CAP, DECK_SIZE, DISCARD_MAX, DONE_NO, DONE_TERMINAL,
                                 DONE_TRUNCATED, G_ACTIVE, G_ATK_SRC, G_ATK_TGT, G_DECISIONS, G_DONE, G_EPISODE, G_FIRST,
                                 G_MULL_PLAYER, G_PEND_A1, G_PEND_A2, G_PEND_CARD, G_PEND_EFF, G_PEND_PLAYER,
                                 G_PEND_SLOT, G_PEND_TGT, G_PHASE, G_RNG_HI, G_RNG_LO, G_SEED_HI, G_SEED_LO, G_TURN,
                                 G_WINNER, IKZ_DECK_SIZE, MAX_STAT, P_DECK, P_DECK_N, P_DECKLIST, P_DISC, P_DISC_N,
                                 P_FATIGUE, P_FELL, P_HAND, P_HAND_N, P_HP, P_IKZ, P_IKZ_N, P_IKZ_TAPPED, P_IKZDECK,
                                 P_IKZDECK_N, P_IKZLIST, P_LEADER, P_LEADER_USED, P_MAXHP, P_MULLIGANED, P_TOKEN,
                                 PH_BLOCK, PH_CHOOSE_MODE, PH_CHOOSE_TARGET, PH_MAIN, PH_MULLIGAN, PH_OVER,
                                 TURN_CAP)
from verification.legal import any_blocker, any_target, enumerate_legal, is_listed
from verification.rules import actor, pbase, sbase, unit_attack
from verification.spec import (BOARD_SLOTS, ENT_MY_BOARD, ENT_MY_HAND, ENT_OPP_BOARD, GARDEN_SLOTS, HAND_MAX,
                               MULLIGAN_HAND, Primary)

from .observation import write_obs

DECK_ROW = 1 + DECK_SIZE + IKZ_DECK_SIZE   # leader, main deck, IKZ deck

E_DAMAGE = int(Effect.DAMAGE)
E_HEAL = int(Effect.HEAL)
E_BUFF = int(Effect.BUFF)
E_DESTROY = int(Effect.DESTROY)
E_DRAW = int(Effect.DRAW)
E_SUMMON = int(Effect.SUMMON)
E_GAIN_IKZ = int(Effect.GAIN_IKZ)
E_MODE = int(Effect.MODE)
E_GRANT = int(Effect.GRANT)
E_NONE = int(Effect.NONE)
T_NONE = int(Target.NONE)
T_ENEMY_ANY = int(Target.ENEMY_ANY)
T_SELF = int(Target.SELF)
T_OWN_LEADER = int(Target.OWN_LEADER)
T_ENEMY_LEADER = int(Target.ENEMY_LEADER)
T_ALL_ENEMY = int(Target.ALL_ENEMY_UNITS)
T_ALL_FRIENDLY = int(Target.ALL_FRIENDLY_UNITS)
T_ALL_UNITS = int(Target.ALL_UNITS)
T_RANDOM_ENEMY = int(Target.RANDOM_ENEMY_UNIT)
K_RANGED = int(Keyword.RANGED)
K_LIFESTEAL = int(Keyword.LIFESTEAL)
K_SHIELD = int(Keyword.SHIELD)
CT_TOKEN_FLAG = T.C_TOKEN

A_END = int(Primary.END_TURN)
A_MULL = int(Primary.MULLIGAN)
A_UNIT = int(Primary.PLAY_UNIT)
A_SPELL = int(Primary.PLAY_SPELL)
A_WEAPON = int(Primary.ATTACH_WEAPON)
A_ATTACK = int(Primary.ATTACK)
A_BLOCK = int(Primary.BLOCK)
A_NOBLOCK = int(Primary.NO_BLOCK)
A_ACT = int(Primary.ACTIVATE)
A_LEADER = int(Primary.LEADER_ABILITY)
A_MOVE = int(Primary.MOVE)
A_CTARGET = int(Primary.CHOOSE_TARGET)
A_CMODE = int(Primary.CHOOSE_MODE)

MASK32 = np.uint64(0xFFFFFFFF)


# ----------------------------------------------------------------------------- RNG
@njit(cache=True)
def _get_rng(s):
    lo = np.uint64(np.int64(s[G_RNG_LO]) & 0xFFFFFFFF)
    hi = np.uint64(np.int64(s[G_RNG_HI]) & 0xFFFFFFFF)
    return (hi << np.uint64(32)) | lo


@njit(cache=True)
def _to_i32(v):
    v = np.int64(v & MASK32)
    if v >= 2147483648:
        v -= 4294967296
    return np.int32(v)


@njit(cache=True)
def set_rng(s, x):
    s[G_RNG_LO] = _to_i32(x)
    s[G_RNG_HI] = _to_i32(x >> np.uint64(32))


@njit(cache=True)
def splitmix64(x):
    x = np.uint64(x) + np.uint64(0x9E3779B97F4A7C15)
    z = x
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def rng_next(s):
    """xorshift64* step on the game's own generator; returns 64 random bits."""
    x = _get_rng(s)
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    set_rng(s, x)
    return x * np.uint64(2685821657736338717)


@njit(cache=True)
def rng_below(s, n):
    return np.int64((rng_next(s) >> np.uint64(33)) % np.uint64(n))


@njit(cache=True)
def _shuffle(s, start, n):
    for i in range(n - 1, 0, -1):
        j = rng_below(s, i + 1)
        t = s[start + i]
        s[start + i] = s[start + j]
        s[start + j] = t


# ----------------------------------------------------------------------------- reset
@njit(cache=True)
def reset_game(s, cards, deck0, deck1, seed):
    """Start a new game in row ``s`` from two deck rows (leader, 30 main, 10 IKZ) and a 64-bit seed."""
    episode = s[G_EPISODE]
    s[:] = 0
    s[G_EPISODE] = episode
    seed = np.uint64(seed)
    s[G_SEED_LO] = _to_i32(seed)
    s[G_SEED_HI] = _to_i32(seed >> np.uint64(32))
    x = splitmix64(seed)
    if x == 0:
        x = np.uint64(1)
    set_rng(s, x)
    for p in range(2):
        d = deck0 if p == 0 else deck1
        b = pbase(p)
        s[b + P_LEADER] = d[0]
        for k in range(DECK_SIZE):
            s[b + P_DECKLIST + k] = d[1 + k]
        for k in range(IKZ_DECK_SIZE):
            s[b + P_IKZLIST + k] = d[1 + DECK_SIZE + k]
    _setup(s, cards)


@njit(cache=True)
def _setup(s, cards):
    """Shuffle, draw opening hands and enter the mulligan phase (deck lists already in the row)."""
    first = rng_below(s, 2)
    s[G_FIRST] = first
    s[G_ACTIVE] = first
    s[G_TURN] = 1
    s[G_WINNER] = -1
    s[G_ATK_SRC] = -1
    s[G_ATK_TGT] = -1
    s[G_PEND_SLOT] = -1
    for p in range(2):
        b = pbase(p)
        hp = cards[s[b + P_LEADER], T.C_HP]
        s[b + P_HP] = hp
        s[b + P_MAXHP] = hp
        for k in range(DECK_SIZE):
            s[b + P_DECK + k] = s[b + P_DECKLIST + k]
        s[b + P_DECK_N] = DECK_SIZE
        _shuffle(s, b + P_DECK, DECK_SIZE)
        for k in range(IKZ_DECK_SIZE):
            s[b + P_IKZDECK + k] = s[b + P_IKZLIST + k]
        s[b + P_IKZDECK_N] = IKZ_DECK_SIZE
        _shuffle(s, b + P_IKZDECK, IKZ_DECK_SIZE)
        for _ in range(MULLIGAN_HAND):
            draw_card(s, p)
    s[pbase(1 - first) + P_TOKEN] = 1
    s[G_PHASE] = PH_MULLIGAN
    s[G_MULL_PLAYER] = first


@njit(cache=True)
def restart_game(s, cards):
    """Auto-reset: a new game with the same decks, seeded from this row's own generator."""
    seed = rng_next(s)
    s[G_EPISODE] += 1
    keep = np.empty(2 * (1 + DECK_SIZE + IKZ_DECK_SIZE), dtype=np.int32)
    for p in range(2):
        b = pbase(p)
        o = p * (1 + DECK_SIZE + IKZ_DECK_SIZE)
        keep[o] = s[b + P_LEADER]
        for k in range(DECK_SIZE):
            keep[o + 1 + k] = s[b + P_DECKLIST + k]
        for k in range(IKZ_DECK_SIZE):
            keep[o + 1 + DECK_SIZE + k] = s[b + P_IKZLIST + k]
    half = 1 + DECK_SIZE + IKZ_DECK_SIZE
    reset_game(s, cards, keep[:half], keep[half:], seed)


# ----------------------------------------------------------------------------- zones
@njit(cache=True)
def draw_card(s, p):
    """Draw one card: from an empty deck the leader takes fatigue damage (1, 2, 3, ..., held at
    MAX_STAT like every stat); with a full hand the drawn card is burned to the discard."""
    b = pbase(p)
    n = s[b + P_DECK_N]
    if n == 0:
        if s[b + P_FATIGUE] < MAX_STAT:   # a DRAW effect goes on drawing after the leader falls
            s[b + P_FATIGUE] += 1
        _damage_leader(s, p, s[b + P_FATIGUE])
        return
    c = s[b + P_DECK + n - 1]
    s[b + P_DECK + n - 1] = 0
    s[b + P_DECK_N] = n - 1
    h = s[b + P_HAND_N]
    if h >= HAND_MAX:
        _to_discard(s, p, c)
    else:
        s[b + P_HAND + h] = c
        s[b + P_HAND_N] = h + 1


@njit(cache=True)
def _to_zone(s, at, count, cap, c):
    """Put card c at the next position of the zone at word ``at`` (its count at word ``count``,
    ``cap`` positions). A zone is never full in a game (each player owns 30 main-deck and 10 IKZ
    cards, and every zone holds them all), but a hand-built position can hold more: then the
    card leaves the game rather than be written over the next zone's words."""
    n = s[count]
    if n < cap:
        s[at + n] = c
        s[count] = n + 1


@njit(cache=True)
def _to_discard(s, p, c):
    b = pbase(p)
    _to_zone(s, b + P_DISC, b + P_DISC_N, DISCARD_MAX, c)


@njit(cache=True)
def _take_from_hand(s, p, h):
    """Remove hand position h (later cards shift left) and return its card."""
    b = pbase(p)
    n = s[b + P_HAND_N]
    c = s[b + P_HAND + h]
    for k in range(h, n - 1):
        s[b + P_HAND + k] = s[b + P_HAND + k + 1]
    s[b + P_HAND + n - 1] = 0
    s[b + P_HAND_N] = n - 1
    return c


@njit(cache=True)
def _pay(s, p, cost, use_token):
    b = pbase(p)
    if use_token == 1:
        s[b + P_TOKEN] = 0
        cost -= 1
    s[b + P_IKZ_TAPPED] += cost


@njit(cache=True)
def _ikz_arrive(s, cards, p, ready):
    """Move the top IKZ card into the IKZ area and resolve its arrival effect."""
    b = pbase(p)
    n = s[b + P_IKZDECK_N]
    if n == 0:
        return
    c = s[b + P_IKZDECK + n - 1]
    s[b + P_IKZDECK + n - 1] = 0
    s[b + P_IKZDECK_N] = n - 1
    _to_zone(s, b + P_IKZ, b + P_IKZ_N, IKZ_DECK_SIZE, c)
    if not ready:
        s[b + P_IKZ_TAPPED] += 1
    # Arrival effects are never GAIN_IKZ (the loader forbids it), which keeps this free of
    # recursion: numba's on-disk cache cannot hold recursive functions.
    _apply_effect(s, cards, p, cards[c, T.C_PLAY_EFF], cards[c, T.C_PLAY_A1], cards[c, T.C_PLAY_A2],
                  cards[c, T.C_PLAY_TGT], -1, -1)


@njit(cache=True)
def _place_unit(s, cards, p, slot, c):
    u = sbase(p, slot)
    s[u + B_CARD] = c
    s[u + B_ATK] = cards[c, T.C_ATK]
    s[u + B_HP] = cards[c, T.C_HP]
    s[u + B_MAXHP] = cards[c, T.C_HP]
    s[u + B_KW] = cards[c, T.C_KW]
    s[u + B_READY] = 1
    s[u + B_SICK] = 1
    s[u + B_MOVED] = 0
    s[u + B_USED] = 0
    s[u + B_WEAPON] = 0


@njit(cache=True)
def _clear_slot(s, p, slot):
    u = sbase(p, slot)
    for f in range(B_WIDTH):
        s[u + f] = 0


# ----------------------------------------------------------------------------- damage and effects
@njit(cache=True)
def _damage_leader(s, p, n):
    """Returns the health removed."""
    b = pbase(p)
    before = s[b + P_HP]
    hp = before - n
    s[b + P_HP] = hp if hp > 0 else 0
    if hp <= 0:
        s[b + P_FELL] = 1
    return n if n < before else before


@njit(cache=True)
def _heal_leader(s, p, n):
    b = pbase(p)
    if s[b + P_FELL] == 1:
        return
    hp = s[b + P_HP] + n
    s[b + P_HP] = hp if hp < s[b + P_MAXHP] else s[b + P_MAXHP]


@njit(cache=True)
def _damage_unit(s, p, slot, n):
    """Deal n damage to a unit; SHIELD absorbs the first damage. Returns the health removed."""
    u = sbase(p, slot)
    if n <= 0 or s[u + B_CARD] == 0:
        return 0
    if (s[u + B_KW] & K_SHIELD) != 0:
        s[u + B_KW] &= ~K_SHIELD
        return 0
    before = s[u + B_HP]
    s[u + B_HP] = before - n if before > n else 0
    return n if n < before else before


@njit(cache=True)
def _apply_to_unit(s, p, slot, eff, a1, a2):
    u = sbase(p, slot)
    if s[u + B_CARD] == 0:
        return
    if eff == E_DAMAGE:
        _damage_unit(s, p, slot, a1)
    elif eff == E_HEAL:
        hp = s[u + B_HP] + a1
        s[u + B_HP] = hp if hp < s[u + B_MAXHP] else s[u + B_MAXHP]
    elif eff == E_BUFF:
        s[u + B_ATK] = min(s[u + B_ATK] + a1, MAX_STAT)
        s[u + B_MAXHP] = min(s[u + B_MAXHP] + a2, MAX_STAT)
        s[u + B_HP] = min(s[u + B_HP] + a2, MAX_STAT)
    elif eff == E_DESTROY:
        s[u + B_HP] = 0
    elif eff == E_GRANT:
        s[u + B_KW] |= a1


@njit(cache=True)
def _apply_to_leader(s, p, eff, a1):
    if eff == E_DAMAGE:
        _damage_leader(s, p, a1)
    elif eff == E_HEAL:
        _heal_leader(s, p, a1)


@njit(cache=True)
def _resolve_on_entity(s, p, eff, a1, a2, e):
    """Apply an effect to entity pointer e, read from player p's view (none when e < 0: a chosen
    target never came, as for a non-IKZ card arriving from the IKZ deck of a row the checks refuse)."""
    if e < 0:
        return
    if e == 0:
        _apply_to_leader(s, p, eff, a1)
    elif e == 1:
        _apply_to_leader(s, 1 - p, eff, a1)
    elif e < ENT_OPP_BOARD:
        _apply_to_unit(s, p, e - ENT_MY_BOARD, eff, a1, a2)
    elif e < ENT_MY_HAND:
        _apply_to_unit(s, 1 - p, e - ENT_OPP_BOARD, eff, a1, a2)


@njit(cache=True)
def resolve_effect(s, cards, p, eff, a1, a2, rule, target, src_slot):
    """Resolve a non-modal effect controlled by p. ``target`` is an entity pointer for chosen
    rules; automatic rules find their own targets; ``src_slot`` is the source unit's slot or -1."""
    if eff == E_GAIN_IKZ:
        for _ in range(a1):
            _ikz_arrive(s, cards, p, True)
        return
    _apply_effect(s, cards, p, eff, a1, a2, rule, target, src_slot)


@njit(cache=True)
def _apply_effect(s, cards, p, eff, a1, a2, rule, target, src_slot):
    """Every effect but GAIN_IKZ and MODE."""
    if eff == E_NONE or eff == E_GAIN_IKZ or eff == E_MODE:
        return
    if eff == E_DRAW:
        for _ in range(a1):
            draw_card(s, p)
        return
    if eff == E_SUMMON:
        for _ in range(a2):
            for slot in range(BOARD_SLOTS):
                if s[sbase(p, slot) + B_CARD] == 0:
                    _place_unit(s, cards, p, slot, a1)
                    break
        return
    if rule < 10:
        _resolve_on_entity(s, p, eff, a1, a2, target)
    elif rule == T_SELF:
        if src_slot >= 0:
            _apply_to_unit(s, p, src_slot, eff, a1, a2)
    elif rule == T_OWN_LEADER:
        _apply_to_leader(s, p, eff, a1)
    elif rule == T_ENEMY_LEADER:
        _apply_to_leader(s, 1 - p, eff, a1)
    elif rule == T_RANDOM_ENEMY:
        k = 0
        for slot in range(BOARD_SLOTS):
            if s[sbase(1 - p, slot) + B_CARD] != 0:
                k += 1
        if k > 0:
            pick = rng_below(s, k)
            for slot in range(BOARD_SLOTS):
                if s[sbase(1 - p, slot) + B_CARD] != 0:
                    if pick == 0:
                        _apply_to_unit(s, 1 - p, slot, eff, a1, a2)
                        break
                    pick -= 1
    else:
        for q in range(2):
            if rule == T_ALL_ENEMY and q == p:
                continue
            if rule == T_ALL_FRIENDLY and q != p:
                continue
            for slot in range(BOARD_SLOTS):
                _apply_to_unit(s, q, slot, eff, a1, a2)


@njit(cache=True)
def _resolve_slot(s, cards, p, c, slot_kind, target, src_slot):
    """Resolve ability slot ``slot_kind`` of card c for player p. Chosen targets come in
    ``target``; an on-play trigger with a chosen target and no ``target`` becomes a pending
    choice; MODE becomes a pending mode choice."""
    eff = cards[c, T.C_ABIL + slot_kind * T.ABIL_WIDTH + T.AB_EFF]
    if eff == E_NONE:
        return
    a1 = cards[c, T.C_ABIL + slot_kind * T.ABIL_WIDTH + T.AB_A1]
    a2 = cards[c, T.C_ABIL + slot_kind * T.ABIL_WIDTH + T.AB_A2]
    rule = cards[c, T.C_ABIL + slot_kind * T.ABIL_WIDTH + T.AB_TGT]
    if eff == E_MODE:
        s[G_PHASE] = PH_CHOOSE_MODE
        s[G_PEND_PLAYER] = p
        s[G_PEND_CARD] = c
        s[G_PEND_SLOT] = src_slot
        return
    if rule >= 1 and rule < 10 and target < 0:
        if any_target(s, p, rule):
            s[G_PHASE] = PH_CHOOSE_TARGET
            s[G_PEND_PLAYER] = p
            s[G_PEND_CARD] = c
            s[G_PEND_SLOT] = src_slot
            s[G_PEND_EFF] = eff
            s[G_PEND_A1] = a1
            s[G_PEND_A2] = a2
            s[G_PEND_TGT] = rule
        return
    resolve_effect(s, cards, p, eff, a1, a2, rule, target, src_slot)


@njit(cache=True)
def _kill(s, cards, p, slot):
    u = sbase(p, slot)
    c = s[u + B_CARD]
    w = s[u + B_WEAPON]
    if w != 0:
        _to_discard(s, p, w)
    if cards[c, CT_TOKEN_FLAG] == 0:
        _to_discard(s, p, c)
    _clear_slot(s, p, slot)
    # a dead attacker or attack target ends the pending attack
    if p == s[G_ACTIVE] and slot == s[G_ATK_SRC]:
        s[G_ATK_SRC] = -1
    if p != s[G_ACTIVE] and slot == s[G_ATK_TGT]:
        s[G_ATK_TGT] = -1
    return c


@njit(cache=True)
def process_deaths(s, cards):
    """Remove units at 0 health (active player's first, slot order), resolving on-death
    triggers, until none remain; then decide the game if a leader is at 0."""
    for _ in range(64):
        found = False
        for k in range(2):
            p = s[G_ACTIVE] if k == 0 else 1 - s[G_ACTIVE]
            for slot in range(BOARD_SLOTS):
                u = sbase(p, slot)
                if s[u + B_CARD] != 0 and s[u + B_HP] <= 0:
                    c = _kill(s, cards, p, slot)
                    _resolve_slot(s, cards, p, c, T.SLOT_DEATH, -1, -1)
                    found = True
        if not found:
            break
    _check_over(s)


@njit(cache=True)
def _check_over(s):
    dead0 = s[pbase(0) + P_FELL] == 1
    dead1 = s[pbase(1) + P_FELL] == 1
    if dead0 or dead1:
        s[G_DONE] = DONE_TERMINAL
        s[G_PHASE] = PH_OVER
        s[G_WINNER] = 2 if (dead0 and dead1) else (1 if dead0 else 0)


# ----------------------------------------------------------------------------- turns and combat
@njit(cache=True)
def start_turn(s, cards, p):
    b = pbase(p)
    for slot in range(BOARD_SLOTS):
        u = sbase(p, slot)
        if s[u + B_CARD] != 0:
            s[u + B_READY] = 1
            s[u + B_SICK] = 0
            s[u + B_MOVED] = 0
            s[u + B_USED] = 0
    s[b + P_IKZ_TAPPED] = 0
    s[b + P_LEADER_USED] = 0
    s[G_PHASE] = PH_MAIN
    if s[G_TURN] > 1:
        draw_card(s, p)
    _ikz_arrive(s, cards, p, True)
    process_deaths(s, cards)


@njit(cache=True)
def _resolve_combat(s, cards, blocker):
    """Resolve the pending attack; ``blocker`` is the defender's blocking slot or -1."""
    p = s[G_ACTIVE]
    q = 1 - p
    src = s[G_ATK_SRC]
    tgt = s[G_ATK_TGT] if blocker < 0 else blocker
    s[G_PHASE] = PH_MAIN
    s[G_ATK_SRC] = -1
    s[G_ATK_TGT] = -1
    if src < 0 or tgt < 0:
        return
    atk = unit_attack(s, cards, p, src)
    akw = s[sbase(p, src) + B_KW]
    if tgt == ATK_TGT_LEADER:
        dealt = _damage_leader(s, q, atk)
        if (akw & K_LIFESTEAL) != 0:
            _heal_leader(s, p, dealt)
    else:
        back = unit_attack(s, cards, q, tgt)
        dkw = s[sbase(q, tgt) + B_KW]
        dealt = _damage_unit(s, q, tgt, atk)
        if not (src >= GARDEN_SLOTS and (akw & K_RANGED) != 0):
            taken = _damage_unit(s, p, src, back)
            if (dkw & K_LIFESTEAL) != 0:
                _heal_leader(s, q, taken)
        if (akw & K_LIFESTEAL) != 0:
            _heal_leader(s, p, dealt)
    process_deaths(s, cards)


@njit(cache=True)
def _truncate(s):
    """End the game with no winner: the turn cap or the decision cap. A pending attack or
    choice is dropped (a game over holds neither)."""
    s[G_DONE] = DONE_TRUNCATED
    s[G_PHASE] = PH_OVER
    s[G_WINNER] = -1
    s[G_ATK_SRC] = -1
    s[G_ATK_TGT] = -1
    _clear_pending(s)


@njit(cache=True)
def _end_turn(s, cards):
    if s[G_TURN] >= TURN_CAP:
        _truncate(s)
        return
    s[G_TURN] += 1
    s[G_ACTIVE] = 1 - s[G_ACTIVE]
    start_turn(s, cards, s[G_ACTIVE])


@njit(cache=True)
def _mulligan(s, cards, p, mask):
    b = pbase(p)
    k = 0
    for h in range(MULLIGAN_HAND - 1, -1, -1):   # high positions first so indices stay valid
        if (mask >> h) & 1:
            c = _take_from_hand(s, p, h)
            _to_zone(s, b + P_DECK, b + P_DECK_N, DECK_SIZE, c)
            k += 1
    if k > 0:
        _shuffle(s, b + P_DECK, s[b + P_DECK_N])
        for _ in range(k):
            draw_card(s, p)
    s[b + P_MULLIGANED] = 1
    if p == s[G_FIRST]:
        s[G_MULL_PLAYER] = 1 - p
    else:
        s[G_MULL_PLAYER] = -1
        start_turn(s, cards, s[G_FIRST])


@njit(cache=True)
def apply_action(s, cards, a0, a1, a2, a3):
    """Apply a legal tuple for the current actor. Returns nothing; the row changes in place. A
    game still running after its DECISION_CAP-th decision ends truncated (RULES.md §11)."""
    _apply(s, cards, a0, a1, a2, a3)
    if s[G_DONE] == DONE_NO and s[G_DECISIONS] >= DECISION_CAP:
        _truncate(s)


@njit(cache=True)
def _apply(s, cards, a0, a1, a2, a3):
    p = actor(s)
    b = pbase(p)
    s[G_DECISIONS] += 1
    if a0 == A_END:
        _end_turn(s, cards)
        return
    if a0 == A_MULL:
        _mulligan(s, cards, p, a1)
        return
    if a0 == A_UNIT:
        c = _take_from_hand(s, p, a1 - ENT_MY_HAND)
        _pay(s, p, cards[c, T.C_COST], a3)
        _place_unit(s, cards, p, a2, c)
        _resolve_slot(s, cards, p, c, T.SLOT_PLAY, -1, a2)
    elif a0 == A_SPELL:
        c = _take_from_hand(s, p, a1 - ENT_MY_HAND)
        _pay(s, p, cards[c, T.C_COST], a3)
        _to_discard(s, p, c)
        _resolve_slot(s, cards, p, c, T.SLOT_PLAY, a2, -1)
    elif a0 == A_WEAPON:
        c = _take_from_hand(s, p, a1 - ENT_MY_HAND)
        _pay(s, p, cards[c, T.C_COST], a3)
        u = sbase(p, a2 - ENT_MY_BOARD)
        if s[u + B_WEAPON] != 0:
            _to_discard(s, p, s[u + B_WEAPON])
        s[u + B_WEAPON] = c
        s[u + B_KW] |= cards[c, T.C_KW]
    elif a0 == A_ATTACK:
        src = a1 - ENT_MY_BOARD
        s[sbase(p, src) + B_READY] = 0
        s[G_ATK_SRC] = src
        s[G_ATK_TGT] = ATK_TGT_LEADER if a2 == 1 else a2 - ENT_OPP_BOARD
        _resolve_slot(s, cards, p, s[sbase(p, src) + B_CARD], T.SLOT_ATTACK, -1, src)
        process_deaths(s, cards)
        if s[G_DONE] != DONE_NO or s[G_ATK_SRC] < 0 or s[G_ATK_TGT] < 0:
            s[G_ATK_SRC] = -1
            s[G_ATK_TGT] = -1
            return
        if any_blocker(s, 1 - p, s[G_ATK_TGT]):
            s[G_PHASE] = PH_BLOCK
            return
        _resolve_combat(s, cards, -1)
        return
    elif a0 == A_BLOCK:
        slot = a1 - ENT_MY_BOARD
        s[sbase(p, slot) + B_READY] = 0
        _resolve_combat(s, cards, slot)
        return
    elif a0 == A_NOBLOCK:
        _resolve_combat(s, cards, -1)
        return
    elif a0 == A_ACT:
        slot = a1 - ENT_MY_BOARD
        c = s[sbase(p, slot) + B_CARD]
        s[sbase(p, slot) + B_USED] = 1
        _pay(s, p, cards[c, T.C_ACT_COST], a3)
        _resolve_slot(s, cards, p, c, T.SLOT_ACT, a2, slot)
    elif a0 == A_LEADER:
        c = s[b + P_LEADER]
        s[b + P_LEADER_USED] = 1
        _pay(s, p, cards[c, T.C_ACT_COST], a3)
        _resolve_slot(s, cards, p, c, T.SLOT_ACT, a2, -1)
    elif a0 == A_MOVE:
        src = a1 - ENT_MY_BOARD
        us = sbase(p, src)
        ud = sbase(p, a2)
        for f in range(B_WIDTH):
            s[ud + f] = s[us + f]
        s[ud + B_MOVED] = 1
        _clear_slot(s, p, src)
    elif a0 == A_CTARGET:
        s[G_PHASE] = PH_MAIN
        resolve_effect(s, cards, p, s[G_PEND_EFF], s[G_PEND_A1], s[G_PEND_A2], s[G_PEND_TGT], a2, s[G_PEND_SLOT])
        _clear_pending(s)
    elif a0 == A_CMODE:
        s[G_PHASE] = PH_MAIN
        c = s[G_PEND_CARD]
        resolve_effect(s, cards, p, cards[c, T.C_MODES + a2 * T.ABIL_WIDTH + T.AB_EFF], cards[c, T.C_MODES + a2 * T.ABIL_WIDTH + T.AB_A1],
                       cards[c, T.C_MODES + a2 * T.ABIL_WIDTH + T.AB_A2], cards[c, T.C_MODES + a2 * T.ABIL_WIDTH + T.AB_TGT], -1, s[G_PEND_SLOT])
        _clear_pending(s)
    process_deaths(s, cards)


@njit(cache=True)
def _clear_pending(s):
    s[G_PEND_PLAYER] = 0
    s[G_PEND_CARD] = 0
    s[G_PEND_SLOT] = -1
    s[G_PEND_EFF] = 0
    s[G_PEND_A1] = 0
    s[G_PEND_A2] = 0
    s[G_PEND_TGT] = 0


# ----------------------------------------------------------------------------- batch kernels
@njit(cache=True)
def refresh(s, cards, legal, obs):
    """Enumerate the legal list and write the observation for the next actor. Returns the count."""
    n = enumerate_legal(s, cards, legal)
    p = actor(s)
    write_obs(s, cards, p if p >= 0 else 0, obs)
    return n


@njit(cache=True)
def step_one(s, cards, a0, a1, a2, a3, legal, legal_n, obs, seat_rewards, final_obs):
    """One decision of the fused kernel for one game. Returns
    (status, count): status 0 applied, 1 applied and ended (terminal), 2 ended truncated, -1 illegal.
    When the game ends, ``final_obs[p]`` receives seat p's view of the final position (for
    bootstrapping a truncation) before the row restarts."""
    if not is_listed(legal, legal_n, a0, a1, a2, a3):
        return -1, legal_n
    apply_action(s, cards, a0, a1, a2, a3)
    status = 0
    seat_rewards[0] = 0.0
    seat_rewards[1] = 0.0
    if s[G_DONE] != DONE_NO:
        status = 1 if s[G_DONE] == DONE_TERMINAL else 2
        w = s[G_WINNER]
        if w == 0 or w == 1:
            seat_rewards[w] = 1.0
            seat_rewards[1 - w] = -1.0
        write_obs(s, cards, 0, final_obs[0])
        write_obs(s, cards, 1, final_obs[1])
        restart_game(s, cards)
    n = refresh(s, cards, legal, obs)
    return status, n


@njit(cache=True, nogil=True)
def reset_batch(state, cards, decks, seeds, legal, legal_n, obs, actor_out):
    """Reset every game i from ``decks[i]`` (int32[2, 41]) and ``seeds[i]`` and fill the buffers."""
    for i in range(state.shape[0]):
        reset_game(state[i], cards, decks[i, 0], decks[i, 1], seeds[i])
        legal_n[i] = refresh(state[i], cards, legal[i], obs[i])
        actor_out[i] = actor(state[i])


@njit(cache=True, nogil=True)
def refresh_batch(state, cards, legal, legal_n, obs, actor_out):
    """Derive every game's legal list, observation and actor from its state row."""
    for i in range(state.shape[0]):
        legal_n[i] = refresh(state[i], cards, legal[i], obs[i])
        actor_out[i] = actor(state[i])


@njit(cache=True, nogil=True)
def step_batch(state, cards, actions, legal, legal_n, obs, rewards, seat_rewards, terminals, truncations,
               actor_out, illegal, final_obs):
    """The fused serial kernel: for each game apply its tuple (if listed as legal), auto-reset
    a finished game, enumerate the next legal list and write the next actor's observation.

    ``rewards[i]`` is the reward of the seat that acted; ``seat_rewards[i]`` holds both seats'.
    ``final_obs[i]`` (int8[2, OBS_SIZE]) receives both seats' views of a game that just ended.
    An unlisted tuple changes nothing in that game, counts in ``illegal[i]`` and is reported.
    Returns the number of illegal tuples in this call."""
    bad = 0
    for i in range(state.shape[0]):
        p = actor_out[i]
        status, n = step_one(state[i], cards, actions[i, 0], actions[i, 1], actions[i, 2], actions[i, 3],
                             legal[i], legal_n[i], obs[i], seat_rewards[i], final_obs[i])
        if status < 0:
            illegal[i] += 1
            bad += 1
            rewards[i] = 0.0
            terminals[i] = False
            truncations[i] = False
            seat_rewards[i, 0] = 0.0
            seat_rewards[i, 1] = 0.0
            continue
        legal_n[i] = n
        rewards[i] = seat_rewards[i, p]
        terminals[i] = status == 1
        truncations[i] = status == 2
        actor_out[i] = actor(state[i])
    return bad


@njit(cache=True)
def xorshift_step(x):
    """One xorshift64 step: the bots' generators (kept apart from each game's own)."""
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    return x


@njit(cache=True, nogil=True)
def random_play_batch(state, cards, legal, legal_n, obs, seat_rewards, actor_out, bot_rng, steps):
    """Benchmark/test kernel: ``steps`` decisions in every game, each a uniform random legal
    tuple drawn from ``bot_rng[i]`` (separate from the game's own generator). Returns
    (decisions, games finished)."""
    decisions = 0
    finished = 0
    final = np.empty((2, obs.shape[1]), dtype=np.int8)
    for i in range(state.shape[0]):
        x = bot_rng[i]
        for _ in range(steps):
            x = xorshift_step(x)
            k = np.int64((x >> np.uint64(33)) % np.uint64(legal_n[i]))
            status, n = step_one(state[i], cards, legal[i, k, 0], legal[i, k, 1], legal[i, k, 2], legal[i, k, 3],
                                 legal[i], legal_n[i], obs[i], seat_rewards[i], final)
            legal_n[i] = n
            decisions += 1
            if status > 0:
                finished += 1
        bot_rng[i] = x
        actor_out[i] = actor(state[i])
    return decisions, finished


@njit(cache=True, nogil=True)
def observe_batch(state, cards, players, out):
    """Write ``players[i]``'s view of game i into ``out[i]`` (any seat, acting or not)."""
    for i in range(state.shape[0]):
        write_obs(state[i], cards, players[i], out[i])
