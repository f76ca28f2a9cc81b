"""Random-play decisions per second: peer card-game environments vs ours. Not a test.

Run through ``benchmarks/run_peers.sh`` (which makes the peers' throw-away venv):

    python benchmarks/peers.py --peers   # OpenSpiel dou_dizhu/hearts, RLCard uno/doudizhu
    python benchmarks/peers.py --ours    # tcg_env per-game Python path + batched numba kernel

Each prints one JSON line. Every loop does the same per-decision work: the acting
player's observation, the legal actions, one uniformly random legal action applied;
a finished game is replaced by a new one. Only player decisions are counted (OpenSpiel
chance nodes are sampled from ``chance_outcomes()`` but not counted). Each env gets
``--seconds`` in all: a short warm-up, then 3 timed runs of ``seconds / 3``; the median
rate is reported, with the 3 runs.

Stdlib + numpy only, besides the env packages themselves. A peer package that cannot be
imported is reported as ``{"unavailable": "<error>"}`` and the rest carries on.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

RUNS = 3


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
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}


def timed(make_loop, seconds: float) -> dict:
    """``make_loop(run_index)`` returns ``loop(deadline) -> (decisions, games)``.

    A warm-up of ~5% of the budget, then RUNS timed runs of seconds/RUNS each."""
    per = seconds / RUNS
    make_loop(-1)(time.perf_counter() + min(0.25, 0.05 * seconds))
    rates, decisions, games = [], 0, 0
    for r in range(RUNS):
        loop = make_loop(r)
        t = time.perf_counter()
        d, g = loop(t + per)
        rates.append(d / (time.perf_counter() - t))
        decisions += d
        games += g
    return {"decisions_per_s": round(statistics.median(rates)), "runs": [round(x) for x in rates],
            "decisions": decisions, "games_finished": games}


# --------------------------------------------------------------------------- OpenSpiel

def openspiel_loop(game_name: str):
    import pyspiel

    game = pyspiel.load_game(game_name)
    gtype = game.get_type()
    # Hearts implements no observation tensor in OpenSpiel; its information-state tensor
    # is the per-player tensor it does provide.
    if gtype.provides_observation_tensor:
        tensor = "observation_tensor"
    elif gtype.provides_information_state_tensor:
        tensor = "information_state_tensor"
    else:
        raise RuntimeError(f"{game_name} provides no per-player tensor")

    def make(run: int):
        rng = np.random.default_rng(1000 + run)

        def loop(deadline: float):
            d = g = 0
            state = game.new_initial_state()
            obs_fn = getattr(state, tensor)
            while True:
                if state.is_terminal():
                    g += 1
                    state = game.new_initial_state()
                    obs_fn = getattr(state, tensor)
                    if time.perf_counter() >= deadline:
                        break
                if state.is_chance_node():
                    outcomes = state.chance_outcomes()
                    u = rng.random()
                    a = outcomes[-1][0]
                    for act, prob in outcomes:
                        u -= prob
                        if u < 0.0:
                            a = act
                            break
                    state.apply_action(a)
                    continue
                p = state.current_player()
                obs = obs_fn(p)
                legal = state.legal_actions()
                state.apply_action(legal[rng.integers(len(legal))])
                d += 1
                if d & 63 == 0 and time.perf_counter() >= deadline:
                    break
            del obs
            return d, g

        return loop

    info = {"package": "open-spiel", "game": game_name, "tensor": tensor}
    return make, info


# --------------------------------------------------------------------------- RLCard

def rlcard_loop(env_name: str):
    import rlcard

    env = rlcard.make(env_name, config={"seed": 0})

    def make(run: int):
        rng = np.random.default_rng(2000 + run)

        def loop(deadline: float):
            d = g = 0
            state, _player = env.reset()
            while True:
                if env.is_over():
                    g += 1
                    state, _player = env.reset()
                    if time.perf_counter() >= deadline:
                        break
                legal = list(state["legal_actions"].keys())
                state, _player = env.step(legal[rng.integers(len(legal))])
                d += 1
                if d & 63 == 0 and time.perf_counter() >= deadline:
                    break
            return d, g

        return loop

    return make, {"package": "rlcard", "game": env_name}


# --------------------------------------------------------------------------- ours

def ours_python_loop():
    from tcg_env import GameState

    def make(run: int):
        rng = np.random.default_rng(3000 + run)
        base = 1_000_000 * (run + 1)

        def loop(deadline: float):
            d = g = 0
            gs = GameState.new(seed=base)
            while True:
                if gs.done:
                    g += 1
                    gs = GameState.new(seed=base + g)
                    if time.perf_counter() >= deadline:
                        break
                obs = gs.observation()
                legal = gs.legal_tuples()
                gs.apply(legal[rng.integers(len(legal))])
                d += 1
                if d & 63 == 0 and time.perf_counter() >= deadline:
                    break
            del obs
            return d, g

        return loop

    return make, {"path": "GameState.observation + legal_tuples + apply (checked)"}


def run_peers(seconds: float) -> dict:
    res = {"side": "peers", "machine": machine(), "envs": {}, "versions": {}}
    for pkg, mod in (("open-spiel", "pyspiel"), ("rlcard", "rlcard"), ("numpy", "numpy")):
        try:
            from importlib.metadata import version
            res["versions"][pkg] = version(pkg)
        except Exception as e:  # noqa: BLE001
            res["versions"][pkg] = f"unavailable: {type(e).__name__}: {e}"
    specs = [("openspiel_dou_dizhu", openspiel_loop, "dou_dizhu"),
             ("openspiel_hearts", openspiel_loop, "hearts"),
             ("rlcard_uno", rlcard_loop, "uno"),
             ("rlcard_doudizhu", rlcard_loop, "doudizhu")]
    for key, fn, name in specs:
        try:
            make, info = fn(name)
            res["envs"][key] = {**info, **timed(make, seconds)}
        except Exception as e:  # noqa: BLE001 - an env that can't be built is recorded, not fatal
            res["envs"][key] = {"unavailable": f"{type(e).__name__}: {e}"}
    return res


def run_ours(seconds: float, batch: int, total: int) -> dict:
    res = {"side": "ours", "machine": machine(), "envs": {}}
    try:
        make, info = ours_python_loop()
        res["envs"]["ours_python_per_game"] = {**info, **timed(make, seconds)}
    except Exception as e:  # noqa: BLE001
        res["envs"]["ours_python_per_game"] = {"unavailable": f"{type(e).__name__}: {e}"}
    try:
        from tcg_env.bench import bench_batched
        r = bench_batched(batch, total)
        res["envs"][f"ours_batched_N{batch}"] = {"path": "engine.random_play_batch (numba, 1 core)",
                                                 **r, "decisions_per_s": round(r["decisions_per_s"])}
    except Exception as e:  # noqa: BLE001
        res["envs"][f"ours_batched_N{batch}"] = {"unavailable": f"{type(e).__name__}: {e}"}
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    side = ap.add_mutually_exclusive_group(required=True)
    side.add_argument("--peers", action="store_true", help="OpenSpiel and RLCard loops")
    side.add_argument("--ours", action="store_true", help="tcg_env per-game loop and batched kernel")
    ap.add_argument("--seconds", type=float, default=4.5,
                    help="time budget per env loop, split into 3 timed runs (default 4.5)")
    ap.add_argument("--batch", type=int, default=1024, help="games in the batched kernel (--ours)")
    ap.add_argument("--total", type=int, default=2_000_000, help="decisions per batched run (--ours)")
    a = ap.parse_args(argv)
    res = run_peers(a.seconds) if a.peers else run_ours(a.seconds, a.batch, a.total)
    res["seconds_per_env"] = a.seconds
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
