"""The native batched env: PufferLib-style buffers filled in place, self-play rewards."""
import numpy as np
import pytest

from tcg_env import VecTCG
from tcg_env.bots import RandomBot
from verification.spec import MAX_LEGAL


def test_buffers_and_contract():
    env = VecTCG(8, seed=1)
    obs, infos = env.reset(seed=1)
    assert obs is env.observations and obs.dtype == np.int8 and obs.shape[0] == 8
    assert env.legal_tuples.shape == (8, MAX_LEGAL, 4)
    assert env.actions.dtype == np.int32 and env.actions.shape == (8, 4)
    assert env.masks.all()
    ids = {k: id(getattr(env, k)) for k in ("observations", "rewards", "terminals", "truncations",
                                             "legal_tuples", "legal_count", "current_player")}
    out = env.step(env.legal_tuples[:, 0].astype(np.int32))
    assert len(out) == 5 and out[0] is env.observations
    assert all(id(getattr(env, k)) == v for k, v in ids.items())   # written in place


def test_self_play_rewards_are_zero_sum_and_reported_to_both_seats():
    env = VecTCG(32, seed=2)
    bot = RandomBot(0)
    ends = 0
    for _ in range(3000):
        actor = env.current_player.copy()
        env.step(bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count))
        done = env.terminals | env.truncations
        assert np.all(env.seat_rewards[done].sum(axis=1) == 0)
        assert np.all(env.rewards[~done] == 0)
        idx = np.nonzero(done)[0]
        assert np.all(env.rewards[idx] == env.seat_rewards[idx, actor[idx]])
        ends += done.sum()
    assert ends > 20
    assert env.illegal_counts.sum() == 0


def test_illegal_action_is_counted_and_reported():
    env = VecTCG(4, seed=0)
    before = env.state.copy()
    acts = env.legal_tuples[:, 0].astype(np.int32)
    acts[2] = (5, 31, 31, 1)
    _, _, _, _, infos = env.step(acts)
    assert env.illegal_counts.tolist() == [0, 0, 1, 0]
    assert infos == [{"illegal_actions": 1, "illegal_rows": [2]}]
    assert np.array_equal(env.state[2], before[2])


def test_out_of_range_and_bad_shapes_raise():
    env = VecTCG(2, seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros((3, 4), np.int32))
    with pytest.raises(ValueError, match="out of range"):
        env.step(np.array([[0, 0, 0, 0], [0, 40, 0, 0]]))
    with pytest.raises(ValueError, match="num_games"):
        VecTCG(0)


def test_seeds_do_not_depend_on_batch_size():
    a, b = VecTCG(3, seed=9), VecTCG(50, seed=9)
    assert np.array_equal(a.state, b.state[:3])
    assert np.array_equal(a.observations, b.observations[:3])


def test_threaded_stepping_gives_the_same_games():
    a, b = VecTCG(40, seed=4), VecTCG(40, seed=4, threads=3)
    bot = RandomBot(2)
    for _ in range(300):
        acts = bot.act_batch(a.state, a.cards, a.legal_tuples, a.legal_count)
        a.step(acts)
        b.step(acts)
    assert np.array_equal(a.state, b.state) and np.array_equal(a.observations, b.observations)
    assert np.array_equal(a.seat_rewards, b.seat_rewards)
    b.close()


def _first_legal(env):
    return env.legal_tuples[:, 0].astype(np.int32)


def test_turn_cap_is_a_truncation_with_zero_rewards_and_final_views():
    """Keeping the opening hand and always ending the turn hurts nobody: every row reaches the turn
    cap on the same step, which is a truncation (not a terminal), rewards 0 for both seats, and
    the final views show the capped position while the row already holds a new game."""
    from verification.layout import TURN_CAP
    from tcg_env.observation import GLOBAL_FEATURES
    env = VecTCG(4, seed=0)
    steps = 0
    while True:
        env.step(_first_legal(env))
        steps += 1
        assert steps < 200
        if (env.terminals | env.truncations).any():
            break
    assert env.truncations.all() and not env.terminals.any()
    assert not env.rewards.any() and not env.seat_rewards.any()
    turn = GLOBAL_FEATURES.index("turn")
    assert (env.final_observations[:, :, turn] == TURN_CAP).all()
    assert all(env.game(i).turn == 1 and not env.game(i).done for i in range(4))   # already reset
    env.step(_first_legal(env))   # the flags last one step only
    assert not env.truncations.any() and not env.terminals.any()


def test_final_observations_are_both_seats_views_of_the_ended_game():
    from tcg_env import GameState
    env = VecTCG(16, seed=3)
    bot = RandomBot(1)
    ends = 0
    for _ in range(1500):
        before = env.state.copy()
        acts = bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count)
        env.step(acts)
        for i in np.nonzero(env.terminals | env.truncations)[0]:
            g = GameState(before[i].copy(), env.pool)
            actor = g.current_player
            g.apply(acts[i])
            assert g.done and env.terminals[i] == g.terminated and env.truncations[i] == g.truncated
            for p in (0, 1):
                assert np.array_equal(env.final_observations[i, p], g.observation(p))
                expect = 0.0 if g.winner in (None, 2) else (1.0 if g.winner == p else -1.0)
                assert env.seat_rewards[i, p] == expect
            assert env.rewards[i] == env.seat_rewards[i, actor]
            ends += 1
    assert ends > 10


def test_auto_reset_keeps_each_seats_deck_and_deals_a_new_game():
    """After a game ends the row plays the same decks in the same seats, and each episode is a
    fresh deal (drawn from the row's generator), not a replay of the previous one."""
    from tcg_env.observation import GLOBAL_FEATURES
    names = ["Emberfang Rush", "Thornwall Bastion", "Sagefire Circle"]
    pairs = [(names[i % 3], names[(i + 1) % 3]) for i in range(6)]
    env = VecTCG(6, seed=11, decks=pairs)
    my_l, opp_l = GLOBAL_FEATURES.index("my_leader_card"), GLOBAL_FEATURES.index("opp_leader_card")
    firsts = [[env.observations[i].copy()] for i in range(6)]
    bot = RandomBot(4)
    for _ in range(1500):
        env.step(bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count))
        for i in range(6):
            p = env.current_player[i]
            assert env.observations[i, my_l] == env.decks[i, p, 0]
            assert env.observations[i, opp_l] == env.decks[i, 1 - p, 0]
        for i in np.nonzero(env.terminals | env.truncations)[0]:
            firsts[i].append(env.observations[i].copy())
    assert all(len(f) >= 2 for f in firsts)
    for f in firsts:
        assert all(not np.array_equal(a, b) for a, b in zip(f, f[1:]))


def test_illegal_step_after_a_game_end_clears_the_end_flags_and_reports_only_new_rows():
    env = VecTCG(3, seed=0)
    while not env.truncations.any():
        env.step(_first_legal(env))
    acts = _first_legal(env)
    acts[1] = (5, 31, 31, 1)
    _, rewards, terms, truncs, infos = env.step(acts)
    assert infos == [{"illegal_actions": 1, "illegal_rows": [1]}]
    assert not truncs.any() and not terms.any() and not rewards.any() and not env.seat_rewards.any()
    acts = _first_legal(env)
    acts[2] = (5, 31, 31, 1)
    _, _, _, _, infos = env.step(acts)
    assert infos == [{"illegal_actions": 1, "illegal_rows": [2]}]   # row 1 is not reported again
    _, _, _, _, infos = env.step(_first_legal(env))
    assert infos == [] and env.illegal_counts.tolist() == [0, 1, 1]


def test_reset_clears_the_step_results_and_the_seed_chooses_the_games():
    env = VecTCG(4, seed=7)
    start = env.state.copy()
    acts = _first_legal(env)
    acts[0] = (5, 31, 31, 1)
    while not env.truncations[1:].any():
        env.step(acts)
        acts = _first_legal(env)
    env.reset()   # same seed: the same games again, and nothing left of the last step
    assert np.array_equal(env.observations, VecTCG(4, seed=7).observations)
    assert np.array_equal(env.state, start)   # the row's game counter included
    assert not env.truncations.any() and not env.terminals.any() and not env.seat_rewards.any()
    assert env.illegal_counts.tolist() == [0, 0, 0, 0]
    _, _, _, _, infos = env.step(_first_legal(env))
    assert infos == []
    env.reset(seed=8)
    assert np.array_equal(env.state, VecTCG(4, seed=8).state)
    assert not any(np.array_equal(env.state[i], start[i]) for i in range(4))


def test_a_deck_pair_puts_the_first_deck_in_seat_0():
    from tcg_env import GameState
    from tcg_env.observation import GLOBAL_FEATURES
    env = VecTCG(2, seed=0, decks=("Emberfang Rush", "Thornwall Bastion"))
    leader = GLOBAL_FEATURES.index("my_leader_card")
    for seat, name in enumerate(("Emberfang Rush", "Thornwall Bastion")):
        own = GameState.new(name, name).observation(0)[leader]
        assert (env.observe([seat, seat])[:, leader] == own).all()
