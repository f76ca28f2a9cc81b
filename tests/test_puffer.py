"""PufferLib face (tcg_env/puffer.py).

The vector-env check needs PufferLib in the venv (`make puffer`) and runs in a subprocess
(tests/puffer_check.py): importing pufferlib has process-wide side effects and the
Multiprocessing backend forks workers. The layout and import-hygiene tests need no PufferLib.
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tcg_env.observation import OBS_SIZE
from tcg_env.puffer import FLAT_OBS_SIZE, LEGAL_OFFSET, _pack, flat_observation_bounds, seat, unpack
from verification.spec import HEAD_SIZES, MAX_LEGAL

ROOT = Path(__file__).resolve().parents[1]


def _has_pufferlib() -> bool:
    # find_spec does not execute pufferlib (whose import has side effects, see DEVELOPERS.md);
    # an installed but broken PufferLib makes the check below fail loudly instead of skipping.
    return importlib.util.find_spec("pufferlib") is not None


def test_core_packages_do_not_import_pufferlib():
    code = ("import sys, tcg_env, tcg_env.vec, tcg_env.gym_env, tcg_env.puffer; "
            "bad = [m for m in ('pufferlib', 'torch') if m in sys.modules]; "
            "assert not bad, f'imported at import time: {bad}'")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_flat_layout_round_trip():
    rng = np.random.default_rng(0)
    counts = np.array([0, 1, 127, 128, 129, 255, 256, MAX_LEGAL - 1, MAX_LEGAL], np.int32)
    n = counts.size
    obs = rng.integers(-128, 128, (n, OBS_SIZE)).astype(np.int8)
    legal = np.stack([rng.integers(0, h, (n, MAX_LEGAL)) for h in HEAD_SIZES], axis=-1).astype(np.int8)
    player = (np.arange(n) % 2).astype(np.int32)
    out = np.full((n, FLAT_OBS_SIZE), 99, np.int8)  # stale garbage must be overwritten
    _pack(obs, legal, counts, player, out)
    o, lt, lc = unpack(out)
    assert out.shape[1] == FLAT_OBS_SIZE == OBS_SIZE + 4 + MAX_LEGAL * 4 and LEGAL_OFFSET == OBS_SIZE + 4
    assert np.array_equal(o, obs) and np.array_equal(lc, counts) and np.array_equal(seat(out), player)
    for i, c in enumerate(counts):
        assert np.array_equal(lt[i, :c], legal[i, :c])
        assert not lt[i, c:].any()
    o1, lt1, lc1 = unpack(out[4])  # one row works too
    assert lc1 == 129 and lt1.shape == (MAX_LEGAL, 4) and o1.shape == (OBS_SIZE,)
    lo, hi = flat_observation_bounds()
    assert np.all(out[:, OBS_SIZE:] >= lo[OBS_SIZE:]) and np.all(out[:, OBS_SIZE:] <= hi[OBS_SIZE:])


@pytest.mark.skipif(not _has_pufferlib(), reason="PufferLib is not installed in this venv "
                    "(optional; `make puffer` installs pufferlib-core 3.0.10, see DEVELOPERS.md)")
def test_puffer_vector_envs_match_native():
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache" / "tests"))
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "puffer_check.py"), "--steps", "300"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert r.returncode == 0, f"puffer_check failed (rc={r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    summary = json.loads(lines[-1])
    assert summary["ok"]
    assert {run["backend"] for run in summary["runs"]} == {"native", "serial", "multiprocessing"}
    assert summary["illegal"]["reported"] == 1
