"""Engine throughput benchmark (``tcg bench env``). Prints one JSON line; not a test.

Rows:
- ``batched_N{n}``: the fused numba kernel stepping n games, each decision a uniform
  random legal tuple chosen inside numba (apply + auto-reset + legal enumeration +
  observation), on one core;
- ``vec_step_N4096``: ``VecTCG.step`` on 4,096 games with 1, 2 and all-core threads
  (slices of the batch stepped by the nogil kernel), the env's multi-core scaling;
- ``python_per_game``: the checked Python path (``GameState.legal_tuples`` +
  ``GameState.apply``), the path the play script uses;
- ``gym_loop`` / ``gym_loop_unwrapped`` / ``gym_loop_no_copy``: agent steps/s of
  ``tcg_env/Duel-v0`` against the random bot with random legal actions, through
  ``gymnasium.make``'s wrappers, without them, and with ``copy_obs=False`` (observations are
  read-only views of reused buffers instead of new arrays);
- ``aec_loop``: decisions/s of the PettingZoo AEC env with random legal actions;
- ``heuristic_vs_random``: the heuristic bot's win rate over 1,000 games, both seats;
- ``numba_cold_start_s`` / ``numba_warm_start_s``: a fresh process importing the engine
  and stepping once, with an empty and with a populated ``NUMBA_CACHE_DIR``.
"""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

from prefabs import default_pool
from verification.layout import STATE_SIZE
from verification.spec import MAX_LEGAL

from . import engine
from .observation import OBS_SIZE
from .selfcheck import deck_pairs


def make_batch(n: int, seed: int = 0):
    pool = default_pool()
    pairs = deck_pairs(pool)
    decks = np.stack([np.stack(pairs[i % len(pairs)]) for i in range(n)]).astype(np.int32)
    bufs = dict(
        state=np.zeros((n, STATE_SIZE), np.int32), legal=np.zeros((n, MAX_LEGAL, 4), np.int8),
        legal_n=np.zeros(n, np.int32), obs=np.zeros((n, OBS_SIZE), np.int8),
        seat_rewards=np.zeros((n, 2), np.float32), actor=np.zeros(n, np.int32),
    )
    seeds = (np.arange(n, dtype=np.uint64) + np.uint64(seed) * np.uint64(1_000_003))
    engine.reset_batch(bufs["state"], pool.table, decks, seeds, bufs["legal"], bufs["legal_n"], bufs["obs"],
                       bufs["actor"])
    return pool, bufs


def bench_batched(n: int, total_decisions: int, repeats: int = 3) -> dict:
    pool, b = make_batch(n)
    bot = np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    engine.random_play_batch(b["state"], pool.table, b["legal"], b["legal_n"], b["obs"], b["seat_rewards"],
                             b["actor"], bot, 10)   # warm-up (and compile if needed)
    steps = max(1, total_decisions // n)
    rates = []
    games = 0
    for _ in range(repeats):
        t = time.perf_counter()
        d, g = engine.random_play_batch(b["state"], pool.table, b["legal"], b["legal_n"], b["obs"],
                                        b["seat_rewards"], b["actor"], bot, steps)
        rates.append(d / (time.perf_counter() - t))
        games += g
    return {"decisions_per_s": statistics.median(rates), "runs": [round(r) for r in rates],
            "decisions_per_run": int(steps * n), "games_finished": int(games)}


def bench_threads(n: int = 4096, steps: int = 200, threads=(1, 2)) -> dict:
    """Decisions/s of VecTCG.step with uniform random legal actions (chosen by the numba bot
    outside the timed step) at several thread counts: the env's multi-core scaling."""
    from .bots import RandomBot
    from .vec import VecTCG
    out = {}
    for k in threads:
        env = VecTCG(n, seed=0, threads=k)
        bot = RandomBot(0)
        acts = [bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count)]
        env.step(acts[0])
        total = 0.0
        for _ in range(steps):
            a = bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count)
            t = time.perf_counter()
            env.step(a)
            total += time.perf_counter() - t
        env.close()
        out[f"threads_{k}"] = n * steps / total
    return out


def bench_python(seconds: float = 3.0) -> dict:
    from .state import GameState
    rng = np.random.default_rng(0)
    g = GameState.new(seed=0)
    g.apply(g.legal_tuples()[0])   # compile the checked path outside the timed loop
    g.explain((0, 0, 0, 0))
    g.observation()
    d = 0
    games = 0
    t = time.perf_counter()
    while time.perf_counter() - t < seconds:
        if g.done:
            games += 1
            g = GameState.new(seed=games)
        legal = g.legal_tuples()
        g.apply(legal[rng.integers(len(legal))])
        d += 1
    return {"decisions_per_s": d / (time.perf_counter() - t), "games_finished": games}


def bench_gym(seconds: float = 3.0, unwrapped: bool = False, copy_obs: bool = True) -> dict:
    """Agent steps per second of ``gymnasium.make("tcg_env/Duel-v0", opponent="random")`` with
    uniformly random legal actions (each step also plays the opponent's decisions). The loop
    draws with ``random.Random.randrange`` (about 0.3 us; numpy's ``Generator.integers`` costs
    about 1.6 us per scalar draw, a fifth of a step)."""
    import random

    import gymnasium as gym
    env = gym.make("tcg_env/Duel-v0", opponent="random", copy_obs=copy_obs)
    if unwrapped:
        env = env.unwrapped
    pick = random.Random(0).randrange
    with warnings.catch_warnings():   # gymnasium's checker notes copy_obs=False's shared buffers, as documented
        warnings.simplefilter("ignore")
        obs, _ = env.reset(seed=0)
        env.step(obs["legal_tuples"][0])   # compile outside the timed loop
        obs, _ = env.reset(seed=1)
        steps = episodes = 0
        t = time.perf_counter()
        while time.perf_counter() - t < seconds:
            obs, r, term, trunc, _ = env.step(obs["legal_tuples"][pick(obs["legal_count"])])
            steps += 1
            if term or trunc:
                episodes += 1
                obs, _ = env.reset()
    return {"steps_per_s": steps / (time.perf_counter() - t), "episodes": episodes}


def bench_aec(seconds: float = 3.0) -> dict:
    """Decisions per second of the PettingZoo AEC loop with random legal actions."""
    from . import aec_env
    env = aec_env()
    rng = np.random.default_rng(0)

    def one(steps):
        obs, r, term, trunc, _ = env.last()
        if term or trunc:
            env.step(None)
            if not env.agents:
                env.reset()
                return 1
            return 0
        env.step(int(rng.integers(obs["legal_count"])))
        return 0

    env.reset(seed=0)
    for _ in range(50):   # compile outside the timed loop
        one(0)
    env.reset(seed=1)
    steps = episodes = 0
    t = time.perf_counter()
    while time.perf_counter() - t < seconds:
        term, trunc = env.terminations.get(env.agent_selection), env.truncations.get(env.agent_selection)
        episodes += one(0)
        steps += not (term or trunc)
    return {"decisions_per_s": steps / (time.perf_counter() - t), "episodes": episodes}


def bench_bots(games: int = 1000) -> dict:
    from .bots import match
    t = time.perf_counter()
    res = match("heuristic", "random", games=games, seed=2026)
    res["seconds"] = round(time.perf_counter() - t, 2)
    return res


def _start_time(cache_dir: str) -> float:
    code = ("import time; t=time.perf_counter(); from tcg_env.bench import make_batch; import numpy as np; "
            "from tcg_env import engine; pool, b = make_batch(4); "
            "engine.random_play_batch(b['state'], pool.table, b['legal'], b['legal_n'], b['obs'], "
            "b['seat_rewards'], b['actor'], np.ones(4, np.uint64), 5); print(time.perf_counter()-t)")
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def bench_start() -> dict:
    with tempfile.TemporaryDirectory() as d:
        cold = _start_time(d)
        warm = statistics.median(_start_time(d) for _ in range(3))
    return {"numba_cold_start_s": round(cold, 2), "numba_warm_start_s": round(warm, 2)}


def machine() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}


def run(quick: bool = False, start_times: bool = True) -> dict:
    total = 200_000 if quick else 2_000_000
    res = {"bench": "env", "machine": machine(), "date": time.strftime("%Y-%m-%d")}
    for n in (1, 64, 1024):
        res[f"batched_N{n}"] = bench_batched(n, total if n > 1 else total // 4)
    res["vec_step_N4096"] = bench_threads(4096, 50 if quick else 200, tuple(sorted({1, 2, os.cpu_count() or 1})))
    res["python_per_game"] = bench_python(1.0 if quick else 3.0)
    res["gym_loop"] = bench_gym(1.0 if quick else 3.0)
    res["gym_loop_unwrapped"] = bench_gym(1.0 if quick else 3.0, unwrapped=True)
    res["gym_loop_no_copy"] = bench_gym(1.0 if quick else 3.0, copy_obs=False)
    res["aec_loop"] = bench_aec(1.0 if quick else 3.0)
    res["heuristic_vs_random"] = bench_bots(200 if quick else 1000)
    if start_times:
        res.update(bench_start())
    return res
