"""Hidden information never reaches an observation: re-shuffling the opponent's hand
contents, any deck order and the IKZ decks leaves the acting player's view unchanged."""
import numpy as np

from tcg_env import GameState
from verification.layout import (G_RNG_HI, G_RNG_LO, P_DECK, P_DECK_N, P_HAND, P_HAND_N, P_IKZDECK, P_IKZDECK_N)
from verification.rules import pbase


def _reshuffle_hidden(g: GameState, me: int, rng) -> GameState:
    h = g.clone()
    s = h.row
    opp = 1 - me
    # swap the opponent's hand contents with cards from its deck (same counts)
    ob = pbase(opp)
    hand_n, deck_n = s[ob + P_HAND_N], s[ob + P_DECK_N]
    pool = np.concatenate([s[ob + P_HAND:ob + P_HAND + hand_n], s[ob + P_DECK:ob + P_DECK + deck_n]])
    rng.shuffle(pool)
    s[ob + P_HAND:ob + P_HAND + hand_n] = pool[:hand_n]
    s[ob + P_DECK:ob + P_DECK + deck_n] = pool[hand_n:]
    for p in (0, 1):
        b = pbase(p)
        rng.shuffle(s[b + P_DECK:b + P_DECK + s[b + P_DECK_N]])
        rng.shuffle(s[b + P_IKZDECK:b + P_IKZDECK + s[b + P_IKZDECK_N]])
    s[G_RNG_LO], s[G_RNG_HI] = rng.integers(-2 ** 31, 2 ** 31, size=2)
    return h


def test_observation_and_legal_list_ignore_hidden_zones():
    rng = np.random.default_rng(7)
    checked = 0
    changed = 0
    for game in range(30):
        g = GameState.new(None, None, seed=1000 + game)
        while not g.done:
            me = g.current_player
            h = _reshuffle_hidden(g, me, rng)
            changed += int(not np.array_equal(h.row, g.row))
            assert np.array_equal(g.observation(me), h.observation(me))
            assert np.array_equal(g.legal_tuples(), h.legal_tuples())
            checked += 1
            legal = g.legal_tuples()
            g.apply(legal[rng.integers(len(legal))])
    assert checked > 1000
    assert changed > checked * 0.9   # the perturbation really changed the hidden state


def test_observation_shows_opponent_hand_only_as_count():
    from tcg_env.observation import view, ENTITY_FEATURES, GLOBAL_FEATURES
    g = GameState.new(None, None, seed=3)
    obs = g.observation(0)
    ents = view(obs, "entities")
    glob = view(obs, "globals")
    assert glob[GLOBAL_FEATURES.index("opp_hand_count")] == 5
    owner = ents[:, ENTITY_FEATURES.index("owner")]
    zone = ents[:, ENTITY_FEATURES.index("zone")]
    assert not np.any((owner == 1) & (zone == 4))   # no enemy hand rows
