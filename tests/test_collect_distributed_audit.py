"""A second mutation audit of the trainer's rollout (``Trainer.collect`` and the helpers it calls)
and of ``training.distributed``: each test fails on at least one one-line change the older tests
(``test_collect.py``, ``test_train.py``, ``test_config.py``, ...) let through."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_collect import SHAPING, _edit_games, trainer
from test_config import run_two_ranks
from training import distributed as D
from training.ppo import PoolMember, Rollout

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------ the pool's win rates
def test_a_members_win_rate_is_smoothed_toward_an_even_match():
    """learner_win_rate, which weighs how often a pool member is drawn: a member never played
    counts as an even match (not as always or never beaten), a win and a loss move it
    symmetrically, and many games approach the observed rate."""
    def rate(games, wins):
        return PoolMember("m", 0, {}, games, wins).learner_win_rate()
    assert rate(0, 0.0) == 0.5
    for games in (1, 2, 5, 40):
        for wins in range(games + 1):
            assert rate(games, float(wins)) + rate(games, float(games - wins)) == pytest.approx(1.0)
        assert 0.0 < rate(games, 0.0) < 0.5 < rate(games, float(games)) < 1.0
    assert rate(2, 1.0) == 0.5
    assert rate(1000, 1000.0) > 0.99 and rate(1000, 0.0) < 0.01
    assert rate(1000, 250.0) == pytest.approx(0.25, abs=1e-3)


# ------------------------------------------------------------------ what the rollout stores
def test_legal_padded_keeps_each_steps_list_and_pads_it_with_zeros():
    """Rollout.legal_padded: one int8 array as wide as the widest step (wherever it is), each
    step's tuples in front and zeros after them."""
    rng = np.random.default_rng(0)
    widths = (2, 5, 3)
    steps = [rng.integers(1, 100, (6, w, 4)).astype(np.int8) for w in widths]
    ro = Rollout(legal=steps)
    out = ro.legal_padded()
    assert out.shape == (3, 6, 5, 4) and out.dtype == np.int8
    for t, (w, l) in enumerate(zip(widths, steps)):
        assert np.array_equal(out[t, :, :w], l)
        assert not out[t, :, w:].any()


def test_a_game_won_outright_is_not_bootstrapped(tmp_path):
    """A game that ends with a winner (a terminal, not a cut at the turn cap) has no value to
    bootstrap from: its final values and final potentials stay 0; only truncated games get them."""
    tr = trainer(tmp_path, rollout_steps=40, pool_fraction=0.0, **SHAPING)
    _edit_games(tr, hp=1)
    ro, _ = tr.collect()
    dones, truncs = np.stack(ro.dones), np.stack(ro.truncs)
    won = dones & ~truncs
    assert won.sum() >= 4
    assert not np.stack(ro.final_values)[won].any()
    assert not np.stack(ro.final_phis)[won].any()
    tr.close()


# ------------------------------------------------------------------ training.distributed, one process
@pytest.fixture
def fake_group(monkeypatch):
    """init()'s view of the world faked: no process group yet, CUDA present; the calls that
    would join a group or pick a GPU are recorded instead."""
    calls = []
    monkeypatch.setattr(D.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(D.dist, "init_process_group", lambda backend: calls.append(("group", backend)))
    monkeypatch.setattr(D.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(D.torch.cuda, "set_device", lambda i: calls.append(("gpu", i)))
    for k in ("WORLD_SIZE", "LOCAL_RANK", "RANK", "TCG_DIST_BACKEND"):
        monkeypatch.delenv(k, raising=False)
    return calls


def test_init_joins_a_group_only_under_torchrun(fake_group, monkeypatch):
    """Without torchrun (WORLD_SIZE unset or 1) init() joins no group; in a group already
    joined it does not join again."""
    D.init()
    monkeypatch.setenv("WORLD_SIZE", "1")
    D.init()
    assert fake_group == []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(D.dist, "is_initialized", lambda: True)
    D.init()
    assert fake_group == []


def test_init_takes_nccl_on_the_ranks_own_gpu_unless_told_gloo(fake_group, monkeypatch):
    """With CUDA a rank joins with NCCL and takes the GPU of its LOCAL_RANK (not its global
    RANK); TCG_DIST_BACKEND=gloo, or no CUDA, gives gloo and picks no GPU."""
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("RANK", "5")
    monkeypatch.setenv("LOCAL_RANK", "1")
    D.init()
    assert fake_group == [("group", "nccl"), ("gpu", 1)]
    fake_group.clear()
    monkeypatch.setenv("TCG_DIST_BACKEND", "gloo")
    D.init()
    assert fake_group == [("group", "gloo")]
    fake_group.clear()
    monkeypatch.delenv("TCG_DIST_BACKEND")
    monkeypatch.setattr(D.torch.cuda, "is_available", lambda: False)
    D.init()
    assert fake_group == [("group", "gloo")]


def test_a_ranks_device_is_its_local_rank_not_its_global_rank(monkeypatch):
    """On a second machine of a job (RANK 5, LOCAL_RANK 1) 'cuda' means this machine's GPU 1;
    a CPU device is left alone."""
    monkeypatch.setattr(D, "active", lambda: True)
    monkeypatch.setenv("RANK", "5")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert D.local_device("cuda") == D.local_device("cuda:0") == "cuda:1"
    assert D.local_device("cpu") == "cpu"


# ------------------------------------------------------------------ training.distributed, two gloo ranks
RANKS = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from training import distributed as D
D.init()
D.init()   # a second call joins nothing again
r = D.rank()
out = {}
big = 2 ** 40
out["sum"] = D.all_reduce_sum(big + r)
out["mean"] = D.all_reduce_mean(1 / 3 + r)
x = np.array([0.1, 1 / 3 + r])
kept = x.copy()
y = D.all_reduce_sum_array(x)
out["array"], out["array_dtype"], out["x_kept"] = y.tolist(), str(y.dtype), bool(np.array_equal(x, kept))
# the same keys in another order on each rank
stats = {"b": 1.0, "a": 2.0 * (r + 1)} if r == 0 else {"a": 2.0 * (r + 1), "b": 1.0}
out["order"] = D.reduce_stats(stats)
precise = {"x": 1 / 3 + r, "illegal_actions": big + r}
out["precise"] = D.reduce_stats(precise)
out["input_kept"] = precise == {"x": 1 / 3 + r, "illegal_actions": big + r}
failed = []
for j in range(24):   # any key set reduces (its digest travels as a signed 64-bit integer)
    keys = [f"k{j}_{i}" for i in range(j % 3 + 1)]
    try:
        assert D.reduce_stats({k: 1.0 for k in keys}) == {k: 1.0 for k in keys}
    except Exception as e:
        failed.append(f"{keys}: {type(e).__name__} {e}")
out["key_sets_failed"] = failed
out["gathered"] = D.gather_to_main({"rank": r})
if r == 1:
    time.sleep(1.5)
t0 = time.time()
D.barrier()
out["barrier_wait"] = time.time() - t0
print(json.dumps(out))
D.shutdown()
"""


def test_two_ranks_reduce_exactly_leave_their_inputs_alone_and_gather_on_rank_0():
    """Two gloo ranks: counts and means reduce without float32 rounding (a count past 2**24, a
    third), the array sum returns float64 and leaves the caller's array as it was, reduce_stats
    takes the same keys in any order and any key set, and leaves its input dict alone;
    gather_to_main gives rank 0 every rank's object in rank order and the others None; barrier
    waits for the slower rank; a second init() is a no-op."""
    outs, stderrs = run_two_ranks(RANKS)
    assert outs is not None, stderrs[0][-3000:] + stderrs[1][-3000:]
    big, third = 2 ** 40, 1 / 3
    for r, o in enumerate(outs):
        assert o["sum"] == 2 * big + 1
        assert o["mean"] == (third + (third + 1)) / 2
        assert o["array"] == [0.1 + 0.1, third + (third + 1)] and o["array_dtype"] == "float64"
        assert o["x_kept"]
        assert o["order"] == {"a": 3.0, "b": 1.0}
        assert o["precise"] == {"x": (third + (third + 1)) / 2, "illegal_actions": 2 * big + 1}
        assert o["input_kept"]
        assert o["key_sets_failed"] == []
        assert o["gathered"] == ([{"rank": 0}, {"rank": 1}] if r == 0 else None)
    assert outs[0]["barrier_wait"] > 1.0


# ------------------------------------------------------------------ ending a rank: distributed.finish
FINISH = """
import atexit, json, sys
sys.path.insert(0, sys.argv[1])
import torch
from torch import nn
from training import distributed as D
D.init()
atexit.register(lambda: print("python teardown ran", file=sys.stderr))
model = D.wrap(nn.Linear(4, 2))   # alive to the end, as a Trainer's DDP wrapper is in tcg train
model(torch.randn(3, 4)).sum().backward()
gathered = D.gather_to_main(D.rank())   # a collective with tensors just before the end, as the final eval
print(json.dumps({"rank": D.rank(), "gathered": gathered, "grad_equal": model.module.weight.grad.tolist()}))
D.finish(0)
print("after finish", file=sys.stderr)
"""


def test_finish_ends_two_ddp_ranks_without_pythons_teardown():
    """The end of a torchrun rank that still holds a DDP wrapper right after a collective (the
    teardown that deadlocked about once in 30 two-rank runs: ~Reducer joining gloo's threads
    while holding the GIL). finish leaves the group together, keeps what was printed but not
    yet flushed (stdout is a pipe here), runs no atexit handler and none of Python's teardown,
    and nothing after it."""
    outs, stderrs = run_two_ranks(FINISH)
    assert outs is not None, stderrs[0][-3000:] + stderrs[1][-3000:]
    assert [o["rank"] for o in outs] == [0, 1]
    assert outs[0]["gathered"] == [0, 1] and outs[1]["gathered"] is None
    assert outs[0]["grad_equal"] == outs[1]["grad_equal"]   # DDP really averaged the gradients
    for err in stderrs:
        assert "python teardown ran" not in err and "after finish" not in err, err[-2000:]


def test_finish_without_torchrun_exits_with_its_code_and_flushes():
    """Outside torchrun there is no group to leave: finish flushes and exits with its code
    (a failing code skips the barrier: the ranks that did not fail would never reach it)."""
    script = ("import atexit, sys; sys.path.insert(0, sys.argv[1]); from training import distributed as D; "
              "atexit.register(lambda: print('python teardown ran', file=sys.stderr)); "
              "print('kept', end=''); sys.stderr.write('err kept'); D.finish(3)")
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK")}
    res = subprocess.run([sys.executable, "-c", script, str(Path(__file__).resolve().parents[1])],
                         capture_output=True, text=True, timeout=120, env=env)
    assert (res.returncode, res.stdout, res.stderr) == (3, "kept", "err kept")


RAISING_RANK = """
import atexit, sys
sys.path.insert(0, sys.argv[1])
import torch
from torch import nn
from training import cli
from training import distributed as D
D.init()
atexit.register(lambda: print("python teardown ran", file=sys.stderr))
model = D.wrap(nn.Linear(4, 2))
model(torch.randn(3, 4)).sum().backward()
D.gather_to_main(D.rank())

def boom(args):
    raise RuntimeError(f"boom on rank {D.rank()}")

cli._cmd_train = boom   # build_parser binds tcg train to it
cli.main(["train"])
print("after main", file=sys.stderr)
"""


def test_a_rank_that_raises_in_tcg_main_says_why_and_ends_through_finish():
    """An exception inside a tcg command on a torchrun rank (a bug, Ctrl-C) is printed and the
    rank ends through finish with code 1: no barrier the other ranks may never reach, and not
    Python's teardown, which can deadlock in gloo with a DDP wrapper still alive."""
    outs, stderrs = run_two_ranks(RAISING_RANK)
    assert outs is None   # the ranks failed
    # rank 0 is waited for first; rank 1 may be stopped by run_two_ranks before it writes anything
    assert "RuntimeError: boom on rank 0" in stderrs[0], stderrs[0][-2000:]
    for err in stderrs:
        assert "python teardown ran" not in err and "after main" not in err, err[-2000:]
