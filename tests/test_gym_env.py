"""The Gymnasium face."""
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import tcg_env  # noqa: F401  (registers tcg_env/Duel-v0)
from tcg_env import IllegalActionError
from tcg_env.gym_env import ILLEGAL_ACTION_PENALTY


def _play(env, seed, rng):
    obs, _ = env.reset(seed=seed)
    total, steps = 0.0, 0
    while True:
        assert env.observation_space.contains(obs)
        n = obs["legal_count"]
        assert n > 0 and not obs["legal_tuples"][n:].any()
        assert set(np.nonzero(obs["action_mask"])[0]) == set(obs["legal_tuples"][:n, 0].tolist())
        obs, r, term, trunc, info = env.step(obs["legal_tuples"][rng.integers(n)])
        total += r
        steps += 1
        if term or trunc:
            return total, steps, info


def test_check_env_passes_without_warnings():
    # check_env samples uniformly from the MultiDiscrete space, which is almost never a legal
    # tuple, so it runs with illegal_action="lose" (the documented penalty, no exception).
    env = gym.make("tcg_env/Duel-v0", opponent="heuristic", illegal_action="lose").unwrapped
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("opponent", ["random", "heuristic"])
def test_full_games_end_with_a_result(opponent):
    env = gym.make("tcg_env/Duel-v0", opponent=opponent)
    rng = np.random.default_rng(0)
    results = [_play(env, seed, rng) for seed in range(8)]
    for total, steps, info in results:
        w = info["winner"]   # seat 0 is the agent: its episode return is its result
        assert total == (0.0 if w in (None, 2) else 1.0 if w == 0 else -1.0)
    if opponent == "random":   # a random agent against a random bot wins some and loses some
        assert {info["winner"] for _, _, info in results} >= {0, 1}


def test_same_seed_same_episode():
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    a = _play(gym.make("tcg_env/Duel-v0", opponent="heuristic"), 42, rng_a)
    b = _play(gym.make("tcg_env/Duel-v0", opponent="heuristic"), 42, rng_b)
    assert a == b


def test_illegal_action_raises_and_changes_nothing():
    env = gym.make("tcg_env/Duel-v0").unwrapped
    obs, _ = env.reset(seed=1)
    row = env.state.row.copy()
    with pytest.raises(IllegalActionError) as e:
        env.step(np.array([5, 31, 31, 1]))
    assert e.value.reason
    assert np.array_equal(env.state.row, row)
    obs2, *_ = env.step(obs["legal_tuples"][0])   # the env still works


def test_illegal_action_lose_option():
    env = gym.make("tcg_env/Duel-v0", illegal_action="lose")
    env.reset(seed=1)
    obs, r, term, trunc, info = env.step(np.array([5, 31, 31, 1]))
    assert r == ILLEGAL_ACTION_PENALTY and term and not trunc
    assert "illegal_action" in info


def test_out_of_range_and_bad_arguments():
    from tcg_env import ActionOutOfRangeError
    env = gym.make("tcg_env/Duel-v0")
    env.reset(seed=0)
    with pytest.raises(ActionOutOfRangeError, match="sub1=99"):
        env.step([0, 99, 0, 0])
    with pytest.raises(ValueError, match="opponent"):
        gym.make("tcg_env/Duel-v0", opponent="alphazero")
    with pytest.raises(ValueError, match="illegal_action"):
        gym.make("tcg_env/Duel-v0", illegal_action="ignore")


def test_callable_opponent_and_render_modes():
    calls = []

    def first_legal(state):
        calls.append(state.current_player)
        return tuple(state.legal_tuples()[0])

    env = gym.make("tcg_env/Duel-v0", opponent=first_legal, render_mode="ansi", deck="Emberfang Rush",
                   opponent_deck="Thornwall Bastion")
    total, steps, info = _play(env, 3, np.random.default_rng(1))
    assert calls and set(calls) == {1}
    text = env.render()
    assert "Result" in text


def _trajectory(env, seed, steps=300):
    """(observation copies, rewards) along a seeded random-legal run, resetting at episode end."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    out = []
    for _ in range(steps):
        out.append({k: np.array(v, copy=True) for k, v in obs.items()})
        obs, r, term, trunc, _ = env.step(obs["legal_tuples"][rng.integers(obs["legal_count"])])
        out.append(r)
        if term or trunc:
            obs, _ = env.reset()
    return out


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if isinstance(x, dict):
            assert x.keys() == y.keys()
            for k in x:
                np.testing.assert_array_equal(x[k], y[k], err_msg=k)
        else:
            assert x == y


@pytest.mark.filterwarnings("ignore:.*share an object")   # gymnasium's checker rightly notes the opt-in
@pytest.mark.parametrize("opponent", ["random", "heuristic"])
def test_copy_obs_false_gives_the_same_episodes_through_reused_read_only_views(opponent):
    fast = gym.make("tcg_env/Duel-v0", opponent=opponent, copy_obs=False)
    _same(_trajectory(gym.make("tcg_env/Duel-v0", opponent=opponent), 3),
          _trajectory(fast, 3))
    obs, _ = fast.reset(seed=0)
    obs2, *_ = fast.step(obs["legal_tuples"][0])
    assert obs2 is obs   # one dict, updated in place
    for k in ("globals", "entities", "legal_tuples", "action_mask"):
        with pytest.raises(ValueError):
            obs[k][...] = 0


def test_default_observations_stay_valid_after_later_steps():
    env = gym.make("tcg_env/Duel-v0", opponent="random")
    obs, _ = env.reset(seed=4)
    kept = {k: np.array(v, copy=True) for k, v in obs.items()}
    obs2, *_ = env.step(obs["legal_tuples"][obs["legal_count"] - 1])
    for k in kept:
        np.testing.assert_array_equal(obs[k], kept[k], err_msg=k)
    first = obs2["legal_tuples"][0].copy()
    obs2["legal_tuples"][:] = 0   # scribbling on a returned array does not change what is legal
    env.step(first)


def test_any_integer_action_dtype_is_accepted_and_checked():
    env = gym.make("tcg_env/Duel-v0", opponent="random").unwrapped
    obs, _ = env.reset(seed=2)
    t = obs["legal_tuples"][0]
    row = env.state.row.copy()
    with pytest.raises(tcg_env.ActionOutOfRangeError):
        env.step(np.array([0, 0, 300, 0], np.int32))
    with pytest.raises(tcg_env.ActionOutOfRangeError):
        env.step(np.array([2 ** 40, 0, 0, 0], np.uint64))
    np.testing.assert_array_equal(env.state.row, row)
    env.step(t.astype(np.uint16))


def test_a_failing_callable_opponent_is_named_and_ends_the_episode():
    """An opponent callable that raises or returns a bad tuple was blamed on the agent (the
    agent's own step raised ActionOutOfRangeError) and left the episode open with the opponent
    to move, so the agent's next step played the opponent's move."""
    from tcg_env.gym_env import DuelEnv, OpponentError
    broken = {"on": False}

    def opponent(state):
        return None if broken["on"] else tuple(int(x) for x in state.legal_tuples()[0])

    env = DuelEnv(opponent=opponent)
    obs, _ = env.reset(seed=1)
    while True:   # play on until the opponent has to answer
        broken["on"] = True
        try:
            obs, _, term, trunc, _ = env.step(obs["legal_tuples"][0])
        except OpponentError as e:
            assert "opponent callable" in str(e) and "call reset()" in str(e)
            break
        assert not (term or trunc), "the game ended before the opponent had to move"
    with pytest.raises(RuntimeError, match="finished episode"):
        env.step(env.state.legal_tuples()[0])
    broken["on"] = False
    obs, _ = env.reset(seed=2)   # a new episode plays normally
    env.step(obs["legal_tuples"][0])


def test_reset_needed_before_the_first_reset_and_after_the_end():
    from tcg_env.gym_env import DuelEnv, ResetNeededError
    env = DuelEnv(render_mode="ansi")
    with pytest.raises(ResetNeededError, match="before the first reset"):
        env.step([0, 0, 0, 0])
    with pytest.raises(gym.error.ResetNeeded, match="no board yet"):
        env.render()
    obs, _ = env.reset(seed=5)
    assert "Ikazuchi Duel" in env.render()
    rng = np.random.default_rng(0)
    term = trunc = False
    while not (term or trunc):
        n = obs["legal_count"]
        obs, _, term, trunc, _ = env.step(obs["legal_tuples"][rng.integers(n)])
    with pytest.raises(RuntimeError, match="finished episode"):
        env.step(obs["legal_tuples"][0])
    assert "Ikazuchi Duel" in env.render()   # the final board can still be drawn


def test_reset_options_choose_the_decks_of_one_episode_and_unknown_ones_are_refused():
    from prefabs import DeckError
    from tcg_env.gym_env import DuelEnv
    fixed = DuelEnv(deck="Anvil Vanguard", opponent_deck="Sagefire Circle")
    drawn = DuelEnv()
    a, _ = fixed.reset(seed=3)
    b, _ = drawn.reset(seed=3, options={"deck": "anvil vanguard", "opponent_deck": "Sagefire Circle"})
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert drawn.state.to_bytes() == fixed.state.to_bytes()
    # the override lasts one episode: without options the decks are drawn again, as before
    ref, _ = DuelEnv().reset(seed=4)
    again, _ = drawn.reset(seed=4)
    assert all(np.array_equal(ref[k], again[k]) for k in ref)
    before = drawn.state.to_bytes()
    with pytest.raises(ValueError, match="unknown reset option.*decks.*the options are deck, opponent_deck"):
        drawn.reset(seed=5, options={"decks": "Anvil Vanguard"})
    with pytest.raises(DeckError):
        drawn.reset(seed=5, options={"deck": "No Such Deck"})
    with pytest.raises(TypeError, match="takes a dict"):
        drawn.reset(options=["deck"])
    assert drawn.state.to_bytes() == before   # a refused reset changed nothing
    drawn.reset(options={})                   # what Gymnasium's checker passes


def _draw_position(drawer: int):
    """The agent (seat 0) to move, both leaders at 1 health; the draw step of ``drawer``'s next
    turn kills both at once (fatigue on its empty deck, and its arriving Cinder IKZ burns the other
    leader): a draw (docs/RULES.md)."""
    from scenario import Scenario
    return (Scenario().main_phase(active=0)
            .leader(0, hp=1).leader(1, hp=1)
            .deck(drawer, []).ikz_deck(drawer, ["Cinder IKZ"])
            .build())


def _start_from(monkeypatch, st):
    """Make the next reset() deal ``st`` instead of a fresh game."""
    from tcg_env import engine

    def deal(row, cards, deck0, deck1, seed):
        row[:] = st.row
    monkeypatch.setattr(engine, "reset_game", deal)


@pytest.mark.parametrize("opponent", ["random", "callable"])
def test_a_draw_terminates_with_zero_reward(monkeypatch, opponent):
    from scenario import end_turn
    # the agent ends its turn; against the built-in bot seat 1's draw step ends the game at once,
    # against the callable seat 1 ends its turn too and the agent's draw step ends it
    _start_from(monkeypatch, _draw_position(drawer=0 if opponent == "callable" else 1))
    env = gym.make("tcg_env/Duel-v0", opponent=(lambda state: end_turn()) if opponent == "callable" else opponent)
    env.reset(seed=0)
    _, r, term, trunc, info = env.step(np.array(end_turn()))
    assert (r, term, trunc, info["winner"]) == (0.0, True, False, 2)


@pytest.mark.parametrize("seed,agent_first", [(0, False), (1, True)])
def test_the_turn_cap_truncates_with_zero_reward_and_no_winner(seed, agent_first):
    # both sides keep their hand and then always end the turn (the first legal tuple): nobody is
    # ever hurt, so the game reaches the turn cap: truncated, not terminated, reward 0. The last
    # turn is the second player's: when the agent went first, the callable opponent's own move
    # (played inside step) ends the game, and that too is a truncation.
    from verification.layout import G_FIRST
    env = gym.make("tcg_env/Duel-v0", opponent=lambda state: tuple(state.legal_tuples()[0]))
    obs, _ = env.reset(seed=seed)
    assert (env.unwrapped.state.row[G_FIRST] == 0) == agent_first
    for steps in range(10_000):
        obs, r, term, trunc, info = env.step(obs["legal_tuples"][0])
        if term or trunc:
            break
        assert r == 0.0
    assert env.unwrapped.state.truncated
    assert (r, term, trunc, info["winner"]) == (0.0, False, True, None)


def test_a_callable_opponents_winning_move_pays_the_agent_minus_one():
    """Against a callable opponent the game can end on the opponent's move (played inside
    ``step``): the agent's reward is still its own result, -1 when the opponent won, +1 when it
    won, 0 for a draw or the turn cap, and ``info["winner"]`` names the winner."""
    rng_opp = np.random.default_rng(5)

    def random_legal(state):
        legal = state.legal_tuples()
        return tuple(legal[rng_opp.integers(len(legal))])

    env = gym.make("tcg_env/Duel-v0", opponent=random_legal)
    rng = np.random.default_rng(5)
    results = [_play(env, seed, rng) for seed in range(8)]
    for total, steps, info in results:
        w = info["winner"]
        assert total == (0.0 if w in (None, 2) else 1.0 if w == 0 else -1.0)
    assert {info["winner"] for _, _, info in results} >= {0, 1}
