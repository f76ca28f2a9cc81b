"""Hidden information never reaches an observation: re-shuffling the opponent's hand
contents, any deck order and the IKZ decks leaves the acting player's view unchanged."""
import numpy as np

from scenario import hidden_cards_moved, reshuffle_hidden
from tcg_env import GameState


def test_observation_and_legal_list_ignore_hidden_zones():
    rng = np.random.default_rng(7)
    checked = 0
    changed = 0
    for game in range(30):
        g = GameState.new(None, None, seed=1000 + game)
        while not g.done:
            me = g.current_player
            h = reshuffle_hidden(g, me, rng)
            changed += int(hidden_cards_moved(h.row, g.row))
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
