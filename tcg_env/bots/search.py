"""Information-set Monte Carlo tree search (single-observer ISMCTS) on cloned state rows.

The searching player ("me", the actor of the root state) grows one tree over its
*information set*: every simulation first **determinizes** a copy of the root row, then walks
the tree, expands one node and finishes the game with a fast rollout in numba.

Determinization (``determinize``) never reads a hidden zone. The unknown cards are derived
from public information and the searcher's own hand only:

* a player's unseen main-deck cards = its 30-card deck list minus its discard, the non-token
  units on its board and the weapons attached to them (and, for me, minus my hand);
* a player's unseen IKZ cards = its IKZ list minus its IKZ area.

Each multiset is laid out in ascending card id (a canonical order, so nothing of the true
order survives), shuffled with the search's own generator and dealt: the opponent's unseen
cards fill its hand and then its deck (sizes are public), mine refill my deck, and each IKZ
deck gets its own. The game's random generator (``G_RNG_LO``/``HI``) is re-seeded from the
search generator and the replay seed words are cleared, so future draws, shuffles and random
targets are not those of the true game either. A count that does not add up (the public zones
and the zone sizes disagree) raises ``ValueError``: it would mean an engine invariant broke.

Tree policy. Children are keyed by (actor, primary, card, sub2, sub3): a hand pointer is
replaced by the card id it points at, so "the opponent plays card X in slot 2" is the same
edge whichever determinized hand it came from. At a node the legal list of the current
determinization says which children are *available*; each available child counts one
availability. **Progressive widening** bounds the children a node may have by
``max(1, pw_c * visits ** pw_alpha)`` (default 1 * sqrt(visits)); while a node is below its
bound, the unexpanded available action the heuristic bot scores highest is expanded next, so
thin nodes (the opponent's included) follow the heuristic and well-visited ones consider more.
Otherwise UCB1 with availability counts picks the child (``mean + c * sqrt(ln(avail) /
visits)``, c = 0.4 by default; the mean is from the point of view of whoever acts at the node).
Decisions with a single legal tuple and mulligans (played by the heuristic's rule, also at the
root) are applied without a node. Legality comes only from ``verification.legal``.

Rollouts play the ``heuristic`` (optionally with probability ``epsilon`` a uniform random
tuple) or the ``random`` bot for both seats. After ``horizon`` decisions (default 15, about
four turns; 0 = play to the end) or ``turns`` turns past the root's (default off) a cheap
evaluation stands in for the result: ``tanh(z / 2)`` with z a weighted sum of leader health,
unit attack and health and cards in hand, mine minus the opponent's (``EVAL_WEIGHTS``). A
finished game scores +1 / -1 / 0 (draw or turn-cap truncation), from the searching player's
view. In tuning (200-320 games against ``heuristic`` each, so +-3 points): at 100 simulations,
rollouts cut at 15 decisions won 61-64% where rollouts to the end won 57% in twice the time; at
400 simulations, progressive widening took the cut search from 71% to 76%, and c = 0.4 did as
well as or better than 0.25, 0.7 and 1.0; 1,000 simulations did not beat 400.

The move played is the most visited root child (ties: the better mean, then the first legal
row). With a budget in simulations the whole decision is one numba call and is reproducible:
the same search seed and state give the same tuple. A budget in milliseconds runs the same
simulations in chunks of about a millisecond, checking the clock from Python in between.

The tree lives in two arrays: ``tree`` int64[capacity, N_COLS] (key, parent, first child,
next sibling, visits, availability, actor) and ``value`` float64[capacity] (sum of rewards from
the searcher's view). Nothing here recurses: numba's on-disk cache cannot hold recursive
functions.
"""
from __future__ import annotations

import time

import numpy as np
from numba import njit

from prefabs import table as T
from verification.layout import (B_CARD, B_HP, B_WEAPON, DECK_SIZE, DONE_NO, G_DONE, G_PHASE, G_TURN,
                                 G_SEED_HI, G_SEED_LO, G_WINNER, IKZ_DECK_SIZE, P_DECK, P_DECK_N, P_DECKLIST, P_DISC,
                                 P_DISC_N, P_HAND, P_HAND_N, P_HP, P_IKZ, P_IKZ_N, P_IKZDECK, P_IKZDECK_N, P_IKZLIST,
                                 PH_MULLIGAN, STATE_SIZE)
from verification.legal import enumerate_legal
from verification.rules import actor, pbase, sbase, unit_attack
from verification.spec import BOARD_SLOTS, ENT_MY_HAND, HAND_MAX, MAX_LEGAL, Primary

from ..engine import set_rng, apply_action, xorshift_step
from . import check_batch
from ..state import check_seed, is_integer
from .builtin import random_index
from .heuristic import lethal_on_board, heuristic_choice, score

# --- tree columns -------------------------------------------------------------------------
N_KEY = 0
N_PARENT = 1
N_CHILD = 2
N_SIB = 3
N_VISITS = 4
N_AVAIL = 5
N_PLAYER = 6
N_COLS = 7

# search settings, one float64 array (so the numba signatures stay put while settings are added)
S_C = 0            # UCB exploration constant
S_ROLLOUT = 1      # ROLLOUT_RANDOM or ROLLOUT_HEURISTIC
S_EPSILON = 2      # chance of a uniform random tuple in a heuristic rollout
S_HORIZON = 3      # rollout decisions before the evaluation stands in (0: no limit)
S_TURNS = 4        # turns past the root's before the evaluation stands in (0: no limit)
S_PRIOR = 5        # 1: expand the heuristic's favourite first, 0: a random unexpanded action
S_PW_C = 6         # progressive widening: a node visited v times may have pw_c * v ** pw_alpha
S_PW_ALPHA = 7     # children expanded (at least 1); pw_c = 0 expands every action
S_EVAL = 8         # evaluation weights, EVAL_FEATURES order (see ``_evaluate``)
EVAL_FEATURES = ("leader_health", "unit_attack", "unit_health", "units", "hand", "ikz", "deck", "to_act")
# Hand-set: a leader's health point counts twice a unit's attack or health point or a card in hand.
# (A logistic regression of heuristic-vs-heuristic results on these features plays worse: it
# values cards kept in hand, which the search then learns not to play.)
EVAL_WEIGHTS = (0.2, 0.1, 0.1, 0.0, 0.1, 0.0, 0.0, 0.0)
N_SETTINGS = S_EVAL + len(EVAL_FEATURES)

# rollout policies (the same numbers as the built-in bot kinds)
ROLLOUT_RANDOM = 0
ROLLOUT_HEURISTIC = 1
ROLLOUTS = {"random": ROLLOUT_RANDOM, "heuristic": ROLLOUT_HEURISTIC}

_A_UNIT = int(Primary.PLAY_UNIT)
_A_SPELL = int(Primary.PLAY_SPELL)
_A_WEAPON = int(Primary.ATTACH_WEAPON)
_UNKNOWN_MAX = DECK_SIZE + HAND_MAX


# ----------------------------------------------------------------------------- search RNG
@njit(cache=True)
def _next(rng):
    """64 random bits from the search's own generator ``rng[0]`` (never the game's)."""
    x = xorshift_step(rng[0])
    rng[0] = x
    return x * np.uint64(2685821657736338717)


@njit(cache=True)
def _uniform(rng):
    return np.float64(_next(rng) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


# ----------------------------------------------------------------------------- determinization
@njit(cache=True)
def _counts_to_pool(counts, pool):
    """Lay the multiset ``counts`` (card id -> copies) into ``pool`` in ascending card id; return
    its size, or -1 if a count is negative (public zones over-count) or it overflows ``pool``."""
    m = 0
    for c in range(1, counts.shape[0]):
        if counts[c] < 0:
            return -1
        for _ in range(counts[c]):
            if m >= pool.shape[0]:
                return -1
            pool[m] = c
            m += 1
    return m


@njit(cache=True)
def _unseen_main(s, cards, q, minus_hand, counts, pool):
    """Write player q's main-deck cards that no public zone shows into ``pool`` in ascending
    card id and return how many there are (-1 if the public zones over-count the list)."""
    counts[:] = 0
    b = pbase(q)
    for k in range(DECK_SIZE):
        counts[s[b + P_DECKLIST + k]] += 1
    for k in range(s[b + P_DISC_N]):
        counts[s[b + P_DISC + k]] -= 1
    for slot in range(BOARD_SLOTS):
        u = sbase(q, slot)
        c = s[u + B_CARD]
        if c != 0 and cards[c, T.C_TOKEN] == 0:
            counts[c] -= 1
        w = s[u + B_WEAPON]
        if w != 0:
            counts[w] -= 1
    if minus_hand:
        for k in range(s[b + P_HAND_N]):
            counts[s[b + P_HAND + k]] -= 1
    return _counts_to_pool(counts, pool)


@njit(cache=True)
def _unseen_ikz(s, q, counts, pool):
    counts[:] = 0
    b = pbase(q)
    for k in range(IKZ_DECK_SIZE):
        counts[s[b + P_IKZLIST + k]] += 1
    for k in range(s[b + P_IKZ_N]):
        counts[s[b + P_IKZ + k]] -= 1
    return _counts_to_pool(counts, pool)


@njit(cache=True)
def _shuffle_pool(pool, m, rng):
    for i in range(m - 1, 0, -1):
        j = random_index(rng, 0, i + 1)
        t = pool[i]
        pool[i] = pool[j]
        pool[j] = t


@njit(cache=True)
def determinize(s, cards, me, rng, counts, pool):
    """Redeal every zone ``me`` cannot see, in place, from public information and ``me``'s own
    hand only (see the module docstring). ``counts`` is int32[num_cards], ``pool`` int32[40]."""
    opp = 1 - me
    # my deck: its order is unknown to me, its contents are not
    bm = pbase(me)
    m = _unseen_main(s, cards, me, True, counts, pool)
    if m != s[bm + P_DECK_N]:
        raise ValueError("determinize: the searcher's unseen cards do not match its deck size")
    _shuffle_pool(pool, m, rng)
    for k in range(m):
        s[bm + P_DECK + k] = pool[k]
    # the opponent's hand and deck: one pool, dealt to the public sizes
    bo = pbase(opp)
    m = _unseen_main(s, cards, opp, False, counts, pool)
    hn = s[bo + P_HAND_N]
    if m != hn + s[bo + P_DECK_N]:
        raise ValueError("determinize: the opponent's unseen cards do not match its hand and deck sizes")
    _shuffle_pool(pool, m, rng)
    for k in range(hn):
        s[bo + P_HAND + k] = pool[k]
    for k in range(m - hn):
        s[bo + P_DECK + k] = pool[hn + k]
    # both IKZ decks
    for q in range(2):
        b = pbase(q)
        m = _unseen_ikz(s, q, counts, pool)
        if m != s[b + P_IKZDECK_N]:
            raise ValueError("determinize: the unseen IKZ cards do not match the IKZ deck size")
        _shuffle_pool(pool, m, rng)
        for k in range(m):
            s[b + P_IKZDECK + k] = pool[k]
    # the game's own generator: re-seeded from the search's, so no future draw is the true one
    x = _next(rng)
    if x == 0:
        x = np.uint64(1)
    set_rng(s, x)
    s[G_SEED_LO] = 0
    s[G_SEED_HI] = 0


# ----------------------------------------------------------------------------- tree helpers
@njit(cache=True)
def action_key(s, p, a0, a1, a2, a3):
    """The tree edge of tuple (a0..a3) by player p: a hand pointer becomes the card it points at."""
    a0 = np.int64(a0)
    s1 = np.int64(a1)
    if a0 == _A_UNIT or a0 == _A_SPELL or a0 == _A_WEAPON:
        s1 = 64 + np.int64(s[pbase(p) + P_HAND + s1 - ENT_MY_HAND])
    return (((np.int64(p) * 16 + a0) * 4096 + s1) * 64 + np.int64(a2)) * 2 + np.int64(a3)


@njit(cache=True)
def _unique_keys(s, p, legal, n, keys, rows):
    """Sorted distinct keys of the legal rows (each with its first row). Returns the count."""
    m = 0
    for i in range(n):
        k = action_key(s, p, legal[i, 0], legal[i, 1], legal[i, 2], legal[i, 3])
        # insertion into the sorted prefix; an equal key keeps the earlier row
        j = m
        dup = False
        while j > 0 and keys[j - 1] >= k:
            if keys[j - 1] == k:
                dup = True
                break
            j -= 1
        if dup:
            continue
        for t in range(m, j, -1):
            keys[t] = keys[t - 1]
            rows[t] = rows[t - 1]
        keys[j] = k
        rows[j] = i
        m += 1
    return m


@njit(cache=True)
def _find(keys, m, k):
    lo = 0
    hi = m
    while lo < hi:
        mid = (lo + hi) // 2
        if keys[mid] < k:
            lo = mid + 1
        else:
            hi = mid
    if lo < m and keys[lo] == k:
        return lo
    return -1


@njit(cache=True)
def init_tree(tree, value, meta):
    tree[0, N_KEY] = -1
    tree[0, N_PARENT] = -1
    tree[0, N_CHILD] = -1
    tree[0, N_SIB] = -1
    tree[0, N_VISITS] = 0
    tree[0, N_AVAIL] = 0
    tree[0, N_PLAYER] = -1
    value[0] = 0.0
    meta[0] = 1


@njit(cache=True)
def eval_features(s, cards, me, out):
    """The evaluation's features of state ``s`` from ``me``'s view (EVAL_FEATURES order)."""
    out[:] = 0.0
    for q in range(2):
        sign = 1.0 if q == me else -1.0
        b = pbase(q)
        out[0] += sign * s[b + P_HP]
        for slot in range(BOARD_SLOTS):
            u = sbase(q, slot)
            if s[u + B_CARD] != 0:
                out[1] += sign * unit_attack(s, cards, q, slot)
                out[2] += sign * s[u + B_HP]
                out[3] += sign
        out[4] += sign * s[b + P_HAND_N]
        out[5] += sign * s[b + P_IKZ_N]
        out[6] += sign * s[b + P_DECK_N]
    out[7] = 1.0 if actor(s) == me else -1.0


@njit(cache=True)
def _evaluate(s, cards, me, settings):
    """Result from ``me``'s view: +1/-1/0 at the end, else 2 P(win) - 1 from the linear model."""
    if s[G_DONE] != DONE_NO:
        w = s[G_WINNER]
        if w == me:
            return 1.0
        if w == 1 - me:
            return -1.0
        return 0.0
    f = np.empty(N_SETTINGS - S_EVAL, np.float64)
    eval_features(s, cards, me, f)
    z = 0.0
    for i in range(f.shape[0]):
        z += settings[S_EVAL + i] * f[i]
    return np.tanh(0.5 * z)


@njit(cache=True)
def _rollout_index(s, cards, legal, n, rng, kind, epsilon):
    if kind == ROLLOUT_HEURISTIC and (epsilon <= 0.0 or _uniform(rng) >= epsilon):
        return heuristic_choice(s, cards, legal, n)
    return random_index(rng, 0, n)


@njit(cache=True)
def _simulate(root, cards, me, tree, value, meta, rng, s, legal, keys, rows, child, counts, pool, settings):
    c_uct = settings[S_C]
    kind = np.int64(settings[S_ROLLOUT])
    epsilon = settings[S_EPSILON]
    horizon = np.int64(settings[S_HORIZON])
    last_turn = root[G_TURN] + np.int64(settings[S_TURNS]) if settings[S_TURNS] > 0 else np.int64(1 << 30)
    use_prior = settings[S_PRIOR] != 0.0
    pw_c = settings[S_PW_C]
    pw_alpha = settings[S_PW_ALPHA]
    s[:] = root
    determinize(s, cards, me, rng, counts, pool)
    node = 0
    cap = tree.shape[0]
    # selection and expansion
    while s[G_DONE] == DONE_NO:
        n = enumerate_legal(s, cards, legal)
        if n <= 0:
            raise ValueError("search: a running game with no legal tuple")
        if n == 1 or s[G_PHASE] == PH_MULLIGAN:
            k = 0 if n == 1 else heuristic_choice(s, cards, legal, n)
            apply_action(s, cards, legal[k, 0], legal[k, 1], legal[k, 2], legal[k, 3])
            continue
        p = actor(s)
        m = _unique_keys(s, p, legal, n, keys, rows)
        for j in range(m):
            child[j] = -1
        c = tree[node, N_CHILD]
        unexpanded = m
        while c >= 0:
            j = _find(keys, m, tree[c, N_KEY])
            if j >= 0:
                child[j] = c
                tree[c, N_AVAIL] += 1
                unexpanded -= 1
            c = tree[c, N_SIB]
        widen = unexpanded > 0 and meta[0] < cap
        if widen and pw_c > 0.0 and m - unexpanded > 0:
            allowed = max(1.0, pw_c * np.float64(tree[node, N_VISITS]) ** pw_alpha)
            widen = m - unexpanded < allowed
        if widen:
            if use_prior:
                lethal = lethal_on_board(s, cards, p, legal, n)
                j = -1
                best_v = -1e30
                for t in range(m):
                    if child[t] >= 0:
                        continue
                    r = rows[t]
                    v = score(s, cards, p, legal[r, 0], legal[r, 1], legal[r, 2], legal[r, 3], lethal)
                    if v > best_v:
                        best_v = v
                        j = t
            else:
                pick = random_index(rng, 0, unexpanded)
                j = -1
                for t in range(m):
                    if child[t] < 0:
                        if pick == 0:
                            j = t
                            break
                        pick -= 1
            c = meta[0]
            meta[0] += 1
            tree[c, N_KEY] = keys[j]
            tree[c, N_PARENT] = node
            tree[c, N_CHILD] = -1
            tree[c, N_SIB] = tree[node, N_CHILD]
            tree[c, N_VISITS] = 0
            tree[c, N_AVAIL] = 1
            tree[c, N_PLAYER] = p
            value[c] = 0.0
            tree[node, N_CHILD] = c
            r = rows[j]
            apply_action(s, cards, legal[r, 0], legal[r, 1], legal[r, 2], legal[r, 3])
            node = c
            break
        if unexpanded == m:
            break   # the tree is full and nothing here is expanded: roll out from here
        sign = 1.0 if p == me else -1.0
        best = -1
        best_u = -1e300
        for t in range(m):
            c = child[t]
            if c < 0:
                continue
            v = tree[c, N_VISITS]
            u = sign * value[c] / v + c_uct * np.sqrt(np.log(np.float64(tree[c, N_AVAIL])) / v)
            if u > best_u:
                best_u = u
                best = t
        r = rows[best]
        apply_action(s, cards, legal[r, 0], legal[r, 1], legal[r, 2], legal[r, 3])
        node = child[best]
    # rollout
    steps = 0
    while s[G_DONE] == DONE_NO and (horizon <= 0 or steps < horizon) and s[G_TURN] <= last_turn:
        n = enumerate_legal(s, cards, legal)
        if n <= 0:
            raise ValueError("search: a running game with no legal tuple")
        k = _rollout_index(s, cards, legal, n, rng, kind, epsilon)
        apply_action(s, cards, legal[k, 0], legal[k, 1], legal[k, 2], legal[k, 3])
        steps += 1
    reward = _evaluate(s, cards, me, settings)
    # backpropagation along the parent links
    while node >= 0:
        tree[node, N_VISITS] += 1
        value[node] += reward
        node = tree[node, N_PARENT]


@njit(cache=True)
def run_simulations(root, cards, tree, value, meta, rng, sims, settings):
    """Run ``sims`` more simulations from ``root`` into the tree (which ``init_tree`` started).
    Stops early when the tree is full; returns the number run: none from a finished game,
    which has no decision to search."""
    if root[G_DONE] != DONE_NO:
        return 0
    me = actor(root)
    s = np.empty(STATE_SIZE, dtype=np.int32)
    legal = np.empty((MAX_LEGAL, 4), dtype=np.int8)
    keys = np.empty(MAX_LEGAL, dtype=np.int64)
    rows = np.empty(MAX_LEGAL, dtype=np.int64)
    child = np.empty(MAX_LEGAL, dtype=np.int64)
    counts = np.empty(cards.shape[0], dtype=np.int32)
    pool = np.empty(_UNKNOWN_MAX, dtype=np.int32)
    done = 0
    for _ in range(sims):
        if meta[0] >= tree.shape[0]:
            break
        _simulate(root, cards, me, tree, value, meta, rng, s, legal, keys, rows, child, counts, pool, settings)
        done += 1
    return done


@njit(cache=True)
def best_root_row(root, cards, legal, n, tree, value):
    """The legal row of the most visited root child (ties: better mean, then first row)."""
    p = actor(root)
    best = 0
    best_n = -1
    best_v = -1e300
    for i in range(n):
        k = action_key(root, p, legal[i, 0], legal[i, 1], legal[i, 2], legal[i, 3])
        c = tree[0, N_CHILD]
        while c >= 0:
            if tree[c, N_KEY] == k:
                break
            c = tree[c, N_SIB]
        if c < 0:
            continue
        v = tree[c, N_VISITS]
        mean = value[c] / v if v > 0 else -1e300
        if v > best_n or (v == best_n and mean > best_v):
            best = i
            best_n = v
            best_v = mean
    return best


@njit(cache=True)
def search_row(root, cards, legal, n, seed, sims, tree, value, meta, settings):
    """The whole decision in one call: the legal row index that ``sims`` simulations choose.
    A forced decision returns 0 at once and a mulligan takes the heuristic's choice; a finished
    game (no legal row) returns -1."""
    if n == 0 or root[G_DONE] != DONE_NO:
        return -1
    if n == 1:
        return 0
    if root[G_PHASE] == PH_MULLIGAN:
        return heuristic_choice(root, cards, legal, n)
    rng = np.empty(1, dtype=np.uint64)
    rng[0] = np.uint64(seed) | np.uint64(1)
    init_tree(tree, value, meta)
    run_simulations(root, cards, tree, value, meta, rng, sims, settings)
    return best_root_row(root, cards, legal, n, tree, value)


# ----------------------------------------------------------------------------- Python face
DEFAULT_SIMULATIONS = 400
MAX_SIMULATIONS = 1_000_000
MAX_MS = 600_000
BUDGET_HELP = ("search (default: %d simulations), search:N (N simulations, 1-%d) or search:Nms (N milliseconds per "
               "decision, 1-%d)" % (DEFAULT_SIMULATIONS, MAX_SIMULATIONS, MAX_MS))


def parse_budget(text: str) -> tuple[int | None, float | None]:
    """``"200"`` -> (200, None) simulations; ``"50ms"`` -> (None, 50.0) milliseconds."""
    t = text.strip().lower()
    try:
        if t.endswith("ms"):
            ms = int(t[:-2])
            if not 1 <= ms <= MAX_MS:
                raise ValueError
            return None, float(ms)
        sims = int(t)
        if not 1 <= sims <= MAX_SIMULATIONS:
            raise ValueError
        return sims, None
    except ValueError:
        raise ValueError(f"bad search budget {text!r}: use {BUDGET_HELP}") from None


def _mix(seed: int) -> int:
    return ((int(seed) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF) | 1


class SearchBot:
    """ISMCTS bot. ``simulations`` (default) or ``ms`` sets the budget per decision.

    ``rollout`` is ``heuristic`` or ``random``; ``epsilon`` the chance of a random tuple in a
    heuristic rollout; a rollout stops for the evaluation after ``horizon`` decisions or when
    ``turns`` turns past the root's are over (0 turns off either limit); ``c`` is the UCB
    exploration constant; ``prior`` expands the heuristic's favourite action first (else a random
    one); ``pw_c`` and ``pw_alpha`` set the progressive widening (``pw_c`` = 0 expands everything);
    ``eval_weights`` replaces the evaluation's weights (``EVAL_FEATURES`` order).
    Every decision draws its search seed from the bot's own generator (seeded by ``seed``), so
    two bots with the same seed and budget in simulations play identically."""
    name = "search"

    def __init__(self, seed: int = 0, simulations: int | None = None, ms: float | None = None,
                 rollout: str = "heuristic", epsilon: float = 0.0, horizon: int = 15, turns: int = 0,
                 c: float = 0.4, prior: bool = True, pw_c: float = 1.0, pw_alpha: float = 0.5,
                 eval_weights=EVAL_WEIGHTS):
        if simulations is not None and ms is not None:
            raise ValueError("give the search budget in simulations or in ms, not both")
        if simulations is None and ms is None:
            simulations = DEFAULT_SIMULATIONS
        def whole(name, v):   # never rounded: 1.5 simulations or True is refused, not read as 1
            if not is_integer(v):
                raise ValueError(f"{name} must be an integer, got {v!r}")
            return int(v)
        if simulations is not None and not 1 <= whole("simulations", simulations) <= MAX_SIMULATIONS:
            raise ValueError(f"simulations must be in 1..{MAX_SIMULATIONS}, got {simulations}")
        if ms is not None and not 0 < float(ms) <= MAX_MS:
            raise ValueError(f"ms must be in (0, {MAX_MS}], got {ms}")
        if rollout not in ROLLOUTS:
            raise ValueError(f"rollout must be one of {', '.join(ROLLOUTS)}, got {rollout!r}")
        if not 0.0 <= float(epsilon) <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        for name, v in (("horizon", horizon), ("turns", turns)):
            if whole(name, v) < 0:
                raise ValueError(f"{name} must be >= 0 (0: no limit), got {v}")
        for name, v in (("c", c), ("pw_c", pw_c), ("pw_alpha", pw_alpha)):
            if not 0.0 <= float(v) < float("inf"):
                raise ValueError(f"{name} must be a finite number >= 0, got {v}")
        eval_weights = np.asarray(eval_weights, np.float64)
        if eval_weights.shape != (len(EVAL_FEATURES),) or not np.all(np.isfinite(eval_weights)):
            raise ValueError(f"eval_weights must be {len(EVAL_FEATURES)} finite numbers ({', '.join(EVAL_FEATURES)})")
        self.seed = check_seed(seed, "bot seed")
        self.simulations = None if simulations is None else int(simulations)
        self.ms = None if ms is None else float(ms)
        self.rollout = rollout
        self.settings = np.zeros(N_SETTINGS, np.float64)
        self.settings[S_C] = c
        self.settings[S_ROLLOUT] = ROLLOUTS[rollout]
        self.settings[S_EPSILON] = epsilon
        self.settings[S_HORIZON] = int(horizon)
        self.settings[S_TURNS] = int(turns)
        self.settings[S_PRIOR] = 1.0 if prior else 0.0
        self.settings[S_PW_C] = pw_c
        self.settings[S_PW_ALPHA] = pw_alpha
        self.settings[S_EVAL:] = eval_weights
        self._rng = np.array([_mix(self.seed)], dtype=np.uint64)
        self._brng = None
        cap = (self.simulations or 4096) + 2
        self._tree = np.zeros((cap, N_COLS), np.int64)
        self._value = np.zeros(cap, np.float64)
        self._meta = np.zeros(2, np.int64)
        self.last_simulations = 0

    # -- budget
    @property
    def budget(self) -> str:
        return f"{self.simulations}" if self.simulations is not None else f"{self.ms:g}ms"

    def _grow(self, need: int) -> None:
        cap = self._tree.shape[0]
        if need <= cap:
            return
        new = max(need, 2 * cap)
        t = np.zeros((new, N_COLS), np.int64)
        v = np.zeros(new, np.float64)
        t[:cap] = self._tree
        v[:cap] = self._value
        self._tree, self._value = t, v

    def _search(self, row, cards, legal, n, seed: np.uint64) -> int:
        """The legal row this bot plays (``legal`` holds at least ``n`` >= 1 rows)."""
        if self.simulations is not None:
            self._grow(self.simulations + 2)
            k = search_row(row, cards, legal, n, seed, self.simulations, self._tree, self._value, self._meta,
                           self.settings)
            searched = n > 1 and row[G_PHASE] != PH_MULLIGAN
            self.last_simulations = self.simulations if searched else 0
            return int(k)
        if n == 1:
            self.last_simulations = 0
            return 0
        if row[G_PHASE] == PH_MULLIGAN:
            self.last_simulations = 0
            return int(heuristic_choice(row, cards, legal, n))
        deadline = time.perf_counter() + self.ms / 1000.0
        rng = np.array([np.uint64(seed) | np.uint64(1)], np.uint64)
        init_tree(self._tree, self._value, self._meta)
        done = 0
        chunk = 4
        while True:
            self._grow(int(self._meta[0]) + chunk + 2)
            t0 = time.perf_counter()
            done += run_simulations(row, cards, self._tree, self._value, self._meta, rng, chunk, self.settings)
            now = time.perf_counter()
            left = deadline - now
            if left <= 0:
                break
            per_sim = max((now - t0) / chunk, 1e-7)
            # chunks of about a millisecond (or what is left), so the deadline is overshot by little
            chunk = int(max(1, min(left, 0.001) / per_sim))
        self.last_simulations = done
        return int(best_root_row(row, cards, legal, n, self._tree, self._value))

    def _next_seed(self, rng: np.ndarray, i: int) -> np.uint64:
        x = xorshift_step(rng[i])
        rng[i] = x
        return np.uint64(x)

    # -- the bot interface
    def act(self, state) -> tuple[int, int, int, int]:
        """The bot's tuple for a single game (:class:`~tcg_env.GameState`, not over)."""
        legal = state.legal_tuples()
        if len(legal) == 0:
            raise ValueError("the game is over: there is no decision to make")
        if len(legal) == 1:
            return tuple(int(x) for x in legal[0])
        k = self._search(state.row, state.pool.table, legal, len(legal), self._next_seed(self._rng, 0))
        return tuple(int(x) for x in legal[k])

    def act_batch(self, state, cards, legal, legal_n, out=None, rng=None, rows=None) -> np.ndarray:
        """Tuples for the rows of a batch (``out`` int32[N, 4]), one search per row in ``rows``
        (default: all) with a decision; row i's search seed comes from ``rng[i]`` (default: the
        bot's own per-row generators). Rows not acted on are left as they are."""
        out, rows = check_batch(state, legal, legal_n, out, rng, rows)
        n = state.shape[0]
        if rng is None:
            if self._brng is None or self._brng.shape[0] != n:
                self._brng = self.game_rng(0, n)
            rng = self._brng
        for i in rows:
            m = int(legal_n[i])
            if m <= 0:
                continue
            if m == 1:
                k = 0
            else:
                k = self._search(state[i], cards, legal[i], m, self._next_seed(rng, i))
            out[i] = legal[i, k]
        return out

    def game_rng(self, first_game: int, n: int) -> np.ndarray:
        """Fresh generator states (uint64[n]) for games first_game..first_game+n-1, each from the
        bot's seed and the game's id alone (as the built-in bots'): pass it as
        ``act_batch(rng=...)`` for every step of those games, and a game's searches draw the same
        seeds whichever batch or block it is played in."""
        return np.array([_mix(self.seed * 1_000_003 + first_game + i + 1) for i in range(n)], dtype=np.uint64)

    def __repr__(self):
        return f"SearchBot(seed={self.seed}, budget={self.budget}, rollout={self.rollout!r})"


def make_search_bot(spec: str, seed: int = 0) -> SearchBot:
    """``search``, ``search:N`` (simulations) or ``search:Nms`` (milliseconds per decision)."""
    if spec == "search":
        return SearchBot(seed)
    if not spec.startswith("search:"):
        raise ValueError(f"not a search bot spec: {spec!r} (use {BUDGET_HELP})")
    sims, ms = parse_budget(spec[len("search:"):])
    return SearchBot(seed, simulations=sims, ms=ms)


# ----------------------------------------------------------------------------- matches
def play_search_match(bot: SearchBot, opponent: str = "heuristic", games: int = 100, seed: int = 0,
                      progress=None) -> dict:
    """``games`` games of ``bot`` against the built-in ``opponent`` (``random`` or ``heuristic``),
    over every prebuilt deck pairing (each pair twice in a row: the search bot plays the pair's
    first deck in seat 0, then in seat 1). Returns wins, losses, draws, truncations, win rate,
    games and wins by the search bot's deck, and the search decisions with their total and
    largest wall time (forced decisions and mulligans are not searched and not counted)."""
    from prefabs import default_decks, default_pool

    from ..engine import reset_game
    from ..selfcheck import deck_pairs
    from ..vec import game_seeds
    from . import _mix as bot_mix
    from .builtin import BOT_HEURISTIC, BOT_RANDOM, bot_index

    kinds = {"random": BOT_RANDOM, "heuristic": BOT_HEURISTIC}
    if opponent not in kinds:
        raise ValueError(f"opponent must be random or heuristic, got {opponent!r}")
    pool = default_pool()
    cards = pool.table
    pairs = deck_pairs(pool)
    seeds = game_seeds(seed, games)
    s = np.zeros(STATE_SIZE, np.int32)
    legal = np.zeros((MAX_LEGAL, 4), np.int8)
    opp_rng = np.array([bot_mix(seed + 17)], np.uint64)
    names = list(default_decks())
    res = {"games": games, "wins": 0, "losses": 0, "draws": 0, "truncated": 0, "search_decisions": 0,
           "search_seconds": 0.0, "max_decision_ms": 0.0, "simulations": 0,
           "by_deck": {name: {"games": 0, "wins": 0} for name in names}}
    for g in range(games):
        seat = g % 2
        pair = (g // 2) % len(pairs)
        a, b = pairs[pair]
        mine = res["by_deck"][names[pair // len(names)]]   # deck_pairs() lists (a, b) with a outermost
        d0, d1 = (a, b) if seat == 0 else (b, a)
        reset_game(s, cards, d0, d1, seeds[g])
        while s[G_DONE] == DONE_NO:
            n = enumerate_legal(s, cards, legal)
            if actor(s) == seat:
                if n > 1 and s[G_PHASE] != PH_MULLIGAN:
                    t0 = time.perf_counter()
                    k = bot._search(s, cards, legal, n, bot._next_seed(bot._rng, 0))
                    dt = time.perf_counter() - t0
                    res["search_decisions"] += 1
                    res["search_seconds"] += dt
                    res["simulations"] += bot.last_simulations
                    res["max_decision_ms"] = max(res["max_decision_ms"], dt * 1000.0)
                else:
                    k = bot._search(s, cards, legal, n, np.uint64(1))
            else:
                k = bot_index(kinds[opponent], s, cards, legal, n, opp_rng, 0)
            apply_action(s, cards, legal[k, 0], legal[k, 1], legal[k, 2], legal[k, 3])
        w = int(s[G_WINNER])
        mine["games"] += 1
        mine["wins"] += int(w == seat)
        if w == seat:
            res["wins"] += 1
        elif w == 1 - seat:
            res["losses"] += 1
        elif w == 2:
            res["draws"] += 1
        else:
            res["truncated"] += 1
        if progress is not None:
            progress(g + 1, res)
    res["win_rate"] = res["wins"] / max(games, 1)
    d = max(res["search_decisions"], 1)
    res["mean_decision_ms"] = 1000.0 * res["search_seconds"] / d
    res["mean_simulations"] = res["simulations"] / d
    return res


__all__ = ["SearchBot", "make_search_bot", "parse_budget", "play_search_match", "determinize", "search_row",
           "BUDGET_HELP", "DEFAULT_SIMULATIONS"]
