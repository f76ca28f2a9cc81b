"""The run state of a resumable checkpoint, checked for form before any of it is restored.

:meth:`training.ppo.Trainer.state` and ``_rank_state`` write it: the optimizer's moments, the
RNG states, the games' rows, the opponent pool with its win counts, the ratings, the history,
and the same per-rank fields again for ranks 1..W-1 (``rank_states``). A file edited by hand
or written by something else could hold a field of the wrong type or size. Restored as it is,
such a field stops the resume with a bare ``KeyError`` or ``RuntimeError`` half way through,
or worse, is taken and fails later: a pool member whose weights do not fit fails when it is
first drawn as the opponent, maybe hours into the run, and a NaN rating poisons every rating
after it. :func:`check_run_state` refuses all of these up front with a
:class:`~training.checkpoint.CheckpointError` that names the file and the field.
``tcg train --resume`` calls it (through ``check_resumable``) before any rank starts, and each
rank's ``Trainer.load`` again.
"""
from __future__ import annotations

import json
import math

import numpy as np
import torch

from tcg_env.state import shown

from .checkpoint import MAX_COUNTER, CheckpointError, nonfinite_weights, why


class _Refused(Exception):
    """A field's problem, raised by the checks below and turned into one CheckpointError."""


def _whole(v, what: str, low: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not low <= v <= MAX_COUNTER or v != int(v):
        raise _Refused(f"{what} = {shown(v)} must be a whole number >= {low}")
    return int(v)


def _number(v, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _Refused(f"{what} = {shown(v)} must be a finite number")
    return float(v)


def _table(v, what: str) -> dict:
    if not isinstance(v, dict):
        raise _Refused(f"{what} must be a table, got a {type(v).__name__}")
    return v


def _field(d: dict, key: str, what: str):
    if key not in d:
        raise _Refused(f"{what} lacks '{key}'")
    return d[key]


def _tensor(v, what: str, dtypes: tuple, shape: tuple | None = None) -> torch.Tensor:
    """``v`` as a tensor of one of ``dtypes`` and, if given, exactly ``shape``."""
    if not isinstance(v, torch.Tensor):
        raise _Refused(f"{what} must be a tensor, got a {type(v).__name__}")
    if v.dtype not in dtypes:
        raise _Refused(f"{what} is {v.dtype}, not {' or '.join(str(d) for d in dtypes)}")
    if shape is not None and tuple(v.shape) != shape:
        raise _Refused(f"{what} has shape {list(v.shape)}, this run needs {list(shape)}")
    return v


def _xorshift_states(v, what: str, n: int) -> None:
    """The heuristic bot's generators: int64[n] holding uint64 xorshift states, never 0 (a
    xorshift generator at 0 stays there and would draw the same number forever)."""
    _tensor(v, what, (torch.int64,), (n,))
    if bool((v == 0).any()):
        raise _Refused(f"{what} holds a 0; a xorshift generator's state is never 0")


def _generator_state(v, what: str, device: torch.device) -> None:
    """A torch generator state that a generator on ``device`` accepts (tried on a new one)."""
    _tensor(v, what, (torch.uint8,))
    if device.type != "cpu":   # creating a CUDA generator here would start CUDA in the launcher
        return                 # Trainer.load sets it on the rank's own generator, and says so if refused
    try:
        torch.Generator().set_state(v)
    except (RuntimeError, TypeError, ValueError) as e:
        raise _Refused(f"{what} is not a state of a torch generator on {device} ({why(e, lines=1)})") from None


def _check_rank(r, what: str, cfg, pool_len: int, device: torch.device, cards) -> None:
    """One rank's RNG states, game rows (checked against the card pool ``cards``), illegal-action
    counts and win counts against the ``pool_len`` members of the opponent pool."""
    from tcg_env.state import state_rows_problem
    from verification.layout import STATE_SIZE
    r = _table(r, what)
    rng = _table(_field(r, "rng", what), f"{what} rng")
    torch_state = _tensor(_field(rng, "torch", f"{what} rng"), f"{what} rng 'torch'", (torch.uint8,))
    if torch_state.shape != torch.get_rng_state().shape:
        raise _Refused(f"{what} rng 'torch' holds {torch_state.numel()} bytes; torch's CPU generator state is "
                       f"{torch.get_rng_state().numel()}")
    _generator_state(_field(rng, "generator", f"{what} rng"), f"{what} rng 'generator'", device)
    numpy_state = _field(rng, "numpy", f"{what} rng")
    try:
        np.random.default_rng().bit_generator.state = json.loads(numpy_state)   # a new one: nothing is restored yet
    except (TypeError, ValueError, KeyError) as e:   # JSONDecodeError is a ValueError
        raise _Refused(f"{what} rng 'numpy' is not a NumPy PCG64 generator state as JSON ({why(e, lines=1)})") from None
    _xorshift_states(_field(rng, "bot", f"{what} rng"), f"{what} rng 'bot'", 1)
    if "bot_rows" in rng:   # absent in checkpoints written before it was saved
        _xorshift_states(rng["bot_rows"], f"{what} rng 'bot_rows'", cfg.num_envs)
    env = _table(_field(r, "env", what), f"{what} env")
    rows = _tensor(_field(env, "state", f"{what} env"), f"{what} env 'state'", (torch.int32,),
                   (cfg.num_envs, STATE_SIZE)).numpy()
    problem = state_rows_problem(rows, cards)
    if problem:
        raise _Refused(f"{what} env 'state' is not a state this engine can hold: {problem}")
    counts = _tensor(_field(env, "illegal_counts", f"{what} env"), f"{what} env 'illegal_counts'",
                     (torch.int32, torch.int64), (cfg.num_envs,))
    if bool((counts < 0).any()) or bool((counts > np.iinfo(np.int32).max).any()):   # the env counts in int32
        raise _Refused(f"{what} env 'illegal_counts' holds a count outside 0..2**31-1")
    if "pool_stats" not in r:   # absent in checkpoints written before it was saved
        return
    stats = r["pool_stats"]
    if not isinstance(stats, list) or len(stats) != pool_len:
        raise _Refused(f"{what} pool_stats must list [games, learner wins] for each of the pool's {pool_len} "
                       f"member(s), got {shown(stats)}")
    for i, pair in enumerate(stats):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise _Refused(f"{what} pool_stats[{i}] = {shown(pair)} must be [games, learner wins]")
        _wins(pair[0], pair[1], f"{what} pool_stats[{i}]")


def _wins(games, wins, what: str) -> None:
    g = _whole(games, f"{what} games")
    w = _number(wins, f"{what} learner wins")
    if not 0 <= w <= g:
        raise _Refused(f"{what}: {shown(wins)} learner wins in {g} games; wins are 0..games (a draw counts 1/2)")


def _fits(state_dict, ref: torch.nn.Module, what: str) -> None:
    """``state_dict`` loads into ``ref`` (same names and shapes) and holds no NaN or infinity."""
    if not isinstance(state_dict, dict):
        raise _Refused(f"{what} must be a state dict, got a {type(state_dict).__name__}")
    try:
        ref.load_state_dict(state_dict)
    except (RuntimeError, ValueError, TypeError, AttributeError, KeyError) as e:
        raise _Refused(f"{what} do not fit the policy its config describes ({why(e)})") from None
    bad = nonfinite_weights(state_dict)
    if bad:
        raise _Refused(f"{what} hold NaN or infinite values ({', '.join(bad[:4])})")


def _check_optimizer(opt, params: list, what: str) -> None:
    """Adam's state: a moment tensor per parameter of that parameter's shape, finite. (Adam's own
    ``load_state_dict`` checks only the number of parameters; a wrong shape fails at the first
    step, after a whole rollout.)"""
    try:   # the parameter groups, on an optimizer of its own: nothing is restored yet
        torch.optim.Adam(params).load_state_dict(opt)
    except (ValueError, KeyError, TypeError, RuntimeError, AttributeError) as e:
        raise _Refused(f"{what} state does not fit this policy's parameters ({why(e)})") from None
    state = opt["state"]
    for k, s in state.items():
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < len(params):
            raise _Refused(f"{what} has state for parameter {shown(k)}; the policy has {len(params)} (0..{len(params) - 1})")
        for name, t in _table(s, f"{what} state {k}").items():
            if name == "step" or not isinstance(t, torch.Tensor):
                continue
            if t.shape != params[k].shape:
                raise _Refused(f"{what} state {k} '{name}' has shape {list(t.shape)}, its parameter "
                               f"{list(params[k].shape)}")
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise _Refused(f"{what} state {k} '{name}' holds NaN or infinite values")


def check_run_state(data: dict, cfg, path, world: int, ref: torch.nn.Module, device: torch.device,
                    cards=None) -> None:
    """CheckpointError naming ``path`` and the field unless every part of the resumable
    checkpoint ``data`` beyond its settings and counters has the form ``Trainer.load`` restores:
    the model and every pool member's weights fit ``ref`` (a policy built from this run's
    config) and are finite; the optimizer's moments fit the parameters; each rank's RNG states,
    game rows (through the engine's row checks), illegal counts and pool win counts are well
    formed; the ratings are finite with sigma > 0; the history is a JSON list of records; and
    ``rank_states`` holds ranks 1..W-1. ``world``: the number of ranks the checkpoint says wrote
    it (checked against this run's by the caller). ``cards``: the run's card pool (None: the
    shipped one), which the game rows are checked against."""
    from prefabs import default_pool
    try:
        _fits(data["model"], ref, "its weights")
        _check_optimizer(data["optimizer"], list(ref.parameters()), "its optimizer")
        pool = data.get("pool")
        if not isinstance(pool, list):
            raise _Refused(f"its pool must be a list of members, got a {type(pool).__name__}")
        names = set()
        for i, m in enumerate(pool):
            m = _table(m, f"pool member {i}")
            name = _field(m, "name", f"pool member {i}")
            if not isinstance(name, str) or not name or name in names:
                raise _Refused(f"pool member {i}'s name {shown(name)} must be a non-empty string no other member has")
            names.add(name)
            _whole(_field(m, "update", f"pool member {i}"), f"pool member {i} ({name}) update")
            _wins(_field(m, "games", f"pool member {i}"), _field(m, "learner_wins", f"pool member {i}"),
                  f"pool member {i} ({name})")
            _fits(_field(m, "state_dict", f"pool member {i}"), ref, f"pool member {i} ({name})'s weights")
        ratings = _table(data.get("ratings"), "its ratings")
        for k, v in ratings.items():
            if not isinstance(k, str) or not isinstance(v, (list, tuple)) or len(v) != 2:
                raise _Refused(f"its ratings must map names to [mu, sigma], got {shown(k)}: {shown(v)}")
            _number(v[0], f"rating {k!r} mu")
            if _number(v[1], f"rating {k!r} sigma") <= 0:
                raise _Refused(f"rating {k!r} sigma = {v[1]!r} must be > 0")
        history = data.get("history")
        try:
            records = json.loads(history)
        except (TypeError, ValueError) as e:
            raise _Refused(f"its history is not JSON text ({why(e, lines=1)})") from None
        if not isinstance(records, list) or not all(isinstance(h, dict) for h in records):
            raise _Refused("its history must be a JSON list of records (objects), one per update")
        cards = default_pool() if cards is None else cards
        _check_rank(data, "its", cfg, len(pool), device, cards)
        others = data.get("rank_states", [])
        if not isinstance(others, list) or len(others) != world - 1:
            raise _Refused(f"it was written by {world} rank(s), so 'rank_states' must list ranks 1..{world - 1}; "
                           f"got {shown(others)}")
        for i, r in enumerate(others):
            _check_rank(r, f"rank {i + 1}'s", cfg, len(pool), device, cards)
    except _Refused as e:
        raise CheckpointError(f"{path}: {e}") from None
