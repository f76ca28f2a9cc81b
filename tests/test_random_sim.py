"""Random-simulation invariants after every step, across every prebuilt deck pairing."""
import numpy as np
import pytest

from prefabs import default_decks
from tcg_env import GameState
from tcg_env.selfcheck import check_invariants
from verification.layout import TURN_CAP

DECKS = list(default_decks())
PAIRS = [(a, b) for a in DECKS for b in DECKS]


@pytest.mark.parametrize("deck0,deck1", PAIRS)
def test_invariants_hold_every_step(deck0, deck1):
    rng = np.random.default_rng(DECKS.index(deck0) * len(DECKS) + DECKS.index(deck1))   # the same games every run
    for game in range(2):
        g = GameState.new(deck0, deck1, seed=int(rng.integers(2 ** 63)))
        assert check_invariants(g) == []
        steps = 0
        while not g.done:
            legal = g.legal_tuples()
            g.apply(legal[rng.integers(len(legal))])
            steps += 1
            bad = check_invariants(g)
            assert bad == [], f"after decision {steps}: {bad}\n{g.render()}"
            assert steps < 5000
        assert g.turn <= TURN_CAP
        assert g.terminated or g.truncated
        if g.terminated:
            assert g.winner in (0, 1, 2)
        else:
            assert g.winner is None


def test_games_end_both_ways_and_both_seats_win():
    """Over many random games both seats win (the turn cap's truncation has its own tests in
    test_rules_turn.py and test_aec.py)."""
    rng = np.random.default_rng(1)
    winners = set()
    for k in range(120):
        g = GameState.new(DECKS[k % 4], DECKS[(k // 4) % 4], seed=k)
        while not g.done:
            legal = g.legal_tuples()
            g.apply(legal[rng.integers(len(legal))])
        winners.add(g.winner)
    assert {0, 1} <= winners
