"""Built-in bots in numba and the fused bot-vs-bot match kernel."""
import numpy as np
from numba import njit

from verification.layout import DONE_NO, G_DONE, G_WINNER, STATE_SIZE
from verification.legal import enumerate_legal
from verification.rules import actor

from ..engine import apply_action, reset_game, xorshift_step
from .heuristic import heuristic_choice

BOT_RANDOM = 0
BOT_HEURISTIC = 1


@njit(cache=True)
def random_index(rng, i, n):
    """Uniform index in 0..n-1 from the bot's own generator ``rng[i]`` (advanced in place)."""
    x = xorshift_step(rng[i])
    rng[i] = x
    return np.int64(((x * np.uint64(2685821657736338717)) >> np.uint64(33)) % np.uint64(n))


@njit(cache=True)
def bot_index(kind, s, cards, legal, n, rng, i):
    if kind == BOT_HEURISTIC:
        return heuristic_choice(s, cards, legal, n)
    return random_index(rng, i, n)


@njit(cache=True, nogil=True)
def act_batch(kind, state, cards, legal, legal_n, rng, rows, out):
    """Fill ``out[i]`` with bot ``kind``'s tuple for every game i in ``rows`` whose legal list is
    non-empty (the other rows of ``out`` are left as they are)."""
    for r in range(rows.shape[0]):
        i = rows[r]
        n = legal_n[i]
        if n <= 0:
            continue
        k = bot_index(kind, state[i], cards, legal[i], n, rng, i)
        for j in range(4):
            out[i, j] = legal[i, k, j]


@njit(cache=True, nogil=True)
def play_matches(kinds, decks, seeds, cards, rng, legal, results, lengths):
    """Play one game per seed: seat 0 is bot ``kinds[0]``, seat 1 is ``kinds[1]``.
    ``results[g]`` = winner (0/1), 2 for a draw, -1 for a truncation."""
    s = np.zeros(STATE_SIZE, dtype=np.int32)
    for g in range(seeds.shape[0]):
        reset_game(s, cards, decks[g, 0], decks[g, 1], seeds[g])
        steps = 0
        while s[G_DONE] == DONE_NO:
            n = enumerate_legal(s, cards, legal)
            p = actor(s)
            k = bot_index(kinds[p], s, cards, legal, n, rng, 0)
            apply_action(s, cards, legal[k, 0], legal[k, 1], legal[k, 2], legal[k, 3])
            steps += 1
        results[g] = s[G_WINNER]
        lengths[g] = steps
