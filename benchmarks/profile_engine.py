#!/usr/bin/env python
"""Where a decision's time goes in the engine: legal enumeration, observation, apply (minus
the row copy it needs here) and the legality membership check, each timed alone over 1,024
mid-game states, beside the fused kernel. Prints one JSON line of ns per decision. A profile
to guide optimisation, not a benchmark row (each part runs out of its usual cache context).

    python benchmarks/profile_engine.py
"""
import json
import time

import numpy as np
from numba import njit

from tcg_env import engine
from tcg_env.bench import make_batch
from tcg_env.observation import write_obs
from verification.legal import enumerate_legal, is_listed


@njit
def _enum(state, cards, legal, reps):
    t = 0
    for _ in range(reps):
        for i in range(state.shape[0]):
            t += enumerate_legal(state[i], cards, legal[i])
    return t


@njit
def _obs(state, cards, obs, reps):
    for _ in range(reps):
        for i in range(state.shape[0]):
            write_obs(state[i], cards, 0, obs[i])


@njit
def _copy(state, reps):
    tmp = np.empty(state.shape[1], np.int32)
    for _ in range(reps):
        for i in range(state.shape[0]):
            tmp[:] = state[i]


@njit
def _apply(state, cards, legal, legal_n, reps):
    tmp = np.empty(state.shape[1], np.int32)
    for r in range(reps):
        for i in range(state.shape[0]):
            tmp[:] = state[i]
            k = (r * 7 + i) % legal_n[i]
            engine.apply_action(tmp, cards, legal[i, k, 0], legal[i, k, 1], legal[i, k, 2], legal[i, k, 3])


@njit
def _listed(legal, legal_n, reps):
    c = 0
    for r in range(reps):
        for i in range(legal.shape[0]):
            k = (r * 7 + i) % legal_n[i]
            c += is_listed(legal[i], legal_n[i], legal[i, k, 0], legal[i, k, 1], legal[i, k, 2], legal[i, k, 3])
    return c


def main(reps: int = 300):
    pool, b = make_batch(1024)
    bot = np.arange(1, 1025, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    engine.random_play_batch(b["state"], pool.table, b["legal"], b["legal_n"], b["obs"], b["seat_rewards"],
                             b["actor"], bot, 37)
    parts = {"enumerate": (_enum, (b["state"], pool.table, b["legal"])),
             "observe": (_obs, (b["state"], pool.table, b["obs"])),
             "row_copy": (_copy, (b["state"],)),
             "apply_plus_copy": (_apply, (b["state"], pool.table, b["legal"], b["legal_n"])),
             "membership": (_listed, (b["legal"], b["legal_n"]))}
    out = {"profile": "engine_parts", "unit": "ns per decision", "states": 1024}
    for name, (f, args) in parts.items():
        f(*args, 1)
        t = time.perf_counter()
        f(*args, reps)
        out[name] = round((time.perf_counter() - t) / reps / 1024 * 1e9, 1)
    t = time.perf_counter()
    d, _ = engine.random_play_batch(b["state"], pool.table, b["legal"], b["legal_n"], b["obs"], b["seat_rewards"],
                                    b["actor"], bot, 500)
    out["fused_kernel"] = round((time.perf_counter() - t) / d * 1e9, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
