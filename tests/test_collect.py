"""The PPO trainer's rollout (``Trainer.collect``) and its small helpers: deck dealing, seats,
opponent choice, the pool's snapshots, the values and potentials the rollout stores, the step and
illegal-action counters, the stop rule and the summary line. Written from a mutation audit of
``training/ppo.py``: each test fails on at least one one-line change the older tests let through."""
import time

import numpy as np
import pytest
import torch

from policy import obs_tensors
from tcg_env import VecTCG
from tcg_env.observation import OBS_SIZE
from training.config import TrainConfig
from training.ppo import Trainer, deal_pairings, learner_seats, own_deck_index
from training.shaping import potential
from verification.layout import G_TURN, P0, P_HP, PLAYER_WORDS, TURN_CAP

TINY = dict(num_envs=8, rollout_steps=8, d_model=16, n_layers=1, num_minibatches=2, update_epochs=2,
            eval_every=0, eval_games=4, checkpoint_every=1, pool_add_every=1, minutes=0.0, total_steps=10_000,
            torch_threads=1, nproc=1)
SHAPING = dict(shaping_hp=0.3, shaping_board=0.2, shaping_enemy_board=0.1, shaping_hand=0.05)


def tiny(tmp_path, **kw) -> TrainConfig:
    return TrainConfig.from_dict({**TINY, "out": str(tmp_path / "run"), **kw})


def trainer(tmp_path, **kw) -> Trainer:
    return Trainer(tiny(tmp_path, **kw), quiet=True)


def _edit_games(tr, **words):
    """Rewrite every game row of the trainer's env (``turn`` and/or both leaders' ``hp``) and load it back."""
    st = tr.env.state.copy()
    if "turn" in words:
        st[:, G_TURN] = words["turn"]
    if "hp" in words:
        for p in (0, 1):
            st[:, P0 + p * PLAYER_WORDS + P_HP] = words["hp"]
    tr.env.load_state(st)


def _value(policy, obs, opp=None) -> np.ndarray:
    """The critic's value of observations ``obs`` (with the oracle critic's view ``opp``)."""
    policy.eval()
    with torch.no_grad():
        oe = None if opp is None else obs_tensors(torch.as_tensor(opp))[1]
        return policy(*obs_tensors(torch.as_tensor(obs)), opp_entities=oe).value.float().numpy()


def _record_steps(tr):
    """Wrap the env's step so each step's final observations and done flags are kept."""
    env, real_step = tr.env, tr.env.step
    seen = {"final": [], "terminals": [], "truncations": []}

    def step(actions):
        out = real_step(actions)
        seen["final"].append(env.final_observations.copy())
        seen["terminals"].append(env.terminals.copy())
        seen["truncations"].append(env.truncations.copy())
        return out
    env.step = step
    return seen


def _pool_member_opponent(tr):
    """Put the learner's current weights in the pool and make every update face that member."""
    tr._add_to_pool()
    tr.cfg.bot_opponent_prob, tr.cfg.pool_latest_prob = 0.0, 1.0


# ------------------------------------------------------------------ dealing and seats
def test_deal_pairings_refuses_weights_that_are_all_zero():
    """deal_pairings raises ValueError when no deck weighs > 0 (instead of dealing the first
    pairing to every game), and a single weighted deck deals only its mirror."""
    with pytest.raises(ValueError, match="at least one deck needs a weight > 0"):
        deal_pairings(4, np.zeros(4))
    from prefabs import default_decks
    names = list(default_decks())
    assert deal_pairings(5, np.array([0.0, 0.0, 2.0, 0.0])) == [(names[2], names[2])] * 5


def test_own_deck_index_marks_a_deck_that_is_not_prebuilt():
    """own_deck_index gives -1 (not deck 0) for a seat whose deck row is no prebuilt deck, and the
    prebuilt index for the other seats."""
    rows = VecTCG(2, seed=0, decks="Anvil Vanguard").decks.copy()
    rows[0, 1, 1] = rows[0, 1, 1] + 1   # one main-deck card changed
    assert own_deck_index(rows).tolist() == [[2, -1], [2, 2]]


def test_learner_seats_alternate_in_game_order_within_every_pairing():
    """Within each deck pairing the learner's seat is 0, 1, 0, 1, ... in game order (not merely
    balanced): the games of a pairing are ordered stably before the seats are laid out."""
    env = VecTCG(512, seed=0)
    seat = learner_seats(env.decks)
    key = [bytes(r) for r in env.decks.reshape(512, -1).astype(np.int32)]
    runs = {}
    for k, s in zip(key, seat):
        runs.setdefault(k, []).append(int(s))
    assert len(runs) == 16
    for seq in runs.values():
        assert seq == [i % 2 for i in range(len(seq))]
    dealt = deal_pairings(301, np.array([1.0, 3.0, 1.0, 0.5]))
    seat = learner_seats(VecTCG(301, seed=0, decks=dealt).decks)
    runs = {}
    for p, s in zip(dealt, seat):
        runs.setdefault(p, []).append(int(s))
    for seq in runs.values():
        assert seq == [i % 2 for i in range(len(seq))]


# ------------------------------------------------------------------ opponents and the pool
def _pool_tally(tr, ro):
    """The pool games that ended in rollout ``ro`` and the learner's wins among them (read from
    the learner's seat): what the member faced should add to its tally."""
    dones, rewards = np.stack(ro.dones), np.stack(ro.seat_rewards)
    games = wins = 0
    for t, i in zip(*np.nonzero(dones & tr.pool_envs)):
        games += 1
        wins += float(rewards[t, i, tr.learner_seat[i]] > 0)
    return games, wins


def test_no_pool_games_means_no_opponent_and_every_row_is_the_learners(tmp_path):
    """With pool_fraction 0 there is no opponent even when bot_opponent_prob is 1 (the update is
    reported as self-play and the numpy stream is not drawn from); with pool games but an empty
    pool and no bot, the pool games are self-play too: every row is stored and counted."""
    tr = trainer(tmp_path, pool_fraction=0.0, bot_opponent_prob=1.0)
    state = dict(tr.np_rng.bit_generator.state)
    ro, st = tr.collect()
    assert tr.opponent is None and np.stack(ro.learner).all()
    assert tr.np_rng.bit_generator.state == state
    assert st["heuristic_games"] == 0
    tr.close()
    tr = trainer(tmp_path / "b", bot_opponent_prob=0.0)
    ro, _ = tr.collect()
    assert tr.opponent is None and np.stack(ro.learner).all()
    assert ro.global_steps == tr.steps == 8 * 8
    tr.close()


def test_a_pool_opponent_plays_the_members_weights_from_its_own_seat(tmp_path):
    """Against a pool member, the member's weights are loaded into opp_policy; opp_policy (not the
    learner) picks the opponent rows (store=False) and the learner picks its own rows, which are
    the non-pool games and, in pool games, the learner's seat; only those rows count as steps."""
    tr = trainer(tmp_path)
    _pool_member_opponent(tr)
    member = tr.pool[-1]
    with torch.no_grad():
        for p in tr.policy.parameters():
            p.add_(0.5)          # the learner has moved on since the snapshot
    calls = []
    real = tr._policy_act

    def spy(policy, obs, legal, count, rows, store, opp_obs=None):
        calls.append((policy, np.array(rows), store))
        return real(policy, obs, legal, count, rows, store, opp_obs)
    tr._policy_act = spy
    ro, st = tr.collect()
    assert tr.opponent == member.name and st["heuristic_games"] == 0
    opp = tr.opp_policy.state_dict()
    assert all(torch.equal(opp[k], v) for k, v in member.state_dict.items())
    learner = np.stack(ro.learner)
    seats = np.stack(ro.seats)
    assert np.array_equal(learner, ~tr.pool_envs | (seats == tr.learner_seat))
    assert (~learner).any()
    by_step = iter(calls)
    for t in range(len(ro.obs)):
        policy, rows, store = next(by_step)
        assert policy is tr.policy and store and np.array_equal(rows, np.nonzero(learner[t])[0])
        if (~learner[t]).any():
            policy, rows, store = next(by_step)
            assert policy is tr.opp_policy and not store and np.array_equal(rows, np.nonzero(~learner[t])[0])
    assert next(by_step, None) is None
    assert ro.global_steps == int(learner.sum()) and tr.steps == ro.global_steps
    tr.close()


def test_a_pool_members_tally_counts_its_games_and_the_learners_wins(tmp_path):
    """The rollout adds the pool games that ended to the member's games and the learner's wins
    (read from the learner's seat) to its learner_wins; heuristic_games stays 0. Leaders start
    at 1 health so games end quickly, most with a winner."""
    tr = trainer(tmp_path, rollout_steps=60)
    _pool_member_opponent(tr)
    _edit_games(tr, hp=1)
    ro, st = tr.collect()
    m = tr.pool[-1]
    games, wins = _pool_tally(tr, ro)
    assert games >= 3 and 0 < wins < games
    assert (m.games, m.learner_wins) == (games, wins)
    assert st["heuristic_games"] == 0 and st["heuristic_wins"] == 0.0
    tr.close()


def test_every_rollout_draws_its_own_opponent(tmp_path):
    """collect chooses the opponent anew for each rollout: a rollout against the heuristic bot is
    followed, once the bot's share is 0 and the pool holds a member, by one against that member."""
    tr = trainer(tmp_path, bot_opponent_prob=1.0)
    tr.update = 3
    _, st = tr.collect()
    assert tr.opponent == "heuristic"
    tr.update = 4
    _pool_member_opponent(tr)
    _, st = tr.collect()
    assert tr.opponent == "self@4" and st["heuristic_games"] == 0
    tr.close()


def test_the_pool_keeps_a_frozen_copy_of_the_learners_weights(tmp_path):
    """_add_to_pool stores a copy: the member's weights stay as they were when the learner's
    change, and the member records the update it was taken at."""
    tr = trainer(tmp_path)
    tr.update = 7
    tr._add_to_pool()
    m = tr.pool[-1]
    before = {k: v.clone() for k, v in tr.policy.state_dict().items()}
    with torch.no_grad():
        for p in tr.policy.parameters():
            p.add_(1.0)
    assert (m.name, m.update) == ("self@7", 7)
    assert all(torch.equal(m.state_dict[k], v) for k, v in before.items())
    tr.close()


def test_an_opponent_samples_only_legal_actions_when_the_learner_samples_heads_independently(tmp_path):
    """independent_heads is the learner's ablation: the opponent policy still samples from the
    joint legal list, so no opponent row takes an illegal tuple."""
    tr = trainer(tmp_path, independent_heads=True, rollout_steps=32)
    _pool_member_opponent(tr)
    ro, _ = tr.collect()
    n_opp = 0
    for act, legal, count, learner in zip(ro.actions, ro.legal, ro.count, ro.learner):
        for i in np.nonzero(~learner)[0]:
            n_opp += 1
            assert (legal[i, :count[i]] == act[i]).all(-1).any(), (i, act[i])
    assert n_opp >= 32
    tr.close()


# ------------------------------------------------------------------ what the rollout stores
def test_truncated_games_are_done_and_bootstrap_from_both_seats_final_views(tmp_path):
    """A game cut at the turn cap is done at that step; its final values are the critic's value
    of each seat's final view (with the other seat's view for the oracle critic), its final
    potentials those views' potentials; a truncated game against the heuristic counts as a game
    but not as a win."""
    tr = trainer(tmp_path, rollout_steps=30, oracle_value=True, bot_opponent_prob=1.0, **SHAPING)
    _edit_games(tr, turn=TURN_CAP)
    seen = _record_steps(tr)
    ro, st = tr.collect()
    truncs = np.stack(seen["truncations"])
    assert truncs.sum() >= 8
    assert np.array_equal(np.stack(ro.truncs), truncs)
    assert np.array_equal(np.stack(ro.dones), truncs | np.stack(seen["terminals"]))
    for t in range(len(ro.obs)):
        rows = np.nonzero(truncs[t])[0]
        if not len(rows):
            continue
        fo = seen["final"][t][rows]
        for s in (0, 1):
            assert np.allclose(ro.final_values[t][rows, s], _value(tr.policy, fo[:, s], fo[:, 1 - s]), atol=1e-5)
            assert np.allclose(ro.final_phis[t][rows, s], potential(fo[:, s], *SHAPING.values()))
        assert not ro.final_values[t][~truncs[t]].any() and not ro.final_phis[t][~truncs[t]].any()
    assert tr.opponent == "heuristic"
    ended = int((truncs & tr.pool_envs).sum())
    assert st["heuristic_games"] == ended >= 4 and st["heuristic_wins"] == 0.0
    tr.close()


def test_last_values_and_potentials_are_each_seats_view_of_the_final_position(tmp_path):
    """After the rollout, last_values[:, p] and last_phis[:, p] are seat p's critic value (the
    oracle critic reading seat 1 - p's view) and potential of the env's current position."""
    tr = trainer(tmp_path, oracle_value=True, **SHAPING)
    ro, _ = tr.collect()
    views = [tr.env.observe(np.full(8, p, np.int32)) for p in (0, 1)]
    assert ro.last_values.shape == ro.last_phis.shape == (8, 2)
    for p in (0, 1):
        assert np.allclose(ro.last_values[:, p], _value(tr.policy, views[p], views[1 - p]), atol=1e-5)
        assert np.allclose(ro.last_phis[:, p], potential(views[p], *SHAPING.values()))
    assert not np.allclose(ro.last_values[:, 0], ro.last_values[:, 1])
    tr.close()


def test_stored_rows_keep_their_potentials_values_and_the_oracle_view(tmp_path):
    """Each stored row's potential is that of the acting seat's view (with every shaping weight
    in its own term), the learner rows' values are the critic's on (view, other seat's view)."""
    tr = trainer(tmp_path, oracle_value=True, **SHAPING)
    ro, _ = tr.collect()
    obs, opp = np.stack(ro.obs), np.stack(ro.opp_obs)
    assert np.allclose(np.stack(ro.phis), potential(obs, *SHAPING.values()))
    assert np.allclose(tr._phi(obs), potential(obs, *SHAPING.values()))
    learner = np.stack(ro.learner)
    t, i = np.nonzero(learner)
    assert np.allclose(np.stack(ro.values)[t, i], _value(tr.policy, obs[t, i], opp[t, i]), atol=1e-5)
    assert not np.stack(ro.values)[~learner].any()
    tr.close()


def test_values_of_nothing_is_an_empty_float32_array(tmp_path):
    """_values_of on no rows (a step where no game was truncated) returns an empty float32 array."""
    tr = trainer(tmp_path)
    empty = np.zeros((0, OBS_SIZE), np.int8)
    out = tr._values_of(empty, empty)
    assert out.shape == (0,) and out.dtype == np.float32
    tr.close()


def test_wait_value_keeps_the_waiting_seats_view_at_the_rollouts_start(tmp_path):
    """wait_value: the waiting seat is the one not about to act at the rollout's start; its view,
    potential and (oracle critic) the acting seat's view of the same position are stored as they
    were before the first step."""
    tr = trainer(tmp_path, wait_value=True, oracle_value=True, **SHAPING)
    tr.collect()   # start from a position mid-game
    actor, obs = tr.env.current_player.copy(), tr.env.observations.copy()
    waiting = tr.env.observe(1 - actor)
    ro, _ = tr.collect()
    assert np.array_equal(ro.wait_seat, 1 - actor) and ro.wait_seat.dtype == np.int32
    assert np.array_equal(ro.wait_obs, waiting)
    assert np.allclose(ro.wait_phi, potential(waiting, *SHAPING.values()))
    assert np.array_equal(ro.wait_opp, obs)
    tr.close()


# ------------------------------------------------------------------ seeding and counters
def test_the_rollout_samples_from_the_trainers_own_generator(tmp_path):
    """The learner's actions come from the trainer's generator (per rank, saved in checkpoints),
    not torch's global RNG: reseeding the global RNG changes nothing, reseeding the generator
    changes the actions."""
    def actions(name, global_seed, gen_seed=None):
        tr = trainer(tmp_path / name, pool_fraction=0.0)
        torch.manual_seed(global_seed)
        if gen_seed is not None:
            tr.gen.manual_seed(gen_seed)
        ro, _ = tr.collect()
        tr.close()
        return np.stack(ro.actions), np.stack(ro.logp)
    a, la = actions("a", 1)
    b, lb = actions("b", 2)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    c, _ = actions("c", 1, gen_seed=12345)
    assert not np.array_equal(a, c)


def test_illegal_actions_and_steps_add_up_over_rollouts(tmp_path):
    """illegal_total is the sum of every rollout's illegal_actions, and steps the sum of every
    rollout's learner decisions."""
    tr = trainer(tmp_path, independent_heads=True, rollout_steps=16)
    total = steps = 0
    for _ in range(2):
        ro, st = tr.collect()
        total += st["illegal_actions"]
        steps += int(np.stack(ro.learner).sum())
        assert tr.illegal_total == total and tr.steps == steps
    assert total > 0 and tr.illegal_total == int(tr.env.illegal_counts.sum())
    tr.close()


# ------------------------------------------------------------------ stop rule and summary
def test_done_at_the_step_budget_or_the_time_limit(tmp_path):
    """done() is true once steps reach total_steps (not only past it), and with minutes once the
    elapsed time (counting a resumed run's earlier time) reaches minutes * 60 seconds."""
    tr = trainer(tmp_path, total_steps=100)
    tr.steps = 99
    assert not tr.done()
    tr.steps = 100
    assert tr.done()
    tr.close()
    tr = trainer(tmp_path / "t", minutes=1.0, total_steps=100)
    tr.started = time.time()
    tr.elapsed_before = 59.5   # a resumed run's earlier time counts; the limit is exact
    assert not tr.done()
    tr.elapsed_before = 60.5
    assert tr.done()
    tr.close()


def test_summary_line_names_the_opponent_and_the_bot_win_rates(tmp_path):
    """The console line shows the update, the step count with thousands separators, the opponent
    ('self' for self-play) and the evaluation win rates against the bots, not against past selves."""
    tr = trainer(tmp_path)
    tr.update, tr.steps = 12, 1_234_567
    s = {"sps": 100.0, "policy_loss": 0.5, "illegal_actions": 3, "eval/win_rate_vs_random": 0.5,
         "eval/win_rate_vs_heuristic": 0.25, "eval/win_rate_vs_self@3": 0.9}
    tr.opponent = None
    line = tr.summary_line(s)
    assert line.startswith("upd   12 steps 1,234,567 ")
    assert " illegal 3 opp self | win random=0.50 heuristic=0.25" in line and line.endswith("heuristic=0.25")
    tr.opponent = "self@3"
    line = tr.summary_line({k: v for k, v in s.items() if not k.startswith("eval/")})
    assert line.endswith("opp self@3")
    tr.close()
