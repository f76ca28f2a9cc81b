"""Gymnasium face: the agent (seat 0) against a built-in or user-supplied opponent.

``gymnasium.make("tcg_env/Duel-v0", opponent="random" | "heuristic" | callable,
deck=None, opponent_deck=None, illegal_action="raise" | "lose", render_mode=None,
copy_obs=True, pool=None)``

``pool`` is a ``prefabs.CardPool`` (``prefabs.load_pool(path)`` reads your own cards file), or
``None`` for the shipped cards. A seat with no deck draws one of the prebuilt decks at each
reset, so with a pool that lacks their cards give ``deck`` and ``opponent_deck`` (``Deck``
objects of the pool's cards; ``prefabs.load_decks(pool, path)`` reads a decks file).

Observation (``Dict``):

================ ============================== ==========================================
key              space                          meaning
================ ============================== ==========================================
``globals``      Box int8 (32,)                 named view ``globals`` (docs/RULES.md)
``entities``     Box int8 (32, 24)              named view ``entities``
``legal_tuples`` Box int8 (MAX_LEGAL, 4)        legal tuples, canonical order; rows past
                                                ``legal_count`` are zero
``legal_count``  Discrete(MAX_LEGAL + 1)        number of legal tuples
``action_mask``  MultiBinary(13)                primaries that start at least one legal
                                                tuple (derived from the legal list; for
                                                simple agents: a primary alone is not an
                                                action)
================ ============================== ==========================================

Action: ``MultiDiscrete(HEAD_SIZES)``, the tuple ``(primary, sub1, sub2, sub3)``.

Reward: +1 when the agent wins, -1 when it loses, 0 for a draw, a truncation at the
turn or decision cap, and every other step. Seat 0 is the agent; who takes turn 1 is drawn from the
game's seed. The opponent's decisions (including its answers in the response window)
are played inside ``step`` until the agent must decide again.

Illegal actions: by default ``step`` raises :class:`IllegalActionError` with the rule
the tuple breaks, and nothing changes. With ``illegal_action="lose"`` an illegal tuple
ends the episode instead: ``terminated=True``, reward ``ILLEGAL_ACTION_PENALTY`` (-1),
and ``info["illegal_action"]`` holds the reason.

Copies: by default every observation holds new arrays, so one kept from an earlier step
never changes. ``copy_obs=False`` returns the same dict of read-only views into buffers that
the next ``reset``/``step`` overwrites (faster; copy what you keep). Either way the legal
list the env checks actions against is its own, which nothing returned can change.

``reset(seed=None, options=None)``: ``options`` may hold ``"deck"`` and ``"opponent_deck"``
(a prebuilt deck name or a ``Deck``), which replace the constructor's decks for that episode
only; any other key raises ``ValueError`` naming the allowed ones. ``step`` before the first
``reset`` or after the episode ended, and ``render`` before the first ``reset``, raise
:class:`ResetNeededError` (Gymnasium's ``ResetNeeded``, also a ``RuntimeError``).

A callable opponent is called as ``opponent(state) -> tuple`` with a copy of the game
(a :class:`~tcg_env.GameState`; it may search on it); it sees the true state, so it is
trusted code. ``env.state`` is such a copy too (omniscient: for tools and tests, not for
the agent): moves applied to it or words written into its row do not move the env, whose
own legal list stays the one its actions are checked against.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from verification.errors import IllegalActionError
from verification.explain import check_range, explain
from verification.layout import STATE_SIZE
from verification.legal import enumerate_legal
from verification.spec import HEAD_SIZES, MAX_LEGAL, NUM_ENTITIES, NUM_PRIMARIES

from . import engine
from .bots import BOT_HEURISTIC, BOT_RANDOM, _mix
from .duel import OUT_OF_RANGE, run_opponent, step_into, view_into
from .observation import NUM_ENTITY_FEATURES, NUM_GLOBALS, OBS_HIGH, OBS_LOW, OBS_SIZE, view
from .state import GameState, check_seed, pool_or_default, prebuilt_deck_rows, resolve_deck

ILLEGAL_ACTION_PENALTY = -1.0
AGENT = 0
_BUILTIN = {"random": BOT_RANDOM, "heuristic": BOT_HEURISTIC}


def _as_action(action) -> np.ndarray:
    """The action as an integer array for the kernel, which range-checks it; anything that
    is not a length-4 integer array goes through ``check_range`` (which explains bad input)."""
    if type(action) is np.ndarray and action.shape == (4,) and action.dtype in _FAST_DTYPES:
        return action
    return np.array(check_range(action), dtype=np.int64)


_FAST_DTYPES = (np.dtype(np.int8), np.dtype(np.int64))


def observation_space() -> spaces.Dict:
    g_lo, g_hi = view(OBS_LOW, "globals"), view(OBS_HIGH, "globals")
    e_lo, e_hi = view(OBS_LOW, "entities"), view(OBS_HIGH, "entities")
    return spaces.Dict({
        "globals": spaces.Box(g_lo, g_hi, dtype=np.int8),
        "entities": spaces.Box(e_lo, e_hi, dtype=np.int8),
        "legal_tuples": spaces.Box(0, max(HEAD_SIZES) - 1, shape=(MAX_LEGAL, 4), dtype=np.int8),
        "legal_count": spaces.Discrete(MAX_LEGAL + 1),
        "action_mask": spaces.MultiBinary(NUM_PRIMARIES),
    })


class ResetNeededError(gym.error.ResetNeeded, RuntimeError):
    """``step`` or ``render`` before the first ``reset``, or ``step`` after the episode ended:
    there is no decision to act on or board to draw. Also a ``RuntimeError``, and Gymnasium's
    own ``ResetNeeded`` (what its order-enforcing wrapper raises)."""


RESET_OPTIONS = ("deck", "opponent_deck")


class OpponentError(RuntimeError):
    """A callable opponent raised or chose an illegal tuple: its move, not the agent's. The
    episode is over (``reset()`` starts another)."""


class DuelEnv(gym.Env):
    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(self, opponent="random", deck=None, opponent_deck=None, illegal_action="raise",
                 render_mode=None, copy_obs=True, pool=None):
        if illegal_action not in ("raise", "lose"):
            raise ValueError(f"illegal_action must be 'raise' or 'lose', got {illegal_action!r}")
        if render_mode not in (None, "ansi", "human"):
            raise ValueError(f"render_mode must be None, 'ansi' or 'human', got {render_mode!r}")
        if isinstance(opponent, str):
            if opponent not in _BUILTIN:
                raise ValueError(f"opponent must be 'random', 'heuristic' or a callable(state) -> tuple, "
                                 f"got {opponent!r}")
            self._opp_kind = _BUILTIN[opponent]
            self._opp_fn = None
        elif callable(opponent) or hasattr(opponent, "act"):
            self._opp_kind = -1
            self._opp_fn = opponent.act if hasattr(opponent, "act") else opponent
        else:
            raise ValueError(f"opponent must be 'random', 'heuristic' or a callable(state) -> tuple, got {opponent!r}")
        self.pool = pool_or_default(pool)
        self._cards = self.pool.table
        self._deck = None if deck is None else resolve_deck(deck, self.pool)
        self._opp_deck = None if opponent_deck is None else resolve_deck(opponent_deck, self.pool)
        # drawn from when a seat has no deck of its own (a custom pool must fit them then)
        self._deck_rows = None if deck is not None and opponent_deck is not None else prebuilt_deck_rows(
            self.pool, "give deck= and opponent_deck= (Decks of its cards; prefabs.load_decks(pool, path) "
                       "reads a decks file)")
        self.illegal_action = illegal_action
        self.render_mode = render_mode
        self.observation_space = observation_space()
        self.action_space = spaces.MultiDiscrete(np.array(HEAD_SIZES, dtype=np.int64))
        if not isinstance(copy_obs, (bool, np.bool_)):   # bool("no") is True
            raise TypeError(f"copy_obs must be True or False, got {copy_obs!r}")
        self.copy_obs = bool(copy_obs)
        self._row = np.zeros(STATE_SIZE, np.int32)
        self._legal = np.zeros((MAX_LEGAL, 4), np.int8)   # what actions are checked against
        self._legal_n = 0
        self._opp_rng = np.ones(1, np.uint64)
        self._done = True
        self._started = False
        self._game = GameState._of_sound_row(self._row, self.pool)   # the live game: only the kernels write it
        # The agent's view, rewritten in place by the kernels each step.
        self._obs = np.zeros(OBS_SIZE, np.int8)
        self._legal_view = np.zeros((MAX_LEGAL, 4), np.int8)
        self._mask = np.zeros(NUM_PRIMARIES, np.int8)
        self._shown_n = 0
        self._shared = {   # copy_obs=False hands out read-only views of those buffers
            "globals": _readonly(self._obs[:NUM_GLOBALS]),
            "entities": _readonly(self._obs[NUM_GLOBALS:].reshape(NUM_ENTITIES, NUM_ENTITY_FEATURES)),
            "legal_tuples": _readonly(self._legal_view),
            "legal_count": 0,
            "action_mask": _readonly(self._mask),
        }

    @property
    def state(self) -> GameState:
        """A copy of the game as it stands (see the module docstring)."""
        return GameState._of_sound_row(self._row.copy(), self.pool)

    # -- helpers
    def _pick_deck(self, fixed):
        if fixed is not None:
            return fixed
        return self._deck_rows[int(self.np_random.integers(len(self._deck_rows)))]

    def _view(self, written=False):
        """The observation dict for the agent's current decision (``written``: the step
        kernel has already refreshed the buffers)."""
        n = self._legal_n
        if not written:
            view_into(self._row, self._cards, AGENT, self._legal, n, self._shown_n, self._obs, self._legal_view,
                      self._mask)
        self._shown_n = n
        if self.copy_obs:
            obs = self._obs.copy()
            return {"globals": obs[:NUM_GLOBALS],
                    "entities": obs[NUM_GLOBALS:].reshape(NUM_ENTITIES, NUM_ENTITY_FEATURES),
                    "legal_tuples": self._legal_view.copy(), "legal_count": n, "action_mask": self._mask.copy()}
        self._shared["legal_count"] = n
        return self._shared

    def _run_callable_opponent(self):
        g = self._game
        g._trust()   # the kernels wrote the row since the game last did
        while not g.done and g.current_player != AGENT:
            try:
                g.apply(self._opp_fn(self.state))
            except Exception as e:   # its fault, not the agent's: this episode cannot go on
                self._done = True
                raise OpponentError(f"the opponent callable {self._opp_fn!r} failed ({type(e).__name__}: {e}); "
                                    f"the episode is over, call reset()") from e
        self._legal_n = enumerate_legal(self._row, self._cards, self._legal) if not g.done else 0

    # -- gym API
    def _reset_decks(self, options):
        """The fixed deck rows (``None``: drawn) for this episode: ``options["deck"]`` /
        ``["opponent_deck"]`` (a prebuilt deck name or a ``Deck``) override the constructor's for
        this episode only."""
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise TypeError(f"reset(options=...) takes a dict, got {type(options).__name__}")
        unknown = sorted(map(str, set(options) - set(RESET_OPTIONS)))
        if unknown:
            raise ValueError(f"unknown reset option(s) {', '.join(unknown)}; the options are "
                             f"{', '.join(RESET_OPTIONS)} (a deck for this episode only)")
        return [fixed if options.get(key) is None else resolve_deck(options[key], self.pool)
                for key, fixed in zip(RESET_OPTIONS, (self._deck, self._opp_deck))]

    def reset(self, *, seed=None, options=None):
        if seed is not None:   # as every face takes it: True or 1.9 is not a seed, np.int64(3) is
            seed = check_seed(seed)
        deck, opp_deck = self._reset_decks(options)   # a bad option raises before anything changes
        super().reset(seed=seed)
        self._done = True   # until the opening decisions are made
        self._started = True
        game_seed = int(self.np_random.integers(2 ** 63))
        self._opp_rng[0] = _mix(int(self.np_random.integers(2 ** 63)))
        engine.reset_game(self._row, self._cards, self._pick_deck(deck), self._pick_deck(opp_deck),
                          np.uint64(game_seed))
        if self._opp_fn is None:
            self._legal_n = run_opponent(self._row, self._cards, AGENT, self._opp_kind, self._opp_rng, self._legal)
        else:
            self._run_callable_opponent()
        self._done = False
        if self.render_mode == "human":
            self.render()
        return self._view(), {"game_seed": game_seed}

    def step(self, action):
        if self._done:
            raise ResetNeededError("step() called before the first reset(); call reset() first" if not self._started
                                   else "step() called on a finished episode; call reset() first")
        act = _as_action(action)
        kind = self._opp_kind if self._opp_fn is None else -1
        status, reward, n = step_into(self._row, self._cards, act, AGENT, kind, self._opp_rng, self._legal,
                                      self._legal_n, self._shown_n, self._obs, self._legal_view, self._mask)
        self._shown_n = n   # the view buffers now hold n legal rows
        written = True
        info = {}
        if status < 0:
            if status == OUT_OF_RANGE:
                check_range(action)   # raises ActionOutOfRangeError naming the head
            a = tuple(int(x) for x in act)
            reason = explain(self._row, a, self.pool) or "not in the legal list"
            if self.illegal_action == "raise":
                raise IllegalActionError(a, reason)
            self._done = True
            info["illegal_action"] = reason
            return self._view(written), ILLEGAL_ACTION_PENALTY, True, False, info
        self._legal_n = n
        if self._opp_fn is not None and status == 0:
            self._run_callable_opponent()
            written = False
            status = 0 if not self._game.done else (1 if self._game.terminated else 2)
            w = self._game.winner
            reward = 0.0 if w in (None, 2) else (1.0 if w == AGENT else -1.0)
        terminated, truncated = status == 1, status == 2
        if terminated or truncated:
            self._done = True
            info["winner"] = self._game.winner
        if self.render_mode == "human":
            self.render()
        return self._view(written), float(reward), terminated, truncated, info

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; use render_mode='ansi' or 'human'")
            return None
        if not self._started:
            raise ResetNeededError("render() called before the first reset(): there is no board yet; "
                                   "call reset() first")
        from .render import render_state
        text = render_state(self._game, perspective=AGENT)
        if self.render_mode == "ansi":
            return text
        print(text)
        return None


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


def register():
    if "tcg_env/Duel-v0" not in gym.registry:
        gym.register(id="tcg_env/Duel-v0", entry_point="tcg_env.gym_env:DuelEnv")
