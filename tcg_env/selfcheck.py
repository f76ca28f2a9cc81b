"""Random-play drivers for ``tcg verify`` and the property tests.

``verify_random_states`` plays uniformly random games (all prebuilt deck pairings in
turn) and runs ``verification.crosscheck`` on every visited state.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from prefabs import default_pool
from verification.crosscheck import crosscheck_state, new_scratch
from verification.layout import STATE_SIZE

from . import engine


@dataclass
class VerifyReport:
    states: int = 0
    tuples_checked: int = 0
    mismatches: int = 0
    order_violations: int = 0
    games: int = 0
    max_legal: int = 0
    seconds: float = 0.0
    failures: list = field(default_factory=list)   # (game seed, decision, tuple, explain text, listed?)

    @property
    def ok(self) -> bool:
        return self.mismatches == 0 and self.order_violations == 0


def deck_pairs(pool=None, how: str = "give the decks (Deck objects of its cards, e.g. from prefabs.load_decks)"):
    """Every ordered pairing of the prebuilt decks, as rows of ``pool`` (default: the shipped one);
    a pool they do not fit raises ``DeckError`` ending with ``how``."""
    from .state import prebuilt_deck_rows
    rows = prebuilt_deck_rows(pool or default_pool(), how)
    return [(a, b) for a in rows for b in rows]


def verify_random_states(n_states: int, seed: int = 0, progress=None) -> VerifyReport:
    from .state import GameState
    pool = default_pool()
    cards = pool.table
    pairs = deck_pairs(pool)
    legal, listed = new_scratch()
    rep = VerifyReport()
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    row = np.zeros(STATE_SIZE, dtype=np.int32)
    game = 0
    while rep.states < n_states:
        d0, d1 = pairs[game % len(pairs)]
        game_seed = int(rng.integers(2 ** 63))
        engine.reset_game(row, cards, d0, d1, np.uint64(game_seed))
        decision = 0
        while rep.states < n_states:
            n, bad, f0, f1, f2, f3, order_bad = crosscheck_state(row, cards, legal, listed)
            rep.states += 1
            rep.tuples_checked += listed.size
            rep.max_legal = max(rep.max_legal, n)
            rep.order_violations += order_bad
            if bad:
                rep.mismatches += bad
                if len(rep.failures) < 10:
                    g = GameState(row.copy(), pool)
                    t = (f0, f1, f2, f3)
                    rep.failures.append((game_seed, decision, t, g.explain(t), bool(listed[t])))
            if progress:
                progress(1)
            if n == 0:
                break
            k = int(rng.integers(n))
            engine.apply_action(row, cards, *(int(x) for x in legal[k]))
            decision += 1
        game += 1
    rep.games = game
    rep.seconds = time.perf_counter() - t0
    return rep


def check_invariants(state) -> list[str]:
    """OpenSpiel-style invariants of one ``GameState``; returns the violations in words.

    Card conservation (every deck card in exactly one zone, every IKZ card in the IKZ area or
    deck), legal list non-empty unless over and strictly increasing, observation within its
    declared bounds, clone and bytes round trips. A row no game of this engine can hold
    (``state_rows_problem``: a word out of its range, the turn past the cap, a zone that
    disagrees with its count, leftovers in an empty board slot, a health outside its bounds,
    more IKZ tapped than held, more cards than the decklist or IKZ list names, a status word
    or fallen flag that disagrees with the phase, a pending choice its card does not have, a
    running game with no legal tuple) is that one violation: nothing else reads it, the engine
    least of all."""
    from collections import Counter

    from verification.layout import (B_CARD, B_WEAPON, DECK_SIZE, IKZ_DECK_SIZE, P_DECK, P_DECK_N, P_DECKLIST, P_DISC,
                                     P_DISC_N, P_HAND, P_HAND_N, P_IKZ, P_IKZ_N, P_IKZDECK, P_IKZDECK_N, P_IKZLIST)
    from verification.rules import pbase, sbase
    from verification.spec import BOARD_SLOTS
    from prefabs import table as T
    from .observation import OBS_HIGH, OBS_LOW
    from .state import GameState, state_rows_problem

    s = state.row
    problem = state_rows_problem(s, state.pool, name_row=False)
    if problem is not None:
        return [problem]
    cards = state.pool.table
    bad = []

    for p in range(2):   # zones, slots and health agree with their counts (state_rows_problem)
        b = pbase(p)
        held = [s[b + off:b + off + s[b + n]] for off, n in ((P_DECK, P_DECK_N), (P_HAND, P_HAND_N), (P_DISC, P_DISC_N))]
        held = list(np.concatenate(held))
        for slot in range(BOARD_SLOTS):
            u = sbase(p, slot)
            c = s[u + B_CARD]
            if c and cards[c, T.C_TOKEN] == 0:
                held.append(c)
            if s[u + B_WEAPON]:
                held.append(s[u + B_WEAPON])
        if Counter(held) != Counter(s[b + P_DECKLIST:b + P_DECKLIST + DECK_SIZE]):
            bad.append(f"p{p} main-deck cards not conserved")
        ikz = list(s[b + P_IKZ:b + P_IKZ + s[b + P_IKZ_N]]) + list(s[b + P_IKZDECK:b + P_IKZDECK + s[b + P_IKZDECK_N]])
        if Counter(ikz) != Counter(s[b + P_IKZLIST:b + P_IKZLIST + IKZ_DECK_SIZE]):
            bad.append(f"p{p} IKZ cards not conserved")
    legal = state.legal_tuples()
    if state.done != (len(legal) == 0):
        bad.append(f"done={state.done} but {len(legal)} legal tuples")
    if len(legal) > 1:
        keys = [tuple(r) for r in legal.tolist()]
        if any(keys[i] >= keys[i + 1] for i in range(len(keys) - 1)):
            bad.append("legal list is not strictly increasing (order or duplicates)")
    if not state.done:
        obs = state.observation()
        if np.any(obs < OBS_LOW) or np.any(obs > OBS_HIGH):
            idx = np.nonzero((obs < OBS_LOW) | (obs > OBS_HIGH))[0]
            bad.append(f"observation outside declared bounds at {idx[:5].tolist()}")
    if not (state.clone() == state):
        bad.append("clone differs")
    if not (GameState.from_bytes(state.to_bytes(), state.pool) == state):
        bad.append("bytes round trip differs")
    return bad
