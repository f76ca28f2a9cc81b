"""Tests from a second mutation audit of training/sampler.py and policy/model.py (80 mutants,
27 survived the old suite, 11 equivalent): which row an error names, greedy decoding and the
generator, which rows the drawn path scores (the documented cost claims), the ablation's
entropy check, a gradient for every head parameter, pointer-scored primaries and affordances
inside a batch, the affordance read-out, repeated rows in ``head_logits``, an indexed encoding
that keeps its no-legal-list guard, and an out-of-range stored value (it raised torch's
index error, not ReplayMismatchError, before the audit). Expected values
come from masks built from Python sets of the legal tuples (never from the sampler's own masks)
or from another public path (a row evaluated alone, ``Encoding.index``)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from policy.config import PolicyConfig
from policy.model import obs_tensors
from training.sampler import NoLegalActionError, ReplayMismatchError, evaluate, exact_entropy, sample
from verification.spec import HEAD_SIZES, Primary

from policy_data import bot_driven_states, seeded_policy

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NUM_HEADS = 4
TINY = PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32)


# ----------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def states():
    """(obs [N, OBS] int8, legal [N, MAX_LEGAL, 4] int8, count [N]) from 16 games driven by a
    random and a heuristic bot: lists of 1 to ~60 tuples, a few with a choice at head 3."""
    return bot_driven_states(16, seed=3, steps=30)


def make_policy(cfg=None, seed=0, scale=None):
    """Sharper distributions with ``scale``, so that argmax and draws differ visibly."""
    return seeded_policy(cfg or TINY, seed, scale).eval()


def batch(states, idx):
    obs, leg, cnt = states
    idx = np.asarray(idx)
    g, e = obs_tensors(np.ascontiguousarray(obs[idx]))
    width = int(cnt[idx].max())
    return g, e, torch.as_tensor(np.ascontiguousarray(leg[idx, :width])).long(), torch.as_tensor(cnt[idx]).long()


def pad_lists(lists):
    """Hand-built legal lists -> (legal [B, L, 4] long, count [B]); padding rows are END_TURN."""
    width = max(len(t) for t in lists)
    legal = torch.zeros(len(lists), width, 4, dtype=torch.long)
    for b, ts in enumerate(lists):
        legal[b, :len(ts)] = torch.tensor(ts)
    return legal, torch.tensor([len(t) for t in lists])


def set_mask(tuples, prefix, k):
    """Head k's legal values after ``prefix`` (a tuple of k values), from a Python set."""
    m = torch.zeros(HEAD_SIZES[k], dtype=torch.bool)
    for t in tuples:
        if tuple(t[:k]) == tuple(prefix):
            m[t[k]] = True
    return m


def present_entities(e_row):
    return torch.nonzero(e_row[:, 0] > 0).flatten().tolist()


# ----------------------------------------------------------------------------- errors name the first bad row
def test_no_legal_tuple_error_names_the_first_empty_row(states):
    """With several rows of zero legal tuples, NoLegalActionError names the first of them (in
    sample, evaluate and a direct exact_entropy): the row a caller should look at first."""
    g, e, L, C = batch(states, np.arange(8))
    C = C.clone()
    C[[2, 5, 7]] = 0
    pol = make_policy()
    with torch.no_grad():
        enc = pol(g, e)
        for call in (lambda: sample(pol, enc, L, C), lambda: evaluate(pol, enc, L, C, L[:, 0]),
                     lambda: exact_entropy(pol, enc, L, C)):
            with pytest.raises(NoLegalActionError, match=r"batch row 2 has no legal tuple"):
                call()


def test_replay_error_names_the_first_illegal_row_and_its_tuple(states):
    """Two rows hold a stored tuple off their legal list: ReplayMismatchError names the first
    (its row and its tuple) and the head at which the tuple leaves the list."""
    obs, leg, cnt = states
    idx = np.nonzero(cnt >= 3)[0][:6]
    g, e, L, C = batch(states, idx)
    pol = make_policy()
    acts = L[:, 0].clone()
    for r in (1, 4):   # a primary off the row's list: the tuple leaves it at head 0
        p = min(set(range(HEAD_SIZES[0])) - set(L[r, :C[r], 0].tolist()))
        acts[r] = torch.tensor([p, 0, 0, 0])
    with torch.no_grad(), pytest.raises(ReplayMismatchError) as err:
        evaluate(pol, pol(g, e), L, C, acts)
    msg = str(err.value)
    assert "(row 1)" in msg and f"{acts[1].tolist()}" in msg and "at head 0" in msg, msg


# ----------------------------------------------------------------------------- greedy and the generator
def test_greedy_takes_each_heads_most_likely_legal_value_and_draws_nothing(states):
    """``greedy=True``: head by head, the drawn value is the legal value (after the drawn prefix)
    with the largest logit, by a brute-force chain over the legal list; the same tuples whatever
    the generator (or none); neither the given generator nor the global RNG is consumed."""
    obs, leg, cnt = states
    idx = np.nonzero((cnt >= 4) & (cnt <= 40))[0][:40]
    g, e, L, C = batch(states, idx)
    pol = make_policy(seed=5, scale=3.0)
    gen = torch.Generator().manual_seed(6)
    with torch.no_grad():
        enc = pol(g, e)
        torch.manual_seed(123)
        rng, gstate = torch.get_rng_state(), gen.get_state()
        r = sample(pol, enc, L, C, generator=gen, greedy=True)
        assert torch.equal(torch.get_rng_state(), rng) and torch.equal(gen.get_state(), gstate)
        assert torch.equal(sample(pol, enc, L, C, generator=torch.Generator().manual_seed(7), greedy=True).actions,
                           r.actions)
        assert torch.equal(sample(pol, enc, L, C, greedy=True).actions, r.actions)
        drawn = sample(pol, enc, L, C, generator=torch.Generator().manual_seed(8)).actions
        assert not torch.equal(drawn, r.actions)        # greedy is not one more random draw
        for b in range(len(idx)):
            tuples = [tuple(t) for t in L[b, :C[b]].tolist()]
            a = tuple(r.actions[b].tolist())
            assert a in tuples
            enc1 = enc.index(torch.tensor([b]))
            for k in range(NUM_HEADS):
                m = set_mask(tuples, a[:k], k)
                logits = pol.head_logits(enc1, k, torch.tensor([list(a[:k])]) if k else None)[0]
                best = int(torch.argmax(logits.masked_fill(~m, float("-inf"))))
                assert a[k] == best, (b, k, a, best)


# ----------------------------------------------------------------------------- which rows the drawn path scores
def _choice_rows(L, C, acts, k):
    """Rows whose head k has two or more legal values after the row's own prefix acts[:, :k]."""
    out = []
    for b in range(len(C)):
        tuples = [tuple(t) for t in L[b, :C[b]].tolist()]
        if int(set_mask(tuples, tuple(acts[b, :k].tolist()), k).sum()) > 1:
            out.append(b)
    return out


def test_drawn_path_scores_only_the_rows_with_a_choice_where_most_rows_have_none(states, monkeypatch):
    """Module docstring: where most rows of a batch have one legal value of head k (head 3 nearly
    always), head k runs only on the rows with a choice. Recorded on the drawn path of a replay
    (sampled entropy, so no prefix tree): at such a head exactly those rows are scored; at every
    head at least those rows are; and the numbers equal a replay of each row alone."""
    obs, leg, cnt = states
    h3 = {}   # row -> a legal tuple whose head 3 has a choice
    for i in range(len(cnt)):
        tuples = [tuple(t) for t in leg[i, :cnt[i]].tolist()]
        for t in tuples:
            if int(set_mask(tuples, t[:3], 3).sum()) > 1:
                h3[i] = t
                break
    assert len(h3) >= 3, "the fixture games should hold a few choices at head 3"
    first = sorted(h3)[:3]
    idx = np.concatenate([first, np.nonzero(cnt == 1)[0][:20], np.nonzero(cnt > 1)[0][:40]])
    g, e, L, C = batch(states, idx)
    pol = make_policy(seed=9)
    B = len(idx)
    with torch.no_grad():
        enc = pol(g, e)
        acts = L[:, 0].clone()
        acts[:3] = torch.tensor([h3[i] for i in first])
        seen = []
        orig = pol.head_logits

        def head_logits(enc_, k, prefix=None, rows=None):
            seen.append((k, list(range(B)) if rows is None else rows.tolist()))
            return orig(enc_, k, prefix, rows=rows)
        monkeypatch.setattr(pol, "head_logits", head_logits)
        r = evaluate(pol, enc, L, C, acts, entropy="sampled")
        monkeypatch.undo()
        heads = [k for k, _ in seen]
        assert heads == sorted(heads) and len(set(heads)) == len(heads)   # one call per head at most
        scored = {k: rows for k, rows in seen}
        few = 0
        for k in range(NUM_HEADS):
            want = _choice_rows(L, C, acts, k)
            got = scored.get(k, [])
            assert set(want) <= set(got), k
            if 2 * len(want) < B:          # most rows have one legal value
                assert got == want, (k, len(got), len(want))
                few += 1
        assert few >= 1 and 0 < len(_choice_rows(L, C, acts, 3)) < B / 2
        for b in (0, 1, 5, 30):
            alone = evaluate(pol, enc.index(torch.tensor([b])), L[b:b + 1], C[b:b + 1], acts[b:b + 1],
                             entropy="sampled")
            assert torch.allclose(alone.head_log_prob[0], r.head_log_prob[b], atol=1e-6, rtol=0)


class _NoRows:
    """A policy without ``supports_rows``: head_logits takes one prefix per encoded state."""

    def __init__(self, pol):
        self.pol, self.calls = pol, []

    def head_logits(self, enc, k, prefix=None):
        self.calls.append((k, enc.pooled.shape[0], None if prefix is None else prefix.shape[0]))
        return self.pol.head_logits(enc, k, prefix)


def test_a_policy_without_rows_support_gets_every_row_at_every_head(states):
    """A policy that does not declare ``supports_rows`` is asked for head k on the whole batch,
    one prefix per state, at every head (the subset path is for policies that score a subset of
    rows), and draws the same tuples as the policy itself."""
    obs, leg, cnt = states
    idx = np.concatenate([np.nonzero(cnt == 1)[0][:30], np.nonzero(cnt > 3)[0][:10]])
    g, e, L, C = batch(states, idx)
    pol = make_policy(seed=10)
    wrap = _NoRows(pol)
    with torch.no_grad():
        enc = pol(g, e)
        a = sample(wrap, enc, L, C, generator=torch.Generator().manual_seed(11), entropy="sampled")
        b = sample(pol, enc, L, C, generator=torch.Generator().manual_seed(11), entropy="sampled")
    assert [c[0] for c in wrap.calls] == [0, 1, 2, 3]
    assert all(c[1] == len(idx) and c[2] in (None, len(idx)) for c in wrap.calls), wrap.calls
    assert torch.equal(a.actions, b.actions) and torch.allclose(a.log_prob, b.log_prob, atol=1e-6, rtol=0)


# ----------------------------------------------------------------------------- options
def test_the_ablation_rejects_an_unknown_entropy_mode_too(states):
    """``entropy`` must be 'exact' or 'sampled' with ``independent=True`` as well (the ablation
    ignores the exact entropy, but a typo must not pass silently), in sample and evaluate."""
    g, e, L, C = batch(states, np.arange(4))
    pol = make_policy()
    with torch.no_grad():
        enc = pol(g, e)
        for call in (lambda: sample(pol, enc, L, C, independent=True, entropy="joint"),
                     lambda: evaluate(pol, enc, L, C, L[:, 0], independent=True, entropy="Exact")):
            with pytest.raises(ValueError, match="entropy must be 'exact' or 'sampled'"):
                call()


# ----------------------------------------------------------------------------- every head parameter learns
def _rich_lists(e, rows):
    """Hand-built legal lists on real observations with a choice at every head and every slot
    kind: bin and pointer values at heads 1 and 2, head 3 after a pointer and after a bin, and
    slots the primary does not use (pointers name present entities)."""
    P = Primary
    lists = []
    for b in rows:
        a, c = present_entities(e[b])[:2]
        ts = [(int(P.END_TURN), 0, 0, 0), (int(P.MULLIGAN), 0, 0, 0), (int(P.MULLIGAN), 1, 0, 0)]
        ts += [(int(P.PLAY_UNIT), x, s, f) for x in (a, c) for s in (0, 1) for f in (0, 1)]
        ts += [(int(P.PLAY_SPELL), x, y, f) for x in (a, c) for y in (a, c) for f in (0, 1)]
        ts += [(int(P.MOVE), x, s, 0) for x in (a, c) for s in (0, 2)]
        ts += [(int(P.CHOOSE_MODE), 0, m, 0) for m in (0, 1, 2)]
        ts += [(int(P.LEADER_ABILITY), 0, y, f) for y in (a, c) for f in (0, 1)]
        ts += [(int(P.ATTACK), x, y, 0) for x in (a, c) for y in (a, c)]
        lists.append(ts)
    return lists


@pytest.mark.parametrize("opt", ["plain", "afford", "pointer_mlp", "pointer_primary"])
def test_every_head_parameter_gets_a_gradient(states, opt):
    """Each head, slot and slot kind has its own conditioning MLP, value embedding or pointer
    projection, query and key: on decisions with a choice at every head and slot kind, the
    log-prob plus the exact entropy plus the value reach every parameter of the policy (with
    ``afford``, the affordance layers too). The one exception is the slot-1 bin embedding: only
    MULLIGAN has a bin there, and its heads 2 and 3 are unused, so nothing it conditions is ever
    live."""
    obs, leg, cnt = states
    idx = [i for i in range(len(cnt)) if (obs[i, 32:].reshape(32, -1)[:, 0] > 0).sum() >= 4][:6]
    g, e = obs_tensors(np.ascontiguousarray(obs[idx]))
    L, C = pad_lists(_rich_lists(e, range(len(idx))))
    pol = make_policy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, afford=opt == "afford",
                                   pointer_mlp=opt == "pointer_mlp", pointer_primary=opt == "pointer_primary"),
                      seed=12).train()
    enc = pol(g, e, L, C)
    with torch.no_grad():
        acts = sample(pol, enc, L, C, generator=torch.Generator().manual_seed(13)).actions
    r = evaluate(pol, enc, L, C, acts)
    (r.log_prob.sum() + r.entropy.sum() + enc.value.sum()).backward()
    dead = [n for n, p in pol.named_parameters()
            if n != "bin_emb.0.weight" and (p.grad is None or not bool((p.grad != 0).any()))]
    assert not dead, dead


# ----------------------------------------------------------------------------- legal-list options in a batch
def _mixed_rows(leg, cnt, forced=24, choice=8):
    """Mostly forced decisions and a few with a choice of primaries, pointer-scored ones among
    them: head 0 then runs on a subset of the rows."""
    from policy.model import _PTR1_PRIM
    rich = [i for i in np.nonzero((cnt > 3) & (cnt < 60))[0]
            if len(set(leg[i, :cnt[i], 0].tolist())) >= 2 and set(leg[i, :cnt[i], 0].tolist()) & set(_PTR1_PRIM)]
    assert len(rich) >= choice
    return np.concatenate([np.nonzero(cnt == 1)[0][:forced], rich[:choice]])


@pytest.mark.parametrize("opt", ["pointer_primary", "afford"])
def test_options_that_read_the_legal_list_score_a_row_in_a_batch_as_alone(states, opt):
    """With ``pointer_primary`` or ``afford`` a row's log-probs, head by head, and its exact
    entropy are the same inside a batch of other decisions (mostly forced ones, so head 0 runs on
    a subset of the rows, and rows with fewer present entities than others) as alone; the direct
    exact_entropy over the batch agrees too."""
    obs, leg, cnt = states
    idx = _mixed_rows(leg, cnt)
    g, e, L, C = batch(states, idx)
    present = (e[..., 0] > 0).sum(1)
    assert present.min() < present.max()
    pol = make_policy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, afford=opt == "afford",
                                   pointer_primary=opt == "pointer_primary"), seed=14, scale=3.0)
    with torch.no_grad():
        enc = pol(g, e, L, C)
        acts = sample(pol, enc, L, C, generator=torch.Generator().manual_seed(15)).actions
        r = evaluate(pol, pol(g, e, L, C), L, C, acts)
        H = exact_entropy(pol, pol(g, e, L, C), L, C)
        for b in range(len(idx)):
            s = slice(b, b + 1)
            n = int(C[b])
            one = evaluate(pol, pol(g[s], e[s], L[s, :n], C[s]), L[s, :n], C[s], acts[s])
            assert torch.allclose(one.head_log_prob[0], r.head_log_prob[b], atol=1e-5, rtol=0), (b, opt)
            assert abs(one.entropy.item() - r.entropy[b].item()) < 1e-5
            assert abs(H[b].item() - r.entropy[b].item()) < 1e-5


def test_affordance_readout_is_one_scaled_attention_step(states):
    """PolicyConfig.afford (model docstring): each present entity's encoding gains an embedding of
    its affordance flags, and the heads' base conditioning is the pooled state plus an embedding of
    the legal primaries plus one attention read-out (softmax of q.k / sqrt(d) over the present
    entities) of the updated entities. Rebuilt here from the encoding without the legal list."""
    from policy.affordances import affordances
    obs, leg, cnt = states
    idx = np.nonzero((cnt > 3) & (cnt < 80))[0][:24]
    g, e, L, C = batch(states, idx)
    pol = make_policy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, afford=True), seed=16)
    with torch.no_grad():
        bare, full = pol(g, e), pol(g, e, L, C)
        ents = bare.entities                              # [B, E, d] unpacked, zero for absent entities
        ent_a, prim_a = affordances(L, C, ents.shape[1])
        present = bare.present
        upd = ents + pol.aff_ent(ent_a) * present.unsqueeze(-1)
        c0 = bare.pooled + pol.aff_glob(prim_a)
        scores = torch.einsum("bd,bed->be", pol.aff_q(c0), pol.aff_k(upd)) / np.sqrt(ents.shape[-1])
        attn = torch.softmax(scores.masked_fill(~present, float("-inf")), -1)
        want = c0 + torch.einsum("be,bed->bd", attn, pol.aff_v(upd))
        assert torch.allclose(full.pooled, want, atol=1e-5, rtol=1e-5)
        assert torch.allclose(full.entities[present], upd[present], atol=1e-6)
        assert torch.equal(full.value, bare.value)


def test_an_indexed_encoding_without_the_legal_list_still_refuses_heads(states):
    """An encoding of a policy that reads the legal list, made without one, has values and no
    heads; ``Encoding.index`` (a sub-batch, as the sampler and the tests take) keeps that guard
    instead of silently scoring heads without affordances."""
    g, e, L, C = batch(states, np.arange(6))
    for cfg in (PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, afford=True),
                PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, pointer_primary=True)):
        pol = make_policy(cfg)
        with torch.no_grad():
            sub = pol(g, e).index(torch.tensor([1, 3]))
            assert sub.no_legal and sub.value.shape == (2,)
            with pytest.raises(ValueError, match="legal tuples"):
                pol.head_logits(sub, 0)
            with pytest.raises(ValueError, match="legal tuples"):
                sample(pol, sub, L[[1, 3]], C[[1, 3]])


@pytest.mark.parametrize("pointer_mlp", [False, True], ids=["dot", "mlp"])
def test_rows_with_as_many_prefixes_as_states_but_not_one_each(states, pointer_mlp):
    """``head_logits(enc, k, prefix, rows)`` where there are as many prefixes as encoded states but
    the rows repeat (two prefixes of state 0, two of state 1, ...: the prefix tree can hit this
    count): every prefix's pointer logits are scored against the entities of its own state, as
    with ``enc.index(rows)``."""
    obs, leg, cnt = states
    idx = np.arange(0, len(cnt), 37)[:12]
    g, e, _, _ = batch(states, idx)
    B = len(idx)
    pol = make_policy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, pointer_mlp=pointer_mlp), seed=17)
    rows = torch.arange(B) // 2
    with torch.no_grad():
        enc = pol(g, e)
        ents = [present_entities(e[int(r)]) for r in rows]
        for p in (Primary.ATTACK, Primary.PLAY_SPELL):
            prefix = torch.tensor([[int(p), ents[i][i % 2], ents[i][(i + 1) % 2]] for i in range(B)])
            for k in (1, 2, 3):
                got = pol.head_logits(enc, k, prefix[:, :k], rows=rows)
                want = pol.head_logits(enc.index(rows), k, prefix[:, :k])
                assert torch.allclose(got, want, atol=1e-5, rtol=1e-5), (p.name, k)


@pytest.mark.parametrize("head, value", [(0, HEAD_SIZES[0]), (1, -1), (2, HEAD_SIZES[2] + 7), (3, HEAD_SIZES[3] + 3)])
def test_a_stored_value_out_of_range_raises_replay_mismatch(states, head, value):
    """A stored tuple with a value outside its head's range (a corrupt demonstration, say) is not
    legal under any legal list: evaluate raises ReplayMismatchError naming its row and tuple."""
    g, e, L, C = batch(states, np.arange(40, 44))
    pol = make_policy()
    with torch.no_grad():
        enc = pol(g, e)
        acts = L[:, 0].clone()
        acts[1, head] = value
        with pytest.raises(ReplayMismatchError, match=r"\(row 1\)") as err:
            evaluate(pol, enc, L, C, acts)
    assert str(acts[1].tolist()) in str(err.value)
