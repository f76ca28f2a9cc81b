"""Behaviour cloning: the loss is the sampler's log-prob, the split is by game, one loss
function serves train and validation, illegal expert tuples are skipped, early stopping
stops, and the best checkpoint loads where policies load."""
import dataclasses
import json
import re

import numpy as np
import pytest
import torch

from training import bc as B
from training.checkpoint import CheckpointError, load_init_weights, load_policy
from training.cli import main as tcg
from training.demos import load_demos, write_demos
from training.sampler import evaluate, exact_entropy
from verification.spec import HEAD_SIZES

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    path = tmp_path_factory.mktemp("bc") / "h.demos"
    write_demos(path, "heuristic", 24, seed=5, parallel=12)
    return path, load_demos(path)


def _policy(seed=0, name="cpu"):
    torch.manual_seed(seed)
    return B.build_bc_policy(name).eval()


def _branching(d, r):
    """log of the number of legal values of each head given the expert's prefix, summed (numpy)."""
    legal, a = d.legal_of(r).astype(int), d.action[r].astype(int)
    return sum(np.log(len(np.unique(legal[np.all(legal[:, :k] == a[:k], axis=1), k]))) for k in range(4))


def test_bc_loss_equals_minus_log_prob_of_the_sampler(demos):
    _, d = demos
    idx = np.arange(0, len(d), 7)
    batch = B.make_batch(d, idx)
    p = _policy(1)
    loss = B.masked_loss(p, batch)
    with torch.no_grad():
        enc = p(*__import__("policy").obs_tensors(batch.obs))
        ref = evaluate(p, enc, batch.legal, batch.count, batch.actions, entropy="exact").log_prob
        # an independent path: the prefix-tree walk gives the log-prob of every legal tuple
        _, bidx, tup, logp = exact_entropy(p, enc, batch.legal, batch.count, return_tuple_logp=True)
    torch.testing.assert_close(loss.detach(), -ref, rtol=0, atol=1e-6)
    hit = (tup == batch.actions[bidx]).all(1)
    assert int(hit.sum()) == len(idx)                  # each expert tuple appears once in its legal list
    torch.testing.assert_close(loss.detach(), -logp[hit], rtol=0, atol=1e-5)
    # one decision alone gives the same number as in the batch (padding changes nothing)
    one = B.masked_loss(p, B.make_batch(d, idx[3:4]))
    torch.testing.assert_close(one.detach(), loss.detach()[3:4], rtol=0, atol=1e-5)
    assert loss.requires_grad


def test_untrained_policy_initial_loss(demos):
    """What holds exactly: the sampler factorises a tuple's probability over the prefix tree, so a
    policy whose heads are uniform over the legal children of each prefix scores the expert
    tuple -sum_k log(#legal values of head k given the expert prefix). That equals log(#legal
    tuples) exactly where only one head branches (a flat tree), and on average otherwise only
    for a policy uniform over *tuples*. We check all three, plus the default initialisation."""
    _, d = demos
    idx = np.arange(len(d))
    batch = B.make_batch(d, idx)
    branching = np.array([_branching(d, r) for r in idx])
    log_count = np.log(d.legal_count[idx].astype(np.float64))
    # (1) zero output layers make every head uniform over its legal values: every bin head's
    # logits are its (zero) bias, every pointer head's query is 0 so all present entities score
    # 0 (legal pointers always name present entities)
    p = _policy(0)
    with torch.no_grad():
        for lin in list(p.bin_out) + list(p.ptr_q):
            lin.weight.zero_()
            lin.bias.zero_()
        zero = B.masked_loss(p, batch).numpy()
    np.testing.assert_allclose(zero, branching, atol=1e-5)
    flat = np.array([sum(len(np.unique(d.legal_of(r)[:, k])) > 1 for k in range(4)) <= 1 for r in idx])
    assert flat.sum() > 50
    np.testing.assert_allclose(zero[flat], log_count[flat], atol=1e-5)
    # (2) the default initialisation is near-uniform: its mean loss is within 10% of (1)'s
    for seed in (0, 1):
        with torch.no_grad():
            init = B.masked_loss(_policy(seed), batch).numpy()
        assert abs(init.mean() - branching.mean()) < 0.1 * branching.mean(), (init.mean(), branching.mean())
    # (3) a policy uniform over legal tuples (head logits = log of the number of legal tuples
    # below each child) has loss log(#legal tuples) on every decision: the mean log count
    legal_lists = [d.legal_of(r).astype(int) for r in idx]

    class TupleUniform:
        def __call__(self, g, e, legal_tuples=None, legal_count=None):   # the policy call protocol
            return None

        def head_logits(self, enc, k, prefix=None):
            out = torch.full((len(idx), HEAD_SIZES[k]), -1e9)
            for b, legal in enumerate(legal_lists):
                sel = legal if k == 0 else legal[np.all(legal[:, :k] == prefix[b].numpy()[:k], axis=1)]
                vals, n = np.unique(sel[:, k], return_counts=True)
                out[b, vals] = torch.as_tensor(np.log(n), dtype=torch.float32)
            return out

    uni = B.masked_loss(TupleUniform(), batch).numpy()
    np.testing.assert_allclose(uni, log_count, atol=1e-4)
    # on these demonstrations the two factorisations differ: the test above is not vacuous
    assert abs(branching.mean() - log_count.mean()) > 0.05


def test_unmasked_loss_bounds_the_masked_one(demos):
    _, d = demos
    batch = B.make_batch(d, np.arange(0, len(d), 5))
    p = _policy(2)
    with torch.no_grad():
        m, u = B.masked_loss(p, batch), B.unmasked_loss(p, batch)
    # masking renormalises each head over a subset (and drops forced heads): never a larger loss
    assert bool((u >= m - 1e-5).all()) and float((u - m).mean()) > 0.1
    # head 0 alone, by hand: plain cross-entropy over all primaries
    from policy import obs_tensors
    with torch.no_grad():
        enc = p(*obs_tensors(batch.obs))
        ce0 = torch.nn.functional.cross_entropy(p.head_logits(enc, 0), batch.actions[:, 0], reduction="none")
    only_primary = (batch.actions[:, 1:] == 0).all(1) & torch.as_tensor(
        [bool((B.SLOT_KIND[int(a)] == int(B.SlotKind.UNUSED)).all()) for a in batch.actions[:, 0]])
    assert int(only_primary.sum()) > 0
    torch.testing.assert_close(u[only_primary], ce0[only_primary], rtol=0, atol=1e-5)


def test_metrics_of_a_zero_policy_are_exact(demos):
    _, d = demos
    idx = np.arange(len(d))
    p = _policy(0)
    with torch.no_grad():
        for lin in list(p.bin_out) + list(p.ptr_q):
            lin.weight.zero_()
            lin.bias.zero_()
    m = B.batch_metrics(p, B.make_batch(d, idx))
    # masked greedy over uniform heads takes the smallest legal value at each head: the first
    # legal tuple in canonical (lexicographic) order
    first = np.stack([d.legal_of(r)[0] for r in idx])
    assert m["tuple_correct"] == int((first == d.action[idx]).all(1).sum())
    # unmasked argmax of all-zero logits is (0, 0, 0, 0): illegal wherever END_TURN is not listed
    zero_listed = np.array([bool((d.legal_of(r) == 0).all(1).any()) for r in idx])
    assert m["unmasked_illegal"] == int((~zero_listed).sum()) > 0


def test_validation_accuracy_is_measured_with_inference_masking(demos, tmp_path):
    """validate() reports tuple accuracy under the masked greedy decoder (how play runs), not
    the unmasked argmax: with uniform heads the masked decoder plays each row's first legal
    tuple, the unmasked one (0, 0, 0, 0)."""
    _, d = demos
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path), epochs=1, val_every=0), data=d)
    with torch.no_grad():
        for lin in list(t.policy.bin_out) + list(t.policy.ptr_q):
            lin.weight.zero_()
            lin.bias.zero_()
    res = t.validate()
    v = t.val_idx
    first = np.stack([d.legal_of(r)[0] for r in v])
    masked = float((first == d.action[v]).all(1).mean())
    unmasked = float((d.action[v] == 0).all(1).mean())
    assert masked != pytest.approx(unmasked)
    assert res["val_tuple_acc"] == pytest.approx(masked)
    assert res["val_unmasked_tuple_acc"] == pytest.approx(unmasked)


def test_split_is_by_game(demos):
    _, d = demos
    tr, va = B.split_by_game(d.game, 0.25, seed=3)
    assert not set(d.game[tr]) & set(d.game[va])
    assert sorted(np.concatenate([tr, va])) == list(range(len(d)))
    assert len(set(d.game[va])) == 6
    tr2, va2 = B.split_by_game(d.game, 0.25, seed=4)
    assert set(d.game[va2]) != set(d.game[va])
    t = B.BCTrainer(B.BCConfig(demos="-", out="-", val_frac=0.25, split_seed=3), data=d)
    assert np.array_equal(t.val_idx, va) and not set(t.train_games) & set(t.val_games)
    with pytest.raises(ValueError, match="at least 2 games"):
        B.split_by_game(np.zeros(10, np.int64), 0.1, 0)


def test_illegal_expert_tuples_are_counted_and_skipped(demos, tmp_path):
    _, d = demos
    import copy
    bad = copy.copy(d)
    bad.action = d.action.copy()
    rows = np.array([0, 5, 100, len(d) - 1])
    for r in rows:   # a tuple missing from the legal list (no primary reaches value 31 in all heads)
        bad.action[r] = (12, 31, 31, 1)
        assert not (bad.legal_of(r) == bad.action[r]).all(1).any()
    assert list(np.nonzero(~B.expert_legal(bad))[0]) == list(rows)
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path), epochs=1, val_every=0), data=bad)
    assert t.illegal_expert == len(rows)
    assert not set(rows) & (set(t.train_idx) | set(t.val_idx))
    assert len(t.train_idx) + len(t.val_idx) == len(d) - len(rows)
    summary = t.run()     # would raise ReplayMismatchError if an illegal tuple reached the loss
    assert summary["illegal_expert_skipped"] == len(rows)


@pytest.mark.parametrize("loss", ["masked", "unmasked"])
def test_train_and_validation_use_the_same_loss_function(demos, tmp_path, monkeypatch, loss):
    _, d = demos
    calls = []
    real = B.LOSSES[loss]

    def spy(policy, batch):
        calls.append((torch.is_grad_enabled(), policy.training))
        return real(policy, batch)

    monkeypatch.setitem(B.LOSSES, loss, spy)
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path), loss=loss, epochs=1, batch_size=512), data=d)
    assert t.loss_fn is spy
    t.run()
    assert (True, True) in calls and (False, False) in calls      # training steps and validation
    assert set(calls) == {(True, True), (False, False)}
    # the reported validation loss is that function's mean over the validation decisions
    with torch.no_grad():
        want = float(real(t.policy.eval(), B.make_batch(d, t.val_idx)).mean())
    assert t.curves[-1]["val_loss"] == pytest.approx(want, rel=1e-5)


def test_early_stopping_stops(demos, tmp_path):
    _, d = demos
    # lr 0: the validation loss never improves after the first validation
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path), epochs=50, lr=0.0, patience=2, batch_size=512), data=d)
    s = t.run()
    # validations at step 0 (the best), epoch 1 and epoch 2 (no improvement: patience 2 spent)
    assert s["stopped"] == "early stop" and [r["epoch"] for r in t.curves] == [0, 1, 2] and s["best_step"] == 0
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path), epochs=3, lr=0.0, patience=0, batch_size=512), data=d)
    assert t.run()["stopped"] == "epochs" and len(t.curves) == 4


def test_best_checkpoint_is_kept_and_loads(demos, tmp_path):
    path, d = demos
    out = tmp_path / "run"
    t = B.BCTrainer(B.BCConfig(demos=str(path), out=str(out), epochs=3, lr=3e-3, val_every=3, patience=0))
    s = t.run()
    rows = json.loads((out / "curves.json").read_text())
    assert len(rows) >= 4 and s["best_val_loss"] == min(r["val_loss"] for r in rows)
    best = load_policy(out / "policy.pt")
    with torch.no_grad():
        got = float(B.masked_loss(best, B.make_batch(d, t.val_idx)).mean())
    assert got == pytest.approx(s["best_val_loss"], rel=1e-5)
    load_policy(out / "last.pt")
    # a new run refuses a folder holding any of these files: the list must name every one
    from training.cli import RUN_FILES
    assert {p.name for p in out.iterdir()} <= set(RUN_FILES)
    fresh = _policy(7)
    load_init_weights(fresh, out / "policy.pt")
    for (k, v), (k2, v2) in zip(fresh.state_dict().items(), best.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    with pytest.raises(CheckpointError, match="policy config differs"):
        load_init_weights(_policy(0, "small"), out / "policy.pt")
    # a checkpoint written before an option existed records no value for it: that is the
    # option's default, so it still initialises a default policy, and not one with the option on
    data = torch.load(out / "policy.pt", weights_only=True)
    del data["policy_config"]["separate_value"]
    torch.save(data, tmp_path / "old.pt")
    load_init_weights(_policy(7), tmp_path / "old.pt")
    on = _policy(7)
    on.config = dataclasses.replace(on.config, separate_value=True)
    with pytest.raises(CheckpointError, match="separate_value: checkpoint False vs policy True"):
        load_init_weights(on, tmp_path / "old.pt")
    data["policy_config"]["no_such_option"] = 1
    torch.save(data, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="no_such_option"):
        load_init_weights(_policy(7), tmp_path / "bad.pt")
    # the policy size matches what `tcg train --config cpu` builds, so --init-from accepts it
    from training.config import TrainConfig
    from training.ppo import build_policy
    assert best.config == build_policy(TrainConfig.named("cpu")).config


def test_cli_bc(demos, tmp_path, capsys):
    path, _ = demos
    assert tcg(["bc", "--demos", str(tmp_path / "none.demos"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert tcg(["bc", "--demos", str(path), "--out", str(tmp_path / "o"), "--val-frac", "1.5"]) == 2
    assert "--val-frac" in capsys.readouterr().err
    assert tcg(["bc", "--demos", str(path), "--out", str(tmp_path / "o"), "--policy", "huge"]) == 2
    assert tcg(["bc", "--demos", str(path), "--out", str(tmp_path / "o"), "--epochs", "1", "--loss", "unmasked",
                "--json"]) == 0
    res = _strict_json(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["loss"] == "unmasked" and (tmp_path / "o" / "policy.pt").is_file()
    assert 0.0 <= res["val_unmasked_illegal_rate"] <= 1.0


def _strict_json(text):
    """json.loads as a strict parser (JavaScript's, jq's) reads: NaN and Infinity are refused."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_bc_json_outputs_are_strict_json_with_null_for_figures_with_no_value(demos, tmp_path):
    """The first curves row has no train loss (no step yet) and a head no decision chose with has
    no accuracy: both are null in curves.json and summary.json, where NaN would break a strict
    parser; the CSV keeps nan."""
    import math
    _, d = demos
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path), epochs=1, lr=0.0, patience=0, batch_size=1000),
                    data=d)
    summary = t.run()
    assert math.isnan(t.curves[0]["train_loss"])
    rows = _strict_json((tmp_path / "curves.json").read_text())
    assert rows[0]["train_loss"] is None and all(isinstance(r["train_loss"], float) for r in rows[1:])
    assert [r["val_loss"] for r in rows] == pytest.approx([r["val_loss"] for r in t.curves])
    assert _strict_json((tmp_path / "summary.json").read_text())["steps"] == summary["steps"]
    assert "nan" in (tmp_path / "curves.csv").read_text().splitlines()[1].split(",")
    nan_head = {**t.curves[-1], "val_head3_acc": float("nan"), "nested": [float("inf"), {"x": float("-inf")}]}
    assert _strict_json(B.json_text(nan_head)) == {**{k: v for k, v in t.curves[-1].items()},
                                                   "val_head3_acc": None, "nested": [None, {"x": None}]}


def _zero_heads(p):
    """Zero every output layer: each head's logits are equal over its legal values."""
    with torch.no_grad():
        for lin in list(p.bin_out) + list(p.ptr_q):
            lin.weight.zero_()
            lin.bias.zero_()
    return p


def test_per_head_accuracy_counts_real_choices_only(demos):
    """Head k's accuracy is over decisions where head k is used by the expert's primary and has
    more than one legal value given the expert's prefix (a forced head is no choice); with
    uniform heads the masked argmax is the smallest legal value. Counted here in numpy."""
    _, d = demos
    idx = np.arange(len(d))
    m = B.batch_metrics(_zero_heads(_policy(0)), B.make_batch(d, idx))
    for k in range(4):
        n = correct = 0
        for r in idx:
            legal, a = d.legal_of(r).astype(int), d.action[r].astype(int)
            vals = np.unique(legal[np.all(legal[:, :k] == a[:k], axis=1), k])
            used = k == 0 or B.SLOT_KIND[a[0], k - 1] != int(B.SlotKind.UNUSED)
            if used and len(vals) > 1:
                n += 1
                correct += int(vals[0] == a[k])
        assert (m[f"head{k}_n"], m[f"head{k}_correct"]) == (n, correct), k
    assert 0 < m["head1_n"] < len(idx)   # some decisions have a forced or unused head 1


def test_unmasked_decoder_zeroes_the_slots_its_primary_does_not_use(demos):
    """The unmasked argmax decoder writes 0 in the slots its primary leaves unused (they are
    never a choice): a head-3 preference for 1 does not make END_TURN (0, 0, 0, 1) illegal."""
    _, d = demos
    idx = np.arange(len(d))
    assert (B.SLOT_KIND[0] == int(B.SlotKind.UNUSED)).all()   # END_TURN uses no slot
    p = _zero_heads(_policy(0))
    with torch.no_grad():
        p.bin_out[3].bias[1] = 5.0
    m = B.batch_metrics(p, B.make_batch(d, idx))
    zero_listed = np.array([bool((d.legal_of(r) == 0).all(1).any()) for r in idx])
    assert zero_listed.any()
    assert m["unmasked_illegal"] == int((~zero_listed).sum())
    assert m["unmasked_correct"] == int((d.action[idx] == 0).all(1).sum())


def test_masked_nll_of_an_unmasked_run_is_the_masked_loss(demos, tmp_path):
    """val_masked_nll puts both losses on one scale: under --loss unmasked it is still the
    masked loss's mean over the validation decisions, not the unmasked loss."""
    _, d = demos
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path), loss="unmasked"), data=d)
    res = t.validate()
    with torch.no_grad():
        batch = B.make_batch(d, t.val_idx)
        nll = float(B.masked_loss(t.policy.eval(), batch).mean())
        unmasked = float(B.unmasked_loss(t.policy, batch).mean())
    assert res["val_masked_nll"] == pytest.approx(nll, rel=1e-5)
    assert res["val_loss"] == pytest.approx(unmasked, rel=1e-5) and unmasked > nll + 0.1


def test_train_loss_is_the_mean_over_decisions(demos, tmp_path):
    """The logged train loss is the per-decision mean (the scale of the validation loss): with
    lr 0 and one minibatch holding the whole training set it equals the loss function's mean
    over the training decisions."""
    _, d = demos
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path), epochs=1, lr=0.0, batch_size=100_000,
                               patience=0), data=d)
    t.run()
    assert t.step == 1 and len(t.curves) == 2
    assert t.curves[1]["train_loss"] == pytest.approx(t.validate(t.train_idx)["val_loss"], rel=1e-4)


def test_same_seed_same_run_and_another_seed_another(demos, tmp_path):
    """--seed fixes the initial weights and the minibatch order: two runs with one seed end with
    identical weights and curves; another seed gives other weights."""
    _, d = demos

    def run(seed, name):
        torch.manual_seed(1234 + len(name))   # whatever the global generator holds, the seed decides
        t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path / name), epochs=1, batch_size=128, patience=0,
                                   seed=seed), data=d)
        t.run()
        return t
    a, b, c = run(3, "a"), run(3, "bb"), run(4, "ccc")
    assert len(a.train_idx) > 3 * 128   # several minibatches: their order matters
    assert [r["train_loss"] for r in a.curves[1:]] == [r["train_loss"] for r in b.curves[1:]]
    for (k, v), v2, v3 in zip(a.policy.state_dict().items(), b.policy.state_dict().values(),
                              c.policy.state_dict().values()):
        assert torch.equal(v, v2), k
    assert any(not torch.equal(v, v3) for v, v3 in zip(a.policy.state_dict().values(),
                                                       c.policy.state_dict().values()))


def test_min_delta_sets_the_improvement_that_counts_and_policy_pt_is_the_best(demos, tmp_path):
    """An improvement must lower the validation loss by more than --min-delta. With a huge
    min_delta only the first validation (the untrained policy) is ever best: policy.pt stays that
    policy while training moves the weights (last.pt), and patience 1 stops after one epoch."""
    _, d = demos
    cfg = dict(demos="-", epochs=2, lr=3e-3, batch_size=512, min_delta=1e6)
    t = B.BCTrainer(B.BCConfig(out=str(tmp_path / "a"), patience=0, **cfg), data=d)
    s = t.run()
    assert s["stopped"] == "epochs" and len(t.curves) == 3 and s["best_step"] == 0
    assert s["best_val_loss"] == t.curves[0]["val_loss"] > t.curves[-1]["val_loss"]
    val = B.make_batch(d, t.val_idx)
    with torch.no_grad():
        for name, want in (("policy.pt", t.curves[0]["val_loss"]), ("last.pt", t.curves[-1]["val_loss"])):
            got = float(B.masked_loss(load_policy(tmp_path / "a" / name), val).mean())
            assert got == pytest.approx(want, rel=1e-5), name
    t = B.BCTrainer(B.BCConfig(out=str(tmp_path / "b"), patience=1, **cfg), data=d)
    assert t.run()["stopped"] == "early stop" and [r["epoch"] for r in t.curves] == [0, 1]


@pytest.mark.parametrize("field,value,says", [
    ("epochs", 0, "--epochs must be >= 1"),
    ("minutes", float("inf"), "--minutes must be a finite number"),
    ("minutes", float("nan"), "--minutes must be a finite number"),
    ("batch_size", 0, "--batch-size must be >= 1"),
    ("val_frac", 1.0, "--val-frac must be in (0, 1)"),
    ("val_frac", 0.0, "--val-frac must be in (0, 1)"),
    ("patience", -1, "--patience must be >= 0"),
    ("threads", 100_000, "--threads must be in 0..256"),
    ("threads", -1, "--threads must be in 0..256"),
    ("val_every", -1, "--val-every must be >= 0"),
    ("lr", float("inf"), "must be finite"),
    ("min_delta", -0.1, "must be finite, the last three >= 0"),
    ("device", "nope", "--device 'nope' is not a torch device"),
])
def test_bc_settings_out_of_range_are_refused(field, value, says):
    """Each BC setting a run cannot use is refused before any work, naming its flag."""
    B.BCConfig(demos="x").validate()
    with pytest.raises(ValueError, match=re.escape(says)):
        B.BCConfig(demos="x", **{field: value}).validate()


def test_cli_bc_refusals_leave_the_out_folder_as_they_found_it(demos, tmp_path, capsys):
    """A refused `tcg bc` exits 2 naming the problem: a bad flag before the --out folder is made,
    a demonstrations file it cannot split (one game) after it; neither leaves a new folder behind,
    and neither removes a folder that was there before (even an empty one)."""
    path, _ = demos
    one = tmp_path / "one.demos"
    write_demos(one, "heuristic", 1, seed=2)
    mine = tmp_path / "mine"
    mine.mkdir()
    for demos_file, extra, says in ((path, ["--val-frac", "1.5"], "--val-frac must be in (0, 1)"),
                                    (path, ["--epochs", "0"], "--epochs must be >= 1"),
                                    (one, [], "needs at least 2 games"),
                                    (tmp_path / "none.demos", [], "no such file")):
        for out in (tmp_path / "new", mine):
            assert tcg(["bc", "--demos", str(demos_file), "--out", str(out), *extra]) == 2
            err = capsys.readouterr().err
            assert err.startswith("tcg bc: ") and says in err, err
            assert not (tmp_path / "new").exists() and mine.is_dir() and not list(mine.iterdir())


def test_cli_bc_threads_the_split_seed(demos, tmp_path, capsys):
    """--split-seed (not --seed) picks the validation games of a `tcg bc` run."""
    path, d = demos
    sizes = {s: len(B.split_by_game(d.game, 0.25, s)[1]) for s in range(8)}
    s = next(s for s in range(1, 8) if sizes[s] != sizes[0])
    out = tmp_path / "run"
    assert tcg(["bc", "--demos", str(path), "--out", str(out), "--epochs", "1", "--batch-size", "1024",
                "--val-frac", "0.25", "--seed", "0", "--split-seed", str(s), "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["val_decisions"] == sizes[s] and res["val_games"] == 6
    assert json.loads((out / "bc_config.json").read_text())["split_seed"] == s


def test_validation_reads_every_decision_across_its_batches(demos, tmp_path):
    """validate() walks its decisions in batches of max(batch size, 512): the mean loss and the
    metrics are over all of them, whatever the number of batches (here 4)."""
    _, d = demos
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path), batch_size=64), data=d)
    idx = np.arange(len(d))
    assert len(idx) > 3 * 512
    res = t.validate(idx)
    with torch.no_grad():
        batch = B.make_batch(d, idx)
        want = float(B.masked_loss(t.policy.eval(), batch).mean())
        m = B.batch_metrics(t.policy, batch)
    assert res["val_loss"] == pytest.approx(want, rel=1e-5)
    assert res["val_tuple_acc"] == pytest.approx(m["tuple_correct"] / len(idx))
    assert res["val_unmasked_illegal_rate"] == pytest.approx(m["unmasked_illegal"] / len(idx))


# ----------------------------------------------------------------------------- mutation-audit additions
def test_split_size_is_the_nearest_share_with_one_game_on_each_side():
    """The validation set holds round(val_frac * games) games, at least one, and at least one
    game stays for training (24 games: 0.2 -> 5, not 4; 0.01 -> 1; 3 games at 0.99 -> 2)."""
    game = np.repeat(np.arange(24) * 7 + 3, 3)          # non-contiguous game ids, 3 decisions each
    for frac, want in ((0.2, 5), (0.01, 1), (0.25, 6), (0.3, 7)):
        tr, va = B.split_by_game(game, frac, seed=1)
        assert len(np.unique(game[va])) == want and len(va) == 3 * want, frac
        assert sorted(np.concatenate([tr, va])) == list(range(len(game)))
        assert not set(game[tr]) & set(game[va])
    three = np.array([4, 4, 9, 9, 11])
    tr, va = B.split_by_game(three, 0.99, seed=0)
    assert len(np.unique(three[tr])) == 1 and len(np.unique(three[va])) == 2


class _Enc:
    """An encoding that is only the batch rows it stands for (the sampler may index a subset)."""
    def __init__(self, rows):
        self.rows = rows

    def index(self, rows):
        return _Enc(self.rows[rows])


class _Target:
    """A policy that heads for one legal tuple ``target[b]`` per row: head k puts logit 10 on
    ``target[b, k]`` when the prefix it is given is ``target[b, :k]``, and on value 0 otherwise
    (all other logits 0). Its answers depend on the prefix, so they tell which prefix a caller
    passes."""
    training = False

    def __init__(self, target):
        self.target = torch.as_tensor(np.asarray(target, np.int64))

    def __call__(self, g, e, legal_tuples=None, legal_count=None):
        return _Enc(torch.arange(g.shape[0]))

    def head_logits(self, enc, k, prefix=None):
        t = self.target[enc.rows]
        out = torch.zeros(len(t), HEAD_SIZES[k])
        on_path = torch.ones(len(t), dtype=torch.bool) if k == 0 else (prefix[:, :k] == t[:, :k]).all(1)
        out[torch.arange(len(t)), torch.where(on_path, t[:, k], torch.zeros_like(t[:, k]))] = 10.0
        return out


def test_unmasked_loss_and_metrics_condition_on_the_right_prefix(demos):
    """With a prefix-dependent policy (see _Target, aimed at each row's last legal tuple):
    the unmasked loss and the per-head accuracy condition head k on the expert's prefix; the
    masked greedy and the unmasked argmax decoders on their own decoded prefix. Expected values
    by hand: a head's logits are one 10 and zeros, so its cross-entropy is
    log(e^10 + size - 1) - (10 if the expert's value is the favoured one else 0)."""
    _, d = demos
    idx = np.arange(0, len(d), 2)
    target = np.stack([d.legal_of(r)[-1] for r in idx]).astype(np.int64)
    act = d.action[idx].astype(np.int64)
    assert 0.05 < (target == act).all(1).mean() < 0.5          # both kinds of row are common
    p = _Target(target)
    batch = B.make_batch(d, idx)
    unused = int(B.SlotKind.UNUSED)
    # unmasked loss, head by head, teacher-forced on the expert's prefix
    want = np.zeros(len(idx))
    for k in range(4):
        on_path = (act[:, :k] == target[:, :k]).all(1)
        fav = np.where(on_path, target[:, k], 0)
        ce = np.log(np.exp(10.0) + HEAD_SIZES[k] - 1) - 10.0 * (fav == act[:, k])
        used = np.ones(len(idx), bool) if k == 0 else B.SLOT_KIND[act[:, 0], k - 1] != unused
        want += np.where(used, ce, 0.0)
    with torch.no_grad():
        got = B.unmasked_loss(p, batch).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    m = B.batch_metrics(p, batch)
    # the masked greedy decoder and the unmasked argmax decoder both follow the target tuple
    # (legal, zero in its unused slots): never illegal, right where the target is the expert's
    hit = int((target == act).all(1).sum())
    assert (m["tuple_correct"], m["unmasked_correct"], m["unmasked_illegal"]) == (hit, hit, 0)
    # per-head masked argmax given the expert's prefix, over real choices
    for k in range(4):
        n = correct = 0
        for i, r in enumerate(idx):
            legal, a, t = d.legal_of(r).astype(int), act[i], target[i]
            vals = np.unique(legal[np.all(legal[:, :k] == a[:k], axis=1), k])
            used = k == 0 or B.SLOT_KIND[a[0], k - 1] != unused
            if used and len(vals) > 1:
                fav = t[k] if (a[:k] == t[:k]).all() else 0
                pred = fav if fav in vals else vals[0]
                n += 1
                correct += int(pred == a[k])
        assert (m[f"head{k}_n"], m[f"head{k}_correct"]) == (n, correct), k
    assert m["head1_n"] > 0 and m["head1_correct"] < m["head1_n"]


def _grad_norm(policy):
    return float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in policy.parameters() if p.grad is not None)))


def test_train_step_clips_to_max_grad_norm_and_starts_from_zero_gradients(demos, tmp_path):
    """After a step the gradients are this step's alone (not summed with the previous step's),
    clipped to a global norm of --max-grad-norm; 0 leaves them unclipped. lr 0 keeps the
    weights, so repeated steps on one minibatch see one gradient."""
    _, d = demos

    def trainer(clip):
        return B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path), lr=0.0, max_grad_norm=clip, seed=2), data=d)
    t = trainer(0.0)
    idx = t.train_idx[:32]
    t.train_step(idx)
    raw = _grad_norm(t.policy)
    assert raw > 0.01
    t.train_step(idx)
    assert _grad_norm(t.policy) == pytest.approx(raw, rel=1e-4)      # not 2 * raw
    t = trainer(0.01)
    for _ in range(2):
        t.train_step(idx)
        assert _grad_norm(t.policy) == pytest.approx(0.01, rel=1e-3)


def test_minibatch_order_is_a_fresh_seeded_shuffle_every_epoch(demos, tmp_path, monkeypatch):
    """Each epoch visits every training decision once, in an order drawn anew each epoch from
    --seed: one seed repeats its orders, another seed gives other orders."""
    _, d = demos

    def orders(seed, name):
        t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path / name), epochs=2, batch_size=256, patience=0,
                                   seed=seed), data=d)
        seen = []
        monkeypatch.setattr(t, "train_step", lambda idx: (seen.append(np.array(idx)), 0.0)[1])
        monkeypatch.setattr(t, "validate", lambda idx=None: {"val_loss": 1.0, "val_masked_nll": 1.0,
                                                             "val_tuple_acc": 0.0, "val_unmasked_illegal_rate": 0.0,
                                                             "val_unmasked_tuple_acc": 0.0,
                                                             **{f"val_head{k}_acc": 0.0 for k in range(4)}})
        t.run()
        per_epoch = len(seen) // 2
        assert len(seen) == 2 * per_epoch == 2 * -(-len(t.train_idx) // 256)
        epochs = [np.concatenate(seen[:per_epoch]), np.concatenate(seen[per_epoch:])]
        for e in epochs:
            assert sorted(e) == sorted(t.train_idx)
        return epochs
    a, b, c = orders(3, "a"), orders(3, "b"), orders(4, "c")
    assert not np.array_equal(a[0], np.sort(a[0])) and not np.array_equal(a[0], a[1])
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[1], c[1])


def test_validate_leaves_the_mode_as_it_found_it_and_train_step_trains_in_train_mode(demos, tmp_path, monkeypatch):
    _, d = demos
    modes = []
    real = B.LOSSES["masked"]

    def spy(policy, batch):
        modes.append(policy.training)
        return real(policy, batch)
    monkeypatch.setitem(B.LOSSES, "masked", spy)
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path)), data=d)
    idx = t.val_idx[:64]
    for mode in (True, False):
        t.policy.train(mode)
        t.validate(idx)
        assert t.policy.training == mode and modes[-1] is False
    t.policy.eval()
    t.train_step(t.train_idx[:32])
    assert modes[-1] is True and t.policy.training


def test_validation_head_accuracy_is_over_that_heads_real_choices(demos, tmp_path):
    """val_head{k}_acc divides head k's correct answers by the decisions where head k is a real
    choice (not by all decisions); with uniform heads the masked argmax is the smallest legal
    value. Counted in numpy."""
    _, d = demos
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path)), data=d)
    _zero_heads(t.policy)
    idx = np.arange(0, len(d), 3)
    res = t.validate(idx)
    for k in range(4):
        n = correct = 0
        for r in idx:
            legal, a = d.legal_of(r).astype(int), d.action[r].astype(int)
            vals = np.unique(legal[np.all(legal[:, :k] == a[:k], axis=1), k])
            if (k == 0 or B.SLOT_KIND[a[0], k - 1] != int(B.SlotKind.UNUSED)) and len(vals) > 1:
                n += 1
                correct += int(vals[0] == a[k])
        assert n < len(idx) and res[f"val_head{k}_acc"] == pytest.approx(correct / n), k


def test_validation_of_one_decision_past_a_full_batch(demos, tmp_path):
    """513 decisions are a full batch of 512 and one more: the last one is read too."""
    _, d = demos
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path), batch_size=16), data=d)
    idx = np.arange(513)
    res = t.validate(idx)
    with torch.no_grad():
        per = B.masked_loss(t.policy.eval(), B.make_batch(d, idx)).numpy()
    assert res["val_loss"] == pytest.approx(per.mean(), rel=1e-5)
    assert res["val_loss"] != pytest.approx(per[:512].mean(), rel=1e-5)


def _scripted(t, losses, monkeypatch):
    """Replace t.validate by a script of validation losses; each row's val_tuple_acc is its index,
    and the weights each validation saw are kept."""
    weights = []

    def fake(idx=None):
        i = len(weights)
        weights.append({k: v.clone() for k, v in t.policy.state_dict().items()})
        return {"val_loss": losses[i], "val_masked_nll": 10.0 + i, "val_tuple_acc": float(i),
                "val_unmasked_illegal_rate": 20.0 + i, "val_unmasked_tuple_acc": 30.0 + i,
                **{f"val_head{k}_acc": 40.0 + i for k in range(4)}}
    monkeypatch.setattr(t, "validate", fake)
    return weights


def test_patience_counts_validations_since_the_last_improvement(demos, tmp_path, monkeypatch):
    """Scripted validation losses 5, 4, 4.5, 3, 3.2, 3.1 with patience 2: an improvement resets
    the count, so the run stops at the sixth validation (two without improvement after the
    fourth, the best). The summary, policy.pt (weights and recorded step) and the curves all name
    that best validation; last.pt holds the last weights."""
    _, d = demos
    out = tmp_path / "run"
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(out), epochs=20, patience=2, lr=1e-3, batch_size=100_000),
                    data=d)
    losses = [5.0, 4.0, 4.5, 3.0, 3.2, 3.1, 3.5, 3.6, 3.7]
    weights = _scripted(t, losses, monkeypatch)
    s = t.run()
    assert s["stopped"] == "early stop" and len(t.curves) == 6 and t.step == 5
    assert [r["step"] for r in t.curves] == [0, 1, 2, 3, 4, 5] == [r["epoch"] for r in t.curves]
    assert (s["best_step"], s["best_epoch"], s["best_val_loss"]) == (3, 3, 3.0)
    assert (s["val_tuple_acc"], s["val_masked_nll"], s["val_unmasked_illegal_rate"], s["val_unmasked_tuple_acc"],
            s["val_head2_acc"]) == (3.0, 13.0, 23.0, 33.0, 43.0)
    assert s["steps"] == 5 and s["epochs"] == 5
    best = torch.load(out / "policy.pt", weights_only=True)
    assert (best["bc"]["step"], best["bc"]["epoch"], best["bc"]["val_loss"]) == (3, 3, 3.0)
    last = torch.load(out / "last.pt", weights_only=True)
    assert (last["bc"]["step"], last["bc"]["val_loss"]) == (5, 3.1)
    assert any(not torch.equal(weights[3][k], weights[5][k]) for k in weights[3])   # training moved them
    for k, v in best["model"].items():
        assert torch.equal(v, weights[3][k]), k
    for k, v in last["model"].items():
        assert torch.equal(v, weights[5][k]), k
    rows = json.loads((out / "curves.json").read_text())
    assert [r["val_loss"] for r in rows] == losses[:6]


def test_curves_rows_train_loss_and_epoch_fractions_with_val_every(demos, tmp_path):
    """--val-every 1 with two minibatches an epoch: validations at steps 0, 1 (mid-epoch) and 2
    (the epoch's end, once); each row's train loss is the mean over the steps since the previous
    validation (here one step: that minibatch's loss; lr 0 keeps the weights) and the first row
    has none (NaN); epochs count the decisions seen. curves.csv holds the rows of curves.json."""
    import csv
    import math
    _, d = demos
    out = tmp_path / "run"
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(out), epochs=1, lr=0.0, val_every=1, patience=0,
                               batch_size=1000), data=d)
    n = len(t.train_idx)
    assert 1000 < n < 2000
    seen = []
    real = t.train_step
    t.train_step = lambda idx: (seen.append(np.array(idx)), real(idx))[1]
    s = t.run()
    assert s["stopped"] == "epochs" and [r["step"] for r in t.curves] == [0, 1, 2]
    assert [r["epoch"] for r in t.curves] == [0, round(1000 / n, 4), 1]
    assert math.isnan(t.curves[0]["train_loss"])
    for row, idx in zip(t.curves[1:], seen):
        assert row["train_loss"] == pytest.approx(t.validate(idx)["val_loss"], rel=1e-4)
    assert t.curves[1]["train_loss"] != pytest.approx(t.curves[2]["train_loss"], rel=1e-3)
    with (out / "curves.csv").open() as f:
        rows = list(csv.DictReader(f))
    js = json.loads((out / "curves.json").read_text())
    assert [int(r["step"]) for r in rows] == [r["step"] for r in js] == [0, 1, 2]
    assert [float(r["val_loss"]) for r in rows] == pytest.approx([r["val_loss"] for r in js])


def test_time_limit_stops_mid_epoch_and_validates_the_steps_since(demos, tmp_path, monkeypatch):
    """--minutes is wall time checked after every step (clock faked here: 61 s after the start):
    a 1-minute run stops after its first step, mid-epoch, and validates once more so the curve
    ends where training stopped."""
    import types
    _, d = demos
    clock = iter([0.0])
    monkeypatch.setattr(B, "time", types.SimpleNamespace(time=lambda: next(clock, 61.0)))
    calls = []
    s = B.train_bc(B.BCConfig(demos="-", out=str(tmp_path), epochs=3, minutes=1.0, lr=0.0, batch_size=1000,
                              patience=0), data=d, progress=lambda step, total: calls.append((step, total)))
    n = s["train_decisions"]
    assert 1000 < n < 2000
    assert s["stopped"] == "time limit" and s["steps"] == 1
    assert calls == [(1, 3 * 2)]         # step 1 of 3 epochs of two minibatches
    curves = json.loads((tmp_path / "curves.json").read_text())
    assert [r["step"] for r in curves] == [0, 1]
    assert curves[1]["epoch"] == round(1000 / n, 4) == s["epochs"]
    assert curves[1]["minutes"] == round(61 / 60, 4)
    # the checkpoint of that mid-epoch row records its epoch as the curves do, not rounded down to 0
    assert torch.load(tmp_path / "last.pt", weights_only=True)["bc"]["epoch"] == curves[1]["epoch"]


def test_weight_decay_reaches_the_optimizer(demos, tmp_path):
    """--weight-decay changes the update: two trainers alike but for it end a step apart."""
    _, d = demos
    ws = []
    for wd in (0.0, 0.5):
        t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path), seed=1, weight_decay=wd), data=d)
        t.train_step(t.train_idx[:32])
        t.train_step(t.train_idx[32:64])
        ws.append(t.policy.state_dict())
    assert any(not torch.equal(ws[0][k], ws[1][k]) for k in ws[0])


def test_early_stop_mid_epoch_with_val_every(demos, tmp_path, monkeypatch):
    """With --val-every a validation inside an epoch can spend the patience: the run stops right
    there, mid-epoch, with no second validation of the same step (scripted losses 5 then 6,
    patience 1, two minibatches an epoch)."""
    _, d = demos
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path), epochs=5, patience=1, val_every=1, lr=0.0,
                               batch_size=1000), data=d)
    n = len(t.train_idx)
    assert 1000 < n < 2000
    _scripted(t, [5.0, 6.0, 7.0, 8.0], monkeypatch)
    s = t.run()
    assert s["stopped"] == "early stop" and t.step == 1
    assert [r["step"] for r in t.curves] == [0, 1] and t.curves[1]["epoch"] == round(1000 / n, 4) == s["epochs"]
    assert (s["best_step"], s["best_val_loss"]) == (0, 5.0)


def test_a_split_left_empty_by_illegal_expert_tuples_is_refused(demos, tmp_path):
    """Every decision but those of one game has an illegal expert tuple: whichever side that game
    falls on, the other side is empty after skipping, and the trainer refuses to start."""
    import copy
    _, d = demos
    bad = copy.copy(d)
    bad.action = d.action.copy()
    keep = d.game == d.game[0]
    bad.action[~keep] = (12, 31, 31, 1)       # listed nowhere (see the illegal-tuple test above)
    assert B.expert_legal(bad).sum() == keep.sum()
    with pytest.raises(ValueError, match="a split is empty"):
        B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path)), data=bad)


def test_a_run_whose_validation_loss_is_never_finite_says_so(demos, tmp_path, monkeypatch):
    """With finite weights but no finite validation loss there is no best policy: a ValueError
    says so (not a TypeError from the summary), and last.pt and the curves are still written."""
    _, d = demos
    out = tmp_path / "run"
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(out), epochs=2, patience=0, batch_size=100_000), data=d)
    _scripted(t, [float("inf"), float("nan"), float("inf")], monkeypatch)
    with pytest.raises(B.NoFiniteValidationError, match="never finite .*3 validations.*no policy.pt"):
        t.run()
    assert (out / "last.pt").exists() and not (out / "policy.pt").exists()
    assert len(json.loads((out / "curves.json").read_text())) == 3


def test_cli_bc_reports_a_never_finite_run_and_lets_other_errors_through(demos, tmp_path, monkeypatch, capsys):
    """`tcg bc` turns a run with no finite validation loss into a message and exit 1 (last.pt is
    kept), but a ValueError of any other kind from inside the run is a bug and is not hidden."""
    path, _ = demos
    real_validate = B.BCTrainer.validate

    def never_finite(self, idx=None):
        row = real_validate(self, idx)
        return {**row, "val_loss": float("nan")}
    monkeypatch.setattr(B.BCTrainer, "validate", never_finite)
    out = tmp_path / "run"
    assert tcg(["bc", "--demos", str(path), "--out", str(out), "--epochs", "1", "--batch-size", "100000"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tcg bc: the validation loss was never finite") and "Try a lower --lr" in err
    assert (out / "last.pt").exists() and not (out / "policy.pt").exists()

    def broken(self, idx=None):
        raise ValueError("a bug inside the run")
    monkeypatch.setattr(B.BCTrainer, "validate", broken)
    with pytest.raises(ValueError, match="a bug inside the run"):
        tcg(["bc", "--demos", str(path), "--out", str(tmp_path / "run2"), "--epochs", "1", "--batch-size", "100000"])
