"""The sequential sampler (training/sampler.py): legality, exact distribution, replay,
gradients, errors, prefix-derived masks (PITFALLS.md items 1, 4, 5, 7, 8 and 9) and the
independent-heads ablation.

Heavy sampling uses a tiny policy (the sampler's code path does not depend on the
model's width); replay and gradient checks use the default "small" policy.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from policy.config import PolicyConfig
from policy.model import TCGPolicy, obs_tensors
from training.sampler import (NoLegalActionError, ReplayMismatchError, SampleResult, _masked_log_softmax, evaluate,
                              exact_entropy, prefix_mask, sample)
from verification.spec import HEAD_SIZES, SLOT_KIND, Primary, SlotKind

from policy_data import bot_driven_states

NUM_HEADS = 4
TINY = PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32)
_MULT = [int(np.prod(HEAD_SIZES[k + 1:])) for k in range(NUM_HEADS)]   # tuple -> integer key


# ----------------------------------------------------------------------------- helpers
def collect_states(num_games=48, steps=120, seed=7):
    """Varied decision states from games driven by a mix of random and heuristic bots.

    Returns (obs int8 [N, OBS], legal int8 [N, MAX_LEGAL, 4], count int32 [N]); duplicate
    observations are dropped, so every row has a distinct observation. Rows of ``legal``
    past ``count`` hold the env's stale tuples of earlier decisions."""
    obs, leg, cnt = bot_driven_states(num_games, seed, steps)
    _, first = np.unique(obs, axis=0, return_index=True)
    keep = np.sort(first)
    return obs[keep], leg[keep], cnt[keep]


def tuple_key(t: torch.Tensor) -> torch.Tensor:
    """An integer per tuple (last dim 4), unique over the product of the head sizes."""
    t = t.long()
    return sum(t[..., k] * _MULT[k] for k in range(NUM_HEADS))


def valid_rows(legal: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    return torch.arange(legal.shape[1]).unsqueeze(0) < count.long().unsqueeze(1)


def my_prefix_mask(legal, valid, prefix, k):
    """Independent re-implementation: values of head k that continue ``prefix[:, :k]``."""
    legal = legal.long()
    match = valid.clone()
    if k:
        match &= (legal[:, :, :k] == prefix[:, None, :k].long()).all(-1)
    size = HEAD_SIZES[k]
    onehot = torch.nn.functional.one_hot(legal[:, :, k].clamp(0, size - 1), size).bool()
    return (onehot & match.unsqueeze(-1)).any(1)


def assert_legal(actions, legal, count, what=""):
    """Vectorised: every row's action tuple is one of its first ``count`` legal tuples."""
    valid = valid_rows(legal, count)
    hit = ((tuple_key(legal) == tuple_key(actions).unsqueeze(1)) & valid).any(1)
    if not bool(hit.all()):
        r = int(torch.nonzero(~hit)[0])
        raise AssertionError(f"{what}: row {r} sampled {actions[r].tolist()}, not among its "
                             f"{int(count[r])} legal tuples")


def tensors(obs, leg, cnt, idx=None, width=None):
    if idx is not None:
        obs, leg, cnt = obs[idx], leg[idx], cnt[idx]
    g, e = obs_tensors(np.ascontiguousarray(obs))
    L = torch.as_tensor(np.ascontiguousarray(leg[:, :width] if width else leg))
    return g, e, L, torch.as_tensor(cnt)


def make_policy(cfg=None, seed=0, scale=None):
    torch.manual_seed(seed)
    pol = TCGPolicy(cfg or PolicyConfig())
    if scale is not None:   # sharpen (or blow up) the output layers
        with torch.no_grad():
            for m in list(pol.bin_out) + list(pol.ptr_q):
                m.weight.mul_(scale)
                m.bias.mul_(scale)
    return pol


def chi2_quantile(df: int, z: float) -> float:
    """Wilson-Hilferty approximation of the chi-square quantile at standard-normal z."""
    a = 2.0 / (9.0 * df)
    return df * (1.0 - a + z * math.sqrt(a)) ** 3


def chi2_stat(observed: np.ndarray, expected: np.ndarray):
    """Chi-square statistic with the cells of expected count < 5 pooled into one."""
    small = expected < 5
    o = np.append(observed[~small], observed[small].sum())
    e = np.append(expected[~small], expected[small].sum())
    if e[-1] == 0:
        o, e = o[:-1], e[:-1]
    return float(((o - e) ** 2 / e).sum()), len(e) - 1


Z_1E5 = 4.2649  # upper 1e-5 quantile of N(0, 1)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def states():
    return collect_states()


@pytest.fixture(scope="module")
def small_states(states):
    """A few states with 2..40 legal tuples and as many different primaries and
    non-forced pointer heads as possible."""
    obs, leg, cnt = states
    chosen, seen = [], set()
    for i in np.argsort(-cnt, kind="stable"):
        n = int(cnt[i])
        if not 2 <= n <= 40:
            continue
        prims = set(leg[i, :n, 0].tolist())
        if prims - seen:
            chosen.append(int(i))
            seen |= prims
        if len(chosen) == 5:
            break
    assert len(chosen) >= 4 and len(seen) >= 5, (chosen, seen)
    return np.array(chosen)


# ----------------------------------------------------------------------------- 1. legality
def _with_forced_rows(obs, leg, cnt, n_forced=400, seed=0):
    """Append constructed one-tuple decisions: a long legal list cut to one of its tuples
    (moved to row 0), the rest of the list left behind as stale padding."""
    rng = np.random.default_rng(seed)
    src = rng.choice(np.nonzero(cnt >= 8)[0], n_forced)
    leg2 = leg[src].copy()
    pick = rng.integers(0, cnt[src])
    leg2[:, 0] = leg[src, pick]
    return (np.concatenate([obs, obs[src]]), np.concatenate([leg, leg2]),
            np.concatenate([cnt, np.ones(n_forced, cnt.dtype)]))


# non-finite or overflowing logits: an additive mask (logits + finfo.min) leaves them +inf,
# NaN or ~0 instead of -inf (PITFALLS 9)
_NONFINITE = torch.tensor([float("inf"), float("nan"), torch.finfo(torch.float32).max])


def _adversarial_head_logits(ctx, seed=0, nonfinite=False):
    """A head_logits stand-in: +1e4 on every value that is NOT legal after the prefix,
    ±1e4 (random) on the legal ones. Any leak of the mask samples an illegal value. With
    ``nonfinite`` the illegal values get +inf, NaN or finfo(float32).max (at random) instead."""
    gen = torch.Generator().manual_seed(seed)

    def head_logits(enc, k, prefix=None, rows=None):
        B = len(rows) if rows is not None else enc.pooled.shape[0] if prefix is None else prefix.shape[0]
        rows = torch.arange(B) if rows is None else rows
        prefix = torch.zeros(B, 0, dtype=torch.long) if prefix is None else prefix
        mask = my_prefix_mask(ctx["legal"][rows], ctx["valid"][rows], prefix, k)
        sign = torch.randint(0, 2, (B, HEAD_SIZES[k]), generator=gen).float() * 2 - 1
        if nonfinite:
            bad = _NONFINITE[torch.randint(0, len(_NONFINITE), (B, HEAD_SIZES[k]), generator=gen)]
        else:
            bad = torch.full_like(sign, 1e4)
        return torch.where(mask, 1e4 * sign, bad)
    return head_logits


def test_every_sampled_tuple_is_legal(states, monkeypatch):
    """PITFALLS 1: >= 100,000 draws from varied game states, forced decisions included,
    with ordinary, huge (weights x1000), adversarial (+1e4, or +inf / NaN / finfo.max, on
    illegal values) and bf16 logits, sampled and greedy: every tuple is in its row's legal
    list and every log-prob is finite."""
    obs, leg, cnt = _with_forced_rows(*states)
    order = np.argsort(cnt, kind="stable")     # chunks of similar list lengths (fast)
    obs, leg, cnt = obs[order], leg[order], cnt[order]
    N = len(cnt)
    assert (cnt == 1).sum() >= 400 + 50          # constructed and natural forced decisions
    assert cnt.max() >= 60                       # and long lists
    width = min(leg.shape[1], int(cnt.max()) + 16)   # keep stale rows past the longest count
    g_all, e_all, L_all, C_all = tensors(obs, leg, cnt, width=width)
    plain = make_policy(TINY, seed=1)
    huge = make_policy(TINY, seed=2, scale=1000.0)
    bf16_rows = np.random.default_rng(3).choice(N, 768, replace=False)
    ctx = {}
    conditions = [  # name, policy, bf16, adversarial, greedy, passes, rows
        ("fp32", plain, False, False, False, 5, None),
        ("weights x1000", huge, False, False, False, 5, None),
        ("adversarial +-1e4 logits", plain, False, True, False, 5, None),
        ("adversarial +inf/nan/max on illegal values", plain, False, "nonfinite", False, 2, None),
        ("greedy fp32", plain, False, False, True, 1, None),
        ("bf16 autocast", plain, True, False, False, 1, bf16_rows),
        ("weights x1000 + bf16", huge, True, False, False, 1, bf16_rows),
    ]
    total = 0
    chunk = 4096
    for ci, (name, pol, bf16, adversarial, greedy, passes, rows) in enumerate(conditions):
        pol.eval()
        gen = torch.Generator().manual_seed(100 + ci)
        if adversarial:
            monkeypatch.setattr(pol, "head_logits",
                                _adversarial_head_logits(ctx, seed=ci, nonfinite=adversarial == "nonfinite"))
        rows = torch.arange(N) if rows is None else torch.as_tensor(np.sort(rows))
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            enc_rows = pol(g_all[rows], e_all[rows])
            for s in list(range(0, len(rows), chunk)) * passes:
                sl = torch.arange(s, min(s + chunk, len(rows)))
                idx = rows[sl]
                L, C = L_all[idx], C_all[idx]
                ctx["legal"], ctx["valid"] = L, valid_rows(L, C)
                r = sample(pol, enc_rows.index(sl), L, C, generator=gen, greedy=greedy, entropy="sampled")
                assert_legal(r.actions, L, C, name)
                assert torch.isfinite(r.log_prob).all() and (r.log_prob <= 0).all(), name
                assert torch.isfinite(r.head_entropy).all() and (r.head_entropy >= -1e-6).all(), name
                one = C == 1
                assert (r.log_prob[one] == 0).all() and (r.head_entropy[one] == 0).all(), name
                assert r.forced[one, 0].all() and (r.head_log_prob[one] == 0).all(), name
                total += len(idx)
        if adversarial:
            monkeypatch.undo()
    assert total >= 100_000, total


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_masked_log_softmax_ignores_adversarial_masked_logits(bf16):
    """PITFALLS 9: masking is one boolean fill on fp32 logits, not an added large negative.
    With +inf, NaN and finfo(float32).max on the masked entries (and finite logits, ±1e4
    included, on the legal ones), the legal log-probs are finite and logsumexp to 0, the
    masked ones are exactly -inf, and the masked entries get exactly zero gradient."""
    gen = torch.Generator().manual_seed(23)
    B, N = 600, 40
    mask = torch.rand(B, N, generator=gen) < torch.rand(B, 1, generator=gen)
    mask[torch.arange(B), torch.randint(0, N, (B,), generator=gen)] = True   # at least one legal value
    mask[:50] = False
    mask[torch.arange(50), torch.randint(0, N, (50,), generator=gen)] = True  # rows with one legal value
    scale = torch.tensor([1.0, 30.0, 1e4])[torch.randint(0, 3, (B, 1), generator=gen)]   # per row
    legal_logits = torch.randn(B, N, generator=gen) * scale
    bad = _NONFINITE[torch.randint(0, len(_NONFINITE), (B, N), generator=gen)]
    bad[:3] = _NONFINITE.unsqueeze(1)           # each kind alone on every masked entry of a row
    logits = torch.where(mask, legal_logits, bad)
    assert torch.isposinf(logits[~mask]).any() and torch.isnan(logits[~mask]).any()
    assert (logits[~mask] == torch.finfo(torch.float32).max).any()
    if bf16:   # bf16 logits: finfo(float32).max rounds to +inf there; finfo(bf16).max stands in
        logits = torch.where(logits == torch.finfo(torch.float32).max, torch.finfo(torch.bfloat16).max, logits)
        logits = logits.bfloat16()
    logits.requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logp = _masked_log_softmax(logits, mask)
    assert logp.dtype == torch.float32
    assert torch.isfinite(logp[mask]).all() and (logp[mask] <= 0).all()
    assert torch.equal(logp[~mask], torch.full_like(logp[~mask], float("-inf")))
    total = torch.logsumexp(logp, -1)          # the -inf entries add exactly 0
    assert torch.allclose(total, torch.zeros(B), atol=1e-5, rtol=0), total.abs().max()
    assert (logp[:50][mask[:50]] == 0).all()   # one legal value: log-prob exactly 0
    w = torch.randn(B, N, generator=gen)
    (grad,) = torch.autograd.grad((torch.where(mask, logp, torch.zeros_like(logp)) * w).sum(), logits)
    assert torch.isfinite(grad).all() and (grad[~mask] == 0).all()
    assert (grad[mask].abs() > 0).any()


# ----------------------------------------------------------------------------- 2. exact distribution
def _enumerate_logp(pol, enc, legal_row, n):
    """Brute force for one state: the log-prob of each of its n legal tuples, by chaining
    head_logits over the tuple's own prefix with a mask built from Python sets."""
    T = legal_row[:n].long()
    tuples = [tuple(t) for t in T.tolist()]
    sub = enc.index(torch.zeros(n, dtype=torch.long))
    logp = torch.zeros(n, dtype=torch.float64)
    L = T.unsqueeze(0).expand(n, n, 4)
    V = torch.ones(n, n, dtype=torch.bool)
    for k in range(NUM_HEADS):
        mask = torch.zeros(n, HEAD_SIZES[k], dtype=torch.bool)
        for i, t in enumerate(tuples):
            for u in tuples:
                if u[:k] == t[:k]:
                    mask[i, u[k]] = True
        assert torch.equal(mask, prefix_mask(L, V, T, k)), f"prefix_mask disagrees at head {k}"
        logits = pol.head_logits(sub, k, T[:, :k] if k else None).double()
        lp = torch.log_softmax(logits.masked_fill(~mask, float("-inf")), -1)
        logp += lp.gather(1, T[:, k:k + 1]).squeeze(1)
    return T, logp


@pytest.mark.parametrize("cfg,scale,bf16", [(PolicyConfig(), None, False), (TINY, 3.0, False),
                                           (PolicyConfig(), 3.0, True), (PolicyConfig(typed_inputs=True), 3.0, False),
                                           (PolicyConfig(pointer_mlp=True), 3.0, False)],
                         ids=["small", "tiny-sharp", "small-bf16", "typed", "pointer_mlp"])
def test_enumerated_probabilities_and_exact_entropy(states, small_states, cfg, scale, bf16):
    """Under bf16 autocast too: the softmax runs in fp32 (PITFALLS 9), so the tuple
    probabilities still sum to 1 within 1e-5 and match an fp64 chain of the same logits."""
    obs, leg, cnt = states
    pol = make_policy(cfg, seed=3, scale=scale).eval()
    g, e, L, C = tensors(obs, leg, cnt, small_states)
    # exact_entropy may compute the logits by another kernel (many prefixes per state): in
    # bf16 that rounds differently, so its comparison with the chain is looser there
    tol = 5e-3 if bf16 else 1e-5
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        enc = pol(g, e)
        H, bidx, tup, lp = exact_entropy(pol, enc, L, C, return_tuple_logp=True)
        assert lp.dtype == torch.float32 and H.dtype == torch.float32
        for b in range(len(C)):
            n = int(C[b])
            T, mine = _enumerate_logp(pol, enc.index(torch.tensor([b])), L[b], n)
            p = mine.exp()
            assert abs(p.sum().item() - 1) < 1e-5
            # evaluate, one row per legal tuple, gives the chained log-prob (same logits path)
            rows = torch.full((n,), b)
            ev = evaluate(pol, enc.index(rows), L[rows], C[rows], T, entropy="sampled")
            assert ev.log_prob.dtype == torch.float32
            assert torch.allclose(ev.log_prob.double(), mine, atol=1e-5, rtol=0)
            sel = bidx == b
            assert torch.equal(tup[sel], T), "exact_entropy enumerates the legal list in order"
            assert abs(lp[sel].double().exp().sum().item() - 1) < 1e-5
            assert torch.allclose(lp[sel].double(), mine, atol=tol, rtol=0)
            brute_h = -(p * mine).sum().item()
            assert abs(H[b].item() - brute_h) < tol, (H[b].item(), brute_h)
            assert brute_h > 0.05   # non-trivial distributions


def test_sampled_frequencies_match_exact_probabilities(states, small_states):
    """20,000 draws per state: chi-square against the enumerated distribution; sample's
    log_prob of every draw is the enumerated log-prob; every draw is legal."""
    obs, leg, cnt = states
    pol = make_policy(TINY, seed=4, scale=3.0).eval()
    g, e, L, C = tensors(obs, leg, cnt, small_states, width=40)
    draws = 20_000
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        enc = pol(g, e)
        _, bidx, tup, lp = exact_entropy(pol, enc, L, C, return_tuple_logp=True)
        powered = False
        for b in range(len(C)):
            n = int(C[b])
            T, p_lp = tup[bidx == b], lp[bidx == b]
            rows = torch.full((draws,), b, dtype=torch.long)
            r = sample(pol, enc.index(rows), L[rows], C[rows], generator=gen, entropy="sampled")
            assert_legal(r.actions, L[rows], C[rows], f"state {b}")
            # index of each draw in the legal list (keys are unique)
            keys = tuple_key(T)
            order = torch.argsort(keys)
            pos = order[torch.searchsorted(keys[order], tuple_key(r.actions))]
            assert torch.equal(T[pos], r.actions)
            assert torch.allclose(r.log_prob, p_lp[pos], atol=1e-5, rtol=0)
            observed = np.bincount(pos.numpy(), minlength=n).astype(float)
            expected = draws * p_lp.double().exp().numpy()
            stat, df = chi2_stat(observed, expected)
            assert df >= 1
            limit = chi2_quantile(df, Z_1E5)
            assert stat < limit, f"state {b}: chi2 {stat:.1f} >= {limit:.1f} (df {df})"
            # the test has power: the same counts reject the uniform distribution
            stat_u, df_u = chi2_stat(observed, np.full(n, draws / n))
            powered |= stat_u > chi2_quantile(df_u, Z_1E5)
        assert powered


def test_chi2_quantile_approximation():
    # Wilson-Hilferty against tabulated chi-square quantiles (p = 0.999)
    for df, q in [(5, 20.515), (10, 29.588), (30, 59.703), (100, 149.449)]:
        assert abs(chi2_quantile(df, 3.0902) - q) / q < 0.02


# ----------------------------------------------------------------------------- 3. replay
@pytest.fixture(scope="module")
def replay_batch(states):
    obs, leg, cnt = states
    rng = np.random.default_rng(11)
    idx = rng.choice(len(cnt), 512, replace=False)
    forced = np.nonzero(cnt == 1)[0][:8]
    idx[:8] = forced                          # some forced decisions in the batch
    return obs[idx], leg[idx], cnt[idx]


@pytest.mark.parametrize("mode", ["train", "eval", "eval->train"])
@pytest.mark.parametrize("batch", [1, 512])
def test_replay_reproduces_log_prob_and_entropy(replay_batch, mode, batch):
    """Rollout under no_grad, replay with a fresh forward pass and autograd on: ratio 1.
    "eval->train" rolls out in eval mode and replays in train mode, as a PPO loop does."""
    obs, leg, cnt = replay_batch
    pol = make_policy(seed=6)
    rollout_mode, replay_mode = {"train": (True, True), "eval": (False, False), "eval->train": (False, True)}[mode]
    gen = torch.Generator().manual_seed(7)
    rows = [np.arange(512)] if batch == 512 else [np.array([i]) for i in range(0, 512, 32)]
    for idx in rows:
        g, e, L, C = tensors(obs, leg, cnt, idx)
        pol.train(rollout_mode)
        with torch.no_grad():
            r = sample(pol, pol(g, e), L, C, generator=gen)
        pol.train(replay_mode)
        r2 = evaluate(pol, pol(g, e), L, C, r.actions)
        assert torch.equal(r2.actions, r.actions)
        ratio = torch.exp(r2.log_prob.detach() - r.log_prob)
        assert (ratio - 1).abs().max().item() <= 1e-6
        assert torch.allclose(r2.log_prob.detach(), r.log_prob, atol=1e-6, rtol=0)
        assert torch.allclose(r2.head_log_prob.detach(), r.head_log_prob, atol=1e-6, rtol=0)
        assert torch.allclose(r2.entropy.detach(), r.entropy, atol=1e-6, rtol=0)
        assert torch.equal(r2.forced, r.forced) and torch.equal(r2.applicable, r.applicable)
        approx_kl = ((ratio - 1) - torch.log(ratio)).mean().item()
        clipfrac = ((ratio - 1).abs() > 0.2).float().mean().item()
        assert abs(approx_kl) < 1e-9 and clipfrac == 0


def test_padding_absent_entities_and_batch_neighbours_change_nothing(replay_batch):
    obs, leg, cnt = replay_batch
    pol = make_policy(seed=8).eval()
    g, e, L, C = tensors(obs, leg, cnt)
    with torch.no_grad():
        r = sample(pol, pol(g, e), L, C, generator=torch.Generator().manual_seed(9))
        base = evaluate(pol, pol(g, e), L, C, r.actions)
        assert torch.allclose(base.log_prob, r.log_prob, atol=1e-6, rtol=0)

        # garbage legal rows past each row's count (any int8, negative and out of range too)
        rng = np.random.default_rng(10)
        leg_g = leg.copy()
        past = np.arange(leg.shape[1])[None, :] >= cnt[:, None]
        leg_g[past] = rng.integers(-128, 128, size=(int(past.sum()), 4), dtype=np.int8)
        _, _, Lg, _ = tensors(obs, leg_g, cnt)
        pad = evaluate(pol, pol(g, e), Lg, C, r.actions)
        assert torch.allclose(pad.log_prob, base.log_prob, atol=1e-6, rtol=0)
        assert torch.allclose(pad.entropy, base.entropy, atol=1e-6, rtol=0)
        # ... and extra garbage columns past MAX_LEGAL
        extra = torch.as_tensor(rng.integers(-128, 128, size=(Lg.shape[0], 40, 4), dtype=np.int8))
        wide = evaluate(pol, pol(g, e), torch.cat([Lg, extra], 1), C, r.actions)
        assert torch.allclose(wide.log_prob, base.log_prob, atol=1e-6, rtol=0)
        assert torch.allclose(wide.entropy, base.entropy, atol=1e-6, rtol=0)

        # garbage features in every absent entity row (present stays 0)
        ent = e.clone()
        absent = ent[..., 0] == 0
        assert absent.sum() > 1000
        garbage = torch.as_tensor(rng.integers(-128, 128, size=(int(absent.sum()), ent.shape[-1]), dtype=np.int8))
        garbage[:, 0] = 0
        ent[absent] = garbage
        ab = evaluate(pol, pol(g, ent), L, C, r.actions)
        assert torch.allclose(ab.log_prob, base.log_prob, atol=1e-6, rtol=0)
        assert torch.allclose(ab.entropy, base.entropy, atol=1e-6, rtol=0)

        # each row alone, and inside a shuffled batch padded with other states
        for i in range(0, 512, 37):
            gi, ei, Li, Ci = tensors(obs, leg, cnt, [i])
            alone = evaluate(pol, pol(gi, ei), Li, Ci, r.actions[i:i + 1])
            assert abs(alone.log_prob.item() - base.log_prob[i].item()) <= 1e-6
            assert abs(alone.entropy.item() - base.entropy[i].item()) <= 1e-6
        perm = torch.as_tensor(np.random.default_rng(12).permutation(512))
        sh = evaluate(pol, pol(g[perm], e[perm]), L[perm], C[perm], r.actions[perm])
        assert torch.allclose(sh.log_prob, base.log_prob[perm], atol=1e-6, rtol=0)
        assert torch.allclose(sh.entropy, base.entropy[perm], atol=1e-6, rtol=0)
        half = torch.arange(100)
        sub = evaluate(pol, pol(g[half], e[half]), L[half], C[half], r.actions[half])
        assert torch.allclose(sub.log_prob, base.log_prob[half], atol=1e-6, rtol=0)


# ----------------------------------------------------------------------------- 4. gradients
def _leaf_logits(pol, monkeypatch, enc_full, legal, valid):
    """Substitute a leaf for every head_logits output; record (k, leaf, mask, rows) where mask
    is the legal values of head k after the call's prefix and rows the batch rows of the
    call (found by their state when the call has no ``rows``)."""
    calls = []
    orig = pol.head_logits

    def head_logits(enc, k, prefix=None, rows=None):
        if rows is not None:       # many prefixes per encoded state (TCGPolicy.supports_rows)
            out = orig(enc, k, prefix, rows=rows)
            assert enc.pooled is enc_full.pooled
            b = rows
        else:                      # one prefix per (possibly sub-indexed) state: find its row
            out = orig(enc, k, prefix)
            same = (enc.pooled.detach()[:, None, :] == enc_full.pooled.detach()[None, :, :]).all(-1)
            assert bool((same.sum(1) == 1).all()), "could not identify the batch row of a sub-encoding"
            b = same.float().argmax(1)
        out = out.detach().clone().requires_grad_(True)
        pre = torch.zeros(len(b), 0, dtype=torch.long) if prefix is None else prefix
        calls.append((k, out, my_prefix_mask(legal[b], valid[b], pre, k), b))
        return out
    monkeypatch.setattr(pol, "head_logits", head_logits)
    return calls


@pytest.fixture(scope="module")
def grad_batch(states):
    obs, leg, cnt = states
    rng = np.random.default_rng(13)
    idx = np.concatenate([rng.choice(np.nonzero(cnt > 1)[0], 120, replace=False), np.nonzero(cnt == 1)[0][:8]])
    return obs[idx], leg[idx], cnt[idx]


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_forced_unused_and_masked_logits_get_zero_gradient(grad_batch, monkeypatch, bf16):
    obs, leg, cnt = grad_batch
    pol = make_policy(seed=14)
    g, e, L, C = tensors(obs, leg, cnt)
    V = valid_rows(L, C)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        with torch.no_grad():
            enc = pol(g, e)
            acts = sample(pol, enc, L, C, generator=torch.Generator().manual_seed(15), entropy="sampled").actions
        calls = _leaf_logits(pol, monkeypatch, enc, L, V)
        r = evaluate(pol, enc, L, C, acts, entropy="exact")
    assert [c[0] for c in calls[:4]] == [0, 1, 2, 3] and len(calls) > 4   # 4 heads, then the prefix tree

    kinds = torch.as_tensor(SLOT_KIND.astype(np.int64))
    applicable = torch.ones(len(C), NUM_HEADS, dtype=torch.bool)
    applicable[:, 1:] = kinds[acts[:, 0]] != int(SlotKind.UNUSED)
    assert torch.equal(r.applicable, applicable)
    for k in range(NUM_HEADS):
        _, leaf, mask_k, rows_k = calls[k]
        mask = prefix_mask(L.long(), V, acts, k)
        one = mask.sum(1) == 1
        # the drawn path runs head k at the drawn prefix of every row, or (when most rows have
        # one legal value) of only the rows with a choice
        all_rows = torch.arange(len(C))
        assert torch.equal(rows_k, all_rows) or torch.equal(rows_k, torch.nonzero(~one).squeeze(1))
        assert torch.equal(mask_k, mask[rows_k])
        assert torch.equal(r.forced[:, k], applicable[:, k] & one)
        dead = ~applicable[:, k] | one
        assert torch.equal(dead, one)      # an unused slot has the one value 0
        assert (r.head_log_prob[dead, k] == 0).all() and (r.head_entropy[dead, k] == 0).all()
        if k:
            assert (~applicable[:, k]).any() and (applicable[:, k] & one).any()  # both kinds present
        for out in (r.head_log_prob[:, k], r.head_entropy[:, k]):
            (grad,) = torch.autograd.grad(out.sum(), leaf, retain_graph=True)
            assert torch.isfinite(grad).all()
            assert (grad[dead[rows_k]] == 0).all(), f"head {k}: forced/unused head has a gradient"
            assert (grad[~mask_k] == 0).all(), f"head {k}: masked logits have a gradient"
            assert (grad[~dead[rows_k]].abs().sum(1) > 0).float().mean() > 0.9
    assert torch.equal(r.log_prob, r.head_log_prob.sum(-1))

    # the exact (prefix-tree) entropy: masked logits and one-value prefixes get exactly 0
    leaves = [c[1] for c in calls]
    grads = torch.autograd.grad(r.entropy.sum() + r.log_prob.sum(), leaves, allow_unused=True)
    for (k, leaf, mask, _), gr in zip(calls, grads):
        if gr is None:
            continue
        assert torch.isfinite(gr).all()
        assert (gr[~mask] == 0).all(), f"exact entropy: masked logits of head {k} have a gradient"
        assert (gr[mask.sum(1) == 1] == 0).all(), f"exact entropy: a forced head {k} has a gradient"
    assert any(gr is not None and gr.abs().sum() > 0 for gr in grads[4:])


def test_evaluate_and_sample_backpropagate_to_every_head_module(grad_batch):
    """Regression: the sampler once passed head_logits a view ``chosen[:, :k]`` of a buffer
    it then wrote in place; nn.Embedding saves its indices, so backward() raised 'modified
    by an inplace operation'. The log-prob must reach every conditioning table."""
    obs, leg, cnt = grad_batch
    pol = make_policy(seed=20).train()
    g, e, L, C = tensors(obs, leg, cnt)
    for fn in ("sample", "evaluate"):
        pol.zero_grad()
        enc = pol(g, e)
        if fn == "sample":
            r = sample(pol, enc, L, C, generator=torch.Generator().manual_seed(21), entropy="sampled")
        else:
            with torch.no_grad():
                acts = sample(pol, enc, L, C, generator=torch.Generator().manual_seed(22), entropy="sampled").actions
            r = evaluate(pol, enc, L, C, acts, entropy="sampled")
        r.log_prob.sum().backward()
        for name in ("prim_emb.weight", "ptr_proj.0.weight", "ptr_k.0.weight",
                     "ptr_k.1.weight", "bin_out.0.weight", "card_emb.weight"):
            gr = dict(pol.named_parameters())[name].grad
            assert gr is not None and torch.isfinite(gr).all() and gr.abs().sum() > 0, (fn, name)


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_parameter_gradients_are_finite(grad_batch, bf16):
    obs, leg, cnt = grad_batch
    pol = make_policy(seed=16, scale=30.0).train()
    g, e, L, C = tensors(obs, leg, cnt)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        enc = pol(g, e)
        with torch.no_grad():
            acts = sample(pol, enc, L, C, generator=torch.Generator().manual_seed(17)).actions
        r = evaluate(pol, enc, L, C, acts)
    assert torch.isfinite(r.log_prob).all() and torch.isfinite(r.entropy).all()
    (r.log_prob.mean() + 0.01 * r.entropy.mean() + enc.value.mean()).backward()
    grads = {n: p.grad for n, p in pol.named_parameters()}
    assert all(gr is not None and torch.isfinite(gr).all() for gr in grads.values()), \
        [n for n, gr in grads.items() if gr is None or not torch.isfinite(gr).all()]
    assert grads["prim_emb.weight"].abs().sum() > 0 and grads["ptr_k.0.weight"].abs().sum() > 0


def test_one_step_on_exact_entropy_raises_it(grad_batch):
    """PITFALLS 5: the entropy term has a gradient; zero advantages + entropy bonus -> H up."""
    obs, leg, cnt = grad_batch
    pol = make_policy(seed=18, scale=4.0).train()
    g, e, L, C = tensors(obs, leg, cnt)
    opt = torch.optim.SGD(pol.parameters(), lr=0.05)
    h0 = exact_entropy(pol, pol(g, e), L, C).mean()
    assert h0.requires_grad
    (-h0).backward()
    norm = torch.sqrt(sum((p.grad ** 2).sum() for p in pol.parameters() if p.grad is not None))
    assert torch.isfinite(norm) and norm > 1e-4
    opt.step()
    with torch.no_grad():
        h1 = exact_entropy(pol, pol(g, e), L, C).mean()
    assert h1.item() > h0.item() + 1e-3, (h0.item(), h1.item())


# ----------------------------------------------------------------------------- 5. errors and options
def test_zero_legal_tuples_raise(states):
    obs, leg, cnt = states
    g, e, L, C = tensors(obs, leg, cnt, np.arange(6))
    C = C.clone()
    C[3] = 0
    pol = make_policy(TINY)
    with torch.no_grad():
        enc = pol(g, e)
        with pytest.raises(NoLegalActionError, match="row 3"):
            sample(pol, enc, L, C)
        with pytest.raises(NoLegalActionError):
            evaluate(pol, enc, L, C, L[:, 0])
        with pytest.raises(NoLegalActionError):
            exact_entropy(pol, enc, L, C)
        with pytest.raises(NoLegalActionError):
            sample(pol, enc.index(torch.tensor([3])), L[3:4], C[3:4])


def test_replaying_an_illegal_tuple_raises(states):
    obs, leg, cnt = states
    idx = np.nonzero(cnt >= 5)[0][:4]
    g, e, L, C = tensors(obs, leg, cnt, idx)
    pol = make_policy(TINY)
    with torch.no_grad():
        enc = pol(g, e)
        acts = L[:, 0].long().clone()
        evaluate(pol, enc, L, C, acts)   # legal: fine
        legal_keys = set(tuple_key(L[2, :C[2]]).tolist())
        for bad in ([Primary.CHOOSE_MODE, 0, 2, 0], [acts[2, 0].item(), 31, 31, 1]):
            if tuple_key(torch.tensor(bad)).item() in legal_keys:
                continue
            a = acts.clone()
            a[2] = torch.tensor(bad)
            with pytest.raises(ReplayMismatchError, match=r"row 2"):
                evaluate(pol, enc, L, C, a)
        # a legal tuple of another row is not legal here
        a = acts.clone()
        other = [t for t in L[0, :C[0]].long() if tuple_key(t).item() not in legal_keys]
        if other:
            a[2] = other[0]
            with pytest.raises(ReplayMismatchError):
                evaluate(pol, enc, L, C, a)


def test_sampled_entropy_is_sum_of_head_entropies(states):
    obs, leg, cnt = states
    g, e, L, C = tensors(obs, leg, cnt, np.arange(0, len(cnt), 17)[:200])
    pol = make_policy()
    with torch.no_grad():
        enc = pol(g, e)
        gen = torch.Generator().manual_seed(19)
        r = sample(pol, enc, L, C, generator=gen, entropy="sampled")
        assert isinstance(r, SampleResult)
        assert torch.equal(r.entropy, r.head_entropy.sum(-1))
        rx = evaluate(pol, enc, L, C, r.actions)   # exact by default
        assert torch.equal(rx.head_entropy, r.head_entropy)
        assert torch.allclose(rx.entropy, exact_entropy(pol, enc, L, C), atol=1e-6)
        assert not torch.allclose(rx.entropy, r.entropy)   # the two differ per row
        with pytest.raises(ValueError, match="entropy"):
            sample(pol, enc, L, C, entropy="joint")



def test_independent_heads_ablation(states):
    """``independent=True`` (an ablation, not the sampler): only the primary is masked, so the
    drawn primary is always legal; each sub-head sees the primary alone (no sub-prefix) and no
    legality mask, so a random policy on real game states draws illegal tuples; a slot the
    primary does not use is 0 (log-prob and entropy 0); the entropy is the per-head sum; and
    evaluate(..., independent=True) replays the drawn tuples to the same numbers."""
    obs, leg, cnt = states
    pol = make_policy(TINY, seed=24).eval()
    g, e, L, C = tensors(obs, leg, cnt, width=int(cnt.max()) + 16)   # stale tuples past each count kept
    V = valid_rows(L, C)
    kinds = torch.as_tensor(SLOT_KIND.astype(np.int64))
    gen = torch.Generator().manual_seed(25)
    illegal = sub_outside = draws = 0
    with torch.no_grad():
        enc = pol(g, e)
        for _ in range(3):
            r = sample(pol, enc, L, C, generator=gen, independent=True)   # entropy="exact" by default
            a = r.actions
            draws += len(a)
            # the primary: masked by the legal list, as in the sampler
            m0 = prefix_mask(L.long(), V, a, 0)
            assert m0.gather(1, a[:, :1]).all(), "independent=True drew an illegal primary"
            lp0 = _masked_log_softmax(pol.head_logits(enc, 0), m0).gather(1, a[:, :1]).squeeze(1)
            one0 = m0.sum(1) == 1
            assert torch.allclose(r.head_log_prob[:, 0], torch.where(one0, torch.zeros_like(lp0), lp0), atol=1e-6)
            # the sub-heads: an unused slot is 0; a used one is drawn from the unmasked head
            # conditioned on the primary alone
            cond = torch.zeros_like(a)
            cond[:, 0] = a[:, 0]
            for k in range(1, NUM_HEADS):
                used = kinds[a[:, 0], k - 1] != int(SlotKind.UNUSED)
                assert torch.equal(r.applicable[:, k], used)
                assert (a[~used, k] == 0).all(), f"head {k}: an unused slot is not 0"
                assert (r.head_log_prob[~used, k] == 0).all() and (r.head_entropy[~used, k] == 0).all()
                assert not r.forced[used, k].any()      # a used sub-head always has a choice here
                full = torch.log_softmax(pol.head_logits(enc, k, cond[:, :k]).float(), -1)
                assert torch.allclose(r.head_log_prob[used, k], full[used].gather(1, a[used, k:k + 1]).squeeze(1),
                                      atol=1e-5, rtol=0)
                ent = -(full.exp() * full.clamp(min=-1e4)).sum(-1)
                assert torch.allclose(r.head_entropy[used, k], ent[used], atol=1e-4, rtol=0)
                sub_outside += int((~prefix_mask(L.long(), V, a, k).gather(1, a[:, k:k + 1]).squeeze(1)).sum())
            hit = ((tuple_key(L) == tuple_key(a).unsqueeze(1)) & V).any(1)
            illegal += int((~hit).sum())
            assert torch.isfinite(r.log_prob).all() and torch.equal(r.log_prob, r.head_log_prob.sum(-1))
            assert torch.equal(r.entropy, r.head_entropy.sum(-1)), "the ablation's entropy is the per-head sum"
            # replay: the same log-prob and entropy, no RNG; the sampler proper rejects the illegal draws
            ev = evaluate(pol, enc, L, C, a, independent=True)
            assert torch.equal(ev.actions, a)
            assert torch.allclose(ev.log_prob, r.log_prob, atol=1e-6, rtol=0)
            assert torch.allclose(ev.head_log_prob, r.head_log_prob, atol=1e-6, rtol=0)
            assert torch.allclose(ev.entropy, r.entropy, atol=1e-6, rtol=0)
            assert torch.equal(ev.applicable, r.applicable) and torch.equal(ev.forced, r.forced)
            with pytest.raises(ReplayMismatchError):
                evaluate(pol, enc, L, C, a)
    # a random policy mostly draws illegal tuples: a legal primary, then sub-values off its list
    assert illegal > 0.3 * draws and sub_outside >= illegal, (illegal, sub_outside, draws)


def test_exact_entropy_of_the_first_rows_only(grad_batch):
    """``entropy_rows=n``: rows < n keep the full batch's exact entropy (values and gradient of
    their mean), rows >= n are NaN; log-probs are untouched; n outside 1..B raises."""
    obs, leg, cnt = grad_batch
    pol = make_policy(seed=21, scale=4.0).train()
    g, e, L, C = tensors(obs, leg, cnt)
    B, n = L.shape[0], L.shape[0] // 4
    acts = evaluate(pol, pol(g, e), L, C, L[:, 0].long()).actions
    full = evaluate(pol, pol(g, e), L, C, acts)
    part = evaluate(pol, pol(g, e), L, C, acts, entropy_rows=n)
    assert torch.allclose(part.entropy[:n], full.entropy[:n], atol=1e-6, rtol=0)
    assert torch.isnan(part.entropy[n:]).all() and torch.equal(part.log_prob, full.log_prob)
    grads = []
    for r in (full, part):
        pol.zero_grad()
        r.entropy[:n].mean().backward(retain_graph=True)
        grads.append(torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad).reshape(-1)
                                for p in pol.parameters()]))
    assert grads[0].abs().sum() > 0 and torch.allclose(grads[0], grads[1], atol=1e-6, rtol=1e-4)
    assert torch.allclose(evaluate(pol, pol(g, e), L, C, acts, entropy_rows=B).entropy, full.entropy)
    for bad in (0, B + 1):
        with pytest.raises(ValueError, match="entropy_rows"):
            evaluate(pol, pol(g, e), L, C, acts, entropy_rows=bad)


# ----------------------------------------------------------------------------- 6. prefix masks
def _tree_tuples(legal_row, n):
    """Every tuple reachable by chaining prefix_mask from the empty prefix (one state)."""
    L = legal_row.long().unsqueeze(0)
    V = valid_rows(L, torch.tensor([n]))
    frontier = [()]
    for k in range(NUM_HEADS):
        nxt = []
        for p in frontier:
            pre = torch.tensor([list(p) + [0] * (NUM_HEADS - len(p))])
            m = prefix_mask(L, V, pre, k)[0]
            nxt += [p + (v,) for v in torch.nonzero(m).flatten().tolist()]
        frontier = nxt
    return set(frontier)


def test_masks_are_prefix_derived_not_independent(states):
    obs, leg, cnt = states
    found = 0
    for i in np.nonzero((cnt >= 3) & (cnt <= 60))[0][::25]:
        n = int(cnt[i])
        legal = {tuple(t) for t in leg[i, :n].astype(int).tolist()}
        columns = [sorted({t[k] for t in legal}) for k in range(NUM_HEADS)]
        product = {(a, b, c, d) for a in columns[0] for b in columns[1] for c in columns[2] for d in columns[3]}
        tree = _tree_tuples(torch.as_tensor(leg[i]), n)
        assert tree == legal, f"state {i}: chaining prefix_mask reaches exactly the legal tuples"
        if product - legal:
            found += 1
            # one such illegal tuple: the first head at which it leaves the legal prefixes is masked
            bad = sorted(product - legal)[0]
            L = torch.as_tensor(leg[i:i + 1]).long()
            V = valid_rows(L, torch.tensor([n]))
            for k in range(NUM_HEADS):
                m = prefix_mask(L, V, torch.tensor([bad]), k)[0]
                if not m[bad[k]]:
                    break
            else:
                raise AssertionError(f"prefix_mask admits the illegal tuple {bad}")
    assert found >= 5


# ----------------------------------------------------------------------------- 7. cost claims and RNG
def _tree_calls(pol, monkeypatch, fn):
    """The (head, batch row, prefix) of every prefix head_logits scores while ``fn()`` runs, as a
    Counter (a call without ``rows`` scores one prefix per row of its encoding)."""
    from collections import Counter
    seen = Counter()
    orig = pol.head_logits

    def head_logits(enc, k, prefix=None, rows=None):
        P = len(rows) if rows is not None else enc.pooled.shape[0] if prefix is None else prefix.shape[0]
        b = torch.arange(P) if rows is None else rows
        pre = torch.zeros(P, 0, dtype=torch.long) if prefix is None else prefix[:, :k].long()
        for i in range(P):
            seen[(k, int(b[i]), tuple(pre[i].tolist()))] += 1
        return orig(enc, k, prefix, rows=rows)
    monkeypatch.setattr(pol, "head_logits", head_logits)
    try:
        fn()
    finally:
        monkeypatch.undo()
    return seen


def test_prefix_tree_scores_each_off_path_node_once_and_only_the_first_rows(grad_batch, monkeypatch):
    """The exact entropy's cost claims (module docstring): the prefix tree runs a head once per
    node with a choice (a prefix with two or more legal continuations) except the node on the
    drawn path, whose log-probs it reuses; with ``entropy_rows=n`` only rows < n get a tree.
    Counted as the prefixes scored by an exact-entropy evaluate minus a sampled-entropy one
    (the drawn path's calls are the same in both)."""
    obs, leg, cnt = grad_batch
    pol = make_policy(TINY, seed=26).eval()
    g, e, L, C = tensors(obs, leg, cnt)
    B, n = len(C), len(C) // 3
    with torch.no_grad():
        enc = pol(g, e)
        acts = sample(pol, enc, L, C, generator=torch.Generator().manual_seed(27), entropy="sampled").actions
        path = _tree_calls(pol, monkeypatch, lambda: evaluate(pol, enc, L, C, acts, entropy="sampled"))
        full = _tree_calls(pol, monkeypatch, lambda: evaluate(pol, enc, L, C, acts))
        part = _tree_calls(pol, monkeypatch, lambda: evaluate(pol, enc, L, C, acts, entropy_rows=n))
    want = {}
    for b in range(B):
        tuples = [tuple(t) for t in L[b, :int(C[b])].long().tolist()]
        drawn = tuple(acts[b].tolist())
        for k in range(1, NUM_HEADS):
            nexts = {}
            for t in tuples:
                nexts.setdefault(t[:k], set()).add(t[k])
            for p, vals in nexts.items():
                if len(vals) > 1 and p != drawn[:k]:
                    want[(k, b, p)] = 1
    assert len(want) > 2 * B, "the batch should hold many off-path nodes"
    assert (full - path) == want, "the tree scores each off-path node with a choice once (the path is reused)"
    assert (part - path) == {key: v for key, v in want.items() if key[1] < n}, "entropy_rows=n: rows < n only"


def test_sampling_draws_only_from_the_given_generator(states):
    """A seeded ``generator`` reproduces the draws whatever the global RNG holds, and sampling
    leaves the global RNG untouched."""
    obs, leg, cnt = states
    g, e, L, C = tensors(obs, leg, cnt, np.nonzero(cnt > 3)[0][:256])
    pol = make_policy(TINY, seed=28).eval()
    with torch.no_grad():
        enc = pol(g, e)
        draws = []
        for global_seed in (0, 1):
            torch.manual_seed(global_seed)
            before = torch.get_rng_state()
            draws.append(sample(pol, enc, L, C, generator=torch.Generator().manual_seed(29)).actions)
            assert torch.equal(torch.get_rng_state(), before), "sample consumed the global RNG"
        assert torch.equal(draws[0], draws[1])
        assert not torch.equal(sample(pol, enc, L, C, generator=torch.Generator().manual_seed(30)).actions, draws[0])


def test_an_encoding_sampled_under_bf16_autocast_replays_in_fp32(replay_batch):
    """Pointer keys are cached on the encoding per autocast mode: an encoding sampled from under
    bf16 autocast and then replayed in fp32 gives the fp32 numbers of a fresh encoding."""
    obs, leg, cnt = replay_batch
    pol = make_policy(seed=31).eval()
    g, e, L, C = tensors(obs, leg, cnt, np.arange(64))
    with torch.no_grad():
        enc = pol(g, e)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            acts = sample(pol, enc, L, C, generator=torch.Generator().manual_seed(32)).actions
        shared = evaluate(pol, enc, L, C, acts)
        fresh = evaluate(pol, pol(g, e), L, C, acts)
    assert torch.equal(shared.log_prob, fresh.log_prob) and torch.equal(shared.entropy, fresh.entropy)
