"""The Gymnasium face."""
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import tcg_env  # noqa: F401  (registers tcg_env/Duel-v0)
from tcg_env import IllegalActionError
from tcg_env.gym_env import ILLEGAL_ACTION_PENALTY
from verification.spec import HEAD_SIZES


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


# -- mutation audit of tcg_env/duel.py (the kernels behind DuelEnv.step/reset) -------------------

def _tuple(a):
    return tuple(int(x) for x in a)


def test_builtin_heuristic_opponent_plays_as_the_public_heuristic_bot():
    """opponent="heuristic" (played inside the kernels) makes the same moves as the public
    HeuristicBot passed as a callable: same seed and agent moves, same episodes."""
    from tcg_env.bots import HeuristicBot
    from tcg_env.gym_env import DuelEnv
    _same(_trajectory(DuelEnv(opponent="heuristic"), 3, 200), _trajectory(DuelEnv(opponent=HeuristicBot()), 3, 200))


def test_builtin_random_opponent_draws_each_decision_afresh():
    """opponent="random" draws every decision from its advancing generator: in decisions it
    makes alone between two agent moves (read back by trying each of its options on a clone),
    lists of the same length do not always get the same pick."""
    from tcg_env.gym_env import DuelEnv
    env = DuelEnv(opponent="random")
    rng = np.random.default_rng(0)
    varied = False
    for seed in range(6):
        obs, _ = env.reset(seed=seed)
        picks = {}   # list length -> picks seen in this episode
        term = trunc = False
        while not (term or trunc):
            a = obs["legal_tuples"][rng.integers(obs["legal_count"])]
            after = env.state.clone().apply(_tuple(a))
            obs, _, term, trunc, _ = env.step(a)
            if term or trunc or after.done or after.current_player != 1:
                continue
            options = after.legal_tuples()
            hits = [k for k, t in enumerate(options)
                    if after.clone().apply(_tuple(t)).to_bytes() == env.state.to_bytes()]
            if len(hits) == 1 and len(options) > 1:
                picks.setdefault(len(options), set()).add(hits[0])
        varied |= any(len(p) > 1 for p in picks.values())
    assert varied


_OUT_OF_RANGE = [(head, value) for head in range(4) for value in (-1, HEAD_SIZES[head])]


@pytest.mark.parametrize("illegal_action,copy_obs", [("raise", True), ("lose", True), ("raise", False)])
def test_out_of_range_int_arrays_raise_naming_the_head_and_change_nothing(illegal_action, copy_obs):
    """An int8/int64 array of 4 (no Python pre-check) with one head just outside 0..size-1 raises
    ActionOutOfRangeError naming it in either illegal_action mode and changes nothing: not the
    game, not the observation held (with copy_obs=False, views of the env's buffers); the next
    legal step's view is clean (rows past legal_count zero)."""
    from tcg_env.gym_env import DuelEnv
    env = DuelEnv(opponent="random", illegal_action=illegal_action, copy_obs=copy_obs)
    obs, _ = env.reset(seed=6)
    rng = np.random.default_rng(6)
    for step in range(60):
        head, value = _OUT_OF_RANGE[step % len(_OUT_OF_RANGE)]
        bad = np.zeros(4, np.int8 if step % 3 == 0 else np.int64)
        bad[head] = value
        before, held = env.state.to_bytes(), {k: np.array(v, copy=True) for k, v in obs.items()}
        name = ("primary", "sub1", "sub2", "sub3")[head]
        with pytest.raises(tcg_env.ActionOutOfRangeError, match=f"{name}={value} is out of range"):
            env.step(bad)
        assert env.state.to_bytes() == before
        _same([held], [obs])
        obs, _, term, trunc, _ = env.step(obs["legal_tuples"][rng.integers(obs["legal_count"])])
        assert not obs["legal_tuples"][obs["legal_count"]:].any()
        if term or trunc:
            obs, _ = env.reset()


def test_duel_kernel_reports_out_of_range_heads_before_the_list():
    """tcg_env.duel.step_into answers OUT_OF_RANGE (not ILLEGAL: the env then names the head) for a
    tuple with any head outside 0..size-1, with reward 0 and the same legal count, and changes
    neither the game nor the view it writes."""
    from tcg_env import GameState
    from tcg_env.duel import OUT_OF_RANGE, step_into, view_into
    from tcg_env.observation import OBS_SIZE
    from verification.legal import enumerate_legal
    from verification.spec import MAX_LEGAL, NUM_PRIMARIES
    g = GameState.new(None, None, seed=2)
    cards = g.pool.table
    legal = np.zeros((MAX_LEGAL, 4), np.int8)
    n = enumerate_legal(g.row, cards, legal)
    obs, out, mask = np.zeros(OBS_SIZE, np.int8), np.zeros((MAX_LEGAL, 4), np.int8), np.zeros(NUM_PRIMARIES, np.int8)
    view_into(g.row, cards, g.current_player, legal, n, 0, obs, out, mask)
    for head, value in _OUT_OF_RANGE:
        act = np.zeros(4, np.int64)
        act[head] = value
        row, seen = g.row.copy(), (obs.copy(), out.copy(), mask.copy())
        status, reward, n2 = step_into(g.row, cards, act, g.current_player, -1, np.ones(1, np.uint64), legal, n, n,
                                       obs, out, mask)
        assert (status, reward, n2) == (OUT_OF_RANGE, 0.0, n), (head, value)
        assert np.array_equal(g.row, row)
        assert all(np.array_equal(a, b) for a, b in zip((obs, out, mask), seen)), (head, value)


@pytest.mark.parametrize("opponent", ["random", "heuristic", "callable"])
def test_every_observation_is_the_agents_own_decision(opponent):
    """After reset and every step that does not end the game, seat 0 (the agent) is to move, and
    the observation is seat 0's view of the state with that decision's legal list: the opponent
    played all of its own decisions inside step, and no more."""
    from tcg_env.gym_env import DuelEnv
    from tcg_env.observation import view
    opp = (lambda state: _tuple(state.legal_tuples()[-1])) if opponent == "callable" else opponent
    env = DuelEnv(opponent=opp)
    rng = np.random.default_rng(1)
    for seed in range(2):
        obs, _ = env.reset(seed=seed)
        term = trunc = False
        while not (term or trunc):
            st = env.state
            assert st.current_player == 0
            mine = st.observation(0)
            np.testing.assert_array_equal(obs["globals"], view(mine, "globals"))
            np.testing.assert_array_equal(obs["entities"], view(mine, "entities"))
            n = obs["legal_count"]
            np.testing.assert_array_equal(obs["legal_tuples"][:n], st.legal_tuples())
            obs, _, term, trunc, _ = env.step(obs["legal_tuples"][rng.integers(n)])


# -- mutation audit of tcg_env/gym_env.py (the Python side of DuelEnv) ----------------------------

def test_actions_that_are_not_four_integers_are_refused_and_change_nothing():
    """Only a 1-D array of exactly 4 integers reaches the kernel: a float copy of a legal tuple, a
    legal tuple with a fifth value, or one wrapped in a 2-D array raises ActionOutOfRangeError
    (not played as the tuple it resembles, not a numba typing error), and the episode goes on."""
    from tcg_env.gym_env import DuelEnv
    env = DuelEnv(opponent="random")
    obs, _ = env.reset(seed=2)
    t = obs["legal_tuples"][0].astype(np.int64)
    before = env.state.to_bytes()
    for bad in (t.astype(np.float64), np.append(t, 0), t[None, :], t[:3]):
        with pytest.raises(tcg_env.ActionOutOfRangeError):
            env.step(bad)
        assert env.state.to_bytes() == before, bad
    env.step(t)


def test_constructor_refuses_unknown_render_modes_and_non_callable_opponents():
    from tcg_env.gym_env import DuelEnv
    with pytest.raises(ValueError, match="render_mode"):
        DuelEnv(render_mode="rgb_array")
    for bad in (42, None, ["random"]):
        with pytest.raises(ValueError, match="opponent must be"):
            DuelEnv(opponent=bad)


def test_render_without_a_render_mode_warns_and_returns_nothing(capsys):
    from tcg_env.gym_env import DuelEnv
    env = DuelEnv()
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None
    assert capsys.readouterr().out == ""


def test_human_render_mode_prints_the_board_on_reset_and_every_step(capsys):
    from tcg_env.gym_env import DuelEnv
    env = DuelEnv(render_mode="human")
    obs, _ = env.reset(seed=5)
    assert capsys.readouterr().out.count("Ikazuchi Duel") == 1
    env.step(obs["legal_tuples"][0])
    assert capsys.readouterr().out.count("Ikazuchi Duel") == 1
    assert env.render() is None   # human mode prints rather than returns
    assert "Ikazuchi Duel" in capsys.readouterr().out


def test_ansi_render_is_drawn_from_the_agents_seat():
    from tcg_env.gym_env import DuelEnv
    env = DuelEnv(render_mode="ansi")
    env.reset(seed=1)
    text = env.render()
    assert "P0 (you)" in text and "P1 (opponent)" in text and "P1 (you)" not in text


def test_drawn_decks_range_over_every_prebuilt_deck_for_both_seats(monkeypatch):
    """deck=None / opponent_deck=None draw each episode's deck from all the prebuilt decks."""
    from prefabs import default_decks
    from tcg_env import engine
    from tcg_env.gym_env import DuelEnv
    from tcg_env.state import resolve_deck
    env = DuelEnv(opponent="random")
    names = list(default_decks())
    rows = [resolve_deck(n, env.pool) for n in names]
    seen = (set(), set())
    real = engine.reset_game

    def record(row, cards, deck0, deck1, seed):
        for s, d in zip(seen, (deck0, deck1)):
            s.update(names[k] for k, r in enumerate(rows) if np.array_equal(r, d))
        real(row, cards, deck0, deck1, seed)
    monkeypatch.setattr(engine, "reset_game", record)
    env.reset(seed=0)
    for _ in range(150):
        env.reset()
    assert seen == (set(names), set(names))


@pytest.mark.parametrize("exc", [KeyError("boom"), RuntimeError("boom"), AssertionError("boom")])
def test_any_exception_from_a_callable_opponent_becomes_an_opponent_error(exc):
    """Whatever the callable raises is reported as OpponentError (caused by it, named in the
    message) and ends the episode, whether it fails in reset or in step."""
    from tcg_env.gym_env import DuelEnv, OpponentError, ResetNeededError

    def opponent(state):
        raise exc

    env = DuelEnv(opponent=opponent)
    for seed in range(4):
        with pytest.raises(OpponentError) as e:
            obs, _ = env.reset(seed=seed)
            for _ in range(50):   # the agent's moves, until the opponent must answer
                obs, *_ = env.step(obs["legal_tuples"][0])
        assert e.value.__cause__ is exc and type(exc).__name__ in str(e.value)
        with pytest.raises(ResetNeededError, match="finished episode"):
            env.step(env.state.legal_tuples()[0])


def test_reseeding_the_same_env_replays_the_episode_against_the_random_bot():
    """reset(seed=s) on an env that has already played makes the same episode as on a fresh one:
    the built-in opponent's generator is reseeded too."""
    from tcg_env.gym_env import DuelEnv
    env = DuelEnv(opponent="random")
    first = _trajectory(env, 7, 120)
    _same(_trajectory(env, 7, 120), first)
    _same(_trajectory(DuelEnv(opponent="random"), 7, 120), first)


def test_info_game_seed_is_the_seed_of_the_dealt_game():
    """reset's info["game_seed"] recreates the episode's opening state: GameState.new with the
    same decks and that seed is the state the first decision (anyone's) is made on."""
    from tcg_env import GameState
    from tcg_env.gym_env import DuelEnv
    first = []

    def opponent(state):
        if not first:
            first.append(state.clone())
        return _tuple(state.legal_tuples()[0])

    env = DuelEnv(opponent=opponent, deck="Emberfang Rush", opponent_deck="Thornwall Bastion")
    for seed in (1, 2, 3, 4):
        first.clear()
        _, info = env.reset(seed=seed)
        opening = first[0] if first else env.state
        assert opening == GameState.new("Emberfang Rush", "Thornwall Bastion", seed=info["game_seed"])


def test_a_lost_illegal_action_ends_the_episode_with_the_reason_it_breaks():
    """illegal_action="lose": info["illegal_action"] is the same reason the raise mode names,
    and the episode is over (step raises until reset)."""
    from tcg_env.gym_env import DuelEnv, ResetNeededError
    bad = np.array([5, 31, 31, 1])
    strict = DuelEnv()
    strict.reset(seed=1)
    with pytest.raises(IllegalActionError) as e:
        strict.step(bad)
    assert e.value.action == (5, 31, 31, 1)
    assert e.value.reason == strict.state.explain((5, 31, 31, 1))
    env = DuelEnv(illegal_action="lose")
    env.reset(seed=1)
    _, r, term, trunc, info = env.step(bad)
    assert (r, term, trunc, info["illegal_action"]) == (ILLEGAL_ACTION_PENALTY, True, False, e.value.reason)
    with pytest.raises(ResetNeededError, match="finished episode"):
        env.step(bad)
    obs, _ = env.reset(seed=1)
    env.step(obs["legal_tuples"][0])


def test_observation_space_matches_the_documented_table():
    from tcg_env.gym_env import DuelEnv
    from tcg_env.observation import OBS_HIGH, OBS_LOW, view
    from verification.spec import MAX_LEGAL, NUM_PRIMARIES
    space = DuelEnv().observation_space
    for key in ("globals", "entities"):
        np.testing.assert_array_equal(space[key].low, view(OBS_LOW, key), err_msg=key)
        np.testing.assert_array_equal(space[key].high, view(OBS_HIGH, key), err_msg=key)
    lt = space["legal_tuples"]
    assert lt.shape == (MAX_LEGAL, 4) and lt.dtype == np.int8
    assert lt.low.min() == 0 and lt.high.max() == max(HEAD_SIZES) - 1   # every head value, no more
    assert space["legal_count"].n == MAX_LEGAL + 1   # 0..MAX_LEGAL
    assert space["action_mask"].n == NUM_PRIMARIES


def test_a_reset_option_of_none_keeps_the_constructors_deck():
    from tcg_env.gym_env import DuelEnv
    a, b = DuelEnv(deck="Anvil Vanguard"), DuelEnv(deck="Anvil Vanguard")
    a.reset(seed=3)
    b.reset(seed=3, options={"deck": None, "opponent_deck": None})
    assert a.state == b.state


def test_registering_again_is_silent():
    from tcg_env.gym_env import register
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register()
    assert gym.spec("tcg_env/Duel-v0").entry_point == "tcg_env.gym_env:DuelEnv"


def test_unknown_reset_options_of_any_key_type_are_named_in_a_value_error():
    """Keys that do not sort together (an int and a str) are still reported as unknown options,
    not as a TypeError from comparing them; nothing changes."""
    from tcg_env.gym_env import DuelEnv
    env = DuelEnv()
    env.reset(seed=0)
    before = env.state.to_bytes()
    with pytest.raises(ValueError, match="unknown reset option.*1, decks; the options are deck"):
        env.reset(seed=1, options={1: "x", "decks": "Anvil Vanguard", "deck": "Anvil Vanguard"})
    assert env.state.to_bytes() == before
