"""PufferLib face check, run in a subprocess by tests/test_puffer.py (PufferLib's import
has process-wide side effects and Multiprocessing forks workers).

For each backend (native PufferEnv, Serial, Multiprocessing with one and with two envs per
worker): build the vector env with ``pufferlib.vector.make(make_env, ...)``, reset it with a
seed, then step it, choosing for every row a seeded random legal tuple decoded from the
observation alone (``unpack``). A reference of plain ``VecTCG`` objects, one per sub-env
seeded as PufferLib seeds that sub-env, is stepped with the same actions; the unpacked
observations, legal lists, seats, rewards, terminals and truncations must match exactly,
and no illegal action may be counted. A last phase sends one illegal tuple and checks that
it is counted and reported in infos, not fixed. Prints one JSON line; exits 1 on a mismatch.

    python tests/puffer_check.py [--steps 300] [--games 6] [--seed 7]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tcg_env.puffer import FLAT_OBS_SIZE, import_pufferlib, make_env, seat, unpack  # noqa: E402
from tcg_env.vec import VecTCG  # noqa: E402
from verification.spec import HEAD_SIZES  # noqa: E402


class Mismatch(AssertionError):
    pass


def reference_seeds(backend: str, seed: int, num_envs: int, num_workers: int) -> list[int]:
    """The reset seed PufferLib gives each sub-env, in row order (see pufferlib/vector.py)."""
    if backend == "native":
        return [seed]
    if backend == "serial":  # Serial.async_reset: env i <- seed + i
        return [seed + i for i in range(num_envs)]
    # Multiprocessing.async_reset sends seed + w to worker w; a worker with several envs
    # runs a Serial inside, which resets its env j with (seed + w) + j.
    per = num_envs // num_workers
    return [seed + w + j for w in range(num_workers) for j in range(per)]


def check_same(step, flat, refs, r, d, t):
    obs, legal, count = unpack(flat)
    ref_obs = np.concatenate([v.observations for v in refs])
    ref_cnt = np.concatenate([v.legal_count for v in refs])
    ref_seat = np.concatenate([v.current_player for v in refs])
    if not np.array_equal(obs, ref_obs):
        raise Mismatch(f"step {step}: observations differ in rows {np.flatnonzero((obs != ref_obs).any(1))[:8]}")
    if not np.array_equal(count, ref_cnt):
        raise Mismatch(f"step {step}: legal counts differ")
    if not np.array_equal(seat(flat), ref_seat):
        raise Mismatch(f"step {step}: seats differ")
    ref_legal = np.concatenate([v.legal_tuples for v in refs])
    live = np.arange(legal.shape[1])[None, :] < count[:, None]
    if not np.array_equal(legal[live], ref_legal[live]):
        raise Mismatch(f"step {step}: legal tuples differ")
    if np.any(legal[~live]):
        raise Mismatch(f"step {step}: legal tuples past the count are not zero")
    if r is not None:
        for name, got, want in (("rewards", r, np.concatenate([v.rewards for v in refs])),
                                ("terminals", d, np.concatenate([v.terminals for v in refs])),
                                ("truncations", t, np.concatenate([v.truncations for v in refs]))):
            if not np.array_equal(np.asarray(got), want):
                raise Mismatch(f"step {step}: {name} differ")


def run_backend(pufferlib, backend: str, num_envs: int, num_workers: int, games: int, steps: int, seed: int):
    import pufferlib.vector as pv
    t0 = time.perf_counter()
    kw = dict(env_kwargs=dict(num_games=games, log_interval=50), seed=seed)
    if backend == "native":
        vecenv = pv.make(make_env, backend=pufferlib.PufferEnv, **kw)
    elif backend == "serial":
        vecenv = pv.make(make_env, backend=pv.Serial, num_envs=num_envs, **kw)
    else:
        vecenv = pv.make(make_env, backend=pv.Multiprocessing, num_envs=num_envs, num_workers=num_workers,
                         overwork=True, **kw)
    try:
        n_rows = games * num_envs
        assert vecenv.single_observation_space.shape == (FLAT_OBS_SIZE,), vecenv.single_observation_space
        assert tuple(vecenv.single_action_space.nvec) == tuple(HEAD_SIZES), vecenv.single_action_space
        seeds = reference_seeds(backend, seed, num_envs, num_workers)
        refs = [VecTCG(games, seed=s) for s in seeds]
        flat, _ = pv.reset(vecenv, seed) if backend != "native" else vecenv.reset(seed)
        flat = np.array(flat)
        assert flat.shape == (n_rows, FLAT_OBS_SIZE), flat.shape
        check_same(0, flat, refs, None, None, None)
        rng = np.random.default_rng(seed)
        infos_seen, ended, illegal_reported, max_count = [], 0, 0, 0
        for step in range(1, steps + 1):
            _, legal, count = unpack(flat)
            max_count = max(max_count, int(count.max()))
            pick = (rng.random(n_rows) * count).astype(np.int64)
            actions = legal[np.arange(n_rows), pick].astype(np.int64)
            for k, v in enumerate(refs):
                v.step(actions[k * games:(k + 1) * games])
            if backend == "native":
                flat, r, d, t, infos = vecenv.step(actions)
            else:
                flat, r, d, t, infos = pv.step(vecenv, actions)
            flat = np.array(flat)
            check_same(step, flat, refs, r, d, t)
            ended += int(np.sum(np.asarray(d) | np.asarray(t)))
            for i in infos:
                illegal_reported += int(i.get("illegal_actions", 0))
                infos_seen.append(sorted(i))
        ref_illegal = int(sum(v.illegal_counts.sum() for v in refs))
        if ref_illegal or illegal_reported:
            raise Mismatch(f"{backend}: illegal actions counted (reference {ref_illegal}, infos {illegal_reported})")
        stat_infos = sum(1 for keys in infos_seen if "episodes" in keys)
        return dict(backend=backend, num_envs=num_envs, num_workers=num_workers if backend == "multiprocessing" else 1,
                    rows=n_rows, steps=steps, seeds=seeds, games_ended=ended, max_legal_count=max_count,
                    stat_infos=stat_infos,
                    seconds=round(time.perf_counter() - t0, 2))
    finally:
        vecenv.close()


def illegal_phase(pufferlib, games: int, seed: int):
    """One illegal tuple in one row: counted, reported in infos, game unchanged (like VecTCG)."""
    import pufferlib.vector as pv
    vecenv = pv.make(make_env, backend=pv.Serial, num_envs=2, env_kwargs=dict(num_games=games), seed=seed)
    try:
        refs = [VecTCG(games, seed=s) for s in reference_seeds("serial", seed, 2, 1)]
        flat, _ = pv.reset(vecenv, seed)
        flat = np.array(flat)
        _, legal, count = unpack(flat)
        actions = legal[:, 0].astype(np.int64)  # first legal tuple everywhere...
        row = games + 1                          # ...except one row of the second sub-env
        listed = {tuple(x) for x in legal[row, :count[row]]}
        rng = np.random.default_rng(seed)
        while True:
            cand = tuple(int(rng.integers(h)) for h in HEAD_SIZES)
            if cand not in listed:
                break
        actions[row] = cand
        before = flat[row].copy()
        for k, v in enumerate(refs):
            v.step(actions[k * games:(k + 1) * games])
        flat, r, d, t, infos = pv.step(vecenv, actions)
        flat = np.array(flat)
        check_same(1, flat, refs, r, d, t)
        reported = sum(int(i.get("illegal_actions", 0)) for i in infos)
        counts = np.concatenate([e.vec.illegal_counts for e in vecenv.envs])
        if reported != 1 or counts.sum() != 1 or counts[row] != 1:
            raise Mismatch(f"illegal tuple {cand}: infos reported {reported}, counts {counts.tolist()}")
        if not np.array_equal(flat[row], before):
            raise Mismatch("the illegal tuple changed its row's observation")
        # an action array of another shape is refused, never reshaped onto the games (a transposed
        # [4, N] array used to be read row-major as N tuples)
        env = vecenv.envs[0]
        for wrong in (actions[:games].T.copy(), actions[:games].reshape(-1)):
            try:
                env.step(wrong)
            except ValueError as e:
                if "actions must have shape" not in str(e):
                    raise
            else:
                raise Mismatch(f"an action array of shape {wrong.shape} was accepted")
        return dict(illegal_tuple=list(cand), row=row, reported=reported)
    finally:
        vecenv.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--games", type=int, default=6)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    pufferlib = import_pufferlib()
    import importlib.metadata as md
    out = dict(pufferlib_core=md.version("pufferlib-core"), runs=[])
    try:
        for backend, num_envs, workers in (("native", 1, 1), ("serial", 3, 1),
                                           ("multiprocessing", 2, 2), ("multiprocessing", 4, 2)):
            out["runs"].append(run_backend(pufferlib, backend, num_envs, workers, a.games, a.steps, a.seed))
        out["illegal"] = illegal_phase(pufferlib, a.games, a.seed)
    except Mismatch as e:
        out.update(ok=False, error=str(e), seconds=round(time.perf_counter() - t0, 2))
        print(json.dumps(out))
        return 1
    out.update(ok=True, seconds=round(time.perf_counter() - t0, 2))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
