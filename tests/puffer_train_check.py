"""PuffeRL trains the TCG env with this project's policy and sequential sampler; run in a
subprocess by tests/test_puffer.py (importing ``pufferlib.pufferl`` turns RuntimeWarnings
into errors and installs a Ctrl-C handler that calls ``os._exit``).

The sampler is plugged in through PufferLib's sampling hook (``training/puffer_policy.py``:
``install()`` sets ``pufferlib.pytorch.sample_logits``; the policy wrapper returns a carrier
of the encoding and legal lists instead of logits). Builds a Serial vector env of
``--envs`` x ``--games`` games, a tiny ``TCGPolicy`` (d_model 16, one layer) and a
``PuffeRL`` (CPU, Adam, no logger, dashboard switched off), then runs ``--rounds`` x
(``evaluate()`` + ``train()``). Checks:

- the hook drew every rollout row and found each drawn tuple in its row's legal list
  (``strict``: it raises otherwise), and replayed every minibatch row;
- the actions PuffeRL stored are legal under the observations it stored (every round);
- the env counted no illegal action (``vec.illegal_counts``, ``illegal_total``) and the
  ``illegal_actions`` infos PuffeRL collected are all 0;
- on the first minibatch of the first ``train()`` (before any optimizer step) the log-prob
  replayed through ``training.sampler.evaluate`` equals the rollout log-prob PuffeRL stored
  for the same rows, |diff| < 1e-5 (rows matched to buffer segments by observation + action);
- some games ended (terminal rows and auto-resets went through the hook), the training
  losses are finite, and the saved checkpoint loads into a fresh ``TCGPolicy``.

``--cards FILE --decks-file FILE`` trains on a designer's own cards instead (as ``tcg train
--set cards_file=... --set decks_file=...``): every sub-env gets the files' pool and deals their
pairings in turn, and the policy reads the files' card table (``card_text`` on). Then also:
every card id in the stored observations is one of the files' cards, and each sub-env deals
the files' decks.

``--perturb`` is a negative control: it nudges the weights between the first rollout and
the first ``train()``, so the log-prob check must fail (exit 1).

Prints one JSON line; exits 0 when all hold, 1 otherwise.

    python tests/puffer_train_check.py [--games 16] [--envs 2] [--horizon 16] [--rounds 6] [--seed 3] [--perturb]
                                       [--cards FILE --decks-file FILE]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOL = 1e-5


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--games", type=int, default=16, help="games per sub-env")
    ap.add_argument("--envs", type=int, default=2, help="Serial sub-envs")
    ap.add_argument("--horizon", type=int, default=16, help="bptt_horizon (rollout steps per segment)")
    ap.add_argument("--rounds", type=int, default=6, help="evaluate() + train() rounds")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--perturb", action="store_true",
                    help="negative control: perturb the weights between the first rollout and train(); must exit 1")
    ap.add_argument("--cards", default=None, help="a cards file to train on (with --decks-file)")
    ap.add_argument("--decks-file", default=None, help="a decks file of those cards (with --cards)")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()

    import numpy as np
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    import pufferlib.pufferl as pufferl    # side effects accepted: this is a throwaway process
    import pufferlib.vector as pv

    from policy.config import PolicyConfig
    from policy.model import TCGPolicy
    from tcg_env.puffer import FLAT_OBS_SIZE, make_env
    from training.puffer_policy import PufferTCGPolicy, install, is_installed, legal_membership, train_config
    from training.puffer_policy import unpack_tensor
    from prefabs import load_card_set, shipped_cards
    from tcg_env.observation import ENTITY_FEATURES, view
    cards = shipped_cards() if a.cards is None and a.decks_file is None else load_card_set(a.cards, a.decks_file)
    env_cards = {} if cards.shipped else dict(pool=cards.pool, decks=cards.deal(a.games))

    # Cosmetic, not part of the integration: PuffeRL has no switch for its rich dashboard
    # (printed from __init__ and after logged train() calls). Silence it in this process.
    pufferl.PuffeRL.print_dashboard = lambda self, *args, **kw: None
    install()
    assert is_installed()

    out: dict = dict(ok=False, games=a.games, envs=a.envs, horizon=a.horizon, n_rounds=a.rounds, seed=a.seed,
                     cards=cards.describe(), card_table_digest=cards.digest)
    failures: list[str] = []
    agents = a.games * a.envs
    batch = agents * a.horizon
    minibatch = batch // 2 if (batch // 2) % a.horizon == 0 else batch

    captured: dict = {}
    holder: dict = {}

    def observer(kind, logits, action, res):
        if kind != "replay" or "first" in captured:
            return
        tr = holder["trainer"]
        if tr.epoch != 0:
            return
        H = a.horizon
        mb_obs = logits.observations.reshape(-1, H, FLAT_OBS_SIZE)
        mb_act = torch.as_tensor(action).reshape(-1, H, 4)
        replay = res.log_prob.detach().reshape(-1, H)
        seg_idx, diffs = [], []
        for j in range(mb_obs.shape[0]):
            hits = [s for s in range(tr.observations.shape[0])
                    if torch.equal(tr.observations[s], mb_obs[j]) and torch.equal(tr.actions[s], mb_act[j])]
            if not hits:
                failures.append(f"minibatch segment {j} matches no buffer segment")
                continue
            s = hits[0]
            seg_idx.append(s)
            diffs.append((replay[j] - tr.logprobs[s]).abs().max().item())
        captured["first"] = dict(segments=seg_idx, rows=int(replay.numel()), max_abs_diff=max(diffs) if diffs else None,
                                 rollout_logprob_mean=float(tr.logprobs[seg_idx].mean()) if seg_idx else None,
                                 replay_logprob_mean=float(replay.mean()))

    table = None if cards.shipped else cards.pool.table   # the card_text input reads the files' table
    policy = TCGPolicy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, card_text=table is not None),
                       card_table=table)
    wrapper = PufferTCGPolicy(policy, strict=True, observer=observer)

    vecenv = pv.make(make_env, backend=pv.Serial, num_envs=a.envs,
                     env_kwargs=dict(num_games=a.games, log_interval=a.horizon, **env_cards), seed=a.seed)
    with tempfile.TemporaryDirectory(prefix="puffer_train_check_") as data_dir:
        cfg = train_config(seed=a.seed, batch_size=batch, bptt_horizon=a.horizon, minibatch_size=minibatch,
                           max_minibatch_size=minibatch, update_epochs=1, total_timesteps=a.rounds * batch,
                           learning_rate=1e-3, data_dir=data_dir, checkpoint_interval=10_000, ent_coef=0.01)
        trainer = pufferl.PuffeRL(cfg, vecenv, wrapper)
        holder["trainer"] = trainer
        rounds, info_illegal, stored_illegal, games_ended, env_stats_last = [], 0, 0, 0, {}
        card_ids: set[int] = set()
        closed = False
        try:
            for rnd in range(a.rounds):
                t_r = time.perf_counter()
                stats = trainer.evaluate()
                info_illegal += int(np.sum(np.asarray(stats.get("illegal_actions", [0]), dtype=np.float64) != 0))
                for k in ("episodes", "episode_length", "seat0_win_rate", "draw_rate", "truncation_rate"):
                    if k in stats and np.size(stats[k]):
                        env_stats_last[k] = float(np.mean(stats[k]))
                flat = trainer.observations.reshape(-1, FLAT_OBS_SIZE)
                obs, legal, count = unpack_tensor(flat)
                ids = view(obs.numpy().astype(np.int8), "entities")[..., ENTITY_FEATURES.index("card_id")]
                card_ids |= set(np.unique(ids).tolist()) - {0}
                ok = legal_membership(trainer.actions.reshape(-1, 4), legal, count)
                stored_illegal += int((~ok).sum())
                games_ended += int(trainer.terminals.sum())
                if a.perturb and rnd == 0:  # negative control: the log-prob check must now fail
                    with torch.no_grad():
                        for p in policy.parameters():
                            p.add_(0.05 * torch.randn_like(p))
                t_e = time.perf_counter() - t_r
                trainer.last_log_time = 0.0   # open PuffeRL's 0.25 s log throttle: losses of every round
                trainer.train()
                losses = {k: float(v) for k, v in trainer.losses.items()}
                rounds.append(dict(round=rnd, global_step=int(trainer.global_step), epoch=int(trainer.epoch),
                                   eval_s=round(t_e, 2), round_s=round(time.perf_counter() - t_r, 2),
                                   losses={k: round(v, 5) for k, v in losses.items()}))
            vec_illegal = int(sum(int(e.vec.illegal_counts.sum()) for e in vecenv.envs))
            want = {a: r for a, r in zip(cards.decks, cards.deck_rows())}
            decks_dealt = all(e.vec.pool.table.tobytes() == cards.pool.table.tobytes()
                              and all(any(np.array_equal(row, w) for w in want.values()) for row in e.vec.decks.reshape(-1, e.vec.decks.shape[-1]))
                              for e in vecenv.envs)
            env_illegal_total = int(sum(e.illegal_total for e in vecenv.envs))
            model_path = trainer.close()
            closed = True
            state = torch.load(model_path, map_location="cpu")
            fresh = TCGPolicy(policy.config, card_table=table)
            missing = fresh.load_state_dict({k.removeprefix("policy."): v for k, v in state.items()})
            checkpoint_loads = not missing.missing_keys and not missing.unexpected_keys
        finally:
            if not closed:
                trainer.utilization.stop()
                vecenv.close()

    st = wrapper.stats
    expect_sampled = a.rounds * a.horizon * agents
    expect_replayed = a.rounds * trainer.total_minibatches * minibatch
    if st.illegal_sampled or st.checked != st.sampled:
        failures.append(f"hook: {st.illegal_sampled} illegal of {st.sampled} sampled, {st.checked} checked")
    if st.sampled != expect_sampled:
        failures.append(f"hook sampled {st.sampled} rows, expected {expect_sampled}")
    if st.replayed != expect_replayed:
        failures.append(f"hook replayed {st.replayed} rows, expected {expect_replayed}")
    if stored_illegal:
        failures.append(f"{stored_illegal} stored actions are not legal under their stored observations")
    if vec_illegal or env_illegal_total or info_illegal:
        failures.append(f"illegal actions counted: vec {vec_illegal}, env {env_illegal_total}, infos {info_illegal}")
    first = captured.get("first")
    if first is None:
        failures.append("the first minibatch replay was not captured")
    elif first["max_abs_diff"] is None or not first["max_abs_diff"] < TOL:
        failures.append(f"first minibatch: replayed vs rollout log-prob differ by {first['max_abs_diff']}")
    for r in rounds:
        bad = [k for k, v in r["losses"].items() if k != "explained_variance" and not math.isfinite(v)]
        if bad:
            failures.append(f"round {r['round']}: non-finite losses {bad}")
    if len(rounds) != a.rounds or rounds[-1]["epoch"] != a.rounds:
        failures.append("not every round trained")
    if not games_ended:
        failures.append("no game ended during the rollouts (terminals and auto-resets were not exercised)")
    if not checkpoint_loads:
        failures.append("the checkpoint did not load into a fresh TCGPolicy")
    if not card_ids or max(card_ids) > len(cards.pool):
        failures.append(f"the observations show card ids {sorted(card_ids)}, the pool has ids 1-{len(cards.pool)}")
    if not decks_dealt:
        failures.append(f"a sub-env does not deal {cards.describe()}")

    out.update(ok=not failures, failures=failures, agents=agents, batch_size=batch, minibatch_size=minibatch,
               minibatches_per_update=trainer.total_minibatches, hook=st.as_dict(),
               first_minibatch=first, illegal=dict(vec=vec_illegal, env_total=env_illegal_total,
                                                   infos_nonzero=info_illegal, stored=stored_illegal),
               games_ended=games_ended, card_ids_seen=len(card_ids), env_stats_last=env_stats_last, rounds=rounds, checkpoint_loads=checkpoint_loads,
               params=sum(p.numel() for p in policy.parameters()), seconds=round(time.perf_counter() - t0, 2))
    print(json.dumps(out))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
