"""The PPO trainer: diagnostics, determinism, exact resume, crash-safety, torchrun, CLI."""
import csv
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from training.config import TrainConfig
from training.ppo import RatioCheckError, Trainer, deal_pairings, learner_seats

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(num_envs=8, rollout_steps=8, d_model=16, n_layers=1, num_minibatches=2, update_epochs=2,
            eval_every=0, eval_games=4, checkpoint_every=1, pool_add_every=1, minutes=0.0, total_steps=10_000,
            torch_threads=1, nproc=1)


def tiny(tmp_path, **kw) -> TrainConfig:
    return TrainConfig.from_dict({**TINY, "out": str(tmp_path / "run"), **kw})


def params_digest(policy) -> str:
    h = hashlib.sha256()
    for k, v in sorted(policy.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def run_updates(cfg, n, resume=None):
    tr = Trainer(cfg, resume=resume, quiet=True)
    stats = []
    for _ in range(n):
        ro, rs = tr.collect()
        st = tr.learn(ro)
        tr.update += 1
        if tr.update % cfg.pool_add_every == 0:
            tr._add_to_pool()
        stats.append({**rs, **st})
        tr.save()
    tr.close()
    return tr, stats


def test_update_logs_every_diagnostic_and_samples_nothing_illegal(tmp_path):
    tr, stats = run_updates(tiny(tmp_path), 2)
    s = stats[-1]
    for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "old_approx_kl", "clipfrac",
                "explained_variance", "grad_norm", "ratio_min", "ratio_mean", "ratio_max", "learning_rate",
                "legal_per_decision", "illegal_actions", "head_entropy_0", "head_entropy_3", "forced_frac_1"):
        assert key in s, key
    assert all(x["illegal_actions"] == 0 for x in stats)
    assert s["entropy"] > 0 and s["legal_per_decision"] > 1
    assert (tmp_path / "run" / "checkpoints" / "ckpt_000002.pt").exists()
    assert list((tmp_path / "run" / "tb").iterdir())


def test_training_writes_per_card_play_stats_to_tensorboard(tmp_path):
    """card_stats_every: the loop writes each playable card's play rate and play / pass
    advantages under cards/, and each primary's share and mean advantage under actions/
    (training.card_stats), in TensorBoard."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    tr = Trainer(tiny(tmp_path, total_steps=200, card_stats_every=1, num_envs=16, rollout_steps=16), quiet=True)
    tr.train()
    tr.close()
    ea = EventAccumulator(str(tmp_path / "run" / "tb"))
    ea.Reload()
    tags = ea.Tags()["scalars"]
    rates = [t for t in tags if t.startswith("cards/play_rate/")]
    assert rates and any(t.startswith("cards/adv_passed/") for t in tags), tags
    assert all(0.0 <= e.value <= 1.0 for t in rates for e in ea.Scalars(t))
    assert len(ea.Scalars(rates[0])) >= 1 and tr.card_sums is None   # written and reset
    fracs = [t for t in tags if t.startswith("actions/frac/")]
    assert "actions/adv/END_TURN" in tags
    by_step = {}
    for t in fracs:
        for e in ea.Scalars(t):
            by_step[e.step] = by_step.get(e.step, 0.0) + e.value
    assert by_step and all(abs(v - 1.0) < 1e-4 for v in by_step.values())   # shares of each write


def test_wait_value_trains_the_waiting_views_and_resumes_exactly(tmp_path):
    """wait_value: every update adds value-only rows for the waiting seat's views (their targets
    from training.gae.waiting_value_targets), the ratio check still holds, nothing illegal is
    sampled, and since the rows are read off the env's position a resumed run continues exactly."""
    cfg = tiny(tmp_path, wait_value=True)
    tr, stats = run_updates(cfg, 2)
    assert all(s["wait_value_rows"] > 0 and s["wait_value_loss"] > 0 and s["illegal_actions"] == 0 for s in stats)
    straight = params_digest(tr.policy)
    run_updates(tiny(tmp_path / "b", wait_value=True), 1)
    resumed, _ = run_updates(tiny(tmp_path / "b", wait_value=True), 1, resume=str(tmp_path / "b" / "run"))
    assert params_digest(resumed.policy) == straight
    plain, _ = run_updates(tiny(tmp_path / "c"), 2)
    assert params_digest(plain.policy) != straight     # the extra rows change the update


def test_oracle_value_reads_the_other_seats_view_of_each_stored_position(tmp_path):
    """oracle_value: each stored row keeps the non-acting seat's view of the same position (its
    globals mirror the actor's), the stored values are the critic's on that pair, the values the
    rollout bootstraps from are finite (a missing view reads as NaN), and the update passes the
    ratio check with nothing illegal sampled."""
    import torch
    from policy import obs_tensors
    from tcg_env.observation import GLOBAL_FEATURES
    tr = Trainer(tiny(tmp_path, oracle_value=True, wait_value=True, num_envs=16, rollout_steps=24), quiet=True)
    ro, rs = tr.collect()
    G = {n: i for i, n in enumerate(GLOBAL_FEATURES)}
    obs, opp = np.stack(ro.obs), np.stack(ro.opp_obs)
    for mine, theirs in (("my_hp", "opp_hp"), ("my_hand_count", "opp_hand_count"), ("my_ikz", "opp_ikz"),
                         ("my_deck_count", "opp_deck_count")):
        assert np.array_equal(obs[..., G[mine]], opp[..., G[theirs]]), mine
        assert np.array_equal(obs[..., G[theirs]], opp[..., G[mine]]), mine
    assert np.array_equal(obs[..., G["is_my_turn"]] + opp[..., G["is_my_turn"]], np.ones(obs.shape[:2]))
    values = np.stack(ro.values)
    learner = np.stack(ro.learner)
    assert np.isfinite(values[learner]).all() and np.isfinite(ro.last_values).all()
    assert np.isfinite(np.stack(ro.final_values)).all()
    t, i = np.nonzero(learner)
    with torch.no_grad():
        g, e = obs_tensors(obs[t[:64], i[:64]])
        v = tr.policy(g, e, opp_entities=obs_tensors(opp[t[:64], i[:64]])[1]).value.numpy()
    assert np.allclose(v, values[t[:64], i[:64]], atol=1e-5)
    st = tr.learn(ro)
    assert np.isfinite(st["value_loss"]) and st["wait_value_rows"] > 0 and np.isfinite(st["wait_value_loss"])
    assert rs["illegal_actions"] == 0
    tr.close()


def test_same_seed_same_first_updates(tmp_path):
    a, _ = run_updates(tiny(tmp_path / "a"), 2)
    b, _ = run_updates(tiny(tmp_path / "b"), 2)
    c, _ = run_updates(tiny(tmp_path / "c", seed=2), 2)
    assert params_digest(a.policy) == params_digest(b.policy)
    assert params_digest(a.policy) != params_digest(c.policy)


def test_resume_continues_exactly(tmp_path):
    straight, _ = run_updates(tiny(tmp_path / "s"), 4)
    cfg = tiny(tmp_path / "r")
    run_updates(cfg, 2)
    resumed, _ = run_updates(cfg, 2, resume=str(tmp_path / "r" / "run"))
    assert resumed.update == 4
    assert params_digest(straight.policy) == params_digest(resumed.policy)


def test_resume_restores_the_heuristic_seats_row_generators(tmp_path):
    """The rollout's heuristic seat draws from one generator per game row (``act_batch``'s rows,
    not the bot's single-game one); a checkpoint keeps them, so a resumed run continues them
    rather than starting them afresh. A checkpoint written before they were saved starts them
    afresh, as runs did then; a file whose count does not match the game rows is refused."""
    from tcg_env.bots import HeuristicBot
    from training.checkpoint import CheckpointError, atomic_save
    cfg = tiny(tmp_path)
    fresh = HeuristicBot(cfg.seed).game_rng(0, cfg.num_envs)
    tr = Trainer(cfg, quiet=True)
    assert np.array_equal(tr._bot_rows(), fresh)
    tr._bot_rows()[:] = np.arange(3, 3 + cfg.num_envs, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    want = tr._bot_rows().copy()
    path = tr.save()
    tr.close()
    back = Trainer(cfg, resume=str(path), quiet=True)
    assert np.array_equal(back._bot_rows(), want) and not np.array_equal(want, fresh)
    back.close()
    data = torch.load(path, weights_only=True)
    del data["rng"]["bot_rows"]
    atomic_save(data, path)
    old = Trainer(cfg, resume=str(path), quiet=True)
    assert np.array_equal(old._bot_rows(), fresh)
    old.close()
    data["rng"]["bot_rows"] = torch.zeros(cfg.num_envs + 1, dtype=torch.int64)
    atomic_save(data, path)
    with pytest.raises(CheckpointError, match=r"its rng 'bot_rows' has shape \[9\], this run needs \[8\]"):
        Trainer(cfg, resume=str(path), quiet=True)


def test_build_policy_passes_every_policy_option_through():
    from policy import PolicyConfig
    from training.ppo import _POLICY_FLAGS, build_policy
    assert {"card_text", "typed_inputs", "pointer_mlp", "separate_value", "oracle_value", "afford",
            "pointer_primary"} <= set(_POLICY_FLAGS)
    for flag in _POLICY_FLAGS:
        cfg = TrainConfig.from_dict({**TINY, flag: True})
        pc = build_policy(cfg).config
        assert getattr(pc, flag) and sum(getattr(pc, f) for f in _POLICY_FLAGS) == 1, flag
    assert build_policy(TrainConfig.from_dict(TINY)).config.d_model == 16 != PolicyConfig().d_model


@pytest.mark.parametrize("mutate,fragment", [
    (lambda pc: pc.pop("typed_inputs"), None),        # written before the field existed: its default
    (lambda pc: pc.update(typed_inputs=True), "differs from this run"),
    (lambda pc: pc.update(wings=3), "policy config cannot be read"),
])
def test_resume_reads_the_saved_policy_config_through_its_defaults(tmp_path, mutate, fragment):
    import torch

    from training.checkpoint import CheckpointError, atomic_save
    cfg = tiny(tmp_path)
    run_updates(cfg, 1)
    path = sorted((Path(cfg.out) / "checkpoints").glob("ckpt_*.pt"))[-1]
    data = torch.load(path, weights_only=True)
    mutate(data["policy_config"])
    atomic_save(data, path)
    if fragment is None:
        tr = Trainer(cfg, resume=cfg.out, quiet=True)
        assert tr.update == 1
        tr.close()
    else:
        with pytest.raises(CheckpointError, match=fragment):
            Trainer(cfg, resume=cfg.out, quiet=True)


@pytest.mark.parametrize("key,value", [("num_envs", 16), ("decks", "Anvil Vanguard"),
                                       ("deck_weights", "Thornwall Bastion=2")])
def test_resume_refuses_another_deck_layout(tmp_path, key, value):
    """The games come back from the checkpoint with their decks; the learner's seats and each
    seat's deck are derived from the configured layout, so a resume must keep it."""
    from training.checkpoint import CheckpointError
    cfg = tiny(tmp_path)
    run_updates(cfg, 1)
    other = TrainConfig.from_dict({**cfg.to_dict(), key: value})
    with pytest.raises(CheckpointError, match=f"{key} .* differs from this run"):
        Trainer(other, resume=cfg.out, quiet=True)


def test_a_diverged_update_stops_the_run_and_keeps_the_checkpoints(tmp_path):
    """NaN or infinite weights stop training at the end of that update, with a clear error,
    before anything is saved: before, `--set learning_rate=inf` wrote NaN checkpoints over the
    good ones (keep_checkpoints deleted them) and died in the next rollout's sampler."""
    from training.checkpoint import NonFiniteWeightsError
    for kw, says in (({"learning_rate": float("inf")}, "learning_rate must be finite"),
                     ({"ent_coef": float("nan")}, "ent_coef must be finite"),
                     ({"torch_threads": 100000}, "at most 256"), ({"env_threads": 1000}, "env_threads must be in 1..256")):
        with pytest.raises(ValueError, match=says):
            tiny(tmp_path, **kw)
    tr = Trainer(tiny(tmp_path, keep_checkpoints=1), quiet=True)
    tr.learn(tr.collect()[0])
    tr.update += 1
    tr.save()
    saved = {p.name: p.read_bytes() for p in (tr.out / "checkpoints").glob("*.pt")} | \
        {"policy.pt": (tr.out / "policy.pt").read_bytes()}
    ro, _ = tr.collect()
    with torch.no_grad():   # as a diverging optimizer step would leave them
        next(tr.policy.parameters()).view(-1)[0] = float("nan")
    with pytest.raises(NonFiniteWeightsError, match="update 2: the policy's weights are NaN or infinite"):
        tr.learn(ro)
    tr.close()
    assert saved == {p.name: p.read_bytes() for p in (tr.out / "checkpoints").glob("*.pt")} | \
        {"policy.pt": (tr.out / "policy.pt").read_bytes()}


def test_resume_takes_the_same_deck_weights_however_written(tmp_path):
    cfg = tiny(tmp_path, deck_weights="Thornwall Bastion=2")
    run_updates(cfg, 1)
    same = TrainConfig.from_dict({**cfg.to_dict(), "deck_weights": "bastion=2.0"})
    tr = Trainer(same, resume=cfg.out, quiet=True)
    tr.close()
    assert tr.update == 1   # resumed, not started afresh
    from training.checkpoint import CheckpointError
    other = TrainConfig.from_dict({**cfg.to_dict(), "deck_weights": "bastion=3"})
    with pytest.raises(CheckpointError, match="deck_weights 'Thornwall Bastion=2' differs"):
        Trainer(other, resume=cfg.out, quiet=True)


def test_ratio_check_stops_training_on_a_replay_mismatch(tmp_path, monkeypatch):
    cfg = tiny(tmp_path)
    tr = Trainer(cfg, quiet=True)
    ro, _ = tr.collect()
    ro.logp[0][:] += 0.5   # as if the rollout had used different masks
    with pytest.raises(RatioCheckError, match="ratio must be 1"):
        tr.learn(ro)


def test_pin_memory_is_ignored_on_cpu_and_trains_the_same(tmp_path):
    """pin_memory only changes how host arrays reach a CUDA device: on CPU it is off, and the
    same seed gives the same parameters after an update with or without it."""
    import torch
    digests = []
    for pin in (False, True):
        tr = Trainer(tiny(tmp_path / str(pin), pin_memory=pin), quiet=True)
        assert tr._pin is False
        x = np.arange(12, dtype=np.int8).reshape(3, 4)
        assert torch.equal(tr._dev(x), torch.as_tensor(x))
        ro, _ = tr.collect()
        tr.learn(ro)
        digests.append(params_digest(tr.policy))
        tr.close()
    assert digests[0] == digests[1]


@pytest.mark.skipif(not __import__("torch").cuda.is_available(),
                    reason="needs CUDA; scripts/device_check.sh runs it on a lent GPU")
def test_pinned_copies_reach_cuda_intact_and_train(tmp_path):
    import torch
    tr = Trainer(tiny(tmp_path, device="cuda", pin_memory=True, bf16=True), quiet=True)
    assert tr._pin is True
    x = np.random.default_rng(0).integers(-128, 127, (64, 300), dtype=np.int8)
    t = tr._dev(x)
    assert t.device.type == "cuda" and np.array_equal(t.cpu().numpy(), x)
    ro, stats = tr.collect()
    assert stats["illegal_actions"] == 0
    out = tr.learn(ro)
    assert all(np.isfinite(out[k]) for k in ("policy_loss", "value_loss", "entropy", "grad_norm"))
    tr.close()


def test_shaping_potentials_follow_each_rows_observation_and_do_not_change_play(tmp_path):
    from training.shaping import potential
    shaped = Trainer(tiny(tmp_path, shaping_hp=1.0, shaping_board=0.5, rollout_steps=40), quiet=True)
    ro, _ = shaped.collect()
    obs, phis = np.stack(ro.obs), np.stack(ro.phis)
    assert np.allclose(phis, potential(obs, 1.0, 0.5)) and np.abs(phis).max() > 0
    assert np.allclose(ro.last_phis[:, 0], -ro.last_phis[:, 1])   # the two seats' views of one position
    plain = Trainer(TrainConfig.from_dict({**TINY, "rollout_steps": 40, "out": str(tmp_path / "plain")}), quiet=True)
    ro_plain, _ = plain.collect()
    assert np.array_equal(np.stack(ro_plain.obs), obs) and np.array_equal(np.stack(ro_plain.actions), np.stack(ro.actions))
    assert not np.stack(ro_plain.phis).any() and not ro_plain.last_phis.any()
    s_shaped, s_plain = shaped.learn(ro), plain.learn(ro_plain)
    assert s_shaped["value_loss"] != s_plain["value_loss"]     # the shaped returns reach the update


@pytest.mark.parametrize("option", ["afford", "pointer_primary"])
def test_policy_options_that_read_the_legal_list_train_and_their_checkpoints_play(tmp_path, option):
    """afford / pointer_primary end to end: rollouts and replay agree (the trainer's ratio
    check), nothing illegal is sampled, and the saved policy loads with the option and plays."""
    from training.checkpoint import load_policy, save_policy
    from training.evaluate import evaluate_policy
    tr, stats = run_updates(tiny(tmp_path, **{option: True}), 2)
    assert getattr(tr.policy.config, option) and all(s["illegal_actions"] == 0 for s in stats)
    assert all(abs(s["ratio_mean"] - 1.0) < 0.2 for s in stats)
    pol = load_policy(save_policy(tr.policy, tmp_path / "p.pt"))
    assert getattr(pol.config, option)
    res = evaluate_policy(pol, "random", 4, seed=1)
    assert res["games"] == 4 and res["illegal_actions"] == 0


def test_evaluation_writes_league_table_and_plot(tmp_path):
    cfg = tiny(tmp_path, eval_games=6, eval_pool_members=1)
    tr, _ = run_updates(cfg, 1)
    res = tr.evaluate_now()
    assert set(res) >= {"eval/win_rate_vs_random", "eval/win_rate_vs_heuristic"}
    for which in ("own", "opponent"):
        by_deck = {k: v for k, v in res.items() if k.startswith(f"eval/heuristic_by_{which}_deck/")}
        assert len(by_deck) >= 1 and all(0.0 <= v <= 1.0 and " " not in k for k, v in by_deck.items())
    league = (tmp_path / "run" / "league.csv").read_text().splitlines()
    assert league[0].startswith("update,steps,minutes,opponent") and len(league) >= 3
    assert (tmp_path / "run" / "league.png").stat().st_size > 1000
    assert "learner" in tr.ratings and "heuristic" in tr.ratings
    assert (res["eval/learner_rating_mu"], res["eval/learner_rating_sigma"]) == tr.ratings["learner"]


def _league_updates(run_dir) -> list[int]:
    """The update of each row set in league.csv (one row per opponent per evaluation)."""
    rows = list(csv.DictReader((Path(run_dir) / "league.csv").open()))
    return [int(r["update"]) for r in rows if r["opponent"] == "random"]


@pytest.mark.parametrize("eval_every, want", [(2, [2, 4]), (3, [3, 4])])
def test_closing_evaluation_does_not_repeat_the_last_updates(tmp_path, eval_every, want):
    """The closing evaluation plays at the final update unless the loop has just evaluated it
    there: the same games rated twice would shrink the ratings' uncertainty for nothing."""
    cfg = tiny(tmp_path, total_steps=4 * 64, eval_every=eval_every, pool_add_every=0, checkpoint_every=0,
               pool_fraction=0.0)
    tr = Trainer(cfg, quiet=True)
    last = tr.train()
    tr.close()
    assert tr.update == 4 and _league_updates(cfg.out) == want
    assert "eval/win_rate_vs_heuristic" in last


def test_resume_with_no_time_left_adds_no_evaluation(tmp_path):
    """A resumed run whose time is spent before its first update (the resume's start-up counts)
    says so, rates nothing again and saves its checkpoint with the time it has now spent."""
    cfg = tiny(tmp_path, total_steps=64, pool_add_every=0, checkpoint_every=0,
               pool_fraction=0.0)
    tr = Trainer(cfg, quiet=True)
    tr.train()
    tr.close()
    assert _league_updates(cfg.out) == [1]
    secs = float(torch.load(Path(cfg.out) / "checkpoints" / "ckpt_000001.pt", weights_only=True)["counters"]["elapsed"])
    lines = []

    class Console:
        def print(self, msg, **kw):
            lines.append(msg)
    again = TrainConfig.from_dict({**cfg.to_dict(), "total_steps": 10_000, "minutes": (secs + 1e-3) / 60})
    tr = Trainer(again, resume=cfg.out, console=Console())
    tr.train()
    tr.close()
    assert tr.update == 1 and _league_updates(cfg.out) == [1]
    assert any(line.startswith("no update fit in what was left of the budget (update 1") for line in lines), lines
    saved = torch.load(Path(cfg.out) / "checkpoints" / "ckpt_000001.pt", weights_only=True)["counters"]
    assert saved["update"] == 1 and float(saved["elapsed"]) > secs


def _fake_match(wins: int, games: int = 100) -> dict:
    res = np.array([1] * wins + [-1] * (games - wins))
    np.random.default_rng(wins).shuffle(res)
    return {"games": games, "wins": wins, "losses": games - wins, "draws": 0, "win_rate": wins / games,
            "results": res}


def _fake_trainer(out: Path):
    from types import SimpleNamespace
    tr = SimpleNamespace(ratings={}, update=0, steps=0, out=str(out), _print=print)
    tr.elapsed = lambda: 60.0 * tr.update
    return tr


def test_learner_rating_rises_with_its_win_rate_against_the_anchor(tmp_path):
    """The learner improves against the heuristic while scoring 50% against its own snapshots:
    its rating must rise (the heuristic is held fixed), not drift with the snapshots' scale. A new
    snapshot starts from the learner's rating."""
    from openskill.models import PlackettLuce
    from training.evaluate import ANCHOR, update_league
    model = PlackettLuce()
    tr = _fake_trainer(tmp_path)
    mus = []
    for k in range(12):
        tr.update = 10 * (k + 1)
        before = tr.ratings.get("learner", (model.mu, model.sigma))
        update_league(tr, {"random": _fake_match(96), ANCHOR: _fake_match(20 + 5 * k),
                           f"self@{tr.update}": _fake_match(50)})
        mus.append(tr.ratings["learner"][0])
        assert tr.ratings[ANCHOR] == (model.mu, model.sigma)
        if k >= 2:  # the snapshot moved from the learner's rating, not from the prior's 25
            assert abs(tr.ratings[f"self@{tr.update}"][0] - before[0]) < abs(tr.ratings[f"self@{tr.update}"][0] - model.mu)
    # 20% against the anchor puts the learner below it, 75% above it
    assert mus[0] < model.mu < mus[-1] and mus[-1] - mus[2] > 3.0
    rows = list(csv.DictReader((tmp_path / "league.csv").open()))
    assert float(rows[-1]["learner_mu"]) == round(mus[-1], 3) and float(rows[-1]["learner_sigma"]) > 0


def test_a_member_leaving_the_pool_leaves_the_ratings(tmp_path):
    tr = Trainer(tiny(tmp_path, pool_size=1), quiet=True)
    tr._add_to_pool()
    first = tr.pool[0].name
    tr.ratings.update({first: (20.0, 2.0), "learner": (22.0, 1.5)})
    tr.update += 1
    tr._add_to_pool()
    assert [m.name for m in tr.pool] == [f"self@{tr.update}"] and first not in tr.ratings
    assert tr.ratings["learner"] == (22.0, 1.5)
    tr.close()


def test_resume_after_a_kill_between_evaluation_and_checkpoint_does_not_repeat_league_rows(tmp_path):
    """A run evaluates an update before it saves that update's checkpoint. Killed in between
    (here: the last checkpoint deleted), it resumes from the one before and plays the lost
    updates and their evaluations again; the league table forgets the rows it had for them, as
    TensorBoard does, so each evaluated update appears once (random and heuristic rows)."""
    cfg = tiny(tmp_path, eval_every=1, checkpoint_every=2, total_steps=3 * 64, pool_add_every=0, pool_fraction=0.0,
               eval_pool_members=0)
    tr = Trainer(cfg, quiet=True)
    tr.train()
    tr.close()
    assert _league_updates(cfg.out) == [1, 2, 3]
    (Path(cfg.out) / "checkpoints" / "ckpt_000003.pt").unlink()   # the kill: evaluated, not saved
    tr = Trainer(cfg, resume=cfg.out, quiet=True)
    assert tr.update == 2 and _league_updates(cfg.out) == [1, 2]
    tr.train()
    tr.close()
    rows = list(csv.DictReader((Path(cfg.out) / "league.csv").open()))
    assert [(r["update"], r["opponent"]) for r in rows] == [(u, o) for u in "123" for o in ("random", "heuristic")]


def test_league_rewind_and_an_empty_table(tmp_path):
    """rewind_league keeps the header and every row up to the update, and leaves a table it
    cannot read by update alone; an empty league.csv (a kill mid-write) gets its header before
    its first rows."""
    from training.evaluate import rewind_league, update_league
    path = tmp_path / "league.csv"
    head = "update,steps,opponent\n"
    path.write_text(head + "1,10,random\n2,20,random\n10,100,random\n3,30,heuristic\n")
    rewind_league(path, 2)
    assert path.read_text().replace("\r\n", "\n") == head + "1,10,random\n2,20,random\n"
    path.write_text("steps,opponent\n10,random\n")
    rewind_league(path, 0)
    assert path.read_text() == "steps,opponent\n10,random\n"
    path.write_text("")
    tr = _fake_trainer(tmp_path)
    tr.update = 5
    update_league(tr, {"heuristic": _fake_match(40)})
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 1 and rows[0]["update"] == "5" and rows[0]["opponent"] == "heuristic"


def test_league_table_keeps_an_older_header_on_resume(tmp_path):
    """A run resumed from before the mu/sigma columns keeps its header and still plots."""
    from training.evaluate import update_league
    old = "update,steps,minutes,opponent,games,wins,losses,draws,win_rate,opponent_rating,learner_rating\n"
    (tmp_path / "league.csv").write_text(old + "10,100,1.0,random,100,90,10,0,0.9,1.0,20.0\n")
    tr = _fake_trainer(tmp_path)
    tr.update = 20
    update_league(tr, {"heuristic": _fake_match(40)})
    lines = (tmp_path / "league.csv").read_text().splitlines()
    assert lines[0] + "\n" == old and len(lines) == 3 and len(lines[2].split(",")) == len(lines[0].split(","))
    assert (tmp_path / "league.png").stat().st_size > 1000


def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache" / "tests"))
    return env


def _torchrun_two_ranks(script: Path) -> subprocess.CompletedProcess:
    """Run ``script`` on two gloo ranks (CPU) under torchrun; fail with its output if it fails."""
    torchrun = Path(sys.executable).with_name("torchrun")
    env = _env()
    env["TCG_DIST_BACKEND"] = "gloo"
    res = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", str(script)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def test_sigkill_then_resume_loses_at_most_one_interval(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "training.cli", "train", "--config", "cpu", "--out", str(out), "--no-progress",
            "--total-steps", "100000000", "--final-eval-games", "2"]
    for k, v in {**TINY, "checkpoint_every": 1}.items():
        if k not in ("minutes", "total_steps"):
            args += ["--set", f"{k}={v}"]
    proc = subprocess.Popen(args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ck = out / "checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(ck.glob("ckpt_*.pt"))) < 2 and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.stdout.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = sorted(ck.glob("ckpt_*.pt"))
    assert kept
    from training.checkpoint import load_checkpoint
    for k in kept:   # a kill mid-write leaves at most a .tmp file, never a partial checkpoint
        load_checkpoint(k)
    last = int(kept[-1].stem.split("_")[1])
    # resume for exactly two more updates, naming only the run: its settings come from the
    # checkpoint (the cpu config's num_envs would be refused) and it writes on into its folder
    more = (last + 2) * TINY["num_envs"] * TINY["rollout_steps"]
    res = subprocess.run([sys.executable, "-m", "training.cli", "train", "--resume", str(out), "--total-steps",
                          str(more), "--no-progress", "--final-eval-games", "2"],
                         env=_env(), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"resumed at update {last}" in res.stdout
    newest = int(sorted(ck.glob("ckpt_*.pt"))[-1].stem.split("_")[1])
    assert newest >= last + 1
    assert not list(ck.glob("*.tmp"))   # the resumed run cleaned up the interrupted write
    assert not (tmp_path / "runs").exists()   # nothing went to the config's default folder


def test_replay_module_puts_every_parameter_in_the_graph_for_ddp():
    """ReplayModule(touch_all=True), as the trainer builds it under DDP: a minibatch whose
    decisions never reach the sub-heads still gives every parameter a gradient (zero where the
    loss does not depend on it), so DDP can run without find_unused_parameters. Without the
    option the same minibatch leaves parameters out."""
    import torch
    from policy import PolicyConfig, TCGPolicy
    from tcg_env import VecTCG
    from tcg_env.bots import RandomBot
    from training.losses import ReplayModule
    env, bot = VecTCG(64, seed=3), RandomBot(0)
    for _ in range(30):
        if (env.legal_count == 1).any():
            break
        env.step(bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count))
    rows = np.nonzero(env.legal_count == 1)[0]
    assert len(rows), "no single-choice decision in these games"
    obs = torch.as_tensor(env.observations[rows])
    legal = torch.as_tensor(env.legal_tuples[rows, :1])
    count = torch.as_tensor(env.legal_count[rows])
    act = legal[:, 0].long()
    torch.manual_seed(0)
    pol = TCGPolicy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32))
    for touch, expect_all in ((True, True), (False, False)):
        pol.zero_grad(set_to_none=True)
        logp, ent, value, *_ = ReplayModule(pol, touch_all=touch)(obs, legal, count, act)
        (logp.mean() + ent.mean() + value.mean()).backward()
        missing = [n for n, p in pol.named_parameters() if p.grad is None]
        assert (not missing) == expect_all, missing
        if touch:
            assert all(torch.isfinite(p.grad).all() for p in pol.parameters())


def test_torchrun_two_ranks_hold_identical_parameters(tmp_path):
    script = tmp_path / "ddp_check.py"
    script.write_text(f"""
import hashlib, json, os, sys
sys.path.insert(0, {str(ROOT)!r})
import torch
from training import distributed as D
from training.config import TrainConfig
from training.ppo import Trainer
D.init()
cfg = TrainConfig.from_dict({{**{TINY!r}, "out": {str(tmp_path / 'run')!r}, "eval_every": 0}})
tr = Trainer(cfg, quiet=True)
for _ in range(2):
    ro, _ = tr.collect(); tr.learn(ro); tr.update += 1
h = hashlib.sha256()
for k, v in sorted(tr.policy.state_dict().items()):
    h.update(k.encode())
    h.update(v.detach().cpu().contiguous().numpy().tobytes())
open(os.path.join({str(tmp_path)!r}, f"rank{{D.rank()}}.txt"), "w").write(h.hexdigest())
D.finish(0)   # not Python's teardown: it can deadlock in gloo
""")
    _torchrun_two_ranks(script)
    h0, h1 = (tmp_path / "rank0.txt").read_text(), (tmp_path / "rank1.txt").read_text()
    assert h0 == h1
    # the updates really moved the weights: an untrained trainer of the same config differs
    # (same digest recipe as the script: key, then values)
    untrained = Trainer(TrainConfig.from_dict({**TINY, "out": str(tmp_path / "untrained")}), quiet=True)
    assert params_digest(untrained.policy) != h0
    untrained.close()


def test_torchrun_training_loop_keeps_ranks_in_step(tmp_path):
    """The whole ``Trainer.train`` loop under two gloo ranks: ranks pick opponents on their
    own (different rollout stats), both play their share of the evaluation games and rank 0
    reports whole matches, the KL early stop and the wall-clock
    stop are decided together; a stats key on one rank only is a clear error, not a gloo abort.
    Every parameter is in each step's graph (value-only rows included), so DDP runs without
    searching for unused parameters: no reducer error, no reducer warning."""
    script = tmp_path / "ddp_loop.py"
    script.write_text(f"""
import json, os, sys
sys.path.insert(0, {str(ROOT)!r})
from training import distributed as D
from training.config import TrainConfig
from training.ppo import Trainer
D.init()
try:
    D.reduce_stats({{"a": 1.0, **({{"only_rank1": 2.0}} if D.rank() else {{}})}})
    mismatch = "no error"
except D.StatsMismatchError:
    mismatch = "raised"
s = D.reduce_stats({{"illegal_actions": D.rank() + 1, "x": float(D.rank())}})
cfg = TrainConfig.from_dict({{**{TINY!r}, "out": {str(tmp_path / 'run')!r}, "eval_every": 1, "bot_opponent_prob": 0.5,
                              "pool_fraction": 1.0, "target_kl": 1e-4, "eval_pool_members": 1, "card_stats_every": 1, "wait_value": True,
                              "total_steps": 10_000_000, "minutes": 0.1}})
tr = Trainer(cfg, quiet=True)
last = tr.train()
tr.close()
json.dump({{"mismatch": mismatch, "sum": s["illegal_actions"], "mean": s["x"], "update": tr.update,
           "steps": tr.steps, "evals": sorted(k for k in last if k.startswith("eval/"))}},
          open(os.path.join({str(tmp_path)!r}, f"rank{{D.rank()}}.json"), "w"))
D.finish(0)
""")
    res = _torchrun_two_ranks(script)
    assert "reducer.cpp" not in res.stderr and "find_unused_parameters" not in res.stderr, res.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{i}.json").read_text()) for i in (0, 1))
    assert r0["mismatch"] == r1["mismatch"] == "raised"
    assert r0["sum"] == r1["sum"] == 3 and r0["mean"] == r1["mean"] == 0.5
    assert r0["update"] == r1["update"] >= 1 and r0["steps"] == r1["steps"]
    assert "eval/win_rate_vs_heuristic" in r0["evals"] and r1["evals"] == []
    import csv
    league = list(csv.DictReader((tmp_path / "run" / "league.csv").open()))
    assert league and all(int(r["games"]) == TINY["eval_games"] for r in league)   # both blocks, joined


def test_nproc_two_resume_continues_each_rank_exactly(tmp_path):
    """``tcg train --nproc 2`` (two gloo ranks), stopped after 2 updates and resumed for a third,
    ends with the same weights as 3 straight updates: the checkpoint holds every rank's games and
    RNG states, not rank 0's copied to both. Resuming with another number of ranks is refused."""
    from training.checkpoint import CheckpointError, load_checkpoint
    per_update = 2 * TINY["num_envs"] * TINY["rollout_steps"]   # pure self-play: every row is a learner's
    args = [sys.executable, "-m", "training.cli", "train", "--config", "cpu", "--nproc", "2", "--no-progress",
            "--final-eval-games", "2", "--seed", "3"]
    for k, v in {**TINY, "pool_fraction": 0.0, "anneal_lr": False}.items():
        if k not in ("minutes", "total_steps"):
            args += ["--set", f"{k}={v}"]

    def run(out, updates, *extra):
        res = subprocess.run(args + ["--out", str(out), "--total-steps", str(updates * per_update), *extra],
                             env=_env(), capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        return res.stdout

    run(tmp_path / "straight", 3)
    run(tmp_path / "split", 2)
    ck = load_checkpoint(sorted((tmp_path / "split" / "checkpoints").glob("ckpt_*.pt"))[-1])
    assert ck["world_size"] == 2 and len(ck["rank_states"]) == 1
    assert not (ck["rank_states"][0]["env"]["state"] == ck["env"]["state"]).all()   # rank 1 plays other games
    # resumed by naming the run only: the seed and every --set come back from the checkpoint
    res = subprocess.run([sys.executable, "-m", "training.cli", "train", "--resume", str(tmp_path / "split"),
                          "--total-steps", str(3 * per_update), "--no-progress", "--final-eval-games", "2"],
                         env=_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "resumed at update 2" in res.stdout
    a, b = (load_checkpoint(tmp_path / d / "policy.pt")["model"] for d in ("straight", "split"))
    assert all((a[k] == b[k]).all() for k in a)
    one_rank = TrainConfig.from_dict({**TrainConfig.named("cpu").to_dict(), **TINY, "pool_fraction": 0.0,
                                      "anneal_lr": False, "out": str(tmp_path / "other")})
    with pytest.raises(CheckpointError, match="--nproc 2"):
        Trainer(one_rank, resume=tmp_path / "split", quiet=True)


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if text in (d / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find the ranks")
def test_nproc_launcher_passes_sigterm_to_its_ranks(tmp_path):
    """Stopping ``tcg train --nproc 2`` with SIGTERM stops its ranks as well: none is left
    training on its own."""
    out = tmp_path / "run"
    args = [sys.executable, "-m", "training.cli", "train", "--config", "cpu", "--nproc", "2", "--no-progress",
            "--out", str(out), "--total-steps", "100000000"]
    for k, v in TINY.items():
        if k not in ("minutes", "total_steps"):
            args += ["--set", f"{k}={v}"]
    proc = subprocess.Popen(args, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not list((out / "checkpoints").glob("ckpt_*.pt")) and proc.poll() is None:
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it was stopped"
        assert len(_processes_mentioning(str(out))) >= 3   # launcher, torchrun, two ranks
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        deadline = time.time() + 60
        while time.time() < deadline and _processes_mentioning(str(out)):
            time.sleep(0.2)
        assert _processes_mentioning(str(out)) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in _processes_mentioning(str(out)):
            os.kill(pid, signal.SIGKILL)


def test_cli_config_errors_are_clear(capsys):
    from training.cli import main
    for argv, says in ((["--config", "nope"], "unknown config 'nope'; named configs: cpu, gpu"),
                       (["--set", "wings=3"], "--set: unknown setting(s) ['wings']"),
                       (["--set", "num_envs=many"], "--set: num_envs = 'many' must be an integer"), (["--nproc", "0"], "nproc must be >= 1"),
                       (["--set", "nproc=0"], "nproc must be >= 1"), (["--minutes", "-1"], "minutes must be"),
                       (["--minutes", "nan"], "minutes must be"),
                       (["--final-eval-games", "0"], "--final-eval-games must be in 2..1,048,576, got 0"),
                       # more than one batch of envs holds: refused now, not after the training it would end
                       (["--final-eval-games", str(2 ** 20 + 1)], "--final-eval-games must be in 2..1,048,576"),
                       (["--set", "learning_rate=1" + "0" * 400], "learning_rate must be a number within float range"),
                       (["--config", "/nonexistent.toml"], "cannot be read"), (["--config", "."], "is a path: a config file must end in .toml"),
                       (["--set", "device=nope"], "is not a torch device"),
                       (["--set", "torch_threads=-1"], "torch_threads must be >= 0"),
                       (["--resume", "x", "--init-from", "y"], "give one of them"),
                       (["--set", "seed=-1"], "seed must be in 0..2**32-1"),
                       (["--set", "decks=nope"], "unknown deck 'nope'"),
                       (["--set", "deck_weights=thorn=2;Thornwall Bastion=1"], "given twice")):
        assert main(["train", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("tcg train: ") and says in err and "tcg train: tcg train" not in err, err
    assert main(["verify", "--states", "0"]) == 2   # a usage error, not the mismatch status 1
    assert "--states must be >= 1" in capsys.readouterr().err
    # every command's --seed is an integer in 0..2**63-1: argparse's usage error (exit 2), never wrapped
    for cmd in (["train"], ["eval", "--checkpoint", "x"], ["demos", "--out", "x"], ["verify"], ["play"],
                ["bc", "--demos", "x"]):
        for bad in ("-1", str(2 ** 63), "1.5", "one"):
            with pytest.raises(SystemExit) as exc:
                main([*cmd, "--seed", bad])
            assert exc.value.code == 2
            assert "a seed is 0..2**63-1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bc", "--demos", "x", "--split-seed", "-1"])
    assert "a seed is 0..2**63-1" in capsys.readouterr().err
    # a training seed is the config's 0..2**32-1, refused by argparse with the flag named
    with pytest.raises(SystemExit) as exc:
        main(["train", "--seed", str(2 ** 32)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --seed" in err and "a training seed is 0..2**32-1" in err
    # the natural spelling of a named config's file, from any folder
    assert TrainConfig.from_toml("cpu.toml") == TrainConfig.named("cpu")


def test_cli_resume_takes_the_saved_settings_and_folder(tmp_path, capsys, monkeypatch):
    """``tcg train --resume DIR`` goes on with the settings saved in DIR's newest checkpoint and
    writes into DIR; --set still overrides one; --config beside --resume is refused (it would
    silently replace the saved settings); a folder without checkpoints is refused by name.
    ``--json`` ends the run with one JSON line instead of the table."""
    from training.checkpoint import load_checkpoint
    from training.cli import main
    monkeypatch.chdir(tmp_path)   # the config's default folder would be runs/latest here
    run = tmp_path / "mine"
    per_update = TINY["num_envs"] * TINY["rollout_steps"]
    argv = ["train", "--out", str(run), "--no-progress", "--final-eval-games", "2", "--total-steps", str(per_update)]
    for k, v in {**TINY, "seed": 5, "ent_coef": 0.02, "pool_fraction": 0.0}.items():
        if k not in ("minutes", "total_steps"):
            argv += ["--set", f"{k}={v}"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--total-steps", str(3 * per_update), "--no-progress",
                 "--final-eval-games", "2", "--set", "ent_coef=0.03", "--json"]) == 0
    out = capsys.readouterr().out
    assert "resumed at update 1" in out
    summary = json.loads(out.strip().splitlines()[-1])   # --json: the last line instead of the table
    assert (summary["out"], summary["updates"], summary["illegal_actions_total"]) == (str(run), 3, 0)
    assert summary["steps"] == 3 * per_update and set(summary["final"]) == {"random", "heuristic"}
    assert all(r["games"] == 2 and r["wins"] + r["losses"] + r["draws"] == 2 for r in summary["final"].values())
    assert not (tmp_path / "runs").exists()
    saved = load_checkpoint(sorted((run / "checkpoints").glob("ckpt_*.pt"))[-1])
    assert saved["counters"]["update"] == 3
    cfg = saved["train_config"]
    assert (cfg["seed"], cfg["num_envs"], cfg["d_model"], cfg["ent_coef"], cfg["out"]) == (5, 8, 16, 0.03, str(run))
    assert main(["train", "--resume", str(run), "--set", "wings=3"]) == 2   # a bad override of the saved settings
    err = capsys.readouterr().err
    assert err.startswith("tcg train: --set: unknown setting(s) ['wings']"), err
    assert main(["train", "--resume", str(run), "--set", "num_envs=0"]) == 2   # typed, but out of range
    err = capsys.readouterr().err
    assert err.startswith("tcg train: config: num_envs and rollout_steps must be >= 1"), err
    # a run already at its limits is refused, not rerun as a do-nothing that rewrites policy.pt
    policy_bytes = (run / "policy.pt").read_bytes()
    for extra in ([], ["--total-steps", str(2 * per_update)], ["--total-steps", str(3 * per_update)]):
        assert main(["train", "--resume", str(run), "--no-progress", *extra]) == 2
        err = capsys.readouterr().err
        assert f"has already trained {3 * per_update:,} decisions" in err and "larger --total-steps" in err, err
    assert (run / "policy.pt").read_bytes() == policy_bytes
    for extra, says in ((["--config", "cpu"], "drop --config"), ([], "no checkpoints in"),
                        (["--out", str(tmp_path / "elsewhere")], "continues the run in its own folder"),
                        (["--set", f"out={tmp_path / 'elsewhere'}"], "drop --out")):
        target = run if extra else tmp_path / "empty"
        target.mkdir(exist_ok=True)
        assert main(["train", "--resume", str(target), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("tcg train: ") and says in err, err


def test_cli_init_from_and_resume_read_their_checkpoint_once(tmp_path, capsys, monkeypatch):
    """``tcg train --init-from P`` starts from P's weights; P is read once in the process (the
    CLI's checks hand what they read to the Trainer), and so is the checkpoint ``--resume``
    continues from (torch.load calls on that file are counted)."""
    import torch as T
    from training.checkpoint import load_checkpoint
    from training.cli import main
    monkeypatch.chdir(tmp_path)
    per_update = TINY["num_envs"] * TINY["rollout_steps"]
    sets = []
    for k, v in {**TINY, "pool_fraction": 0.0}.items():
        if k not in ("minutes", "total_steps"):
            sets += ["--set", f"{k}={v}"]
    common = ["--no-progress", "--final-eval-games", "2", "--total-steps", str(per_update), *sets]
    assert main(["train", "--out", str(tmp_path / "a"), *common]) == 0
    start = tmp_path / "a" / "policy.pt"
    reads, real_load = [], T.load
    monkeypatch.setattr(T, "load", lambda f, *a, **k: (reads.append(Path(f).resolve()), real_load(f, *a, **k))[1])
    # the new run starts from start's weights: one update at a learning rate of 1e-30 keeps them
    assert main(["train", "--init-from", str(start), "--out", str(tmp_path / "b"), *common,
                 "--set", "learning_rate=1e-30"]) == 0
    assert reads.count(start.resolve()) == 1
    mine, theirs = load_checkpoint(tmp_path / "b" / "policy.pt")["model"], load_checkpoint(start)["model"]
    assert mine.keys() == theirs.keys() and all(T.allclose(mine[k], theirs[k], rtol=0, atol=1e-20) for k in mine)
    ckpt = sorted((tmp_path / "b" / "checkpoints").glob("ckpt_*.pt"))[-1].resolve()
    reads.clear()
    assert main(["train", "--resume", str(tmp_path / "b"), "--total-steps", str(2 * per_update), "--no-progress",
                 "--final-eval-games", "2"]) == 0
    assert reads.count(ckpt) == 1
    capsys.readouterr()


def test_a_new_run_never_overwrites_an_earlier_one(tmp_path, capsys, monkeypatch):
    """`tcg train` without --resume into a folder holding a run: the default folder (runs/latest,
    what `make train` uses) is moved aside and kept whole; a folder named by --out is refused, as
    is `tcg bc --out` onto a run, by every rank under torchrun. Before, the new run overwrote policy.pt and config.json, and
    keep_checkpoints then deleted the new run's checkpoints (the old ones sort after them)."""
    from training.cli import main
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--no-progress", "--final-eval-games", "2", "--json",
            "--total-steps", str(TINY["num_envs"] * TINY["rollout_steps"])]
    for k, v in TINY.items():
        if k not in ("minutes", "total_steps"):
            argv += ["--set", f"{k}={v}"]
    assert main(argv) == 0
    # a new run refuses a folder holding any of these files: the list must name every one a run writes
    from training.cli import RUN_FILES
    assert {p.name for p in (tmp_path / "runs" / "latest").iterdir()} <= set(RUN_FILES)
    first = (tmp_path / "runs" / "latest" / "policy.pt").read_bytes()
    assert main(argv + ["--seed", "9"]) == 0
    assert "held an earlier run; moved it to" in capsys.readouterr().err
    aside = [d for d in (tmp_path / "runs").iterdir() if d.name.startswith("latest-")]
    assert len(aside) == 1 and (aside[0] / "policy.pt").read_bytes() == first
    assert list((aside[0] / "checkpoints").glob("ckpt_*.pt")) and (aside[0] / "config.json").exists()
    assert (tmp_path / "runs" / "latest" / "policy.pt").read_bytes() != first
    # the default folder however it is spelt (it was refused as ./runs/latest)
    assert main(argv + ["--seed", "8", "--out", "./runs/latest/"]) == 0
    assert "held an earlier run; moved it to" in capsys.readouterr().err
    assert len([d for d in (tmp_path / "runs").iterdir() if d.name.startswith("latest-")]) == 2
    mine = str(aside[0])
    assert main(argv + ["--out", mine]) == 2
    assert "already holds a run" in capsys.readouterr().err and (aside[0] / "policy.pt").read_bytes() == first
    assert main(["bc", "--demos", "nowhere.tcgd", "--out", mine]) == 2
    assert "already holds a run" in capsys.readouterr().err and (aside[0] / "policy.pt").read_bytes() == first
    # every rank of a hand-started torchrun refuses too, before the ranks meet (none checked before)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert main(argv + ["--out", mine]) == 2
    assert "already holds a run" in capsys.readouterr().err and (aside[0] / "policy.pt").read_bytes() == first


def test_config_values_out_of_range_are_refused_and_zero_means_what_the_help_says(tmp_path):
    """Settings where 0 or a negative value would do something unexpected are checked; with
    eval_pool_members = 0 an evaluation plays the bots only (a slice [-0:] would be every member)."""
    for kw, says in (({"keep_checkpoints": 0}, "keep_checkpoints must be >= 1"),
                     ({"eval_pool_members": -1}, "eval_pool_members must be >= 0"),
                     ({"checkpoint_every": -1}, "checkpoint_every must be >= 0"),
                     ({"pool_size": 0}, "pool_size must be >= 1"),
                     ({"bot_opponent_prob": 1.5}, "bot_opponent_prob must be in [0, 1]"),
                     ({"learning_rate": 0.0}, "learning_rate, clip_coef"),
                     ({"target_kl": -0.1}, "target_kl must be >= 0")):
        with pytest.raises(ValueError, match=re.escape(says)):
            tiny(tmp_path, **kw)
    tr, _ = run_updates(tiny(tmp_path, eval_pool_members=0, eval_games=2), 2)
    assert len(tr.pool) == 2
    rates = {k for k in tr.evaluate_now() if k.startswith("eval/win_rate_vs_")}
    assert rates == {"eval/win_rate_vs_random", "eval/win_rate_vs_heuristic"}
    tr.cfg.eval_pool_members = 1
    assert f"eval/win_rate_vs_{tr.pool[-1].name}" in tr.evaluate_now()


def test_tcg_eval_json(tmp_path, capsys):
    tr, _ = run_updates(tiny(tmp_path), 1)
    from training.cli import main
    assert main(["eval", "--checkpoint", str(tmp_path / "run" / "policy.pt"), "--opponent", "random",
                 "--games", "6", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["games"] == 6 and out["wins"] + out["losses"] + out["draws"] == 6
    assert main(["eval", "--checkpoint", str(tmp_path / "nope.pt")]) == 2


def test_tcg_eval_decks_plays_one_pairing(tmp_path, capsys):
    """--decks: one name plays that deck's mirror, two play that pairing with the checkpoint
    holding the first; the per-deck breakdown shows only those decks; a bad name or count is
    refused with the prebuilt names. Names may be in any case or a unique prefix."""
    run_updates(tiny(tmp_path), 1)
    from training.cli import main
    ckpt = str(tmp_path / "run" / "policy.pt")
    assert main(["eval", "--checkpoint", ckpt, "--opponent", "random", "--games", "6", "--json",
                 "--decks", "Thornwall Bastion"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert list(out["by_own_deck"]) == list(out["by_opponent_deck"]) == ["Thornwall Bastion"]
    assert out["by_own_deck"]["Thornwall Bastion"]["games"] == 6
    assert main(["eval", "--checkpoint", ckpt, "--opponent", "random", "--games", "4", "--json",
                 "--decks", "emberfang, ANVIL"]) == 0   # any case or a unique prefix, as in tcg play
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert list(out["by_own_deck"]) == ["Emberfang Rush"] and list(out["by_opponent_deck"]) == ["Anvil Vanguard"]
    assert list(out["by_pairing"]) == ["Emberfang Rush"] and list(out["by_pairing"]["Emberfang Rush"]) == ["Anvil Vanguard"]
    assert main(["eval", "--checkpoint", ckpt, "--opponent", "random", "--games", "4",
                 "--decks", "Emberfang Rush, Anvil Vanguard"]) == 0
    text = capsys.readouterr().out
    assert "Win rate by pairing" in text and "Anvil Vanguard" in text.split("Win rate by pairing")[1]
    for bad, says in (("Nope Deck", "unknown deck 'Nope Deck'; prebuilt decks: "), ("A,B,C", "one deck name")):
        assert main(["eval", "--checkpoint", ckpt, "--games", "4", "--decks", bad]) == 2
        assert says in capsys.readouterr().err
    # a checkpoint opponent takes make_bot's @greedy / @sample suffix (it was read as part of the path)
    for mode in ("@greedy", "@sample", ""):
        assert main(["eval", "--checkpoint", ckpt, "--opponent", f"checkpoint:{ckpt}{mode}", "--games", "2",
                     "--json"]) == 0
        assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["games"] == 2
    assert main(["eval", "--checkpoint", ckpt, "--opponent", f"checkpoint:{ckpt}@fast", "--games", "2"]) == 2
    assert "must be 'greedy' or 'sample'" in capsys.readouterr().err


def test_match_plays_every_pairing_from_both_seats_and_breaks_down_by_deck(tmp_path):
    """64 games = 16 pairings x 2 seats x 2: each deck is the policy's 16 times and the
    opponent's 16 times (so a deck's rate is not one seat's), and the per-deck wins add up."""
    from prefabs import default_decks
    from training.evaluate import play_match
    tr, _ = run_updates(tiny(tmp_path), 1)
    res = play_match(tr.policy, "random", 64, seed=3)
    names = list(default_decks())
    for key in ("by_own_deck", "by_opponent_deck"):
        assert list(res[key]) == names and all(v["games"] == 16 for v in res[key].values())
        assert round(sum(v["win_rate"] * v["games"] for v in res[key].values())) == res["wins"]
    # the pairing matrix: every pairing 4 times, and each row adds up to its own-deck rate
    assert list(res["by_pairing"]) == names
    for own, row in res["by_pairing"].items():
        assert list(row) == names and all(v["games"] == 4 for v in row.values())
        assert np.isclose(np.mean([v["win_rate"] for v in row.values()]), res["by_own_deck"][own]["win_rate"])


def test_default_match_sizes_weigh_every_pairing_and_seat_equally():
    """Game i plays pairing (i // 2) mod 16 from seat i mod 2, so only a multiple of 32 games
    weighs every (pairing, seat) alike: 100 games gave pairings 0 and 1 a third more games than
    the rest. The training evaluations of both named configs, the closing table and `tcg eval`
    default to such sizes."""
    from training.cli import build_parser
    from training.evaluate import match_decks
    sizes = {name: TrainConfig.named(name).eval_games for name in ("cpu", "gpu")}
    sizes["TrainConfig"] = TrainConfig().eval_games
    parser = build_parser()
    sizes["--final-eval-games"] = parser.parse_args(["train"]).final_eval_games
    sizes["tcg eval --games"] = parser.parse_args(["eval", "--checkpoint", "x"]).games
    for where, n in sizes.items():
        decks, seat = match_decks(n)
        counts = {}
        for pair, s in zip(decks, seat):
            counts[(pair, int(s))] = counts.get((pair, int(s)), 0) + 1
        assert len(counts) == 32 and len(set(counts.values())) == 1, f"{where}: {n} games weigh pairings unevenly"


def test_match_split_into_blocks_plays_the_same_games():
    """The evaluation split between ranks: blocks of one match, played apart and merged, give
    the whole match's per-game results (deterministic heuristic vs heuristic), deck breakdown
    included; an empty or out-of-range block is refused."""
    from tcg_env.bots import HeuristicBot
    from training.evaluate import blocks, merge_blocks, play_match
    whole = play_match(HeuristicBot(0), "heuristic", 36, seed=4)
    assert blocks(36, 3) == [(0, 12), (12, 24), (24, 36)] and blocks(1, 2) == [(0, 0), (0, 1)]
    parts = [play_match(HeuristicBot(0), "heuristic", 36, seed=4, block=b) for b in [(0, 17), (17, 36)]]
    merged = merge_blocks([parts[0], None, parts[1]], 36)
    assert np.array_equal(merged["results"], whole["results"]) and np.array_equal(merged["lengths"], whole["lengths"])
    assert 0 < merged["wins"] < 36
    for key in ("wins", "losses", "draws", "by_own_deck", "by_opponent_deck", "by_pairing", "mean_decisions"):
        assert merged[key] == whole[key], key
    with pytest.raises(ValueError, match="block"):
        play_match(HeuristicBot(0), "heuristic", 36, block=(10, 10))
    with pytest.raises(ValueError, match="36"):
        merge_blocks(parts[:1], 36)


def test_match_takes_a_bot_on_the_measured_side():
    """The bot-vs-bot deck baseline (benchmarks/bench_deck_balance.py) plays through play_match:
    a bot may be the measured side, and the per-deck breakdown still adds up."""
    from tcg_env.bots import HeuristicBot, RandomBot
    from training.evaluate import play_match
    seen = []
    a = play_match(HeuristicBot(0), RandomBot(3), 64, seed=3, progress=lambda done, total: seen.append((done, total)))
    assert a["win_rate"] > 0.8 and a["illegal_actions"] == 0
    # tcg eval's bar: the finished count only grows, and ends at every game
    assert len(seen) > 3 and seen[-1] == (64, 64) and all(t == 64 for _, t in seen)
    assert all(x < y for (x, _), (y, _) in zip(seen, seen[1:]))
    assert round(sum(v["win_rate"] * v["games"] for v in a["by_own_deck"].values())) == a["wins"]
    b = play_match(RandomBot(3), "heuristic", 64, seed=3)
    assert b["win_rate"] < 0.2
    with pytest.raises(TypeError, match="opponent must be a name or a bot with act_batch, got object"):
        play_match(HeuristicBot(0), object(), 4)


def test_deck_weights_deal_pairings_in_proportion_and_interleaved():
    from prefabs import default_decks
    from tcg_env import VecTCG
    from training.ppo import deal_pairings, own_deck_index
    names = list(default_decks())
    # equal weights deal the pairings in turn, exactly as decks='all' does
    even = VecTCG(40, seed=0, decks=deal_pairings(40, np.ones(4)))
    assert np.array_equal(even.decks, VecTCG(40, seed=0).decks)
    w = np.array([1.0, 2.0, 0.0, 1.0])   # Thornwall twice, Anvil never
    n = 320
    dealt = deal_pairings(n, w)
    assert not any(names[2] in p for p in dealt)
    pw = {(a, b): w[i] * w[j] for i, a in enumerate(names) for j, b in enumerate(names)}
    for pair, weight in pw.items():
        assert abs(dealt.count(pair) - n * weight / sum(pw.values())) <= 1, pair
    # the seat a deck is played from: Thornwall holds 2/(1+2+1) of each seat's games
    own = own_deck_index(VecTCG(n, seed=0, decks=dealt).decks)
    assert own.shape == (n, 2) and (own >= 0).all()
    for s in (0, 1):
        assert abs((own[:, s] == 1).mean() - 0.5) < 0.02
    # interleaved: the first half of the games (the pool games) holds close to the same mix
    assert abs((own[: n // 2] == 1).mean() - 0.5) < 0.03
    # and the learner's seat sees Thornwall as often from seat 0 as from seat 1
    seat = learner_seats(VecTCG(n, seed=0, decks=dealt).decks)
    mine = own[np.arange(n), seat]
    assert abs((mine[seat == 0] == 1).mean() - (mine[seat == 1] == 1).mean()) < 0.05


def test_learner_plays_every_pairing_from_both_seats():
    """In the games against an opponent the learner's seat alternates within each deck pairing,
    so the pool games (the first half) hold every (learner deck, opponent deck) pairing from both
    seats equally. Seat = game index mod 2 with decks='all' (pairing = index mod 16) let the
    learner hold Emberfang or Anvil only from seat 0, where the opponent plays Emberfang or Anvil:
    it never met a Thornwall or Sagefire opponent with them."""
    from collections import Counter
    from tcg_env import VecTCG
    from training.ppo import own_deck_index
    env = VecTCG(512, seed=0)
    own, seat = own_deck_index(env.decks), learner_seats(env.decks)
    assert seat.dtype == np.int32 and set(np.unique(seat)) == {0, 1}
    i = np.arange(256)
    seen = Counter(zip(own[i, seat[i]], own[i, 1 - seat[i]], seat[i]))
    assert len(seen) == 4 * 4 * 2 and set(seen.values()) == {8}
    # one pairing (a mirror): seats alternate game by game
    mirror = VecTCG(9, seed=0, decks="Anvil Vanguard")
    assert learner_seats(mirror.decks).tolist() == [0, 1, 0, 1, 0, 1, 0, 1, 0]
    # an uneven deal: within every pairing, and within the first half of the games, the two
    # seats' counts differ by at most one
    dealt = deal_pairings(200, np.array([1.0, 3.0, 1.0, 0.5]))
    rows = VecTCG(200, seed=0, decks=dealt).decks
    seat = learner_seats(rows)
    for part in (slice(None), slice(0, 100)):
        per = Counter()
        for p, s in zip(dealt[part], seat[part]):
            per[p] += 1 if s == 0 else -1
        assert set(per.values()) <= {0, 1}


def test_trainer_uses_the_alternating_learner_seat(tmp_path):
    tr = Trainer(tiny(tmp_path, num_envs=64), quiet=True)
    assert np.array_equal(tr.learner_seat, learner_seats(tr.env.decks))
    assert not np.array_equal(tr.learner_seat, np.arange(64) % 2)


def test_trainer_deals_weighted_pairings_and_knows_each_seats_deck(tmp_path):
    tr = Trainer(tiny(tmp_path, num_envs=16, deck_weights="Emberfang Rush=0"), quiet=True)
    assert (tr.own_deck != 0).all() and (tr.own_deck >= 0).all()
    mirror = Trainer(tiny(tmp_path / "m", decks="Sagefire Circle"), quiet=True)
    assert (mirror.own_deck == 3).all()


def test_entropy_weight_anneals_linearly_then_holds(tmp_path):
    tr = Trainer(tiny(tmp_path, ent_coef=0.01, ent_coef_end=0.002, ent_anneal_steps=1000), quiet=True)
    for steps, want in ((0, 0.01), (500, 0.006), (1000, 0.002), (5000, 0.002)):
        tr.steps = steps
        assert tr.ent_coef() == pytest.approx(want)
    tr.steps = 500
    ro, _ = tr.collect()
    st = tr.learn(ro)
    assert st["ent_coef"] == pytest.approx(0.01 + (0.002 - 0.01) * min(1.0, tr.steps / 1000))
    flat = Trainer(tiny(tmp_path / "flat", ent_coef=0.02), quiet=True)
    flat.steps = 10**9
    assert flat.ent_coef() == 0.02
    # the annealed weight is the one the loss uses: annealed to 0 within the first decision, an
    # update trains exactly as one with no bonus at all
    def digest(name, **kw):
        t = Trainer(tiny(tmp_path / name, **kw), quiet=True)
        t.learn(t.collect()[0])
        return params_digest(t.policy)
    no_bonus = digest("none", ent_coef=0.0)
    assert digest("annealed", ent_coef=0.01, ent_coef_end=0.0, ent_anneal_steps=1) == no_bonus
    assert digest("plain", ent_coef=0.01) != no_bonus


def test_per_deck_entropy_scale_weighs_each_rows_bonus_by_its_deck(tmp_path):
    """A scale of 1 trains exactly as no scale; a scale of 0 for the only deck played trains
    exactly as no bonus at all; a scale of 0 for a deck nobody plays changes nothing."""
    def digest(name, **kw):
        tr = Trainer(tiny(tmp_path / name, decks="Thornwall Bastion", **kw), quiet=True)
        ro, _ = tr.collect()
        tr.learn(ro)
        d = params_digest(tr.policy)
        tr.close()
        return d
    plain = digest("plain")
    assert digest("one", ent_deck_scale="Thornwall Bastion=1") == plain
    assert digest("other", ent_deck_scale="Anvil Vanguard=0") == plain
    no_bonus = digest("nobonus", ent_coef=0.0)
    assert no_bonus != plain
    assert digest("zero", ent_deck_scale="Thornwall Bastion=0") == no_bonus


def test_entropy_rows_thins_only_the_entropy_bonus(tmp_path):
    """With the bonus off, entropy_rows changes nothing (the log-probs and values are replayed for
    every row); with it on, a subset trains differently and reports a finite entropy."""
    def run(name, **kw):
        tr = Trainer(tiny(tmp_path / name, **kw), quiet=True)
        st = tr.learn(tr.collect()[0])
        d = params_digest(tr.policy)
        tr.close()
        return d, st
    assert run("a", ent_coef=0.0)[0] == run("b", ent_coef=0.0, entropy_rows=0.25)[0]
    (full, _), (part, st) = run("c"), run("d", entropy_rows=0.25)
    assert full != part and np.isfinite(st["entropy"]) and st["entropy"] > 0


@pytest.mark.parametrize("kw, says", [
    ({"deck_weights": "Nowhere=2"}, "'Nowhere=2': unknown deck 'Nowhere'; prebuilt decks: Emberfang Rush"),
    ({"decks": "Nowhere"}, "decks: unknown deck 'Nowhere'"),
    ({"deck_weights": "Thornwall Bastion"}, "is not 'Deck Name=number'"),
    ({"deck_weights": "Thornwall Bastion=lots"}, "is not a number"),
    ({"deck_weights": "Thornwall Bastion=-1"}, "must be a finite number >= 0"),
    ({"deck_weights": "Thornwall Bastion=1;Thornwall Bastion=2"}, "given twice"),
    ({"deck_weights": "Thornwall Bastion=2", "decks": "Thornwall Bastion"}, "deck_weights needs decks = 'all'"),
    ({"deck_weights": "Emberfang Rush=0;Thornwall Bastion=0;Anvil Vanguard=0;Sagefire Circle=0"}, "weight > 0"),
    ({"ent_deck_scale": "Thornwall Bastion=inf"}, "must be a finite number >= 0"),
    ({"ent_anneal_steps": -1}, "ent_anneal_steps must be >= 0"),
    ({"ent_coef_end": -0.1}, "ent_coef_end must be >= 0"),
    ({"entropy_rows": 0.0}, "entropy_rows must be in (0, 1]"),
    ({"entropy_rows": 1.5}, "entropy_rows must be in (0, 1]"),
])
def test_deck_settings_are_checked_with_clear_errors(kw, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        TrainConfig.from_dict(kw)


def test_named_configs_ship_with_the_package():
    """`tcg train --config cpu` works from a wheel too: the named configs live inside the
    `training` package and pyproject's package-data lists every one of them."""
    import tomllib

    import training
    from training.config import CONFIG_DIR
    pkg = Path(training.__file__).resolve().parent
    assert CONFIG_DIR.resolve().parent == pkg
    files = sorted(CONFIG_DIR.glob("*.toml"))
    assert {"cpu", "gpu"} <= {p.stem for p in files}
    meta = tomllib.loads((pkg.parent / "pyproject.toml").read_text())
    assert "training.configs" in meta["tool"]["setuptools"]["packages"]
    patterns = meta["tool"]["setuptools"]["package-data"]["training.configs"]
    assert all(any(p.relative_to(CONFIG_DIR).match(pat) for pat in patterns) for p in files), patterns


def test_deck_settings_take_any_case_or_a_prefix_and_store_the_full_name():
    cfg = TrainConfig.from_dict({"decks": "thorn", "ent_deck_scale": "SAGEFIRE=0.5"})
    assert (cfg.decks, cfg.ent_deck_scale) == ("Thornwall Bastion", "Sagefire Circle=0.5")
    cfg = TrainConfig.from_dict({"deck_weights": " bastion = 2 ; Emberfang Rush=1e-1"})
    assert cfg.deck_weights == "Thornwall Bastion=2;Emberfang Rush=1e-1"
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg   # as saved in a checkpoint: unchanged
    cfg = TrainConfig.from_dict({"decks": " ALL ", "deck_weights": "thorn=2"})   # as `tcg demos --decks` takes it
    assert (cfg.decks, cfg.deck_weights) == ("all", "Thornwall Bastion=2")


def test_output_paths_that_cannot_be_written_are_usage_errors(tmp_path, capsys):
    """An --out that is a file, or a folder that cannot be created, exits 2 naming it before any
    work (train, bc, demos), instead of a FileExistsError / FileNotFoundError traceback."""
    from training.cli import main
    afile = tmp_path / "afile"
    afile.write_text("x")
    blocked = afile / "sub"   # a folder under a file cannot be created
    for out, says in ((afile, "is a file"), (blocked, "cannot be created")):
        assert main(["train", "--no-progress", "--total-steps", "64", "--nproc", "1", "--out", str(out)]) == 2
        assert f"--out {out} " in capsys.readouterr().err
        assert main(["bc", "--demos", "x", "--out", str(out)]) == 2
        assert says in capsys.readouterr().err
    assert main(["demos", "--games", "2", "--out", str(blocked / "d.tcgd")]) == 2
    assert "the folder of --out" in capsys.readouterr().err
    assert afile.read_text() == "x"


def _rows_entropy(tr, ro) -> float:
    """Mean exact joint entropy of the learner's policy over every stored decision of ``ro``,
    computed here from the stored observations and legal lists (eval mode, no grad)."""
    from policy.model import obs_tensors
    from training.sampler import exact_entropy
    obs = np.concatenate(ro.obs)
    width = max(l.shape[1] for l in ro.legal)
    legal = np.concatenate([np.pad(l, ((0, 0), (0, width - l.shape[1]), (0, 0))) for l in ro.legal])
    count = np.concatenate(ro.count)
    tr.policy.eval()
    with torch.no_grad():
        enc = tr.policy(*obs_tensors(torch.as_tensor(obs)))
        return float(exact_entropy(tr.policy, enc, torch.as_tensor(legal), torch.as_tensor(count)).mean())


def test_the_entropy_bonus_is_the_exact_joint_entropy_and_raises_it(tmp_path, monkeypatch):
    """With zero advantages and no value loss, an update follows the entropy bonus alone: the
    logged entropy is the exact joint entropy of the stored decisions (not the sampled-prefix
    estimate), and after the step the policy's exact entropy over the same decisions is higher.
    A bonus computed without a gradient, with the wrong sign, or on the wrong estimate fails."""
    import training.ppo as P

    def no_advantage(values, *a, **k):
        return np.zeros_like(values), np.zeros_like(values)
    monkeypatch.setattr(P, "seat_gae", no_advantage)
    tr = Trainer(tiny(tmp_path, pool_fraction=0.0, ent_coef=1.0, vf_coef=0.0, update_epochs=1,
                      num_minibatches=1, learning_rate=3e-3, anneal_lr=False), quiet=True)
    ro, _ = tr.collect()
    before = _rows_entropy(tr, ro)
    st = tr.learn(ro)   # one minibatch: its entropy is read before the only step
    after = _rows_entropy(tr, ro)
    tr.close()
    assert st["entropy"] == pytest.approx(before, rel=1e-4)
    assert after > before + 1e-3


def test_rollout_stores_each_decisions_actor_view_and_both_seats_rewards(tmp_path):
    """What GAE chains on comes from the env as it was at each decision: the seat that acted
    (read before the step), that seat's observation, and after the step both seats' rewards in
    seat order. Checked against a wrapped env over a rollout long enough to finish games."""
    tr = Trainer(tiny(tmp_path, rollout_steps=160), quiet=True)
    env, real_step = tr.env, tr.env.step
    seen = {"actor": [], "obs": [], "rewards": []}

    def step(actions):
        seen["actor"].append(env.current_player.copy())
        seen["obs"].append(env.observations.copy())
        out = real_step(actions)
        seen["rewards"].append(env.seat_rewards.copy())
        return out
    env.step = step
    ro, _ = tr.collect()
    tr.close()
    dones = np.stack(ro.dones)
    assert dones.any(), "no game ended: the rollout is too short to test rewards"
    assert np.array_equal(np.stack(ro.seats), np.stack(seen["actor"]))
    assert np.array_equal(np.stack(ro.obs), np.stack(seen["obs"]))
    rewards = np.stack(ro.seat_rewards)
    assert np.array_equal(rewards, np.stack(seen["rewards"]))
    # a finished game pays its two seats opposite rewards; a game still running pays nothing
    ended = rewards[dones]
    assert (ended[:, 0] == -ended[:, 1]).all() and (np.abs(ended).sum(1) > 0).any()
    assert not rewards[~dones].any()


def test_diagnostics_report_what_happened_not_placeholders(tmp_path):
    """The logged numbers move with what they measure: illegal actions sampled by the
    independent-heads ablation equal the env's count and are > 0; the gradient norm is the norm
    before clipping (above a tiny clip threshold); approx_kl is the k3 estimate (never
    negative, and not old_approx_kl) once the policy has moved within an update."""
    tr = Trainer(tiny(tmp_path, independent_heads=True, rollout_steps=32), quiet=True)
    before = int(tr.env.illegal_counts.sum())
    ro, rs = tr.collect()
    assert rs["illegal_actions"] == int(tr.env.illegal_counts.sum()) - before > 0
    tr.close()
    tr = Trainer(tiny(tmp_path / "kl", max_grad_norm=1e-4, update_epochs=4, num_minibatches=2,
                      learning_rate=1e-2, anneal_lr=False), quiet=True)
    st = tr.learn(tr.collect()[0])
    tr.close()
    assert st["grad_norm"] > 1e-2
    assert st["approx_kl"] > 0 and st["approx_kl"] != pytest.approx(st["old_approx_kl"], rel=1e-3, abs=1e-9)


def test_cli_refuses_empty_paths_and_sizes_it_cannot_hold_and_leaves_no_folder(tmp_path, capsys, monkeypatch):
    """An empty --out, --resume or --init-from is refused (not read as the current folder or as
    "not given"); so are num_envs, rollouts and minibatch counts the trainer cannot hold, a huge
    eval --games, and a --config path that is not a .toml file. A command refused after it made
    its --out folder removes the folder again, and the parent folders it made for it."""
    from training.cli import main
    monkeypatch.chdir(tmp_path)
    for argv, says in ((["train", "--out", ""], "out must name a folder, got ''"),
                       (["train", "--set", "out= "], "out must name a folder"),
                       (["train", "--resume", ""], "--resume needs a run folder or a checkpoint file"),
                       (["train", "--init-from", ""], "--init-from needs a policy checkpoint file"),
                       (["train", "--set", "num_envs=2000000"], "num_envs must be at most 1,048,576"),
                       (["train", "--set", "rollout_steps=100000000"], "decisions per rank and update"),
                       (["train", "--set", "num_envs=8", "--set", "rollout_steps=8", "--set", "num_minibatches=65"],
                        "num_minibatches (65) must be at most the decisions of a rollout"),
                       (["train", "--config", str(tmp_path)], "is a path: a config file must end in .toml"),
                       (["eval", "--checkpoint", "x.pt", "--games", "2000000"], "--games must be in 2..1,048,576"),
                       (["eval", "--checkpoint", ""], "a checkpoint is named by its file path"),
                       (["demos", "--out", "d.tcgd", "--games", "1", "--parallel", str(10 ** 7)], "--parallel must be >= 1 and <= "),
                       (["bc", "--demos", "x.tcgd", "--out", ""], "--out must name a folder"),
                       (["bc", "--demos", "missing.tcgd", "--out", "bcrun"], "missing.tcgd"),
                       (["train", "--out", "fresh", "--init-from", "missing.pt"], "missing.pt does not exist"),
                       # refused once its folders exist: the parents it made go too
                       (["bc", "--demos", "missing.tcgd", "--out", "deep/er/bcrun"], "missing.tcgd"),
                       (["train", "--out", "deep/er/run", "--set", "decks=No Such Deck"], "No Such Deck")):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err, (argv, err)
    assert list(tmp_path.iterdir()) == [], "a refused command left files or folders behind"


def test_a_new_run_refuses_a_folder_holding_files_it_would_write(tmp_path, capsys):
    """--out naming a folder that is not a run but holds a file a run writes (config.json,
    league.csv, ...; a BC run's curves.csv, ...) is refused, and the files stay as they were."""
    from training.cli import main
    for name in ("config.json", "league.csv", "summary.json"):
        u = tmp_path / name.split(".")[0]
        u.mkdir()
        (u / name).write_text("mine\n")
        for argv in (["train", "--out", str(u), "--total-steps", "64", "--set", "num_envs=8"],
                     ["bc", "--demos", "x.tcgd", "--out", str(u)]):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert "already holds a run or a file a run writes" in err and name in err, err
            assert [p.name for p in u.iterdir()] == [name] and (u / name).read_text() == "mine\n"


def test_a_refused_resume_deletes_nothing_and_a_good_one_only_the_stale_temporaries(tmp_path):
    """--resume FILE may name a checkpoint in any folder: a refused resume leaves that folder
    as it was, and a resume that succeeds removes only the temporary files a killed checkpoint
    writer leaves (ckpt_*.pt.<random>.tmp), never the user's own *.tmp files."""
    import shutil

    from training.checkpoint import CheckpointError
    cfg = tiny(tmp_path)
    run_updates(cfg, 1)
    dl = tmp_path / "downloads"
    dl.mkdir()
    shutil.copy(sorted((Path(cfg.out) / "checkpoints").glob("ckpt_*.pt"))[-1], dl / "theirs.pt")
    (dl / "notes.tmp").write_text("draft")
    (dl / "ckpt_000001.pt.k2j3h4.tmp").write_bytes(b"half a checkpoint")
    before = sorted(p.name for p in dl.iterdir())
    with pytest.raises(CheckpointError, match="num_envs 8 differs"):
        Trainer(tiny(tmp_path / "other", num_envs=4), resume=str(dl / "theirs.pt"), quiet=True)
    assert sorted(p.name for p in dl.iterdir()) == before
    tr = Trainer(tiny(tmp_path / "other"), resume=str(dl / "theirs.pt"), quiet=True)
    tr.close()
    assert tr.update == 1
    assert sorted(p.name for p in dl.iterdir()) == ["notes.tmp", "theirs.pt"]


@pytest.mark.parametrize("mutate,says", [
    (lambda d: d["counters"].update(steps="x"), "counters 'steps' = 'x' must be a whole number >= 0"),
    (lambda d: d["counters"].update(update=-1), "counters 'update' = -1"),
    (lambda d: d["counters"].update(update=10 ** 400), "counters 'update' = 1000000000000000000000000000000000000..."),
    (lambda d: d["counters"].pop("elapsed"), "counters lack 'elapsed'"),
    (lambda d: d["counters"].update(elapsed=float("nan")), "counters 'elapsed'"),
    (lambda d: d.update(counters=[1, 2]), "'counters' is a list, not a table"),
    (lambda d: d.update(train_config=[1, 2]), "'train_config' is a list, not a table"),
    (lambda d: d["optimizer"].update(param_groups=[]), "its optimizer state does not fit"),
    (lambda d: d["model"].pop("value_head.0.weight"), "its weights do not fit the policy its config describes"),
])
def test_resume_names_a_malformed_field_of_its_checkpoint(tmp_path, capsys, mutate, says):
    """A resumable checkpoint whose counters, settings, weights or optimizer state are malformed (edited,
    or written by something else) is refused with the file and the field named, by Trainer
    and by `tcg train --resume` alike (a CheckpointError, never a traceback)."""
    from training.checkpoint import CheckpointError, atomic_save
    from training.cli import main
    cfg = tiny(tmp_path)
    run_updates(cfg, 1)
    path = sorted((Path(cfg.out) / "checkpoints").glob("ckpt_*.pt"))[-1]
    data = torch.load(path, weights_only=True)
    mutate(data)
    atomic_save(data, path)
    with pytest.raises(CheckpointError, match=re.escape(says)):
        Trainer(cfg, resume=cfg.out, quiet=True)
    assert main(["train", "--resume", cfg.out, "--total-steps", "10000000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tcg train: ") and str(path) in err and says in err, err


def test_a_checkpoint_that_does_not_fit_its_config_names_the_mismatch(tmp_path):
    """The weights-vs-config error quotes the state-dict error's detail (which keys are missing,
    which sizes differ), not only its first line."""
    from training.checkpoint import CheckpointError, load_policy
    tr, _ = run_updates(tiny(tmp_path), 1)
    path = Path(tr.cfg.out) / "policy.pt"
    data = torch.load(path, weights_only=True)
    data["model"].pop("value_head.0.weight")
    torch.save(data, path)
    with pytest.raises(CheckpointError, match=r"do not fit .*Missing key\(s\).*value_head\.0\.weight"):
        load_policy(path)


def test_resume_is_checked_before_any_rank_starts(tmp_path, capsys):
    """`tcg train --resume` makes Trainer.load's checks (policy, deck layout, rank count) in the
    process that would start the ranks: a mismatch is one clear line and exit 2, where before
    each rank printed it and torchrun's failure report followed (exit 1)."""
    from training.cli import main
    cfg = tiny(tmp_path)
    run_updates(cfg, 1)
    before = {p: p.read_bytes() for p in Path(cfg.out).rglob("*") if p.is_file()}
    for extra, says in ((["--set", "num_envs=4"], "num_envs 8 differs from this run's 4"),
                        (["--nproc", "2"], "was written by a run of 1 rank(s) and this run has 2"),
                        (["--set", "d_model=32"], "its policy config")):
        assert main(["train", "--resume", cfg.out, "--total-steps", "100000", *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("tcg train: ") and says in err and "torchrun" not in err.lower(), err
        assert err.count("\n") == 1, err
    assert {p: p.read_bytes() for p in Path(cfg.out).rglob("*") if p.is_file()} == before


def test_ppo_losses_are_the_clipped_objective_with_per_minibatch_normalised_advantages(tmp_path, monkeypatch):
    """The logged policy and value losses equal the reference PPO formulas recomputed from what
    the update replayed: advantages normalised over each minibatch (mean 0, population std + eps),
    the pessimistic clipped surrogate max(-A r, -A clip(r, 1 - c, 1 + c)), and the value loss
    clipped around the *rollout* values, 0.5 max((v - R)^2, (v_clip - R)^2). A tiny clip and a
    large learning rate make both clips bite after the first step. Rows are matched by content
    (observation, action), so this does not depend on how minibatches are drawn."""
    import training.ppo as P
    c = 1e-3
    tr = Trainer(tiny(tmp_path, pool_fraction=0.0, clip_coef=c, learning_rate=3e-2, anneal_lr=False,
                      num_minibatches=2, update_epochs=2, max_grad_norm=10.0), quiet=True)
    ro, _ = tr.collect()
    obs, acts = np.stack(ro.obs), np.stack(ro.actions)
    values, logp = np.stack(ro.values), np.stack(ro.logp)
    T, N = values.shape
    rng = np.random.default_rng(0)
    table = {}
    adv, ret = np.zeros((T, N), np.float32), np.zeros((T, N), np.float32)
    for t in range(T):
        for i in range(N):
            key = obs[t, i].tobytes() + acts[t, i].astype(np.int64).tobytes()
            if key not in table:   # rows of equal content get equal targets
                table[key] = (float(rng.normal() * 2 + 1), float(values[t, i] + rng.normal()), logp[t, i], values[t, i])
            a, r, lp, v = table[key]
            assert np.isclose(lp, logp[t, i], atol=1e-5) and np.isclose(v, values[t, i], atol=1e-5)
            adv[t, i], ret[t, i] = a, r
    monkeypatch.setattr(P, "seat_gae", lambda *a, **k: (adv.copy(), ret.copy()))
    real, calls = tr.replay, []

    def spy(obs_t, legal_t, count_t, act_t, *a, **k):
        out = real(obs_t, legal_t, count_t, act_t, *a, **k)
        calls.append((obs_t.cpu().numpy(), act_t.cpu().numpy(), out[0].detach().double().cpu().numpy(),
                      out[2].detach().double().cpu().numpy()))
        return out
    tr.replay = spy
    st = tr.learn(ro)
    tr.close()
    assert len(calls) == 4
    pgs, vls, clipped_r, clipped_v = [], [], False, False
    for o, ac, new_lp, v in calls:
        rows = [table[o[j].tobytes() + ac[j].astype(np.int64).tobytes()] for j in range(len(o))]
        a = np.array([r[0] for r in rows])
        R = np.array([r[1] for r in rows])
        old_lp = np.array([r[2] for r in rows], np.float64)
        old_v = np.array([r[3] for r in rows], np.float64)
        a = (a - a.mean()) / (a.std() + 1e-8)
        ratio = np.exp(new_lp - old_lp)
        pgs.append(np.maximum(-a * ratio, -a * np.clip(ratio, 1 - c, 1 + c)).mean())
        v_clip = old_v + np.clip(v - old_v, -c, c)
        vls.append(0.5 * np.maximum((v - R) ** 2, (v_clip - R) ** 2).mean())
        clipped_r |= bool((np.abs(ratio - 1) > 2 * c).any())
        clipped_v |= bool((np.abs(v - old_v) > 2 * c).any())
    assert clipped_r and clipped_v, "the clips never bit: the check would not see them"
    assert st["policy_loss"] == pytest.approx(np.mean(pgs), rel=1e-3, abs=1e-5)
    assert st["value_loss"] == pytest.approx(np.mean(vls), rel=1e-3, abs=1e-5)


def test_minibatches_of_a_single_decision_train_to_finite_weights(tmp_path):
    """As many minibatches as decisions (allowed: one decision each): a minibatch's advantages
    then have zero spread, and normalising them must still give finite numbers, not 0/0."""
    tr = Trainer(tiny(tmp_path, num_envs=1, rollout_steps=2, num_minibatches=2, pool_fraction=0.0), quiet=True)
    ro, _ = tr.collect()
    assert int(np.stack(ro.learner).sum()) == 2
    st = tr.learn(ro)      # a NaN loss would stop here (the weights are checked after the update)
    tr.close()
    assert np.isfinite(st["policy_loss"]) and np.isfinite(st["value_loss"])
