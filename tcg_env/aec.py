"""PettingZoo face: both seats as agents of one AEC (turn-based) environment.

``tcg_env.aec_env(deck0=None, deck1=None, render_mode=None, illegal_action="raise", pool=None)``
returns a :class:`raw_env` (a ``pettingzoo.AECEnv``). Agents ``"player_0"`` and
``"player_1"`` are seats 0 and 1. ``agent_selection`` is always the seat that must decide
next (``GameState.current_player``), so it follows the response window: while the
attacker's turn is running, the **defender** is selected to answer an attack with
``BLOCK`` / ``NO_BLOCK`` (docs/RULES.md, "Response window"), and the attacker is
selected again afterwards. Agents therefore do not simply alternate.

===================== =====================================================================
argument              meaning
===================== =====================================================================
``deck0``, ``deck1``  prebuilt deck name (or a ``Deck``) for seat 0 / 1; ``None`` draws a
                      prebuilt deck at every reset from the env's seeded generator
``render_mode``       ``None``, ``"ansi"`` (``render()`` returns the text) or ``"human"``
                      (printed after every reset and step)
``illegal_action``    ``"raise"`` (default) or ``"lose"``, see *Illegal actions*
``pool``              a ``prefabs.CardPool`` (``prefabs.load_pool(path)``: your own cards
                      file), or ``None`` for the shipped cards. A seat with no deck draws a
                      prebuilt deck, so with a pool that lacks their cards give both decks
                      (``prefabs.load_decks(pool, path)`` reads a decks file)
===================== =====================================================================

Observation
-----------

``observe(agent)`` (and ``last()``) returns a ``dict``, contained in
``observation_space(agent)`` (a ``gymnasium.spaces.Dict``). Every call returns fresh
arrays, so an observation stays valid after later steps.

================ ================================ =============================================
key              space                            meaning
================ ================================ =============================================
``observation``  Box int8 (OBS_SIZE,)             the flat observation from *this agent's*
                                                  view (``tcg_env.observation``): hidden
                                                  information (the opponent's hand, deck
                                                  orders) never appears
``globals``      Box int8 (32,)                   named view ``globals`` of ``observation``
                                                  (a view into the same array, no copy)
``entities``     Box int8 (32, 24)                named view ``entities`` of ``observation``
``legal_tuples`` Box int8 (MAX_LEGAL, 4)          this agent's legal tuples, canonical order;
                                                  rows past ``legal_count`` are zero
``legal_count``  Discrete(MAX_LEGAL + 1)          number of legal tuples
``action_mask``  MultiBinary(MAX_LEGAL) (int8)    1 for the indices ``< legal_count``: the
                                                  mask of the ``Discrete`` action space
================ ================================ =============================================

An agent that is not the one to decide (and every agent once the game is over) gets
``legal_count == 0``, all-zero ``legal_tuples`` and an all-zero ``action_mask``.

Actions
-------

``action_space(agent)`` is ``Discrete(MAX_LEGAL)``. ``step`` accepts two forms:

=================================== =========================================================
form                                meaning
=================================== =========================================================
an integer ``k`` (``int``,          the index into the acting agent's current legal list:
``np.integer``, 0-d int array)      plays ``legal_tuples[k]``; legal iff ``0 <= k <
                                    legal_count``. ``action_space(agent).sample(
                                    obs["action_mask"])`` therefore draws only legal actions
a sequence / array of 4 ints        the tuple ``(primary, sub1, sub2, sub3)`` itself
                                    (``verification.spec``), checked against the rules the
                                    same way as ``GameState.apply``
``None``                            only for an agent that is already terminated or
                                    truncated (the standard AEC "dead step" that removes it)
=================================== =========================================================

Illegal actions: with ``illegal_action="raise"`` an index in the action space but not below
``legal_count``, or a tuple the rules do not allow, raises
:class:`~verification.errors.IllegalActionError` carrying the reason in words, and nothing
changes (state, selection, rewards). An index outside the action space (``0..MAX_LEGAL-1``)
or a tuple with a value outside its head's range raises
:class:`~verification.errors.ActionOutOfRangeError` in both modes (as in the Gym face).
With ``illegal_action="lose"`` an illegal action ends the game instead: the offending
agent gets ``-1``, the other ``+1``, both are terminated, and both ``infos`` hold
``"illegal_action"`` (the reason), ``"illegal_agent"`` and ``"winner"`` (the other seat).

Rewards
-------

================================= ================ ================ ========================
how the game ends                 winner's reward  loser's reward   flags (both agents)
================================= ================ ================ ========================
not yet (every other step)        0                0                all False
a leader reaches 0 health         +1               -1               ``terminations``
both leaders fall at once (draw)  0                0                ``terminations``
the turn or decision cap          0                0                ``truncations``
an illegal action, ``"lose"``     +1 (the other)   -1 (offender)    ``terminations``
================================= ================ ================ ========================

Rewards use the standard AEC bookkeeping: ``rewards`` holds the last step's rewards,
``_cumulative_rewards`` what ``last()`` reports (accumulated since the agent last acted).
At the end both agents see their final reward in ``last()``; ``infos[agent]["winner"]``
is ``0``/``1``, ``2`` for a draw, ``None`` after a truncation. Each finished agent is then
stepped with ``None`` and removed from ``agents``; the first one selected after the end
is the agent that did not make the last decision.

``step``, ``observe`` and ``render`` before the first ``reset`` raise
:class:`~tcg_env.gym_env.ResetNeededError` (Gymnasium's ``ResetNeeded``, also a
``RuntimeError``). ``reset(options=...)`` takes no options: PettingZoo's own ``api_test``
passes an arbitrary dict, so it is accepted and not read.

``reset(seed=...)`` is reproducible: the same seed gives the same decks (when drawn), the
same game seed (``env.game_seed``) and so the same game. ``env.game`` is a copy of
the game (a :class:`~tcg_env.GameState`; omniscient, for tools and tests, not for agents): moves
applied to it or words written into its row do not move the env, whose own legal list stays
the one its actions are checked against.
``render()`` shows the omniscient text view (``render_state(state, perspective=None)``).
"""
from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from numba import njit
from pettingzoo import AECEnv

from verification.errors import ActionOutOfRangeError, IllegalActionError, LegalCapacityError
from verification.explain import check_range, explain
from verification.layout import DONE_TERMINAL, G_DONE, STATE_SIZE
from verification.legal import enumerate_legal, is_listed
from verification.rules import actor
from verification.spec import HEAD_SIZES, MAX_LEGAL, NUM_ENTITIES

from . import engine
from .engine import apply_action
from .gym_env import ResetNeededError
from .gym_env import observation_space as _gym_observation_space
from .observation import NUM_ENTITY_FEATURES, NUM_GLOBALS, OBS_HIGH, OBS_LOW, OBS_SIZE, write_obs
from .state import GameState, check_seed, pool_or_default, prebuilt_deck_rows, resolve_deck

_H0, _H1, _H2, _H3 = HEAD_SIZES


def _as_tuple(action):
    """Four in-range Python ints, fast for the common case; ``check_range`` explains the rest."""
    if type(action) is np.ndarray and action.shape == (4,) and action.dtype.kind in "iu":
        a0, a1, a2, a3 = action.tolist()
        if 0 <= a0 < _H0 and 0 <= a1 < _H1 and 0 <= a2 < _H2 and 0 <= a3 < _H3:
            return a0, a1, a2, a3
    return check_range(action)


AGENTS = ("player_0", "player_1")
ILLEGAL_ACTION_PENALTY = -1.0
_SEAT = {a: i for i, a in enumerate(AGENTS)}
_ENTITIES_SHAPE = (NUM_ENTITIES, NUM_ENTITY_FEATURES)


@njit(cache=True)
def _refresh(s, cards, legal, prev_n, mask, obs):
    """Enumerate the next decision's legal list into ``legal`` (rows past the count zeroed;
    ``prev_n`` rows were filled before), set ``mask`` to match, and write the observation of
    the seat ``p`` that decides into ``obs[p]``. Returns (count, p); p is -1 when the game is
    over, count -1 if the list overflowed (cannot happen: MAX_LEGAL is a proven bound)."""
    n = enumerate_legal(s, cards, legal)
    p = actor(s)
    if n < 0:
        return -1, p
    for r in range(n, prev_n):
        legal[r, 0] = 0
        legal[r, 1] = 0
        legal[r, 2] = 0
        legal[r, 3] = 0
        mask[r] = 0
    for r in range(prev_n, n):
        mask[r] = 1
    if p >= 0:
        write_obs(s, cards, p, obs[p])
    return n, p


@njit(cache=True)
def _step_index(s, cards, k, legal, legal_n, mask, obs):
    """Play ``legal[k]`` (the caller checked ``0 <= k < legal_n``), then :func:`_refresh`."""
    apply_action(s, cards, np.int64(legal[k, 0]), np.int64(legal[k, 1]), np.int64(legal[k, 2]),
                 np.int64(legal[k, 3]))
    return _refresh(s, cards, legal, legal_n, mask, obs)


@njit(cache=True)
def _step_tuple(s, cards, a0, a1, a2, a3, legal, legal_n, mask, obs):
    """Play the tuple if it is in the legal list, then :func:`_refresh`. Returns (count, actor),
    or (-2, -1) when it is not listed (nothing changed)."""
    if not is_listed(legal, legal_n, a0, a1, a2, a3):
        return -2, -1
    apply_action(s, cards, a0, a1, a2, a3)
    return _refresh(s, cards, legal, legal_n, mask, obs)


def observation_space() -> spaces.Dict:
    """The observation space of either agent (see the module docstring)."""
    g = _gym_observation_space()
    return spaces.Dict({
        "observation": spaces.Box(OBS_LOW, OBS_HIGH, dtype=np.int8),
        "globals": g["globals"],
        "entities": g["entities"],
        "legal_tuples": g["legal_tuples"],
        "legal_count": g["legal_count"],
        "action_mask": spaces.MultiBinary(MAX_LEGAL),
    })


class raw_env(AECEnv):
    """Ikazuchi Duel for two agents (PettingZoo AEC). See the module docstring."""

    metadata = {"render_modes": ["ansi", "human"], "name": "ikazuchi_duel_v0", "is_parallelizable": False,
                "render_fps": 4}

    def __init__(self, deck0=None, deck1=None, render_mode=None, illegal_action="raise", pool=None):
        super().__init__()
        if illegal_action not in ("raise", "lose"):
            raise ValueError(f"illegal_action must be 'raise' or 'lose', got {illegal_action!r}")
        if render_mode not in (None, "ansi", "human"):
            raise ValueError(f"render_mode must be None, 'ansi' or 'human', got {render_mode!r}")
        self.pool = pool_or_default(pool)
        self._cards = self.pool.table
        self._decks = [None if d is None else resolve_deck(d, self.pool) for d in (deck0, deck1)]
        # drawn from when a seat has no deck of its own (a custom pool must fit them then)
        self._deck_rows = None if all(d is not None for d in self._decks) else prebuilt_deck_rows(
            self.pool, "give deck0= and deck1= (Decks of its cards; prefabs.load_decks(pool, path) reads a decks file)")
        self.illegal_action = illegal_action
        self.render_mode = render_mode

        self.possible_agents = list(AGENTS)
        self.observation_spaces = {a: observation_space() for a in AGENTS}
        self.action_spaces = {a: spaces.Discrete(MAX_LEGAL) for a in AGENTS}

        self._row = np.zeros(STATE_SIZE, np.int32)
        self._game = GameState._of_sound_row(self._row, self.pool)   # the live game: only the kernels write it
        # The deciding seat's legal list and mask, kept zero past the count (updated in place by
        # the kernels, only the rows that change); observe() hands out copies.
        self._legal = np.zeros((MAX_LEGAL, 4), np.int8)
        self._mask = np.zeros(MAX_LEGAL, np.int8)
        self._legal_n = 0
        self._no_legal = np.zeros((MAX_LEGAL, 4), np.int8)
        self._no_mask = np.zeros(MAX_LEGAL, np.int8)
        self._actor = -1
        # One observation buffer per seat (rows of _obs2; _obs holds the row views for Python);
        # _obs_ver[seat] == _ver when that buffer shows the current state.
        self._obs2 = np.zeros((2, OBS_SIZE), np.int8)
        self._obs = [self._obs2[0], self._obs2[1]]
        self._obs_ver = [-1, -1]
        self._ver = 0
        self._done = True
        self.game_seed = None
        self.np_random = None
        self.np_random_seed = None
        self.agents = []
        self.rewards = {}
        self._cumulative_rewards = {}
        self.terminations = {}
        self.truncations = {}
        self.infos = {}
        self.agent_selection = None

    @property
    def game(self) -> GameState:
        """A copy of the game as it stands (see the module docstring)."""
        return GameState._of_sound_row(self._row.copy(), self.pool)

    # -- spaces
    def observation_space(self, agent):
        return self.observation_spaces[agent]

    def action_space(self, agent):
        return self.action_spaces[agent]

    # -- API
    def reset(self, seed=None, options=None):
        if seed is not None:   # as every face takes it: True or 1.9 is not a seed, np.int64(3) is
            seed = check_seed(seed)
        if seed is not None or self.np_random is None:
            self.np_random, self.np_random_seed = seeding.np_random(seed)
        rng = self.np_random
        self.game_seed = int(rng.integers(2 ** 63))
        d0, d1 = (d if d is not None else self._deck_rows[int(rng.integers(len(self._deck_rows)))]
                  for d in self._decks)
        engine.reset_game(self._row, self._cards, d0, d1, np.uint64(self.game_seed))
        self._set(*_refresh(self._row, self._cards, self._legal, self._legal_n, self._mask, self._obs2))
        self._done = False

        self.agents = list(AGENTS)
        self.rewards = {a: 0.0 for a in AGENTS}
        self._cumulative_rewards = {a: 0.0 for a in AGENTS}
        self.terminations = {a: False for a in AGENTS}
        self.truncations = {a: False for a in AGENTS}
        self.infos = {a: {} for a in AGENTS}
        self.agent_selection = AGENTS[self._actor]
        if self.render_mode == "human":
            self.render()

    def observe(self, agent):
        if agent not in _SEAT:
            raise ValueError(f"unknown agent {agent!r}; the agents are {', '.join(AGENTS)}")
        if self.agent_selection is None:
            raise ResetNeededError("observe() before the first reset(); call reset() first")
        seat = _SEAT[agent]
        buf = self._obs[seat]
        if self._obs_ver[seat] != self._ver:
            write_obs(self._row, self._cards, seat, buf)
            self._obs_ver[seat] = self._ver
        obs = buf.copy()
        if seat == self._actor:
            legal, mask, n = self._legal.copy(), self._mask.copy(), self._legal_n
        else:
            legal, mask, n = self._no_legal.copy(), self._no_mask.copy(), 0
        return {
            "observation": obs,
            "globals": obs[:NUM_GLOBALS],
            "entities": obs[NUM_GLOBALS:].reshape(_ENTITIES_SHAPE),
            "legal_tuples": legal,
            "legal_count": n,
            "action_mask": mask,
        }

    def last(self, observe: bool = True):
        """PettingZoo's ``last()`` (the selected agent's observation, reward, flags and info),
        with a ResetNeededError before the first reset where PettingZoo has a bare assert."""
        agent = self.agent_selection
        if agent is None:
            raise ResetNeededError("last() before the first reset(); call reset() first")
        return (self.observe(agent) if observe else None, self._cumulative_rewards[agent], self.terminations[agent],
                self.truncations[agent], self.infos[agent])

    def step(self, action):
        if self._done:
            if not self.agents:
                raise ResetNeededError("step() called before the first reset(); call reset() first"
                                       if self.agent_selection is None else
                                       "step() called with no agents left (the game is over); call reset() first")
            # every remaining agent is terminated or truncated: the standard dead step
            return self._was_dead_step(action)
        agent = self.agent_selection
        t = type(action)
        if t is int or isinstance(action, np.integer) or (t is np.ndarray and action.ndim == 0
                                                         and action.dtype.kind in "iu"):
            k = int(action)
            if not 0 <= k < MAX_LEGAL:   # outside the action space itself, as a tuple past a head's size is
                raise ActionOutOfRangeError(None, f"action index {k} is outside the action space: an index is "
                                                  f"0..{MAX_LEGAL - 1} ({agent} has {self._legal_n} legal tuples, "
                                                  f"indices 0..{self._legal_n - 1})")
            if k >= self._legal_n:
                return self._illegal(agent, None, f"action index {k} is not a legal index: {agent} has "
                                                  f"{self._legal_n} legal tuples (indices 0..{self._legal_n - 1})")
            n, p = _step_index(self._row, self._cards, k, self._legal, self._legal_n, self._mask, self._obs2)
        else:
            if np.ndim(action) == 0:
                raise ActionOutOfRangeError(None, f"an action is an index into the legal list (an integer) or "
                                                  f"4 integers (primary, sub1, sub2, sub3), got {action!r}")
            a = _as_tuple(action)   # ActionOutOfRangeError for a malformed or out-of-range tuple
            n, p = _step_tuple(self._row, self._cards, a[0], a[1], a[2], a[3], self._legal, self._legal_n,
                               self._mask, self._obs2)
            if n == -2:
                return self._illegal(agent, a, explain(self._row, a, self.pool) or "not in the legal list")
        self._cumulative_rewards[agent] = 0.0
        self._set(n, p)
        if p < 0:
            self._finish(agent)
        else:
            self.agent_selection = AGENTS[p]
        if self.render_mode == "human":
            self.render()

    # -- helpers
    def _set(self, n, p):
        """Record a refresh: the new legal count and deciding seat (whose observation it wrote)."""
        if n < 0:
            raise LegalCapacityError(f"legal list overflowed its capacity {MAX_LEGAL}")
        self._ver += 1
        self._legal_n = n
        self._actor = p
        if p >= 0:
            self._obs_ver[p] = self._ver

    def _illegal(self, agent, action, reason):
        if self.illegal_action == "raise":
            raise IllegalActionError(action, reason)
        seat = _SEAT[agent]
        other = AGENTS[1 - seat]
        self._cumulative_rewards[agent] = 0.0
        self._done = True
        self._actor = -1      # nobody decides any more: observe() shows no legal tuples
        self.rewards[agent] = ILLEGAL_ACTION_PENALTY
        self.rewards[other] = -ILLEGAL_ACTION_PENALTY
        for a in AGENTS:
            self.terminations[a] = True
            self.infos[a] = {"winner": 1 - seat, "illegal_action": reason, "illegal_agent": agent}
        self._accumulate_rewards()
        self.agent_selection = other
        if self.render_mode == "human":
            self.render()

    def _finish(self, last_agent):
        """The game just ended on ``last_agent``'s decision: final rewards and flags for both."""
        self._done = True
        terminal = int(self._row[G_DONE]) == DONE_TERMINAL
        w = self._game.winner if terminal else None
        flags = self.terminations if terminal else self.truncations
        for i, a in enumerate(AGENTS):
            flags[a] = True
            self.rewards[a] = 0.0 if w is None or w == 2 else (1.0 if w == i else -1.0)
            self.infos[a] = {"winner": w}
        self._accumulate_rewards()
        self.agent_selection = AGENTS[1 - _SEAT[last_agent]]

    def render(self):
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; use render_mode='ansi' or 'human'")
            return None
        if self.agent_selection is None:
            raise ResetNeededError("render() called before the first reset(): there is no board yet; "
                                   "call reset() first")
        from .render import render_state
        text = render_state(self._game, perspective=None)
        if self.render_mode == "ansi":
            return text
        print(text)
        return None

    def close(self):
        pass


def aec_env(deck0=None, deck1=None, render_mode=None, illegal_action="raise", pool=None) -> raw_env:
    """The two-agent AEC environment (see the module docstring)."""
    return raw_env(deck0=deck0, deck1=deck1, render_mode=render_mode, illegal_action=illegal_action, pool=pool)


env = aec_env

__all__ = ["aec_env", "env", "raw_env", "observation_space", "AGENTS", "ILLEGAL_ACTION_PENALTY"]
