"""training/puffer_policy.py, second mutation audit: behaviours no other test read.

Each test guards one surviving mutant of that audit: the carrier's legal lists cut to the
batch's longest list, its ``observations`` being the flat rows, the value keeping its graph
(PuffeRL's value loss trains through it), ``max_legal_count`` over calls, the strict error
naming the first illegal row and that row's list length, the replay's entropy mode and
counters, the observer's kinds, the entropy argument's check, and ``uninstall`` leaving a
foreign ``sample_logits`` alone. All in-process; none imports PufferLib (``uninstall`` is
exercised against a stand-in ``pufferlib.pytorch`` module).
"""
import sys
import types

import pytest
import torch

from test_puffer_policy import _corrupting_sample, _flat_rows, _tiny_wrapper

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_forward_carrier_holds_the_flat_rows_and_lists_cut_to_the_longest_one():
    """forward: the SequentialLogits keeps the flat rows it was called on, the counts, and the
    legal tuples cut to the batch's longest list (not MAX_LEGAL); the value keeps its graph so
    that PuffeRL's value loss reaches the policy's parameters."""
    from training.puffer_policy import unpack_tensor
    flat = _flat_rows()
    _, lt, lc = unpack_tensor(flat)
    w = _tiny_wrapper()
    logits, value = w(flat, {})
    width = int(lc.max())
    assert 1 < width < lt.shape[1]
    assert logits.legal_tuples.shape == (flat.shape[0], width, 4)
    assert torch.equal(logits.legal_tuples, lt[:, :width]) and torch.equal(logits.legal_count, lc)
    assert logits.observations.shape == flat.shape and torch.equal(logits.observations, flat)
    assert logits.batch_size == flat.shape[0] and value.shape == (flat.shape[0],)
    assert value.requires_grad, "the value is detached: PuffeRL's value loss would not train the policy"
    value.sum().backward()
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in w.policy.parameters())


def test_max_legal_count_is_the_longest_list_over_all_calls():
    """stats.max_legal_count keeps the longest list seen by any call, not the last call's."""
    from training.puffer_policy import sample_logits, unpack_tensor
    flat = _flat_rows()
    _, _, lc = unpack_tensor(flat)
    short = torch.nonzero(lc < lc.max()).flatten()
    assert short.numel() and int(lc[short].max()) < int(lc.max())
    w = _tiny_wrapper()
    with torch.no_grad():
        for rows in (flat, flat[short]):
            logits, _ = w.forward_eval(rows, {})
            sample_logits(logits)
    assert w.stats.max_legal_count == int(lc.max())


def test_strict_error_names_the_first_illegal_row_and_its_list_length(monkeypatch):
    """strict: with several illegal rows, IllegalSampleError names the first one and the length
    of that row's legal list; every illegal row is still counted."""
    from training.puffer_policy import IllegalSampleError, sample_logits, unpack_tensor
    flat = _flat_rows()
    _, _, lc = unpack_tensor(flat)
    c = lc.tolist()
    first = next(r for r in range(1, len(c)) if c[r] != c[0])
    second = next(r for r in range(first + 1, len(c)) if c[r] != c[first])
    w = _tiny_wrapper()
    _corrupting_sample(monkeypatch, [first, second])
    with torch.no_grad():
        logits, _ = w.forward_eval(flat, {})
        with pytest.raises(IllegalSampleError, match=rf"\(row {first}\) is not in its legal list of {c[first]} tuples"):
            sample_logits(logits)
    assert w.stats.illegal_sampled == 2 and [r for r, _ in w.stats.first_illegal] == [first, second]


def test_replay_uses_the_wrappers_entropy_mode_and_counts_calls_and_observer_kinds():
    """The replay path evaluates with the wrapper's entropy mode (what PuffeRL's entropy bonus
    reads), counts replay_calls and replayed rows, and the observer sees ("sample", logits,
    None, result) then ("replay", logits, stored, result) with the returned log-probs."""
    from training import sampler
    from training.puffer_policy import sample_logits
    flat = _flat_rows()
    B = flat.shape[0]
    seen = []
    w = _tiny_wrapper(entropy="sampled", generator=torch.Generator().manual_seed(3),
                      observer=lambda kind, logits, action, res: seen.append((kind, logits, action, res)))
    with torch.no_grad():
        logits, _ = w.forward_eval(flat, {})
        a, lp, _ = sample_logits(logits)
        stored = a.to(torch.int8).reshape(3, B // 3, 4)       # PuffeRL's buffer: int8, [segments, horizon, 4]
        out, newlp, ent = sample_logits(logits, action=stored)
        ref = sampler.evaluate(w.policy, logits.encoding, logits.legal_tuples, logits.legal_count, a, entropy="sampled")
        exact = sampler.evaluate(w.policy, logits.encoding, logits.legal_tuples, logits.legal_count, a)
    assert torch.equal(out, a) and torch.allclose(newlp, lp, atol=1e-5, rtol=0)
    assert torch.allclose(ent, ref.entropy) and not torch.allclose(ent, exact.entropy)
    st = w.stats
    assert (st.sample_calls, st.sampled, st.replay_calls, st.replayed) == (1, B, 1, B)
    assert [(k, lg is logits) for k, lg, _, _ in seen] == [("sample", True), ("replay", True)]
    assert seen[0][2] is None and seen[1][2] is stored
    assert torch.equal(seen[0][3].actions, a) and torch.equal(seen[0][3].log_prob, lp)
    assert torch.equal(seen[1][3].log_prob, newlp)


def test_entropy_mode_is_checked():
    with pytest.raises(ValueError, match="entropy must be 'exact' or 'sampled'"):
        _tiny_wrapper(entropy="bogus")


def test_uninstall_leaves_a_foreign_sample_logits_alone(monkeypatch):
    """uninstall restores PufferLib's function only over this module's hook: a sample_logits
    that someone else set after install() is left in place (against a stand-in module, so
    PufferLib is not imported here)."""
    import training.puffer_policy as pp

    def original(logits, action=None):
        return "original"

    def foreign(logits, action=None):
        return "foreign"

    fake = types.ModuleType("pufferlib.pytorch")
    fake.sample_logits = foreign
    monkeypatch.setitem(sys.modules, "pufferlib.pytorch", fake)
    monkeypatch.setattr(pp, "_ORIGINAL", original)
    assert not pp.is_installed()
    pp.uninstall()
    assert fake.sample_logits is foreign
    fake.sample_logits = pp.sample_logits
    assert pp.is_installed()
    pp.uninstall()
    assert fake.sample_logits is original and not pp.is_installed()
