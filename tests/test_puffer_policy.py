"""training/puffer_policy.py's helpers and hook bookkeeping, mostly without PufferLib.

Written for a mutation audit of the module: each test guards a behaviour that the
end-to-end checks in tests/test_puffer.py never exercise (counts of 128 or more, padding
rows, illegal draws, the strict/non-strict switch, the sampler's generator and entropy mode,
the replay's batch check, the config's key check, and install/uninstall/installed()). The
one test that needs PufferLib runs in a subprocess (importing pufferlib has process-wide
side effects) and skips when it is not installed, as tests/test_puffer.py does.
"""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tcg_env.observation import OBS_SIZE
from tcg_env.puffer import FLAT_OBS_SIZE, _pack, unpack
from verification.spec import HEAD_SIZES, MAX_LEGAL

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")

_NO_PUFFER = pytest.mark.skipif(importlib.util.find_spec("pufferlib") is None,
                                reason="PufferLib is not installed in this venv (optional; `make puffer`)")


def _tiny_wrapper(**kw):
    from policy.config import PolicyConfig
    from policy.model import TCGPolicy
    from training.puffer_policy import PufferTCGPolicy
    torch.manual_seed(0)
    return PufferTCGPolicy(TCGPolicy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32)), **kw)


def _flat_rows(games=12, steps=6, seed=5):
    """Flat PufferLib rows of ``games`` self-play games after ``steps`` random legal moves
    (main-phase positions with real choices in several heads)."""
    from tcg_env.vec import VecTCG
    v = VecTCG(games, seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        acts = np.stack([v.legal_tuples[i, rng.integers(v.legal_count[i])] for i in range(games)]).astype(np.int64)
        v.step(acts)
    flat = np.zeros((games, FLAT_OBS_SIZE), np.int8)
    _pack(v.observations, v.legal_tuples, v.legal_count, v.current_player, flat)
    return torch.from_numpy(flat)


def _listed(flat_row):
    _, lt, lc = unpack(flat_row.numpy())
    return {tuple(int(x) for x in t) for t in lt[:lc]}


def test_unpack_tensor_matches_numpy_unpack_for_every_count_width_and_checks_the_shape():
    """unpack_tensor is the torch twin of tcg_env.puffer.unpack, also for counts >= 128 (the
    count's high byte weighs 128), and refuses a batch whose width is not FLAT_OBS_SIZE."""
    from training.puffer_policy import unpack_tensor
    rng = np.random.default_rng(0)
    counts = np.array([0, 1, 127, 128, 129, 255, 256, MAX_LEGAL - 1, MAX_LEGAL], np.int32)
    n = counts.size
    obs = rng.integers(-128, 128, (n, OBS_SIZE)).astype(np.int8)
    legal = np.stack([rng.integers(0, h, (n, MAX_LEGAL)) for h in HEAD_SIZES], axis=-1).astype(np.int8)
    flat = np.zeros((n, FLAT_OBS_SIZE), np.int8)
    _pack(obs, legal, counts, np.zeros(n, np.int32), flat)
    o, lt, lc = unpack_tensor(torch.from_numpy(flat))
    ro, rlt, rlc = unpack(flat)
    assert lc.dtype == torch.long and lc.tolist() == counts.tolist() == rlc.tolist()
    assert np.array_equal(o.numpy(), ro) and np.array_equal(lt.numpy(), rlt)
    assert lt.shape == (n, MAX_LEGAL, 4) and o.shape == (n, OBS_SIZE)
    for bad in (torch.zeros(2, FLAT_OBS_SIZE - 4, dtype=torch.int8), torch.zeros(2, FLAT_OBS_SIZE + 4, dtype=torch.int8),
                torch.zeros(FLAT_OBS_SIZE, dtype=torch.int8), torch.zeros(1, 2, FLAT_OBS_SIZE, dtype=torch.int8)):
        with pytest.raises(ValueError, match="expected flat observations"):
            unpack_tensor(bad)


def test_legal_membership_matches_whole_tuples_within_the_count_only():
    """legal_membership is True only for a tuple equal in all four heads to one of the row's
    first ``count`` tuples: the zero padding past the count, a tuple sharing only some heads,
    and a row with count 0 are not members."""
    from training.puffer_policy import legal_membership
    legal = torch.zeros(4, 5, 4, dtype=torch.int8)
    legal[0, :2] = torch.tensor([[1, 2, 3, 0], [4, 5, 6, 1]], dtype=torch.int8)   # count 2, rows 2.. zero padding
    legal[1, :3] = torch.tensor([[0, 0, 0, 0], [1, 0, 0, 0], [2, 3, 4, 1]], dtype=torch.int8)
    legal[2, :1] = torch.tensor([[7, 1, 1, 0]], dtype=torch.int8)
    count = torch.tensor([2, 3, 1, 0])
    cases = [  # (row, tuple, member?)
        (0, (1, 2, 3, 0), True), (0, (4, 5, 6, 1), True),
        (0, (0, 0, 0, 0), False),          # padding row 2 of a 2-tuple list
        (0, (1, 2, 3, 1), False), (0, (1, 5, 6, 1), False), (0, (4, 2, 3, 0), False),   # some heads match
        (1, (0, 0, 0, 0), True), (1, (2, 3, 4, 1), True), (1, (2, 3, 4, 0), False),
        (2, (7, 1, 1, 0), True), (2, (0, 0, 0, 0), False),   # padding right after the last listed tuple
        (3, (0, 0, 0, 0), False),          # count 0: nothing is a member
    ]
    for row, t, want in cases:
        idx = torch.tensor([row])
        got = legal_membership(torch.tensor([t]), legal[idx], count[idx])
        assert got.tolist() == [want], (row, t)
    # the whole batch at once, int8 actions like PuffeRL's buffer
    acts = torch.tensor([[1, 2, 3, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.int8)
    assert legal_membership(acts, legal, count).tolist() == [True, True, False, False]
    assert legal_membership(torch.zeros(0, 4), torch.zeros(0, 3, 4), torch.zeros(0, dtype=torch.long)).numel() == 0


def _corrupting_sample(monkeypatch, rows_bad):
    """Make training.sampler.sample return, for the rows in ``rows_bad``, a tuple not in the row's list."""
    from training import sampler
    real = sampler.sample

    def fake(policy, enc, legal, count, **kw):
        res = real(policy, enc, legal, count, **kw)
        acts = res.actions.clone()
        for r in rows_bad:
            listed = {tuple(int(x) for x in t) for t in legal[r, :int(count[r])].tolist()}
            acts[r] = torch.tensor(next(c for c in ((a, b, 31, 1) for a in range(HEAD_SIZES[0]) for b in range(32))
                                        if c not in listed))
        res.actions = acts
        return res
    monkeypatch.setattr(sampler, "sample", fake)


def test_strict_hook_raises_on_an_illegal_draw(monkeypatch):
    """strict=True (the default): a drawn tuple outside its row's legal list raises
    IllegalSampleError naming the row, after counting it."""
    from training.puffer_policy import IllegalSampleError, sample_logits
    flat = _flat_rows()
    w = _tiny_wrapper()
    _corrupting_sample(monkeypatch, [3])
    with torch.no_grad():
        logits, _ = w.forward_eval(flat, {})
        with pytest.raises(IllegalSampleError, match=r"\(row 3\)"):
            sample_logits(logits)
    assert w.stats.illegal_sampled == 1 and w.stats.first_illegal[0][0] == 3


def test_non_strict_hook_counts_illegal_draws_and_keeps_the_first_eight(monkeypatch):
    """strict=False: illegal draws are returned, counted in stats (illegal_sampled; checked and
    sampled count every row) and at most 8 (row, tuple) pairs are kept in first_illegal;
    max_legal_count is the longest list seen."""
    from training.puffer_policy import legal_membership, sample_logits, unpack_tensor
    flat = _flat_rows()
    B = flat.shape[0]
    _, lt, lc = unpack_tensor(flat)
    w = _tiny_wrapper(strict=False)
    bad_rows = [0, 2, 5, 6, 7]
    _corrupting_sample(monkeypatch, bad_rows)
    with torch.no_grad():
        for call in range(2):
            logits, _ = w.forward_eval(flat, {})
            a, lp, ent = sample_logits(logits)
            ok = legal_membership(a, lt, lc)
            assert torch.nonzero(~ok).flatten().tolist() == bad_rows
            for r in bad_rows:
                assert tuple(a[r].tolist()) not in _listed(flat[r])
    st = w.stats
    assert st.sample_calls == 2 and st.sampled == st.checked == 2 * B
    assert st.illegal_sampled == 2 * len(bad_rows)
    assert len(st.first_illegal) == 8
    assert [r for r, _ in st.first_illegal] == bad_rows + bad_rows[:3]
    assert st.max_legal_count == int(lc.max()) > 1
    assert st.as_dict()["illegal_sampled"] == 2 * len(bad_rows)


def test_replay_refuses_a_stored_batch_of_the_wrong_size():
    """The replay path checks that PuffeRL passed one stored tuple per row."""
    from training.puffer_policy import sample_logits
    flat = _flat_rows()
    w = _tiny_wrapper()
    with torch.no_grad():
        logits, _ = w.forward_eval(flat, {})
        a, _, _ = sample_logits(logits)
        for stored in (a[:-1], torch.cat([a, a[:1]])):
            with pytest.raises(ValueError, match="stored tuples for a batch of"):
                sample_logits(logits, action=stored)
    assert w.stats.replay_calls == 0 and w.stats.replayed == 0


def test_hook_draws_with_the_wrappers_generator_and_entropy_mode():
    """The wrapper's ``generator`` drives the draws (same seed, same tuples whatever the global
    RNG; the global RNG is not consumed) and its ``entropy`` mode reaches the sampler."""
    from training import sampler
    from training.puffer_policy import sample_logits, unpack_tensor
    flat = _flat_rows()
    _, lt, lc = unpack_tensor(flat)
    outs = []
    for global_seed in (1, 2):
        w = _tiny_wrapper(generator=torch.Generator().manual_seed(7), entropy="sampled")
        with torch.no_grad():
            logits, _ = w.forward_eval(flat, {})
            torch.manual_seed(global_seed)
            before = torch.get_rng_state()
            a, lp, ent = sample_logits(logits)
            assert torch.equal(torch.get_rng_state(), before), "the hook drew from the global RNG"
            ref = sampler.sample(w.policy, logits.encoding, logits.legal_tuples, logits.legal_count,
                                 generator=torch.Generator().manual_seed(7), entropy="sampled")
            exact = sampler.evaluate(w.policy, logits.encoding, logits.legal_tuples, logits.legal_count, a)
        assert torch.equal(a, ref.actions) and torch.allclose(lp, ref.log_prob)
        assert torch.allclose(ent, ref.entropy)
        assert not torch.allclose(ent, exact.entropy), "sampled-prefix and exact entropies coincide here"
        outs.append(a)
    assert torch.equal(outs[0], outs[1])


def test_train_config_applies_overrides_and_refuses_unknown_keys():
    """train_config: overrides replace defaults, every default key is present, and a key PuffeRL
    does not read raises KeyError naming it."""
    from training.puffer_policy import train_config
    cfg = train_config(batch_size=256, bptt_horizon=8)
    assert cfg["batch_size"] == 256 and cfg["bptt_horizon"] == 8 and cfg["device"] == "cpu"
    assert cfg["optimizer"] == "adam" and cfg["env"] == "tcg" and cfg["use_rnn"] is False
    assert set(cfg) == set(train_config())
    with pytest.raises(KeyError, match="learnig_rate"):
        train_config(learnig_rate=1e-3)
    with pytest.raises(KeyError, match="bogus"):
        train_config(seed=1, bogus=2)


_HOOK_LIFECYCLE = r"""
import sys, torch
import training.puffer_policy as pp
try:
    pp.sample_logits(torch.zeros(2, 3))
except RuntimeError as e:
    assert "before install" in str(e), e
else:
    raise SystemExit("foreign logits before install() did not raise")
from tcg_env.puffer import import_pufferlib
import_pufferlib()
import pufferlib.pytorch as pt
orig = pt.sample_logits
assert not pp.is_installed()
with pp.installed():
    assert pp.is_installed() and pt.sample_logits is pp.sample_logits
    with pp.installed():                       # nested: the inner block did not install, so it keeps it
        pass
    assert pt.sample_logits is pp.sample_logits
    # foreign logits reach PufferLib's own function, with the stored action
    torch.manual_seed(0)
    logits = torch.randn(64, 7)
    act = torch.randint(0, 7, (64,))
    a, lp, ent = pp.sample_logits(logits, action=act)
    ra, rlp, rent = orig(logits, action=act)
    assert torch.equal(a.flatten().long(), act) and torch.allclose(lp, rlp) and torch.allclose(ent, rent), (a, act)
assert pt.sample_logits is orig and not pp.is_installed(), "installed() did not restore the original"
pp.install(); pp.install()                     # idempotent: the original is remembered once
assert pt.sample_logits is pp.sample_logits
pp.uninstall()
assert pt.sample_logits is orig and not pp.is_installed(), "uninstall() did not restore the original"
pp.uninstall()
assert pt.sample_logits is orig
print("OK")
"""


@_NO_PUFFER
def test_install_uninstall_installed_and_foreign_logits():
    """The hook's life cycle in a fresh process: foreign logits before install() raise;
    installed() installs and restores (a nested block leaves it installed); install() is
    idempotent and uninstall() restores PufferLib's function; foreign logits go to that
    function with PuffeRL's stored action."""
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache" / "tests"))
    r = subprocess.run([sys.executable, "-c", _HOOK_LIFECYCLE], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout[-2000:] + r.stderr[-4000:]
