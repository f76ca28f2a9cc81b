"""The native batched env on the PufferLib buffer contract (without importing pufferlib).

``VecTCG(num_games, seed, decks=...)`` holds N games. Its buffers are allocated once
and filled in place by the fused numba kernel (``engine.step_batch``):

================== ======================= ============================================
buffer             shape / dtype           meaning
================== ======================= ============================================
``observations``   [N, OBS_SIZE] int8      the next actor's observation (named views:
                                           ``view(observations, "globals" | "entities")``)
``legal_tuples``   [N, MAX_LEGAL, 4] int8  legal tuples of that decision, canonical
                                           order; rows past ``legal_count`` are stale
``legal_count``    [N] int32               number of legal tuples
``current_player`` [N] int32               the seat (0/1) that decides row i next
``actions``        [N, 4] int32            write tuples here, then ``step()``
``rewards``        [N] float32             reward of the seat that just acted
``seat_rewards``   [N, 2] float32          both seats' rewards of the last step
``terminals``      [N] bool                the last step ended game i (win/loss/draw)
``truncations``    [N] bool                the last step hit the turn or decision cap
``masks``          [N] bool                row i is alive (always True: games auto-reset)
``final_observations`` [N, 2, OBS_SIZE]    both seats' views of the position a game ended
                   int8                    in (valid on rows with a terminal/truncation)
================== ======================= ============================================

**Self-play and rewards.** Every row is one decision of ``current_player[i]``; the two
seats interleave (the defender answers attacks during the attacker's turn). Rewards
are 0 until a game ends. On the step that ends game i, ``terminals[i]`` (or
``truncations[i]``) is set, ``rewards[i]`` is the final reward (+1 win, -1 loss, 0 draw
or truncation) of the seat that made that last decision, and ``seat_rewards[i]`` holds
the final reward of *both* seats: that is the moment the other seat learns its final
reward too. The row has already been reset to a new game (its seed drawn from the old
game's own generator), so ``observations[i]`` is the first decision of the next game.

An action that is not in row i's legal list changes nothing in that game; it is
counted in ``illegal_counts[i]`` and in that step's ``infos`` (one dict,
``{"illegal_actions": k, "illegal_rows": [...]}``, the rows whose tuple this step refused):
never silently fixed. ``state`` (the games' rows),
``decks``, ``legal_tuples``, ``legal_count`` and ``current_player`` are read-only views: the
kernels index by their words and check actions against their own copy, which only they
write (a row or list edited from outside could otherwise let an illegal tuple through, or a
count past its zone read or write out of bounds). ``load_state`` puts games in from saved
rows (refusing with :class:`StateFormatError` any row whose counts, slots or card ids no game
can hold) and derives the other buffers again. No buffer can be rebound (``env.terminals =
...`` raises ``AttributeError``): the kernels write into the arrays allocated here, so write
into ``actions`` in place (``env.actions[:] = ...``). ``step()`` checks that buffer's values
as it checks an array handed to it.
"""
from __future__ import annotations

import numpy as np

from prefabs import Deck, DeckError
from verification.layout import G_EPISODE, STATE_SIZE
from verification.spec import HEAD_SIZES, MAX_LEGAL

from . import engine
from .observation import OBS_SIZE, view
from .state import GameState, StateFormatError, check_seed, is_integer, pool_or_default, resolve_deck, state_rows_problem


MAX_GAMES = 1 << 20   # ~10 KB of buffers a game: 10 GB at the cap


def _read_only(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


class _Buffer:
    """A VecTCG buffer: the array the kernels fill in place (or a read-only view of it), which
    can be read and (where writable) written into, but never rebound to another array."""

    def __set_name__(self, owner, name):
        self.name, self.slot = name, "_buf_" + name

    def __get__(self, env, owner=None):
        return self if env is None else getattr(env, self.slot)

    def __set__(self, env, value):
        if hasattr(env, self.slot):
            if getattr(env, self.slot).flags.writeable:
                how = f"write into it in place (env.{self.name}[...] = ...)"
            else:
                how = "it is read-only" + (" (saved games go in with env.load_state(rows))" if self.name == "state" else "")
            raise AttributeError(f"VecTCG.{self.name} is a buffer the kernels use in place and cannot be "
                                 f"rebound; {how}")
        setattr(env, self.slot, value)



def _deck_rows(decks, n: int, pool, first: int = 0) -> np.ndarray:
    """decks: None (every prebuilt pairing in turn, by game index from ``first``), a name/Deck
    (both seats), a pair, or a list of pairs (one per row)."""
    from .selfcheck import deck_pairs
    if decks is None:
        pairs = deck_pairs(pool, "give decks= (a Deck of its cards for both seats, a pair, or one pair per game; "
                                 "prefabs.load_decks(pool, path) reads a decks file)")
        return np.stack([np.stack(pairs[i % len(pairs)]) for i in range(first, first + n)]).astype(np.int32)
    if isinstance(decks, (str, Deck)):
        row = resolve_deck(decks, pool)
        return np.broadcast_to(np.stack([row, row]), (n, 2, row.size)).copy()
    if isinstance(decks, tuple) and len(decks) == 2 and isinstance(decks[0], (str, Deck)):
        pair = np.stack([resolve_deck(decks[0], pool), resolve_deck(decks[1], pool)])
        return np.broadcast_to(pair, (n,) + pair.shape).copy()
    forms = ("give None (every prebuilt pairing), a deck name or Deck (both seats), one pair (seat 0's deck, "
             "seat 1's) or a list of one pair per game")
    try:
        decks = list(decks)
    except TypeError:
        raise DeckError(f"decks: {forms}; got {decks!r}") from None
    if len(decks) != n:
        raise DeckError(f"decks: got {len(decks)} pairs for {n} games; {forms}")
    bad = [i for i, d in enumerate(decks) if not (isinstance(d, (tuple, list)) and len(d) == 2)]
    if bad:
        raise DeckError(f"decks[{bad[0]}] = {decks[bad[0]]!r} is not a pair of decks; {forms}")
    return np.stack([np.stack([resolve_deck(a, pool), resolve_deck(b, pool)]) for a, b in decks]).astype(np.int32)


class VecTCG:
    """N games stepped by one fused numba kernel. See the module docstring for the buffers."""

    (cards, state, decks, observations, legal_tuples, legal_count, current_player, actions, rewards, seat_rewards,
     terminals, truncations, masks, illegal_counts, final_observations) = (_Buffer() for _ in range(15))

    def __init__(self, num_games: int, seed: int = 0, decks=None, pool=None, threads: int = 1,
                 first_game: int = 0):
        if not is_integer(num_games) or not 1 <= num_games <= MAX_GAMES:
            raise ValueError(f"num_games must be an integer in 1..{MAX_GAMES:,}, got {num_games!r}")
        if not is_integer(first_game) or not 0 <= first_game < 2 ** 62:
            raise ValueError(f"first_game must be a non-negative integer, got {first_game!r}")
        seed = check_seed(seed)
        # row i holds game first_game + i of the seed: a batch can be split into blocks (one per
        # process) that together play exactly the games of one VecTCG(sum of blocks, seed)
        self.first_game = int(first_game)
        self.num_agents = self.num_games = int(num_games)
        self.pool = pool_or_default(pool)
        self.cards = self.pool.table
        self._decks = _deck_rows(decks, self.num_games, self.pool, self.first_game)
        n = self.num_games
        self._state = np.zeros((n, STATE_SIZE), np.int32)
        self.observations = np.zeros((n, OBS_SIZE), np.int8)
        # the kernel's own buffers; the public names are read-only views of them
        self._legal = np.zeros((n, MAX_LEGAL, 4), np.int8)
        self._legal_n = np.zeros(n, np.int32)
        self._actor = np.zeros(n, np.int32)
        self.state, self.decks, self.legal_tuples, self.legal_count, self.current_player = (
            _read_only(a) for a in (self._state, self._decks, self._legal, self._legal_n, self._actor))
        self.actions = np.zeros((n, 4), np.int32)
        self.rewards = np.zeros(n, np.float32)
        self.seat_rewards = np.zeros((n, 2), np.float32)
        self.terminals = np.zeros(n, np.bool_)
        self.truncations = np.zeros(n, np.bool_)
        self.masks = np.ones(n, np.bool_)
        self.illegal_counts = np.zeros(n, np.int32)
        self._counts_before = np.zeros(n, np.int32)
        self.final_observations = np.zeros((n, 2, OBS_SIZE), np.int8)
        self.seed = seed
        if not is_integer(threads) or threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        # The kernel releases the GIL (nogil): threads step disjoint slices of the batch.
        # Each game's trajectory depends only on its own row, so results do not depend on it.
        self.threads = min(int(threads), self.num_games)
        self._pool = None
        if self.threads > 1:
            from concurrent.futures import ThreadPoolExecutor
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="tcg-env")
            bounds = np.linspace(0, self.num_games, self.threads + 1).astype(int)
            self._slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        self.reset(seed)

    def reset(self, seed: int | None = None):
        """Start every game anew; row i's seed depends only on ``seed`` and its game index
        ``first_game + i``."""
        if seed is not None:
            self.seed = check_seed(seed)
        seeds = game_seeds(self.seed, self.num_games, self.first_game)
        self._state[:, G_EPISODE] = 0   # the row's game counter starts again too: reset(s) is VecTCG(n, s)
        engine.reset_batch(self._state, self.cards, self._decks, seeds, self._legal, self._legal_n,
                           self.observations, self._actor)
        self.rewards[:] = 0
        self.seat_rewards[:] = 0
        self.terminals[:] = False
        self.truncations[:] = False
        self.illegal_counts[:] = 0
        return self.observations, []

    def step(self, actions=None):
        """Apply ``actions`` (int[N, 4]; default: what was written into the ``actions`` buffer)
        to every game. Either way a value outside its head's range raises ``ValueError`` before
        anything changes; a tuple in range but not legal is refused and counted (module doc)."""
        if actions is not None:
            if isinstance(actions, np.ma.MaskedArray):   # np.asarray would drop the mask and play what it hides
                raise ValueError("actions must be a plain integer array, not a masked array: every row is "
                                 "stepped, so every row needs its tuple")
            a = np.asarray(actions)
            if a.shape != (self.num_games, 4):
                raise ValueError(f"actions must have shape ({self.num_games}, 4), got {a.shape}")
            if not np.issubdtype(a.dtype, np.integer):   # never rounded: 1.7 is not an action
                raise ValueError(f"actions must be an integer array, got dtype {a.dtype}")
            _check_action_range(a, "")
            self._buf_actions[:] = a
        else:   # written in place: int32 by construction, any value
            _check_action_range(self._buf_actions, " (written into the actions buffer)")
        # the counts before this step, in a buffer kept for it (no allocation per step): the rows this
        # step's illegal tuples came from are the ones that moved, whatever was written to the
        # counters from outside (a resume)
        before = self._counts_before
        before[:] = self.illegal_counts
        if self._pool is None:
            bad = self._step_slice(slice(None))
        else:
            bad = sum(self._pool.map(self._step_slice, self._slices))
        infos = []
        if bad:
            rows = np.nonzero(self.illegal_counts != before)[0]
            infos.append({"illegal_actions": int(bad), "illegal_rows": rows.tolist()})
        return self.observations, self.rewards, self.terminals, self.truncations, infos

    def _step_slice(self, sl: slice) -> int:
        return engine.step_batch(self._state[sl], self.cards, self._buf_actions[sl], self._legal[sl],
                                 self._legal_n[sl], self.observations[sl], self.rewards[sl], self.seat_rewards[sl],
                                 self.terminals[sl], self.truncations[sl], self._actor[sl],
                                 self.illegal_counts[sl], self.final_observations[sl])

    def load_state(self, state) -> None:
        """Put saved games in (int32[N, STATE_SIZE] rows, e.g. a checkpoint's copy of ``state``) and
        derive every legal list, observation and current player from them, as the kernel would."""
        st = np.asarray(state)
        if st.shape != self.state.shape or st.dtype != np.int32:
            raise ValueError(f"state must be int32{list(self.state.shape)}, got {st.dtype}{list(st.shape)}")
        problem = state_rows_problem(st, self.pool)
        if problem:   # the kernels index by these words: refuse, never read out of bounds
            raise StateFormatError(f"not a state this engine can hold: {problem}")
        self._state[...] = st
        engine.refresh_batch(self._state, self.cards, self._legal, self._legal_n, self.observations, self._actor)

    def observe(self, players) -> np.ndarray:
        """Observations of every game from ``players[i]``'s view (a new int8[N, OBS_SIZE]);
        ``players`` holds N seats, each 0 or 1."""
        p = np.asarray(players)
        if p.shape != (self.num_games,) or not np.issubdtype(p.dtype, np.integer) or not np.isin(p, (0, 1)).all():
            raise ValueError(f"players must be {self.num_games} integer seats, each 0 or 1; got "
                             f"{p.dtype} of shape {p.shape} with values {np.unique(p)[:8].tolist()}")
        out = np.zeros_like(self.observations)
        engine.observe_batch(self._state, self.cards, p.astype(np.int32), out)
        return out

    def view(self, name: str) -> np.ndarray:
        """A named view (``globals`` or ``entities``) of the observation buffer."""
        return view(self.observations, name)

    def game(self, i: int) -> GameState:
        """A copy of game i (0..num_games-1) as a :class:`GameState` (for rendering or search)."""
        if not is_integer(i) or not 0 <= i < self.num_games:
            raise IndexError(f"game index must be an integer in 0..{self.num_games - 1}, got {i!r}")
        return GameState._of_sound_row(self._state[i].copy(), self.pool)

    def close(self):
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


_HEAD_SIZES = np.asarray(HEAD_SIZES)


def _check_action_range(a: np.ndarray, where: str) -> None:
    """ValueError naming the first value of ``a`` (int[N, 4]) outside its head's range."""
    out = (a < 0) | (a >= _HEAD_SIZES)
    if out.any():
        r, h = np.argwhere(out)[0]
        raise ValueError(f"actions[{r}, {h}] = {a[r, h]}{where} is out of range 0..{HEAD_SIZES[h] - 1}")


def game_seeds(seed: int, n: int, first: int = 0) -> np.ndarray:
    """64-bit seeds of games first..first+n-1: game i's seed is a function of (seed, i) only,
    never of n or first."""
    base = (int(seed) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    return np.array([(base + 0xD1B54A32D192ED03 * (i + 1)) & 0xFFFFFFFFFFFFFFFF for i in range(first, first + n)],
                    dtype=np.uint64)
