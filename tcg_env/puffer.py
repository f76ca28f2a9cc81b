"""PufferLib face: the native batched env (:class:`tcg_env.vec.VecTCG`) as a ``pufferlib.PufferEnv``.

PufferLib is optional (``make puffer``; DEVELOPERS.md, section "PufferLib"). This module
imports it only when an env is built (``make_env`` / ``TCGPufferEnv``), never at import
time, and undoes the process-wide side effects of that import (see :func:`import_pufferlib`).

One env holds N games; each game is one agent row (``num_agents = N``). Row i is the
decision of seat ``current_player[i]``; the seats interleave within a row (self-play).
Games auto-reset, so ``masks`` stay True. Rewards, terminals and truncations are those of
:class:`~tcg_env.vec.VecTCG` (the reward of the seat that just acted; the other seat's
final reward is its negation).

Observation: ONE flat ``Box(int8, (FLAT_OBS_SIZE,))`` per row, so that it travels through
PufferLib's shared buffers (Serial and Multiprocessing) and a policy can recover the legal
tuples from it alone:

============== ===================== ========================================================
offset         size                  content
============== ===================== ========================================================
0              OBS_SIZE (800)        the observation (``tcg_env.observation``: globals, entities)
800            1                     ``legal_count // 128``
801            1                     ``legal_count % 128``
802            1                     ``current_player`` (the seat, 0/1, deciding this row)
803            1                     0 (reserved; keeps the tuples 4-byte aligned)
804            MAX_LEGAL * 4 (5740)  legal tuples ``[MAX_LEGAL, 4]``, canonical order, zero
                                     past ``legal_count``
============== ===================== ========================================================

``FLAT_OBS_SIZE`` = 6544. :func:`unpack` splits it back (numpy; any leading batch shape).

Action: ``MultiDiscrete(HEAD_SIZES)``, the tuple ``(primary, sub1, sub2, sub3)``.

Illegal actions are never fixed: the game does not change, the row keeps its observation,
``illegal_counts[i]`` grows and that step's ``infos`` holds ``{"illegal_actions": k}``.
Out-of-range actions raise ``ValueError`` (a programming error, as in VecTCG).

Vectorisation::

    import pufferlib.vector
    from tcg_env.puffer import make_env
    vecenv = pufferlib.vector.make(make_env, env_kwargs=dict(num_games=256), num_envs=4,
                                   num_workers=4, backend=pufferlib.vector.Multiprocessing, seed=0)

Seeds: PufferLib resets sub-env k of ``Serial`` with ``seed + k``; with ``Multiprocessing``
the sub-env j of worker w gets ``seed + w + j`` (so use one env per worker, ``num_envs ==
num_workers``: a VecTCG is already batched, and seeds stay distinct). A sub-env reset with
seed s plays the same games as ``VecTCG(num_games, seed=s)``.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from verification.spec import HEAD_SIZES, MAX_LEGAL

from .observation import OBS_HIGH, OBS_LOW, OBS_SIZE
from .vec import VecTCG

LEGAL_COUNT_OFFSET = OBS_SIZE           # two bytes: count // 128, count % 128
SEAT_OFFSET = OBS_SIZE + 2              # current_player
LEGAL_OFFSET = OBS_SIZE + 4             # MAX_LEGAL * 4 bytes
FLAT_OBS_SIZE = LEGAL_OFFSET + MAX_LEGAL * 4

# TCGPufferEnv is left out: it is built lazily (``__getattr__`` below) and needs pufferlib,
# which ``from tcg_env.puffer import *`` must not import.
__all__ = ["make_env", "unpack", "seat", "import_pufferlib", "flat_observation_bounds",
           "FLAT_OBS_SIZE", "LEGAL_COUNT_OFFSET", "SEAT_OFFSET", "LEGAL_OFFSET"]


def flat_observation_bounds() -> tuple[np.ndarray, np.ndarray]:
    """(low, high) int8 arrays of the flat observation's Box."""
    lo = np.zeros(FLAT_OBS_SIZE, np.int8)
    hi = np.zeros(FLAT_OBS_SIZE, np.int8)
    lo[:OBS_SIZE], hi[:OBS_SIZE] = OBS_LOW, OBS_HIGH
    hi[LEGAL_COUNT_OFFSET] = MAX_LEGAL // 128
    hi[LEGAL_COUNT_OFFSET + 1] = 127
    hi[SEAT_OFFSET] = 1
    hi[LEGAL_OFFSET:] = np.tile(np.asarray(HEAD_SIZES) - 1, MAX_LEGAL)
    return lo, hi


def unpack(obs_flat):
    """Split flat observations ``[..., FLAT_OBS_SIZE]`` into ``(obs [..., OBS_SIZE] int8,
    legal_tuples [..., MAX_LEGAL, 4] int8, legal_count [...] int32)``. obs and legal_tuples
    are views (no copy); tuples past legal_count are zero."""
    a = _flat(obs_flat)
    obs = a[..., :OBS_SIZE]
    count = a[..., LEGAL_COUNT_OFFSET].astype(np.int32) * 128 + a[..., LEGAL_COUNT_OFFSET + 1]
    legal = a[..., LEGAL_OFFSET:].reshape(a.shape[:-1] + (MAX_LEGAL, 4))
    return obs, legal, count


def seat(obs_flat):
    """The seat (0/1) that decides each row of flat observations ``[..., FLAT_OBS_SIZE]``."""
    return _flat(obs_flat)[..., SEAT_OFFSET].astype(np.int32)


def _flat(obs_flat) -> np.ndarray:
    a = np.asarray(obs_flat)
    if a.ndim == 0 or a.shape[-1] != FLAT_OBS_SIZE:
        raise ValueError(f"expected flat observations with a last axis of {FLAT_OBS_SIZE}, got shape {a.shape}")
    return a


@njit(cache=True)
def _pack(obs, legal, count, player, out):
    """Write VecTCG's buffers into the flat layout (tuples past the count zeroed)."""
    for i in range(obs.shape[0]):
        row = out[i]
        for k in range(OBS_SIZE):
            row[k] = obs[i, k]
        c = count[i]
        row[LEGAL_COUNT_OFFSET] = c // 128
        row[LEGAL_COUNT_OFFSET + 1] = c % 128
        row[SEAT_OFFSET] = player[i]
        row[SEAT_OFFSET + 1] = 0
        for j in range(c):
            for t in range(4):
                row[LEGAL_OFFSET + 4 * j + t] = legal[i, j, t]
        for k in range(LEGAL_OFFSET + 4 * c, FLAT_OBS_SIZE):
            row[k] = 0


def import_pufferlib():
    """Import and return ``pufferlib``, undoing what its import does to the whole process.

    ``import pufferlib`` imports ``pufferlib.pufferl``, which turns every RuntimeWarning into
    an error, installs a Ctrl-C handler that calls ``os._exit(0)`` and rich's traceback hook.
    When this call performs the first import, the warning filters, the SIGINT handler and
    ``sys.excepthook`` are restored afterwards. (Import ``pufferlib.pufferl`` yourself first
    if you want its behaviour, e.g. in a trainer.)"""
    import sys
    if "pufferlib" in sys.modules:
        import pufferlib
        return pufferlib
    import signal
    import threading
    import warnings
    hook = sys.excepthook
    main = threading.current_thread() is threading.main_thread()
    sigint = signal.getsignal(signal.SIGINT) if main else None
    try:
        with warnings.catch_warnings():
            import pufferlib
            import pufferlib.emulation  # noqa: F401
            import pufferlib.vector  # noqa: F401
    except ImportError as e:
        raise ImportError(f"tcg_env.puffer needs PufferLib ({e}); install it with `make puffer` "
                          "(scripts/install_pufferlib.sh, see DEVELOPERS.md)") from e
    finally:
        sys.excepthook = hook
        if main and sigint is not None:
            signal.signal(signal.SIGINT, sigint)
    return pufferlib


def _check_buffers(env, given: bool) -> None:
    """The buffers a PufferLib backend hands in (``buf``) have the shapes and dtypes this env
    writes: the kernels write rows of the observation buffer by index, so a short one would be
    written past its end. ValueError naming the buffer."""
    n = env.num_agents
    want = {"observations": ((n, FLAT_OBS_SIZE), np.int8), "rewards": ((n,), np.float32),
            "terminals": ((n,), np.bool_), "truncations": ((n,), np.bool_), "masks": ((n,), np.bool_),
            "actions": ((n, 4), None)}
    for name, (shape, dtype) in want.items():
        a = getattr(env, name, None)
        if not isinstance(a, np.ndarray) or a.shape != shape or (dtype is not None and a.dtype != dtype) \
                or (name == "actions" and a.dtype.kind not in "iu"):
            got = f"{a.dtype}{list(a.shape)}" if isinstance(a, np.ndarray) else type(a).__name__
            need = f"{np.dtype(dtype) if dtype is not None else 'integer'}{list(shape)}"
            raise ValueError(f"{'buf' if given else 'the PufferLib buffers'}: {name} must be {need} for "
                             f"{n} games, got {got}")


_CLASS = None


def _env_class():
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    pufferlib = import_pufferlib()
    import gymnasium

    lo, hi = flat_observation_bounds()

    class TCGPufferEnv(pufferlib.PufferEnv):
        """N games of :class:`~tcg_env.vec.VecTCG` as one native PufferEnv (see the module doc).

        Extra attributes: ``vec`` (the VecTCG; its ``seat_rewards``, ``illegal_counts``,
        ``game(i)``), ``current_player`` (seat deciding each row), ``illegal_total``."""

        def __init__(self, num_games: int = 64, seed: int = 0, buf=None, decks=None, pool=None,
                     log_interval: int = 128):
            self.vec = VecTCG(num_games, seed=0 if seed is None else seed, decks=decks, pool=pool)
            self.num_agents = self.vec.num_games
            self.single_observation_space = gymnasium.spaces.Box(lo, hi, dtype=np.int8)
            self.single_action_space = gymnasium.spaces.MultiDiscrete(np.array(HEAD_SIZES, dtype=np.int64))
            if isinstance(log_interval, bool) or not isinstance(log_interval, (int, np.integer)) or log_interval < 0:
                raise ValueError(f"log_interval must be a whole number of steps >= 0 (0: never), got {log_interval!r}")
            super().__init__(buf)  # allocates or adopts observations/rewards/.../actions
            _check_buffers(self, buf is not None)
            self.log_interval = int(log_interval)
            self.illegal_total = 0
            self._ep_len = np.zeros(self.num_agents, np.int64)
            self._clear_log()
            self._publish()

        # -- buffers ---------------------------------------------------------------------------
        @property
        def current_player(self) -> np.ndarray:
            return self.vec.current_player

        def _publish(self):
            v = self.vec
            _pack(v.observations, v.legal_tuples, v.legal_count, v.current_player, self.observations)
            self.rewards[:] = v.rewards
            self.terminals[:] = v.terminals
            self.truncations[:] = v.truncations
            self.masks[:] = True

        def _clear_log(self):
            self._steps = 0
            self._log = dict(episodes=0, length=0, truncated=0, draws=0, seat0_wins=0)

        # -- PufferEnv API ---------------------------------------------------------------------
        def reset(self, seed=None):
            _check_buffers(self, False)   # rebound since? _pack writes rows by index
            self.vec.reset(seed)
            self._ep_len[:] = 0
            self._clear_log()
            self._publish()
            return self.observations, []

        def step(self, actions):
            _check_buffers(self, False)   # before anything moves (a few us a step)
            v = self.vec
            _, _, _, _, vinfos = v.step(actions)   # [num_agents, 4] integers, checked there (never reshaped)
            self._publish()
            infos = []
            for info in vinfos:  # illegal actions: reported on the step they happen
                k = int(info["illegal_actions"])
                self.illegal_total += k
                infos.append({"illegal_actions": k})
            self._ep_len += 1
            done = np.flatnonzero(v.terminals | v.truncations)
            if done.size:
                log = self._log
                log["episodes"] += int(done.size)
                log["length"] += int(self._ep_len[done].sum())
                log["truncated"] += int(v.truncations[done].sum())
                sr = v.seat_rewards[done]
                log["draws"] += int(np.sum(v.terminals[done] & (sr[:, 0] == 0)))
                log["seat0_wins"] += int(np.sum(sr[:, 0] > 0))
                self._ep_len[done] = 0
            self._steps += 1
            if self.log_interval > 0 and self._steps >= self.log_interval and self._log["episodes"]:
                log = self._log
                n = log["episodes"]
                infos.append({"episodes": n, "episode_length": log["length"] / n,
                              "truncation_rate": log["truncated"] / n, "draw_rate": log["draws"] / n,
                              "seat0_win_rate": log["seat0_wins"] / n})
                self._clear_log()
            return self.observations, self.rewards, self.terminals, self.truncations, infos

        def render(self, i: int = 0):
            from .render import render_state
            return render_state(self.vec.game(i))

        def close(self):
            self.vec.close()

    TCGPufferEnv.__module__ = __name__
    TCGPufferEnv.__qualname__ = "TCGPufferEnv"
    _CLASS = TCGPufferEnv
    return _CLASS


def __getattr__(name):  # PEP 562: ``tcg_env.puffer.TCGPufferEnv`` builds the class on first use
    if name == "TCGPufferEnv":
        return _env_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_env(num_games: int = 64, seed: int | None = 0, buf=None, **kw):
    """Env creator for ``pufferlib.vector.make`` (it passes ``buf`` and ``seed``); ``kw`` goes
    to :class:`TCGPufferEnv` (``decks``, ``pool``, ``log_interval``)."""
    return _env_class()(num_games=num_games, seed=seed, buf=buf, **kw)
