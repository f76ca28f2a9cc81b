"""Scripted bots: seeded random, and a heuristic that beats it."""

import pytest

from tcg_env import GameState, VecTCG
from tcg_env.bots import HeuristicBot, RandomBot, make_bot, match


def test_random_bot_is_seeded_and_legal():
    g = GameState.new(None, None, seed=4)
    a, b = RandomBot(7), RandomBot(7)
    for _ in range(80):
        if g.done:
            break
        x, y = a.act(g), b.act(g)
        assert x == y
        assert g.explain(x) is None
        g.apply(x)


def test_random_bot_is_uniform_over_legal_tuples():
    g = GameState.new(None, None, seed=11)
    g.apply((1, 0, 0, 0))   # a mulligan decision has 32 options
    g2 = g.clone()
    n = len(g2.legal_tuples())
    bot = RandomBot(1)
    counts = {}
    for _ in range(4000):
        t = bot.act(g2)
        counts[t] = counts.get(t, 0) + 1
    assert len(counts) == n
    assert max(counts.values()) / min(counts.values()) < 2.0


def test_heuristic_beats_random_in_both_seats():
    res = match("heuristic", "random", games=1000, seed=123)
    assert res["games"] == 1000
    assert res["win_rate"] >= 0.90, res


def test_bots_act_on_a_batch_like_on_single_states():
    env = VecTCG(16, seed=3)
    for bot in (HeuristicBot(0), RandomBot(5)):
        for _ in range(50):
            acts = bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count)
            if isinstance(bot, HeuristicBot):
                for i in range(4):
                    assert tuple(acts[i]) == HeuristicBot(0).act(env.game(i))
            env.step(acts)
            assert env.illegal_counts.sum() == 0


def test_make_bot_names():
    assert isinstance(make_bot("random"), RandomBot)
    assert isinstance(make_bot("heuristic"), HeuristicBot)
    import pytest
    from training.checkpoint import CheckpointError
    with pytest.raises(CheckpointError, match="does not exist"):
        make_bot("checkpoint:/nope.pt")
    with pytest.raises(ValueError, match="random, heuristic"):
        make_bot("alphazero")


def test_bot_arguments_are_refused_not_rounded():
    """A seed of 1.7 or '5' played seed 1 / 5, and 1.5 simulations (or True) searched once."""
    from tcg_env.bots import make_bot
    from tcg_env.bots.search import SearchBot
    for bad in (1.7, "5", True, -1):
        with pytest.raises(ValueError, match="bot seed must be"):
            make_bot("random", seed=bad)
    for bad in (None, 5):
        with pytest.raises(ValueError, match="a bot is named by a string"):
            make_bot(bad)
    for kw, says in (({"simulations": 1.5}, "simulations must be an integer"),
                     ({"simulations": True}, "simulations must be an integer"),
                     ({"horizon": 2.5}, "horizon must be an integer"),
                     ({"c": float("inf")}, "c must be a finite number")):
        with pytest.raises(ValueError, match=says):
            SearchBot(**kw)


def _random_play_states(n_games=6):
    from scenario import random_play_states
    return random_play_states(n_games, every=5, game_seed=700)


def test_heuristic_never_reads_hidden_zones():
    """Re-dealing what the acting player cannot see (the opponent's hand within its unknown
    cards, every deck and IKZ deck order, the game's generator) never changes the heuristic's
    tuple: it reads the public state and its own hand only."""
    import numpy as np
    from scenario import hidden_cards_moved, reshuffle_hidden
    rng = np.random.default_rng(5)
    states = _random_play_states()
    assert len(states) > 100
    for g in states:
        me = g.current_player
        a = HeuristicBot(0).act(g)
        for _ in range(2):
            h = reshuffle_hidden(g, me, rng)
            assert hidden_cards_moved(h.row, g.row)
            assert HeuristicBot(0).act(h) == a


def test_heuristic_plays_the_best_scored_tuple_first_on_ties():
    """The heuristic's tuple is the legal row with the highest score, the first such row when
    several tie (so its play is a function of the legal list's order, nothing else)."""
    import numpy as np
    from tcg_env.bots.heuristic import lethal_on_board, score
    ties = 0
    for g in _random_play_states(n_games=4):
        legal = g.legal_tuples()
        p = g.current_player
        lethal = lethal_on_board(g.row, g.pool.table, p, legal, len(legal))
        v = np.array([score(g.row, g.pool.table, p, *(int(x) for x in t), lethal) for t in legal])
        best = np.flatnonzero(v == v.max())
        ties += int(len(best) > 1)
        assert HeuristicBot(0).act(g) == tuple(int(x) for x in legal[best[0]])
    assert ties > 5   # the tie rule was really exercised


def test_every_seed_gives_a_working_generator():
    """Seed 0 (the default) is a generator like any other: a zero xorshift state would stay
    zero and the random bot would always play the first legal tuple."""
    g = GameState.new(None, None, seed=11)
    g.apply((1, 0, 0, 0))   # a mulligan decision has 32 options
    for seed in (0, 1):
        bot = RandomBot(seed)
        assert len({bot.act(g) for _ in range(40)}) > 10, seed
