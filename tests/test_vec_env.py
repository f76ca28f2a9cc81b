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
