"""Audit of the PPO update path (Trainer.learn, ent_coef, done, train, _log, summary_line and
training.losses.ReplayModule): each test pins a behaviour with values computed independently
of the implementation (a reference loss, hand-set targets, a recording TensorBoard writer)."""
import copy
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import training.ppo as P
from policy import obs_tensors
from training.config import TrainConfig
from training.losses import ReplayModule
from training.ppo import RatioCheckError, Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(num_envs=8, rollout_steps=8, d_model=16, n_layers=1, num_minibatches=2, update_epochs=2,
            eval_every=0, eval_games=4, checkpoint_every=0, pool_add_every=0, minutes=0.0, total_steps=10_000,
            torch_threads=1, nproc=1, pool_fraction=0.0)


def tiny(tmp_path, **kw) -> TrainConfig:
    return TrainConfig.from_dict({**TINY, "out": str(tmp_path / "run"), **kw})


def known_targets(ro, seed=0):
    """Hand-set advantages and returns for every (t, i) of the rollout (replacing seat_gae)."""
    T, N = np.stack(ro.values).shape
    rng = np.random.default_rng(seed)
    adv = (rng.normal(size=(T, N)) * 2 + 1).astype(np.float32)
    ret = (np.stack(ro.values) + rng.normal(size=(T, N))).astype(np.float32)
    return adv, ret


def learner_rows(ro):
    t, i = np.nonzero(np.stack(ro.learner))
    return t, i


def replay_spy(tr, tamper=None):
    """Wrap the trainer's replay module: record each call's inputs and outputs."""
    real, calls = tr.replay, []

    def spy(obs, legal, count, act, *a, **k):
        out = real(obs, legal, count, act, *a, **k)
        if tamper is not None:
            out = tamper(out)
        calls.append({"obs": obs.detach().cpu().numpy(), "act": act.detach().cpu().numpy(),
                      "out": [x.detach().double().cpu() for x in out], "kw": k})
        return out
    tr.replay = spy
    return calls


def row_keys(obs, act):
    return [obs[j].tobytes() + act[j].astype(np.int64).tobytes() for j in range(len(obs))]


# ------------------------------------------------------------------ the loss and its gradient
def test_first_step_gradient_is_the_reference_ppo_loss_gradient(tmp_path, monkeypatch):
    """One epoch, one minibatch, no clipping of the gradient: the step's gradient (left in .grad)
    equals the gradient of the reference loss built here from hand-set advantages and returns:
    the clipped surrogate on advantages normalised over the minibatch (mean 0, population std),
    vf_coef x 0.5 MSE of the value, minus ent_coef x the entropy of each row weighted by the
    ent_deck_scale of the deck its *acting* seat plays, plus vf_coef x the waiting views' value
    loss. At the first step the ratio is 1, so the clip does not bite."""
    scale = {"Emberfang Rush": 0.25, "Thornwall Bastion": 3.0, "Anvil Vanguard": 1.0, "Sagefire Circle": 0.0}
    cfg = tiny(tmp_path, update_epochs=1, num_minibatches=1, max_grad_norm=1e9, ent_coef=0.2, vf_coef=0.7,
               anneal_lr=False, wait_value=True,
               ent_deck_scale=";".join(f"{k}={v}" for k, v in scale.items()))
    tr = Trainer(cfg, quiet=True)
    ro, _ = tr.collect()
    adv, ret = known_targets(ro)
    monkeypatch.setattr(P, "seat_gae", lambda *a, **k: (adv.copy(), ret.copy()))
    n_wait = len(ro.wait_obs)
    rng = np.random.default_rng(1)
    w_tgt = rng.normal(size=n_wait).astype(np.float32)
    w_ok = np.arange(n_wait) % 3 != 1
    monkeypatch.setattr(P, "waiting_value_targets", lambda *a, **k: (w_tgt.copy(), w_ok.copy()))
    ref = copy.deepcopy(tr.policy).train()
    st = tr.learn(ro)
    got = {n: p.grad.detach().clone() for n, p in tr.policy.named_parameters() if p.grad is not None}

    t, i = learner_rows(ro)
    obs = torch.as_tensor(np.stack(ro.obs)[t, i])
    legal = torch.as_tensor(ro.legal_padded()[t, i])
    count = torch.as_tensor(np.stack(ro.count)[t, i])
    act = torch.as_tensor(np.stack(ro.actions)[t, i]).long()
    old_logp = torch.as_tensor(np.stack(ro.logp)[t, i]).double()
    logp, ent, value, *_ = ReplayModule(ref)(obs, legal, count, act)
    a = torch.as_tensor(adv[t, i]).double()
    a = (a - a.mean()) / a.std(unbiased=False)
    ratio = torch.exp(logp.double() - old_logp)
    assert torch.allclose(ratio.detach(), torch.ones_like(ratio), atol=1e-4)
    pg = (-a * ratio).mean()
    vl = 0.5 * ((value.double() - torch.as_tensor(ret[t, i]).double()) ** 2).mean()
    from prefabs import default_decks
    names = list(default_decks())
    seat = np.stack(ro.seats)[t, i]
    deck = tr.own_deck[i, seat]
    assert (deck >= 0).all() and len(set(deck.tolist())) > 1
    w = torch.as_tensor([scale[names[d]] for d in deck], dtype=torch.float64)
    bonus = (ent.double() * w).mean()
    wv = ref(*obs_tensors(torch.as_tensor(ro.wait_obs[w_ok]))).value.double()
    wl = 0.5 * ((wv - torch.as_tensor(w_tgt[w_ok]).double()) ** 2).mean()
    loss = pg + 0.7 * vl - 0.2 * bonus + 0.7 * wl
    loss.backward()
    want = {n: p.grad for n, p in ref.named_parameters() if p.grad is not None}
    assert set(got) == set(want)
    for n in want:
        assert torch.allclose(got[n].double(), want[n].double(), rtol=2e-3, atol=1e-6), n
    assert st["wait_value_rows"] == int(w_ok.sum())
    assert st["wait_value_loss"] == pytest.approx(float(wl.detach()), rel=1e-4)
    tr.close()


def test_each_step_clips_the_gradient_norm_to_max_grad_norm(tmp_path):
    """The gradient the optimizer steps on (left in .grad) has norm max_grad_norm when the raw
    gradient is larger; grad_norm logs the raw norm."""
    tr = Trainer(tiny(tmp_path, max_grad_norm=1e-3), quiet=True)
    st = tr.learn(tr.collect()[0])
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in tr.policy.parameters()
                                                 if p.grad is not None]))
    assert st["grad_norm"] > 1e-2
    assert float(norm) == pytest.approx(1e-3, rel=1e-3)
    tr.close()


def test_each_step_uses_only_its_own_minibatch_gradient(tmp_path):
    """With the learning rate annealed to 0 (the step budget spent) the weights do not move, so
    every epoch of a single-minibatch update sees the same loss: each step's gradient norm, and
    their mean, equal the one-epoch update's (gradients do not pile up across steps)."""
    def run(name, epochs):
        tr = Trainer(tiny(tmp_path / name, update_epochs=epochs, num_minibatches=1, total_steps=64), quiet=True)
        ro, _ = tr.collect()
        assert tr.steps == 64
        before = {k: v.clone() for k, v in tr.policy.state_dict().items()}
        st = tr.learn(ro)
        assert all(torch.equal(before[k], v) for k, v in tr.policy.state_dict().items())
        tr.close()
        return st
    one, three = run("a", 1), run("b", 3)
    assert one["learning_rate"] == 0.0 and three["learning_rate"] == 0.0
    assert three["grad_norm"] == pytest.approx(one["grad_norm"], rel=1e-4)


def test_learning_rate_anneals_linearly_over_the_step_budget(tmp_path):
    """anneal_lr: the rate of each update is learning_rate x (1 - steps / total_steps), from the
    global step count after the rollout (not compounded over updates), 0 past the budget; without
    anneal_lr it stays put."""
    tr = Trainer(tiny(tmp_path, learning_rate=2e-3, total_steps=1000), quiet=True)
    for k in (1, 2):
        st = tr.learn(tr.collect()[0])
        assert tr.steps == 64 * k
        assert st["learning_rate"] == pytest.approx(2e-3 * (1 - 64 * k / 1000), rel=1e-9)
        assert tr.optimizer.param_groups[0]["lr"] == st["learning_rate"]
    tr.steps = 5000 - 64
    assert tr.learn(tr.collect()[0])["learning_rate"] == 0.0
    tr.close()
    flat = Trainer(tiny(tmp_path / "flat", learning_rate=2e-3, total_steps=1000, anneal_lr=False), quiet=True)
    flat.steps = 900
    assert flat.learn(flat.collect()[0])["learning_rate"] == 2e-3
    flat.close()


@pytest.mark.parametrize("oracle", [False, True])
def test_unclipped_value_loss_is_half_the_mean_squared_error(tmp_path, monkeypatch, oracle):
    """clip_vloss off: before the only step the replayed values are the rollout's (with the oracle
    critic, the values of the actor's and the other seat's views), and the logged value loss is
    0.5 mean((V - R)^2) on hand-set returns."""
    tr = Trainer(tiny(tmp_path, clip_vloss=False, update_epochs=1, num_minibatches=1, oracle_value=oracle),
                 quiet=True)
    ro, _ = tr.collect()
    adv, ret = known_targets(ro, seed=3)
    monkeypatch.setattr(P, "seat_gae", lambda *a, **k: (adv.copy(), ret.copy()))
    st = tr.learn(ro)
    t, i = learner_rows(ro)
    v = np.stack(ro.values)[t, i].astype(np.float64)
    assert st["value_loss"] == pytest.approx(0.5 * np.mean((v - ret[t, i]) ** 2), rel=1e-4)
    tr.close()


@pytest.mark.parametrize("oracle", [False, True])
def test_waiting_view_loss_pairs_each_view_with_its_target(tmp_path, monkeypatch, oracle):
    """wait_value: the rows that waiting_value_targets keeps enter the value loss as
    0.5 mean((V(view) - target)^2), each view with its own target, and their count is logged."""
    tr = Trainer(tiny(tmp_path, wait_value=True, oracle_value=oracle, update_epochs=1, num_minibatches=1),
                 quiet=True)
    ro, _ = tr.collect()
    n = len(ro.wait_obs)
    tgt = np.linspace(-1.0, 1.0, n).astype(np.float32) * 3
    ok = np.ones(n, np.bool_)
    ok[[1, 4]] = False
    monkeypatch.setattr(P, "waiting_value_targets", lambda *a, **k: (tgt.copy(), ok.copy()))
    v = tr._values_of(ro.wait_obs[ok], ro.wait_opp[ok] if oracle else ro.wait_obs[ok]).astype(np.float64)
    st = tr.learn(ro)
    assert st["wait_value_rows"] == int(ok.sum()) == n - 2
    assert st["wait_value_loss"] == pytest.approx(0.5 * np.mean((v - tgt[ok]) ** 2), rel=1e-4)
    tr.close()


def test_waiting_views_train_only_the_learners_seat_against_an_opponent(tmp_path, monkeypatch):
    """Against an opponent, a game's waiting view is a training row only where the waiting seat
    is the learner's (in the pool games); in self-play games every waiting view is."""
    tr = Trainer(tiny(tmp_path, wait_value=True, pool_fraction=0.5, bot_opponent_prob=1.0), quiet=True)
    ro, _ = tr.collect()
    assert tr.opponent == "heuristic"
    seen = {}
    real = P.waiting_value_targets

    def wrap(wait_seat, wait_phi, seat_ok, *a, **k):
        seen["seat_ok"] = np.array(seat_ok)
        return real(wait_seat, wait_phi, seat_ok, *a, **k)
    monkeypatch.setattr(P, "waiting_value_targets", wrap)
    tr.learn(ro)
    want = ~tr.pool_envs | (ro.wait_seat == tr.learner_seat)
    assert tr.pool_envs.any() and not want.all()
    assert np.array_equal(seen["seat_ok"], want)
    tr.close()


# ------------------------------------------------------------------ minibatches and early stop
def test_every_epoch_visits_each_decision_once_in_a_fresh_random_order(tmp_path):
    """Each epoch splits all decisions into num_minibatches equal minibatches that together hold
    every decision once; the split is a random draw, and a new one each epoch."""
    tr = Trainer(tiny(tmp_path, update_epochs=3, num_minibatches=4), quiet=True)
    ro, _ = tr.collect()
    t, i = learner_rows(ro)
    assert len(t) == 64
    every = sorted(row_keys(np.stack(ro.obs)[t, i], np.stack(ro.actions)[t, i]))
    in_order = sorted(row_keys(np.stack(ro.obs)[t, i][:16], np.stack(ro.actions)[t, i][:16]))
    calls = replay_spy(tr)
    tr.learn(ro)
    assert len(calls) == 12 and all(len(c["obs"]) == 16 for c in calls)
    firsts = []
    for e in range(3):
        keys = [row_keys(c["obs"], c["act"]) for c in calls[4 * e:4 * e + 4]]
        assert sorted(k for ks in keys for k in ks) == every
        firsts.append(sorted(keys[0]))
    assert firsts[0] != in_order
    assert firsts[0] != firsts[1] and firsts[1] != firsts[2]
    tr.close()


def test_fewer_learner_decisions_than_minibatches_gives_one_decision_each(tmp_path):
    """Against an opponent the learner may make fewer decisions than num_minibatches: then each
    minibatch holds one decision, every decision once an epoch, and the update stays finite."""
    tr = Trainer(tiny(tmp_path, num_envs=1, rollout_steps=4, num_minibatches=4, pool_fraction=1.0,
                      bot_opponent_prob=1.0), quiet=True)
    ro, _ = tr.collect()
    M = int(np.stack(ro.learner).sum())
    assert tr.opponent == "heuristic" and 1 <= M < 4
    calls = replay_spy(tr)
    st = tr.learn(ro)
    assert [len(c["obs"]) for c in calls] == [1] * (2 * M)
    assert st["decisions"] == M and np.isfinite(st["policy_loss"]) and np.isfinite(st["value_loss"])
    tr.close()


def test_target_kl_stops_every_epoch_after_the_minibatch_that_crossed_it(tmp_path):
    """target_kl: the first minibatch (ratio 1, kl 0) never stops the update; the first one whose
    approx_kl exceeds the target ends the update there, epochs included, and kl_early_stop is 1.
    A target no step reaches, or 0, runs every minibatch of every epoch."""
    def run(name, target):
        tr = Trainer(tiny(tmp_path / name, update_epochs=3, num_minibatches=2, learning_rate=1e-2,
                          anneal_lr=False, target_kl=target), quiet=True)
        ro, _ = tr.collect()
        calls = replay_spy(tr)
        st = tr.learn(ro)
        tr.close()
        return len(calls), st
    n, st = run("tight", 1e-7)
    assert n == 2 and st["kl_early_stop"] == 1.0 and st["approx_kl"] > 1e-7 / 2
    for name, target in (("loose", 1e3), ("off", 0.0)):
        n, st = run(name, target)
        assert n == 6 and st["kl_early_stop"] == 0.0


# ------------------------------------------------------------------ diagnostics
def test_logged_diagnostics_are_the_means_of_what_each_step_replayed(tmp_path, monkeypatch):
    """Each logged number is recomputed from what the replay returned at each step (rows matched
    by content): approx_kl (k3) and old_approx_kl, clipfrac (|r - 1| > clip_coef), the ratio's
    min of minima, mean of means and max of maxima, the entropy of the first ceil(entropy_rows x
    n) rows of each minibatch (the exact entropy is computed for those rows only), each head's
    entropy and forced fraction (0 for a head that applies to no row), and over all decisions
    the explained variance, legal moves per decision and the decision count."""
    c = 2e-3
    tr = Trainer(tiny(tmp_path, clip_coef=c, learning_rate=3e-2, anneal_lr=False, update_epochs=2,
                      num_minibatches=2, entropy_rows=0.3), quiet=True)
    ro, _ = tr.collect()
    adv, ret = known_targets(ro, seed=5)
    monkeypatch.setattr(P, "seat_gae", lambda *a, **k: (adv.copy(), ret.copy()))
    t, i = learner_rows(ro)
    old = dict(zip(row_keys(np.stack(ro.obs)[t, i], np.stack(ro.actions)[t, i]), np.stack(ro.logp)[t, i]))

    def tamper(out):   # head 3 applies to no row of any minibatch
        out = list(out)
        out[4] = out[4].clone()
        out[5] = out[5].clone()
        out[4][:, 3] = False
        out[5][:, 3] = False
        return tuple(out)
    calls = replay_spy(tr, tamper)
    st = tr.learn(ro)
    tr.close()
    assert len(calls) == 4
    kl, okl, cf, rmin, rmean, rmax, ent = [], [], [], [], [], [], []
    heads = {f"{w}_{k}": [] for w in ("head_entropy", "forced_frac") for k in range(4)}
    for call in calls:
        new_lp, entropy, _, head_ent, forced, applicable, _ = call["out"]
        old_lp = torch.as_tensor([old[k] for k in row_keys(call["obs"], call["act"])], dtype=torch.float64)
        lr = new_lp - old_lp
        r = lr.exp()
        kl.append(float(((r - 1) - lr).mean()))
        okl.append(float((-lr).mean()))
        cf.append(float(((r - 1).abs() > c).double().mean()))
        rmin.append(float(r.min())), rmean.append(float(r.mean())), rmax.append(float(r.max()))
        n_ent = int(np.ceil(0.3 * len(r)))
        assert n_ent == 10 and torch.isfinite(entropy[:n_ent]).all() and torch.isnan(entropy[n_ent:]).all()
        ent.append(float(entropy[:n_ent].mean()))
        for k in range(4):
            heads[f"head_entropy_{k}"].append(float(head_ent[:, k].mean()))
            heads[f"forced_frac_{k}"].append(float(forced[:, k].sum() / max(1.0, float(applicable[:, k].sum()))))
    assert max(cf) > 0 and min(rmin) < 1 - c and max(rmax) > 1 + c, "the clip never bit"
    want = {"approx_kl": np.mean(kl), "old_approx_kl": np.mean(okl), "clipfrac": np.mean(cf),
            "ratio_min": min(rmin), "ratio_mean": np.mean(rmean), "ratio_max": max(rmax), "entropy": np.mean(ent),
            **{k: np.mean(v) for k, v in heads.items()}}
    for k, v in want.items():
        assert st[k] == pytest.approx(v, rel=1e-4, abs=1e-7), k
    assert st["forced_frac_3"] == 0.0
    y, p = ret[t, i].astype(np.float64), np.stack(ro.values)[t, i].astype(np.float64)
    assert st["explained_variance"] == pytest.approx(1 - np.var(y - p) / np.var(y), rel=1e-4)
    assert st["legal_per_decision"] == pytest.approx(np.stack(ro.count)[t, i].mean(), rel=1e-6)
    assert st["decisions"] == len(t) == 64


def test_ratio_check_tolerance_is_ratio_check_tol(tmp_path):
    """Rollout log-probs off by 2e-3, in either direction, break the default tolerance (1e-4);
    the same offset passes a tolerance of 1e-2. (Only the first minibatch can be checked: it is
    the one replayed before the first gradient step, so every row is offset.)"""
    for sign in (1.0, -1.0):
        tr = Trainer(tiny(tmp_path / f"s{sign}"), quiet=True)
        ro, _ = tr.collect()
        for lp in ro.logp:
            lp += sign * 2e-3
        with pytest.raises(RatioCheckError, match="ratio must be 1"):
            tr.learn(ro)
        tr.close()
    tr = Trainer(tiny(tmp_path / "loose", ratio_check_tol=1e-2), quiet=True)
    ro, _ = tr.collect()
    for lp in ro.logp:
        lp += 2e-3
    assert np.isfinite(tr.learn(ro)["policy_loss"])
    tr.close()


def test_replay_touch_all_changes_no_output():
    """ReplayModule(touch_all=True) puts every parameter in the graph at weight zero: its outputs
    equal those of touch_all=False exactly."""
    from tcg_env import VecTCG
    from policy import PolicyConfig, TCGPolicy
    env = VecTCG(16, seed=4)
    obs = torch.as_tensor(env.observations)
    w = int(env.legal_count.max())
    legal = torch.as_tensor(env.legal_tuples[:, :w].copy())
    count = torch.as_tensor(env.legal_count.copy())
    act = legal[:, 0].long()
    torch.manual_seed(0)
    pol = TCGPolicy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32))
    a = ReplayModule(pol, touch_all=True)(obs, legal, count, act)
    b = ReplayModule(pol, touch_all=False)(obs, legal, count, act)
    for x, y in zip(a, b):
        assert torch.equal(x, y)


# ------------------------------------------------------------------ loop, stop rule, logging
def test_train_loop_counts_updates_reports_and_saves_on_schedule(tmp_path, monkeypatch):
    """train(): one update per rollout until the step budget; the progress callback sees every
    update's stats, with the heuristic win rate as wins / games, the rollout and learn times
    and the decisions per second over both; a pool member every pool_add_every updates; a
    checkpoint every checkpoint_every updates plus the closing one; the history holds each
    update's counters; the returned stats include the closing evaluation."""
    cfg = tiny(tmp_path, total_steps=3 * 64, pool_add_every=3, checkpoint_every=2, keep_checkpoints=10,
               eval_pool_members=0)
    tr = Trainer(cfg, quiet=True)
    real_collect, real_learn = tr.collect, tr.learn
    took = {}

    def collect():
        t0 = time.time()
        ro, st = real_collect()
        time.sleep(0.6)
        took["collect"] = time.time() - t0
        return ro, {**st, "heuristic_games": 4, "heuristic_wins": 1.0}

    def learn(ro):
        t0 = time.time()
        out = real_learn(ro)
        took["learn"] = time.time() - t0
        return out
    tr.collect, tr.learn = collect, learn
    seen = []
    last = tr.train(progress=lambda t, s: seen.append((t.update, t.steps, dict(s), dict(took))))
    tr.close()
    assert [(u, s) for u, s, _, _ in seen] == [(1, 64), (2, 128), (3, 192)]
    for _, _, s, tk in seen:
        assert s["rollout_win_rate_vs_heuristic"] == 0.25
        assert s["rollout_s"] == pytest.approx(tk["collect"], abs=0.1)
        assert s["learn_s"] == pytest.approx(tk["learn"], abs=0.1)
        assert s["sps"] == pytest.approx(64 / (s["rollout_s"] + s["learn_s"]), rel=0.1)
    assert [m.name for m in tr.pool] == ["self@3"]
    ck = sorted(p.name for p in (Path(cfg.out) / "checkpoints").glob("ckpt_*.pt"))
    assert ck == ["ckpt_000002.pt", "ckpt_000003.pt"]
    assert [(h["update"], h["steps"]) for h in tr.history] == [(1, 64), (2, 128), (3, 192)]
    assert "eval/win_rate_vs_random" in last and "policy_loss" in last


class _Writer:
    def __init__(self):
        self.scalars = {}

    def add_scalar(self, tag, value, step):
        assert tag not in self.scalars, tag
        self.scalars[tag] = (value, step)

    def flush(self):
        pass

    def close(self):
        pass


class _Console:
    def __init__(self):
        self.lines = []

    def print(self, msg, **kw):
        self.lines.append(msg)


def test_log_writes_each_stat_under_its_tag_at_the_step_count_and_prints_every_log_every(tmp_path):
    console = _Console()
    tr = Trainer(tiny(tmp_path, log_every=2), console=console)
    tr.writer.close()
    tr._add_to_pool()
    tr.update, tr.steps, tr.illegal_total = 2, 640, 5
    losses = ("policy_loss", "value_loss", "entropy", "approx_kl", "old_approx_kl", "clipfrac", "explained_variance",
              "grad_norm", "wait_value_loss")
    charts = ("ratio_min", "ratio_mean", "ratio_max", "learning_rate", "ent_coef", "legal_per_decision",
              "illegal_actions", "sps", "rollout_s", "learn_s", "kl_early_stop", "rollout_win_rate_vs_heuristic")
    stats = {k: 0.5 + j for j, k in enumerate(losses + charts)}
    for k in range(4):
        stats[f"head_entropy_{k}"] = 10.0 + k
        stats[f"forced_frac_{k}"] = 20.0 + k
    stats["eval/win_rate_vs_random"] = 0.75
    stats["decisions"] = 64
    want = {**{f"losses/{k}": (stats[k], 640) for k in losses}, **{f"charts/{k}": (stats[k], 640) for k in charts},
            **{f"losses/head_entropy_{k}": (10.0 + k, 640) for k in range(4)},
            **{f"charts/forced_frac_{k}": (20.0 + k, 640) for k in range(4)},
            "charts/illegal_actions_total": (5, 640), "charts/pool_size": (1, 640),
            "eval/win_rate_vs_random": (0.75, 640)}
    for update, printed in ((2, True), (3, False)):
        tr.update = update
        tr.writer = _Writer()
        console.lines.clear()
        tr._log({**stats, "note": "text"})
        assert tr.writer.scalars == want
        assert console.lines == ([tr.summary_line(stats)] if printed else [])
        assert tr.history[-1] == {"update": update, "steps": 640, **stats}
    tr.writer = None
    tr.close()


def test_summary_line_reads_each_number_from_its_own_stat(tmp_path):
    tr = Trainer(tiny(tmp_path), quiet=True)
    tr.update, tr.steps, tr.opponent = 7, 12_345, "heuristic"
    s = {"sps": 1234.4, "policy_loss": -0.1234, "value_loss": 0.4567, "entropy": 2.345, "approx_kl": 0.01234,
         "clipfrac": 0.125, "explained_variance": 0.333, "illegal_actions": 2.0, "eval/win_rate_vs_heuristic": 0.4}
    assert tr.summary_line(s) == ("upd    7 steps    12,345 sps    1234 pg -0.123 v 0.457 H 2.35 kl 0.0123 "
                                  "clip 0.12 ev +0.33 illegal 2 opp heuristic | win heuristic=0.40")
    tr.close()
