"""training/bc.py, second mutation audit: behaviours no other test read.

70 one-line mutants; 50 survived tests/test_bc.py; 12 of the 50 are equivalent, the other 38
are caught here (ids: d_ a BCConfig default, v_ a validate() check or validate's figures, p_
build_bc_policy, el_ expert_legal, sp_ the split, ml_/ul_ the masked/unmasked loss, bm_
batch_metrics, t_ the trainer's setup, s_ the checkpoints' bc entry, r_ run() and its console
lines, su_ the summary, js_ json_text, tb_ train_bc).
Equivalent: el_empty (numpy's reduceat of no records already gives an empty bool array),
sp_last (the validation games taken from the end of the seeded permutation instead of its start:
still a seeded shuffle, and nested in val_frac alike), ul_float (the logits are float32 already;
BC does not autocast), bm_width (padded_legal pads to the batch's longest list, so the cut is the
full width), bm_choice_used (a slot the primary leaves unused is 0 in every legal tuple: never
more than one value), bm_clone (the prefix is not written while a head reads it), bm_n
(count.numel() is the batch size), v_bs (the validation batch size changes only the batching),
v_nll_always (recomputing the masked loss of a masked run gives the same figure), v_n (validate
never sees an empty index: the trainer refuses an empty split, and clean code raises on one too),
r_min_ge (>= against > at exactly minutes * 60 s of wall time, which no real clock lands on;
nothing documents either), r_runn (a time-limit stop always follows a step, so there are always
steps to validate).

Each test names the mutants it guards (ids of the audit's list): BCConfig's defaults against
``tcg bc``'s, the refusals and the boundary values of ``BCConfig.validate``, the policy sizes
``build_bc_policy`` builds, ``--threads``, illegal expert tuples skipped in validation games
too, a head with no real choice, the ``bc`` metadata of
the checkpoints, ``bc_config.json``, the summary's fields, the console lines (header counts,
the best-so-far mark, the masked NLL of an unmasked run, the illegal rate), the wall-time
limit in minutes, ``json_text`` of a tuple, and ``masked_loss`` for a policy whose encoder
reads the legal tuples.
"""
import copy
import dataclasses
import json
import math
import re
import types

import numpy as np
import pytest
import torch

from training import bc as B

from test_bc import demos  # noqa: F401  (the 24-game heuristic demonstrations of tests/test_bc.py)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

_NOWHERE = (12, 31, 31, 1)   # a tuple no legal list holds (see test_bc's illegal-tuple test)


# ----------------------------------------------------------------------------- settings
def test_bcconfig_defaults_are_tcg_bc_defaults():
    """d_epochs, d_patience, d_valfrac, d_bs, d_lr, d_clip, d_policy: ``train_bc(BCConfig(...))``
    trains as ``tcg bc`` does with the same flags left out (the defaults its help states)."""
    from training.cli import build_parser
    args = build_parser().parse_args(["bc", "--demos", "d.demos", "--out", "o"])
    cfg = B.BCConfig(demos="d.demos", out="o")
    names = [f.name for f in dataclasses.fields(B.BCConfig)]
    assert len(names) == 18
    for name in names:
        assert getattr(cfg, name) == getattr(args, name), name
    assert (cfg.loss, cfg.epochs, cfg.patience, cfg.val_frac, cfg.batch_size, cfg.lr, cfg.max_grad_norm,
            cfg.policy) == ("masked", 20, 3, 0.1, 256, 1e-3, 1.0, "cpu")


@pytest.mark.parametrize("field,value,says", [
    ("demos", "", "--demos is required"),                                       # v_demos
    ("loss", "ce", "--loss must be one of masked, unmasked, got 'ce'"),         # v_loss
    ("minutes", -1.0, "--minutes must be a finite number >= 0"),                # v_minutes_neg
    ("lr", -1e-3, "--lr must be >= 0"),                                         # v_lr_neg
    ("out", " ", "--out must name a folder"),                                   # v_out
    ("weight_decay", -0.1, "must be finite, the last three >= 0"),              # v_wd_neg
    ("max_grad_norm", float("inf"), "must be finite"),                          # v_clip_fin
    ("max_grad_norm", -1.0, "must be finite, the last three >= 0"),             # v_clip_neg
    ("policy", "huge", "--policy 'huge': give a named training config"),        # v_policy
])
def test_more_bc_settings_out_of_range_are_refused(field, value, says):
    """Each is refused by validate(), before any work, naming its flag (Adam would refuse a
    negative lr or weight decay only later, in the trainer, with its own words)."""
    with pytest.raises(ValueError, match=re.escape(says)):
        B.BCConfig(**{"demos": "x", field: value}).validate()


def test_bc_settings_at_their_bounds_are_accepted():
    """v_threads_max: the bounds the messages name are allowed (threads 0..256 inclusive, and
    the zeros that mean 'none')."""
    from training.config import MAX_THREADS
    for kw in (dict(threads=MAX_THREADS), dict(threads=0), dict(minutes=0.0), dict(lr=0.0), dict(max_grad_norm=0.0),
               dict(weight_decay=0.0), dict(patience=0), dict(val_every=0), dict(min_delta=0.0)):
        B.BCConfig(demos="x", **kw).validate()


def test_build_bc_policy_builds_the_size_it_names_and_a_dry_call_builds_nothing():
    """p_large, p_named, p_dry: 'small' and 'large' are policy sizes, 'cpu' and 'gpu' the policy
    `tcg train --config NAME` trains (so the checkpoint initialises it); dry=True only checks."""
    from policy import PolicyConfig
    from training.config import TrainConfig
    from training.ppo import build_policy
    got = {}
    for name in ("small", "large"):
        got[name] = B.build_bc_policy(name).config
        assert got[name] == PolicyConfig.named(name), name
    for name in ("cpu", "gpu"):
        got[name] = B.build_bc_policy(name).config
        assert got[name] == build_policy(TrainConfig.named(name)).config, name
    # three sizes: 'gpu' trains the large policy as it is, 'cpu' a smaller one than 'small'
    assert got["gpu"] == got["large"] and len({json.dumps(dataclasses.asdict(c)) for c in got.values()}) == 3
    for name in got:
        assert B.build_bc_policy(name, dry=True) is None, name


def test_threads_setting_reaches_torch(demos, tmp_path):
    """t_threads: --threads N sets torch's intra-op threads (0 leaves them)."""
    _, d = demos
    assert torch.get_num_threads() == 1     # the one_torch_thread fixture; it restores the count after
    B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path), threads=0), data=d)
    assert torch.get_num_threads() == 1
    B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path), threads=2), data=d)
    assert torch.get_num_threads() == 2


# ----------------------------------------------------------------------------- data and metrics
def test_head_with_no_real_choice_has_no_accuracy(demos, tmp_path):
    """v_head_nan: over decisions where head k is never a real choice, val_head{k}_acc is NaN
    (no value; null in the JSON outputs), not 0 (which would read as 'always wrong')."""
    _, d = demos
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path)), data=d)
    unused = int(B.SlotKind.UNUSED)

    def choice(r, k):
        legal, a = d.legal_of(r).astype(int), d.action[r].astype(int)
        used = k == 0 or B.SLOT_KIND[a[0], k - 1] != unused
        return used and len(np.unique(legal[np.all(legal[:, :k] == a[:k], axis=1), k])) > 1
    idx = np.array([r for r in range(0, len(d), 2) if not choice(r, 3)])
    assert len(idx) > 100 and any(choice(r, 0) for r in idx)
    res = t.validate(idx)
    assert math.isnan(res["val_head3_acc"])
    assert 0.0 <= res["val_head0_acc"] <= 1.0


def test_masked_loss_encodes_with_the_legal_tuples(demos):
    """ml_nolegal: masked_loss encodes with the legal tuples, so it also scores a policy whose
    heads read them (PolicyConfig.afford); it equals -evaluate(...).log_prob there too."""
    from policy import PolicyConfig, TCGPolicy, obs_tensors
    from training.sampler import evaluate
    _, d = demos
    torch.manual_seed(0)
    p = TCGPolicy(PolicyConfig(d_model=32, d_ff=64, n_layers=1, afford=True)).eval()
    batch = B.make_batch(d, np.arange(0, len(d), 11))
    with torch.no_grad():
        loss = B.masked_loss(p, batch)
        enc = p(*obs_tensors(batch.obs), batch.legal, batch.count)
        ref = evaluate(p, enc, batch.legal, batch.count, batch.actions, entropy="exact").log_prob
    torch.testing.assert_close(loss, -ref, rtol=0, atol=1e-5)


def test_json_text_cleans_tuples_too():
    """js_tuple: a tuple holding a figure with no value is written with null, like a list."""
    assert json.loads(B.json_text({"a": (float("nan"), 1.5, (float("inf"),))})) == {"a": [None, 1.5, [None]]}


# ----------------------------------------------------------------------------- one recorded run
class _Console:
    """Collects what the trainer prints (the rich Console's print signature)."""
    def __init__(self):
        self.lines = []

    def print(self, msg, highlight=None, markup=None):
        self.lines.append(msg)


@pytest.fixture(scope="module")
def run(demos, tmp_path_factory):
    """An unmasked run of the 'small' policy with seed 5, split seed 2 and a quarter of the games
    held out, on demonstrations with illegal expert tuples in training and validation games;
    lr 0 keeps the weights, so only the first validation is an improvement. One epoch of one
    minibatch, through train_bc with a console."""
    path, d = demos
    tr, va = B.split_by_game(d.game, 0.25, 2)
    bad = copy.copy(d)
    bad.action = d.action.copy()
    rows = np.array([tr[0], tr[7], va[0], va[3], va[len(va) // 2]])
    bad.action[rows] = _NOWHERE
    out = tmp_path_factory.mktemp("bcrun") / "run"
    cfg = B.BCConfig(demos=str(path), out=str(out), loss="unmasked", epochs=1, seed=5, split_seed=2, val_frac=0.25,
                     lr=0.0, patience=0, batch_size=100_000, policy="small")
    console = _Console()
    summary = B.train_bc(cfg, console=console, data=bad)
    return types.SimpleNamespace(cfg=cfg, summary=summary, lines=console.lines, out=out, data=bad, tr=tr, va=va,
                                 rows=rows, curves=json.loads((out / "curves.json").read_text()))


def test_illegal_expert_tuples_of_validation_games_are_skipped_too(run):
    """t_validx (also caught by test_bc's empty-split test): the validation decisions are those
    of the validation games whose expert tuple is legal (three of the five illegal ones fall
    there)."""
    s, va, tr = run.summary, run.va, run.tr
    assert s["illegal_expert_skipped"] == 5
    assert s["val_decisions"] == len(va) - 3 and s["train_decisions"] == len(tr) - 2


def test_summary_names_the_run_it_sums_up(run):
    """su_seed, su_policy, su_loss, su_out, su_ckpt, su_traingames, su_valdec, su_illegal,
    t_traingames: the summary records the run's settings, its folder and best checkpoint, and
    the split's sizes (decisions and games on each side; the games partition the file's)."""
    s, d, cfg = run.summary, run.data, run.cfg
    assert (s["seed"], s["policy"], s["loss"], s["demos"]) == (5, "small", "unmasked", cfg.demos)
    assert s["out"] == str(run.out) and s["checkpoint"] == str(run.out / "policy.pt")
    assert s["val_games"] == len(np.unique(d.game[run.va])) == 6
    assert s["train_games"] == len(np.unique(d.game[run.tr])) == len(np.unique(d.game)) - 6
    assert s["val_decisions"] > s["val_games"]
    assert s["illegal_expert_skipped"] == 5
    assert json.loads((run.out / "summary.json").read_text()) == json.loads(B.json_text(s))


def test_bc_config_json_is_the_run_config(run):
    """r_cfgjson: bc_config.json holds the run's BCConfig, every field."""
    assert json.loads((run.out / "bc_config.json").read_text()) == run.cfg.to_dict()


def test_checkpoints_record_the_run_in_their_bc_entry(run):
    """s_loss, s_demos, s_valloss: policy.pt and last.pt name the loss, the demonstrations file
    and the validation loss (of that loss function, not the masked NLL) of the row they hold."""
    first, last = run.curves[0], run.curves[-1]
    assert first["val_loss"] != pytest.approx(first["val_masked_nll"], rel=1e-3)
    for name, row in (("policy.pt", first), ("last.pt", last)):
        bc = torch.load(run.out / name, weights_only=True)["bc"]
        assert bc == {"loss": "unmasked", "epoch": row["epoch"], "step": row["step"],
                      "val_loss": pytest.approx(row["val_loss"]), "demos": run.cfg.demos}, name
    assert (first["step"], last["step"]) == (0, 1)


_ROW = re.compile(r"epoch (?P<epoch>[\d.]+) step (?P<step>\d+) \| train (?P<train>\S+) val (?P<val>[\d.]+)"
                  r"(?P<star> \*)?(?: \(masked NLL (?P<nll>[\d.]+)\))? \| masked tuple acc (?P<acc>[\d.]+) heads "
                  r"(?P<heads>[\d.na ]+) \| unmasked-argmax illegal (?P<ill>[\d.]+) \| (?P<min>[\d.]+) min$")


def test_console_header_counts_the_data_and_the_split(run):
    """r_hdr_games, r_hdr_illegal, tb_console: the first line train_bc prints counts the
    decisions and games, each side of the split, the skipped illegal tuples, and names the loss
    and the policy with its parameter count."""
    s, d = run.summary, run.data
    m = re.fullmatch(r"bc: (\d+) decisions in (\d+) games; train (\d+) decisions / (\d+) games, validation (\d+) / "
                     r"(\d+) games; (\d+) illegal expert tuple\(s\) skipped; loss (\w+); policy (\w+) \(([\d,]+) "
                     r"parameters\)", run.lines[0])
    assert m, run.lines[0]
    n_params = sum(p.numel() for p in B.build_bc_policy("small").parameters())
    assert [int(x) for x in m.groups()[:7]] == [len(d), len(np.unique(d.game)), s["train_decisions"],
                                                s["train_games"], s["val_decisions"], s["val_games"], 5]
    assert m.group(8, 9) == ("unmasked", "small") and int(m.group(10).replace(",", "")) == n_params


def test_console_prints_each_validation_with_its_figures(run):
    """r_star, r_illprint, r_noprint, r_nllprint: one line per validation, with the row's
    figures: the best-so-far mark only where the validation loss improved (here only the first:
    lr 0), the masked NLL of an unmasked run, the masked tuple and head accuracies, and the
    unmasked decoder's illegal rate."""
    lines = run.lines[1:]
    assert len(lines) == len(run.curves) == 2
    for line, row in zip(lines, run.curves):
        m = _ROW.fullmatch(line)
        assert m, line
        assert int(m["step"]) == row["step"] and float(m["epoch"]) == pytest.approx(row["epoch"], abs=0.006)
        assert float(m["val"]) == pytest.approx(row["val_loss"], abs=6e-5)
        assert m["nll"] is not None and float(m["nll"]) == pytest.approx(row["val_masked_nll"], abs=6e-5)
        assert float(m["acc"]) == pytest.approx(row["val_tuple_acc"], abs=6e-4)
        heads = m["heads"].split()
        assert len(heads) == 4
        for k, h in enumerate(heads):
            want = row[f"val_head{k}_acc"]
            assert (h == "nan") if want is None else float(h) == pytest.approx(want, abs=6e-4), k
        assert float(m["ill"]) == pytest.approx(row["val_unmasked_illegal_rate"], abs=6e-4)
    assert [bool(_ROW.fullmatch(x)["star"]) for x in lines] == [True, False]
    first = run.curves[0]
    assert abs(first["val_unmasked_illegal_rate"] - first["val_unmasked_tuple_acc"]) > 0.01


def _fake_steps(t, monkeypatch):
    """Replace a trainer's step and validation by stand-ins (loss 1, every figure 0.5): the loop
    and what it prints and writes, without the model's cost."""
    monkeypatch.setattr(t, "train_step", lambda idx: (setattr(t, "step", t.step + 1), 1.0)[1])
    monkeypatch.setattr(t, "validate", lambda idx=None: {
        "val_loss": 1.0, "val_masked_nll": 0.5, "val_tuple_acc": 0.5, "val_unmasked_illegal_rate": 0.5,
        "val_unmasked_tuple_acc": 0.5, **{f"val_head{k}_acc": 0.5 for k in range(4)}})


def test_console_of_a_masked_run_does_not_repeat_the_loss_as_masked_nll(demos, tmp_path, monkeypatch):
    """r_nllprint: under --loss masked the validation loss is the masked NLL: no second figure."""
    _, d = demos
    console = _Console()
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path), epochs=1, patience=0, batch_size=100_000), data=d,
                    console=console)
    _fake_steps(t, monkeypatch)
    t.run()
    assert len(console.lines) == 3 and all(_ROW.fullmatch(x) for x in console.lines[1:])
    assert not any("masked NLL" in x for x in console.lines)


def test_time_limit_is_in_minutes(demos, tmp_path, monkeypatch):
    """r_min60: --minutes 1 is 60 s of wall time: with the clock at 59 s after the start from the
    first step on (faked), the run is not stopped and trains every epoch."""
    _, d = demos
    clock = iter([0.0])
    monkeypatch.setattr(B, "time", types.SimpleNamespace(time=lambda: next(clock, 59.0)))
    t = B.BCTrainer(B.BCConfig(demos="-", out=str(tmp_path), epochs=2, minutes=1.0, batch_size=1000, patience=0),
                    data=d)
    _fake_steps(t, monkeypatch)
    s = t.run()
    assert s["stopped"] == "epochs" and s["steps"] == 4
    curves = json.loads((tmp_path / "curves.json").read_text())
    assert [r["step"] for r in curves] == [0, 2, 4] and curves[-1]["minutes"] == round(59 / 60, 4)
