"""PufferLib face (tcg_env/puffer.py) and PuffeRL with our sampler (training/puffer_policy.py).

The vector-env check and the PuffeRL training check need PufferLib in the venv (`make puffer`)
and run in subprocesses (tests/puffer_check.py, tests/puffer_train_check.py): importing
pufferlib has process-wide side effects and the Multiprocessing backend forks workers. The
layout, import-hygiene and hook-dispatch tests need no PufferLib.
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


_NO_PUFFER = pytest.mark.skipif(not _has_pufferlib(), reason="PufferLib is not installed in this venv "
                                "(optional; `make puffer` installs pufferlib-core 3.0.10, see DEVELOPERS.md)")


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


@_NO_PUFFER
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


def test_puffer_policy_module_does_not_import_pufferlib():
    code = ("import sys, training.puffer_policy; "
            "assert 'pufferlib' not in sys.modules, 'training.puffer_policy imported pufferlib at import time'")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_puffer_policy_refuses_the_oracle_critic():
    """PuffeRL's buffer carries one seat's view per row, so a policy whose value needs the
    opponent's view (PolicyConfig.oracle_value) is refused by name instead of training on NaN."""
    from policy.config import PolicyConfig
    from policy.model import TCGPolicy
    from training.puffer_policy import PufferTCGPolicy
    with pytest.raises(ValueError, match="oracle_value"):
        PufferTCGPolicy(TCGPolicy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, oracle_value=True)))


def test_hook_samples_legal_tuples_and_replays_them():
    """The hook's dispatch without PufferLib: rollout through ``sample_logits(logits)``,
    replay through ``sample_logits(logits, action=...)`` on a larger batch, same log-probs."""
    import torch

    from policy.config import PolicyConfig
    from policy.model import TCGPolicy
    from tcg_env.vec import VecTCG
    from training.puffer_policy import (PufferTCGPolicy, SequentialLogits, legal_membership, sample_logits,
                                        unpack_tensor)

    torch.manual_seed(0)
    v = VecTCG(12, seed=5)
    rows, acts, lps = [], [], []
    wrapper = PufferTCGPolicy(TCGPolicy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32)))
    with torch.no_grad():
        for _ in range(6):
            flat = np.zeros((v.num_games, FLAT_OBS_SIZE), np.int8)
            _pack(v.observations, v.legal_tuples, v.legal_count, v.current_player, flat)
            t = torch.from_numpy(flat)
            o, lt, lc = unpack_tensor(t)
            ro, rlt, rlc = unpack(flat)
            assert np.array_equal(o.numpy(), ro) and np.array_equal(lt.numpy(), rlt) and np.array_equal(lc.numpy(), rlc)
            logits, value = wrapper.forward_eval(t, {})
            assert isinstance(logits, SequentialLogits) and value.shape == (v.num_games,)
            a, lp, ent = sample_logits(logits)
            assert a.shape == (v.num_games, 4) and lp.shape == ent.shape == (v.num_games,)
            assert bool(legal_membership(a, lt, lc).all())
            rows.append(t), acts.append(a), lps.append(lp)
            v.step(a.numpy())
    assert wrapper.stats.sampled == wrapper.stats.checked == 6 * v.num_games and wrapper.stats.illegal_sampled == 0
    assert int(v.illegal_counts.sum()) == 0
    # replay all 72 rows at once, the stored actions shaped like PuffeRL's [segments, horizon, 4]
    logits, _ = wrapper(torch.cat(rows), {})
    flat_order = torch.cat(acts)                         # rows are step-major
    _, newlp, ent = sample_logits(logits, action=flat_order.reshape(6, v.num_games, 4))
    assert torch.allclose(newlp, torch.cat(lps), atol=1e-5, rtol=0)
    assert wrapper.stats.replayed == 6 * v.num_games
    # a stored tuple outside its row's legal list is refused by the replay
    from training.sampler import ReplayMismatchError
    _, lt0, lc0 = unpack(rows[0][:1].numpy())
    listed = {tuple(x) for x in lt0[0, :lc0[0]].tolist()}
    rng = np.random.default_rng(0)
    cand = next(c for c in (tuple(int(rng.integers(h)) for h in HEAD_SIZES) for _ in range(1000)) if c not in listed)
    bad = flat_order.clone()
    bad[0] = torch.tensor(cand)
    with pytest.raises(ReplayMismatchError):
        sample_logits(logits, action=bad)


def _train_check(*args) -> dict:
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache" / "tests"))
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "puffer_train_check.py"), *args],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert r.returncode == 0 and lines, \
        f"puffer_train_check failed (rc={r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    s = json.loads(lines[-1])
    assert s["ok"], s["failures"]
    hook = s["hook"]
    assert hook["sampled"] == hook["checked"] > 0 and hook["illegal_sampled"] == 0 and hook["replayed"] > 0
    assert s["illegal"] == dict(vec=0, env_total=0, infos_nonzero=0, stored=0)
    assert s["first_minibatch"]["rows"] == s["minibatch_size"] and s["first_minibatch"]["max_abs_diff"] < 1e-5
    assert len(s["rounds"]) == s["n_rounds"] >= 2 and s["minibatches_per_update"] >= 2
    return s


@_NO_PUFFER
def test_pufferl_trains_with_sequential_sampler():
    s = _train_check()
    assert s["cards"] == "the shipped cards" and s["card_ids_seen"] > 17


@_NO_PUFFER
def test_pufferl_trains_on_a_designers_own_cards():
    """The files' pool and decks in every sub-env, the policy reading their card table: the
    stored observations show only the files' 17 card ids."""
    from prefabs import load_card_set
    cards, decks = "docs/examples/cards.toml", "docs/examples/decks.toml"
    s = _train_check("--cards", cards, "--decks-file", decks)
    assert s["card_table_digest"] == load_card_set(cards, decks).digest
    assert s["cards"].startswith("17 cards of their own") and 0 < s["card_ids_seen"] <= 17


def test_duel_kernels_clear_stale_rows_derive_the_mask_and_refuse_unlisted_tuples():
    """tcg_env.duel (the Gymnasium face's kernels): view_into writes the list, zeroes the rows the
    previous list used, and sets exactly the primaries that start a listed tuple; step_into takes
    every listed tuple (the last one too) and reports an unlisted one as ILLEGAL, changing nothing."""
    from tcg_env import GameState
    from tcg_env.duel import ILLEGAL, step_into, view_into
    from verification.legal import enumerate_legal
    from verification.spec import NUM_PRIMARIES

    g = GameState.new(None, None, seed=4)
    cards = g.pool.table
    rng = np.random.default_rng(0)
    legal = np.zeros((MAX_LEGAL, 4), np.int8)
    obs = np.zeros(OBS_SIZE, np.int8)
    checked = 0
    for _ in range(120):
        if g.done:
            break
        row, agent = g.row, g.current_player
        n = enumerate_legal(row, cards, legal)
        listed = {tuple(int(x) for x in t) for t in legal[:n]}
        out = np.full((MAX_LEGAL, 4), 7, np.int8)          # stale rows from a longer list
        mask = np.ones(NUM_PRIMARIES, np.int8)
        view_into(row, cards, agent, legal, n, MAX_LEGAL, obs, out, mask)
        assert np.array_equal(out[:n], legal[:n]) and not out[n:].any()
        assert set(np.flatnonzero(mask).tolist()) == {t[0] for t in listed}
        # an unlisted tuple (in range) is ILLEGAL and changes nothing
        bad = next(c for c in (tuple(int(rng.integers(h)) for h in HEAD_SIZES) for _ in range(1000))
                   if c not in listed)
        before = row.copy()
        status, reward, n2 = step_into(row, cards, np.array(bad, np.int64), agent, -1, np.ones(1, np.uint64),
                                       legal, n, n, obs, out, mask)
        assert status == ILLEGAL and reward == 0.0 and n2 == n and np.array_equal(row, before)
        # the last listed tuple is taken (on a copy; the game goes on with a random listed tuple)
        last = legal[n - 1].astype(np.int64).copy()
        copy = row.copy()
        status, _, _ = step_into(copy, cards, last, agent, -1, np.ones(1, np.uint64), legal.copy(), n, n, obs, out,
                                 mask)
        assert status != ILLEGAL and not np.array_equal(copy, before)
        g.apply(tuple(legal[int(rng.integers(n))]))
        checked += 1
    assert checked >= 60


@_NO_PUFFER
def test_illegal_total_counts_every_illegal_step():
    """TCGPufferEnv.illegal_total sums the illegal actions of every step (not only the last one),
    and each step's infos report that step's count."""
    code = """
import numpy as np
from tcg_env.puffer import make_env, unpack
from verification.spec import HEAD_SIZES
env = make_env(num_games=3, seed=1, log_interval=0)
ks = []
for step in range(3):
    _, lt, lc = unpack(env.observations)
    acts = lt[np.arange(3), 0].astype(np.int64)           # every row's first listed tuple
    listed = {tuple(int(x) for x in t) for t in lt[0, :lc[0]]}
    bad = next((a, b, c, d) for a in range(HEAD_SIZES[0]) for b in range(HEAD_SIZES[1])
               for c in range(HEAD_SIZES[2]) for d in range(HEAD_SIZES[3]) if (a, b, c, d) not in listed)
    acts[0] = bad                                          # row 0 illegal on every step
    before = env.observations[0].copy()
    _, _, _, _, infos = env.step(acts)
    ks.append(infos[0]["illegal_actions"])
    assert np.array_equal(env.observations[0], before)     # the row keeps its observation
assert ks == [1, 2, 3] or ks == [1, 1, 1], ks
assert env.illegal_total == 3, env.illegal_total
print("OK")
"""
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache" / "tests"))
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout[-2000:] + r.stderr[-4000:]


# -- mutation audit of tcg_env/puffer.py ---------------------------------------------------------

_CHECKS_RUNNER = """
import json, sys, traceback
results = {}
for name, code in json.loads(sys.stdin.read()):   # in order: the import-hygiene check comes first
    try:
        exec(code, {})
        results[name] = "OK"
    except BaseException:
        results[name] = traceback.format_exc()[-3000:]
print(json.dumps(results))
"""


_BUFFER_SHAPES = """
import numpy as np
from tcg_env.puffer import FLAT_OBS_SIZE, make_env
def bufs(n, **change):
    b = dict(observations=np.zeros((n, FLAT_OBS_SIZE), np.int8), rewards=np.zeros(n, np.float32),
             terminals=np.zeros(n, bool), truncations=np.zeros(n, bool), masks=np.ones(n, bool),
             actions=np.zeros((n, 4), np.int32))
    b.update(change)
    return b
env = make_env(num_games=4, seed=1, buf=bufs(4))   # the right buffers are adopted as they are
assert env.observations.shape == (4, FLAT_OBS_SIZE)
for change, says in (({"observations": np.zeros((4, 900), np.int8)}, "observations must be int8[4, 6544] for 4 games, got int8[4, 900]"),
                     ({"observations": np.zeros((2, FLAT_OBS_SIZE), np.int8)}, "observations must be int8[4, 6544]"),
                     ({"rewards": np.zeros(3, np.float32)}, "rewards must be float32[4] for 4 games, got float32[3]"),
                     ({"terminals": np.zeros(4, np.float32)}, "terminals must be bool[4]"),
                     ({"actions": np.zeros((4, 4), np.float32)}, "actions must be integer[4, 4]")):
    try:
        make_env(num_games=4, seed=1, buf=bufs(4, **change))
    except ValueError as e:
        assert str(e).startswith("buf: ") and says in str(e), (str(e), says)
    else:
        raise AssertionError(f"accepted {list(change)}")
for bad in ("x", None, 1.7, True, -1):
    try:
        make_env(num_games=2, seed=1, log_interval=bad)
    except ValueError as e:
        assert "log_interval must be a whole number" in str(e), str(e)
    else:
        raise AssertionError(f"log_interval={bad!r} accepted")
# a buffer rebound after construction (the kernels would write past a short one) is refused
# before the step, which changes nothing
env = make_env(num_games=4, seed=1, log_interval=0)
before = env.vec.state.copy()
env.observations = np.zeros((4, 900), np.int8)
for call in (lambda: env.step(np.zeros((4, 4), np.int32)), lambda: env.reset(3)):
    try:
        call()
    except ValueError as e:
        assert str(e).startswith("the PufferLib buffers: observations must be int8[4, 6544]"), str(e)
    else:
        raise AssertionError("a short observation buffer was written")
    assert np.array_equal(env.vec.state, before)
"""


@_NO_PUFFER
def test_buffers_handed_in_must_fit_the_env_and_log_interval_is_whole(puffer_checks):
    """A ``buf`` of rows shorter than FLAT_OBS_SIZE corrupted the heap (the kernels write rows by
    index) and fewer rows than games crashed; now each buffer is checked on entry. A
    log_interval of "x" was a bare int() error and 1.7 read as 1."""
    assert puffer_checks["buffer_shapes"] == "OK", puffer_checks["buffer_shapes"]


@pytest.fixture(scope="module")
def puffer_checks():
    """Runs the code blocks below in ONE fresh process (importing pufferlib has process-wide side
    effects; one process pays its start-up once): {name: "OK" or the traceback}."""
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache" / "tests"))
    blocks = [("import_hygiene", _IMPORT_HYGIENE), ("buffer_contract", _BUFFER_CONTRACT),
              ("episode_stats", _EPISODE_STATS), ("buffer_shapes", _BUFFER_SHAPES)]
    r = subprocess.run([sys.executable, "-c", _CHECKS_RUNNER], input=json.dumps(blocks), cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return json.loads(r.stdout.splitlines()[-1])


def test_flat_observation_bounds_are_the_tightest_ones():
    """The flat Box's bounds are exact: the count's high byte tops at MAX_LEGAL // 128, the seat
    at 1, the reserved byte at 0, each tuple entry at its head's size - 1."""
    lo, hi = flat_observation_bounds()
    assert not lo[OBS_SIZE:].any()
    assert hi[OBS_SIZE:LEGAL_OFFSET].tolist() == [MAX_LEGAL // 128, 127, 1, 0]
    assert np.array_equal(hi[LEGAL_OFFSET:].reshape(MAX_LEGAL, 4), np.broadcast_to(np.subtract(HEAD_SIZES, 1),
                                                                                    (MAX_LEGAL, 4)))


@pytest.mark.parametrize("shape", [(FLAT_OBS_SIZE - 1,), (2, FLAT_OBS_SIZE + 1), (FLAT_OBS_SIZE, 2)])
def test_unpack_refuses_a_wrong_last_axis(shape):
    """unpack and its callers never read a buffer of another layout: the last axis must be FLAT_OBS_SIZE."""
    with pytest.raises(ValueError, match=str(FLAT_OBS_SIZE)):
        unpack(np.zeros(shape, np.int8))


_IMPORT_HYGIENE = """
import signal, sys, warnings
from tcg_env.puffer import import_pufferlib
hook, handler, filters = sys.excepthook, signal.getsignal(signal.SIGINT), list(warnings.filters)
import_pufferlib()
assert sys.excepthook is hook, sys.excepthook
assert signal.getsignal(signal.SIGINT) is handler, signal.getsignal(signal.SIGINT)
assert warnings.filters == filters, [f for f in warnings.filters if f not in filters]
warnings.warn("still a warning", RuntimeWarning)   # not turned into an error
"""


@_NO_PUFFER
def test_import_pufferlib_undoes_its_process_wide_side_effects(puffer_checks):
    """import_pufferlib leaves sys.excepthook, the SIGINT handler and the warning filters as it found them."""
    assert puffer_checks["import_hygiene"] == "OK", puffer_checks["import_hygiene"]


_BUFFER_CONTRACT = """
import numpy as np
from tcg_env.puffer import make_env, unpack, seat
from tcg_env.render import render_state
from tcg_env.vec import VecTCG
for seed in (5, 11):   # built with a seed: the games of VecTCG(num_games, seed), before any reset
    env = make_env(num_games=3, seed=seed)
    ref = VecTCG(3, seed=seed)
    obs, legal, count = unpack(env.observations)
    assert np.array_equal(obs, ref.observations) and np.array_equal(count, ref.legal_count), seed
    assert np.array_equal(seat(env.observations), ref.current_player), seed
    assert [env.render(i) for i in range(3)] == [render_state(ref.game(i)) for i in range(3)]
bufs = (env.observations, env.rewards, env.terminals, env.truncations)
o, infos = env.reset(7)
assert o is env.observations and infos == []
for _ in range(3):
    _, legal, _ = unpack(env.observations)
    out = env.step(legal[:, 0].astype(np.int64))
    assert all(a is b for a, b in zip(out[:4], bufs)), "step must return the buffers, written in place"
    assert env.masks.dtype == np.bool_ and env.masks.all()
"""


@_NO_PUFFER
def test_buffers_are_written_in_place_and_seeded_from_the_constructor(puffer_checks):
    """The PufferLib contract: reset/step return the env's own buffers (filled in place, masks
    all True); a new env holds VecTCG(num_games, seed)'s games; render(i) draws game i."""
    assert puffer_checks["buffer_contract"] == "OK", puffer_checks["buffer_contract"]


_EPISODE_STATS = """
import numpy as np
from tcg_env.puffer import make_env
from tcg_env.vec import VecTCG

WIN, LOSS, DRAW, CAP = 1.0, -1.0, 0.0, None   # seat 0's result; CAP: a truncation at the turn cap

class Scripted(VecTCG):
    \"\"\"A VecTCG whose games end when a script says: step k ends the rows of script[k].\"\"\"
    script = []
    def step(self, actions=None):
        ends = self.script.pop(0)
        self.terminals[:] = self.truncations[:] = False
        self.seat_rewards[:] = 0
        for row, result in ends.items():
            if result is CAP:
                self.truncations[row] = True
            else:
                self.terminals[row] = True
                self.seat_rewards[row] = (result, -result)
        return self.observations, self.rewards, self.terminals, self.truncations, []

def stats(log_interval, script, reset_after=None):
    env = make_env(num_games=3, seed=0, log_interval=log_interval)
    env.vec = Scripted(3, seed=0)
    env.vec.script = list(script)
    out = []
    for k in range(len(script)):
        if k == reset_after:
            env.reset()
        _, _, _, _, infos = env.step(np.zeros((3, 4), np.int64))
        out += [(k + 1, i) for i in infos if "episodes" in i]
    return out

def row(episodes, length, truncation, draw, seat0):
    return dict(episodes=episodes, episode_length=length, truncation_rate=truncation, draw_rate=draw,
                seat0_win_rate=seat0)

SCRIPT = [{0: WIN}, {1: CAP}, {2: DRAW, 0: LOSS}, {}, {}, {1: WIN}]
got = stats(3, SCRIPT)
# steps 1-3: episodes of lengths 1, 2, 3 and 2 (row 0 again); one truncation, one draw, one seat-0 win
assert got == [(3, row(4, 2.0, 0.25, 0.25, 0.25)), (6, row(1, 4.0, 0.0, 0.0, 1.0))], got
assert stats(0, SCRIPT) == []                 # log_interval=0: never
# reset() starts the lengths and the interval again, and drops the unreported episodes
got = stats(3, [{}, {2: DRAW}, {}, {0: WIN}, {}, {}], reset_after=2)
assert got == [(5, row(1, 2.0, 0.0, 0.0, 1.0))], got
"""


@_NO_PUFFER
def test_episode_statistics_in_infos(puffer_checks):
    """Every log_interval steps (never when 0) infos gets one dict of the episodes ended since the
    last one: count, mean length, truncation, draw and seat-0 win rates (a truncation is not a
    draw); reset() starts lengths and the interval anew."""
    assert puffer_checks["episode_stats"] == "OK", puffer_checks["episode_stats"]
