"""Random-play drivers for ``tcg verify`` and the property tests.

``verify_random_states`` plays uniformly random games (all prebuilt deck pairings in
turn) and runs ``verification.crosscheck`` on every visited state.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from prefabs import default_decks, default_pool, deck_ids
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


def deck_pairs(pool=None):
    pool = pool or default_pool()
    rows = [deck_ids(d, pool) for d in default_decks().values()]
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
