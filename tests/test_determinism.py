"""The same seed gives the same game at any batch size, and the batch kernel equals the
per-game path."""
import numpy as np

from tcg_env import GameState, engine
from tcg_env.bench import make_batch


def _run(n, steps):
    pool, b = make_batch(n, seed=5)
    bot = (np.arange(n, dtype=np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
    engine.random_play_batch(b["state"], pool.table, b["legal"], b["legal_n"], b["obs"], b["seat_rewards"],
                             b["actor"], bot, steps)
    return b


def test_same_trajectories_at_n_1_7_1024():
    steps = 700   # enough for several auto-resets per game
    b1, b7, b1024 = _run(1, steps), _run(7, steps), _run(1024, steps)
    assert np.array_equal(b1["state"][0], b7["state"][0])
    assert np.array_equal(b7["state"], b1024["state"][:7])
    assert np.array_equal(b7["obs"], b1024["obs"][:7])
    assert np.array_equal(b7["legal_n"], b1024["legal_n"][:7])
    # the games really played on: several episodes, many different states
    from verification.layout import G_EPISODE
    assert b1024["state"][:, G_EPISODE].min() >= 1
    assert len({r.tobytes() for r in b1024["state"]}) == 1024


def test_step_batch_matches_per_game_path():
    n = 7
    pool, b = make_batch(n, seed=9)
    games = [GameState(b["state"][i].copy(), pool) for i in range(n)]
    rng = np.random.default_rng(0)
    rewards = np.zeros(n, np.float32)
    term = np.zeros(n, np.bool_)
    trunc = np.zeros(n, np.bool_)
    illegal = np.zeros(n, np.int32)
    for step in range(400):
        actions = np.zeros((n, 4), np.int32)
        for i in range(n):
            legal = games[i].legal_tuples()
            assert np.array_equal(legal, b["legal"][i, :b["legal_n"][i]])
            actions[i] = legal[rng.integers(len(legal))]
        bad = engine.step_batch(b["state"], pool.table, actions, b["legal"], b["legal_n"], b["obs"], rewards,
                                b["seat_rewards"], term, trunc, b["actor"], illegal,
                                np.zeros((b["obs"].shape[0], 2, b["obs"].shape[1]), np.int8))
        assert bad == 0
        for i in range(n):
            actor = games[i].current_player
            games[i].apply(actions[i])
            if games[i].done:
                w = games[i].winner
                expect = 0.0 if w in (None, 2) else (1.0 if w == actor else -1.0)
                assert rewards[i] == expect and term[i] == games[i].terminated and trunc[i] == games[i].truncated
                engine.restart_game(games[i].row, pool.table)
            else:
                assert rewards[i] == 0 and not term[i] and not trunc[i]
            assert np.array_equal(games[i].row, b["state"][i])
            assert np.array_equal(games[i].observation(), b["obs"][i])
            assert games[i].current_player == b["actor"][i]
    assert illegal.sum() == 0


def test_reset_is_a_function_of_the_seed():
    a = GameState.new("Emberfang Rush", "Sagefire Circle", seed=42)
    b = GameState.new("Emberfang Rush", "Sagefire Circle", seed=42)
    c = GameState.new("Emberfang Rush", "Sagefire Circle", seed=43)
    assert a == b
    assert a != c


def test_first_game_rows_are_the_same_games_as_in_the_whole_batch():
    """VecTCG(n, seed, first_game=k) holds games k..k+n-1 of VecTCG(k+n, seed), default decks
    included, so a batch split into blocks (evaluation across ranks) plays the same games."""
    import pytest

    from tcg_env import VecTCG
    whole = VecTCG(11, seed=5)
    part = VecTCG(4, seed=5, first_game=7)
    assert np.array_equal(part.decks, whole.decks[7:])
    assert np.array_equal(part.state, whole.state[7:]) and np.array_equal(part.observations, whole.observations[7:])
    assert not np.array_equal(VecTCG(4, seed=5).state, part.state)
    for _ in range(60):   # and they stay equal under the same actions
        a = whole.legal_tuples[:, 0].astype(np.int32)
        whole.step(a)
        part.step(a[7:])
    assert np.array_equal(part.state, whole.state[7:])
    with pytest.raises(ValueError, match="first_game"):
        VecTCG(2, first_game=-1)
