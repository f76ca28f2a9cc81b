"""Scripted bots: ``random`` (uniform over legal tuples, seeded), ``heuristic``
(rule-based) and ``search`` (information-set MCTS over determinized clones, see
:mod:`tcg_env.bots.search`). Each works on a single :class:`~tcg_env.GameState` (``act``) and on
a batch of state rows (``act_batch``; numba for the built-in bots, one numba search per row for
the search bot), so evaluation runs inside the fast path.

``make_bot(NAME, seed=...)`` builds one by name:

====================================  =====================================================
``random``, ``heuristic``             the built-in bots
``search``                            ISMCTS with the default budget (400 simulations)
``search:N``                          ISMCTS with N simulations per decision (reproducible)
``search:Nms``                        ISMCTS with N milliseconds per decision (wall clock)
``checkpoint:PATH[@greedy|@sample]``  a trained policy through the sequential sampler (it
                                      imports torch lazily, only when built)
====================================  =====================================================
"""
from __future__ import annotations

import numpy as np

from ..state import check_seed
from .builtin import BOT_HEURISTIC, BOT_RANDOM, act_batch, bot_index, play_matches

BOT_NAMES = ("random", "heuristic")


def check_batch(state, legal, legal_n, out, rng, rows) -> tuple[np.ndarray, np.ndarray]:
    """The shapes and indices of an ``act_batch`` call, checked where the kernels would index out
    of bounds by them (a row past the batch writes past ``out``; a count past ``MAX_LEGAL`` reads
    past ``legal``): ValueError naming the argument. Returns ``(out, rows)``, made when None. The
    rows' words are not checked (that costs about as much as a step): pass ``VecTCG.state``."""
    from verification.layout import STATE_SIZE
    from verification.spec import MAX_LEGAL

    def shaped(name, a, shape):
        if not isinstance(a, np.ndarray) or a.shape != shape:
            got = list(a.shape) if isinstance(a, np.ndarray) else type(a).__name__
            raise ValueError(f"act_batch: {name} must be an array of shape {list(shape)}, got {got}")
        return a

    if not isinstance(state, np.ndarray) or state.ndim != 2:
        raise ValueError(f"act_batch: state must be int32[N, {STATE_SIZE}] rows (VecTCG.state), got "
                         f"{getattr(state, 'shape', type(state).__name__)}")
    n = state.shape[0]
    shaped("state", state, (n, STATE_SIZE))
    shaped("legal", legal, (n, MAX_LEGAL, 4))
    if ((shaped("legal_n", legal_n, (n,)) < 0) | (legal_n > MAX_LEGAL)).any():
        raise ValueError(f"act_batch: legal_n holds a count outside 0..{MAX_LEGAL}")
    if rng is not None:
        shaped("rng", rng, (n,))
    out = np.zeros((n, 4), np.int32) if out is None else shaped("out", out, (n, 4))
    if rows is None:
        return out, np.arange(n, dtype=np.int64)
    r = np.asarray(rows)
    if r.ndim != 1 or (r.size and r.dtype.kind not in "iu"):
        raise ValueError(f"act_batch: rows must be a list of row indices, got {r.dtype}{list(r.shape)}")
    if r.size and (r.min() < 0 or r.max() >= n):
        raise ValueError(f"act_batch: rows must be indices in 0..{n - 1}, got {int(r.min())}..{int(r.max())}")
    return out, r.astype(np.int64, copy=False)


def _mix(seed: int) -> int:
    """A non-zero 64-bit generator state from any integer seed."""
    return ((int(seed) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) | 1


class BuiltinBot:
    kind: int = BOT_RANDOM
    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = check_seed(seed, "bot seed")
        self._rng = np.array([_mix(self.seed)], dtype=np.uint64)

    def act(self, state) -> tuple[int, int, int, int]:
        """The bot's tuple for a single game (the game must not be over)."""
        legal = state.legal_tuples()
        if len(legal) == 0:
            raise ValueError("the game is over: there is no decision to make")
        k = bot_index(self.kind, state.row, state.pool.table, legal, len(legal), self._rng, 0)
        return tuple(int(x) for x in legal[k])

    def act_batch(self, state, cards, legal, legal_n, out=None, rng=None, rows=None) -> np.ndarray:
        """Tuples for the rows of a batch (``out`` int32[N, 4]); ``rows`` limits the work to those
        games (default: all). Rows not acted on, or with no decision, are left as they are."""
        out, rows = check_batch(state, legal, legal_n, out, rng, rows)
        if rng is None:
            rng = self._batch_rng(state.shape[0])
        act_batch(self.kind, state, cards, legal, legal_n, rng, rows, out)
        return out

    def _batch_rng(self, n: int) -> np.ndarray:
        if getattr(self, "_brng", None) is None or self._brng.shape[0] != n:
            self._brng = self.game_rng(0, n)
        return self._brng

    def game_rng(self, first_game: int, n: int) -> np.ndarray:
        """Fresh generator states (uint64[n]) for games first_game..first_game+n-1, each from
        the bot's seed and the game's id alone: pass it as ``act_batch(rng=...)`` for every step of
        those games, and a game draws the same whichever batch or block it is played in."""
        return np.array([_mix(self.seed * 1_000_003 + first_game + i + 1) for i in range(n)], dtype=np.uint64)

    def __repr__(self):
        return f"{type(self).__name__}(seed={self.seed})"


class RandomBot(BuiltinBot):
    """Uniform over the legal tuples, from its own seeded generator."""
    kind = BOT_RANDOM
    name = "random"


class HeuristicBot(BuiltinBot):
    """Rule-based: plays on curve, trades, goes face on lethal, blocks to survive."""
    kind = BOT_HEURISTIC
    name = "heuristic"


def make_bot(spec: str, seed: int = 0, cards=None):
    """A bot from its name: ``random``, ``heuristic``, ``search[:N|:Nms]`` or ``checkpoint:PATH``.
    ``cards``: the :class:`prefabs.CardSet` of the games it plays (None: the shipped cards); a
    checkpoint bot must have been trained on them (the others play any cards)."""
    if not isinstance(spec, str):
        raise ValueError(f"a bot is named by a string (random, heuristic, search[:BUDGET], checkpoint:PATH), "
                         f"got {spec!r}")
    if spec == "random":
        return RandomBot(seed)
    if spec == "heuristic":
        return HeuristicBot(seed)
    if spec.startswith("checkpoint:"):
        # Lazy: only a checkpoint bot needs torch and the trained policy.
        from .policy_bot import PolicyBot
        path, _, mode = spec[len("checkpoint:"):].partition("@")
        if mode not in ("", "greedy", "sample"):
            raise ValueError(f"checkpoint bot mode must be 'greedy' or 'sample' (checkpoint:PATH@sample), got {mode!r}")
        return PolicyBot(path, greedy=mode != "sample", seed=seed, cards=cards)
    if spec == "search" or spec.startswith("search:"):
        from .search import make_search_bot
        return make_search_bot(spec, seed)
    raise ValueError(f"unknown bot {spec!r}; choose from: random, heuristic, search[:BUDGET] (BUDGET = N "
                     f"simulations or Nms milliseconds per decision), checkpoint:PATH")


def match(bot0: str, bot1: str, games: int, seed: int = 0, deck0=None, deck1=None, both_seats: bool = True):
    """Play ``games`` games between two built-in bots inside numba.

    With ``both_seats`` the bots swap seats for the second half. Returns a dict with the
    first bot's wins, losses, draws, truncations and mean length."""
    from prefabs import default_decks, default_pool, deck_ids
    from verification.spec import MAX_LEGAL

    pool = default_pool()
    kinds = {"random": BOT_RANDOM, "heuristic": BOT_HEURISTIC}
    for b in (bot0, bot1):
        if b not in kinds:
            raise ValueError(f"match() plays built-in bots only ({', '.join(kinds)}), got {b!r}")
    names = list(default_decks())
    rng = np.random.default_rng(seed)
    d0 = [deck_ids(default_decks()[deck0], pool)] if deck0 else [deck_ids(default_decks()[n], pool) for n in names]
    d1 = [deck_ids(default_decks()[deck1], pool)] if deck1 else [deck_ids(default_decks()[n], pool) for n in names]
    out = {"games": 0, "wins": 0, "losses": 0, "draws": 0, "truncated": 0, "decisions": 0}
    halves = [(0, games // 2), (1, games - games // 2)] if both_seats else [(0, games)]
    legal = np.zeros((MAX_LEGAL, 4), np.int8)
    bot_rng = np.array([_mix(seed)], np.uint64)
    for first_seat, n in halves:
        if n == 0:
            continue
        decks = np.zeros((n, 2, 41), np.int32)
        for g in range(n):
            a, b = d0[g % len(d0)], d1[(g // len(d0)) % len(d1)]
            decks[g] = (a, b) if first_seat == 0 else (b, a)
        seeds = rng.integers(0, 2 ** 63, size=n, dtype=np.uint64)
        k = np.array([kinds[bot0], kinds[bot1]] if first_seat == 0 else [kinds[bot1], kinds[bot0]], np.int32)
        results = np.zeros(n, np.int32)
        lengths = np.zeros(n, np.int32)
        play_matches(k, decks, seeds, pool.table, bot_rng, legal, results, lengths)
        out["games"] += n
        out["wins"] += int(np.sum(results == first_seat))
        out["losses"] += int(np.sum(results == 1 - first_seat))
        out["draws"] += int(np.sum(results == 2))
        out["truncated"] += int(np.sum(results == -1))
        out["decisions"] += int(lengths.sum())
    out["win_rate"] = out["wins"] / max(out["games"], 1)
    out["mean_decisions"] = out["decisions"] / max(out["games"], 1)
    return out


def __getattr__(name):
    # The search bot is imported on first use only (its numba module loads lazily).
    if name == "SearchBot":
        from .search import SearchBot
        return SearchBot
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BOT_NAMES", "BuiltinBot", "HeuristicBot", "RandomBot", "SearchBot", "make_bot", "match"]
