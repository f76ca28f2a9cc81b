"""Hidden information never reaches an observation: re-shuffling the opponent's hand
contents, any deck order and the IKZ decks leaves the acting player's view unchanged."""
import numpy as np

from scenario import hidden_cards_moved, reshuffle_hidden
from tcg_env import GameState


def _play_out_reshuffling(g, rng) -> tuple[int, int]:
    """Play ``g`` to the end with random legal tuples; at each decision the acting player's
    view and legal list must not change when its hidden zones are reshuffled. Returns (positions
    checked, positions whose reshuffle moved a hidden card)."""
    checked = changed = 0
    while not g.done:
        me = g.current_player
        h = reshuffle_hidden(g, me, rng)
        changed += int(hidden_cards_moved(h.row, g.row))
        assert np.array_equal(g.observation(me), h.observation(me))
        assert np.array_equal(g.legal_tuples(), h.legal_tuples())
        checked += 1
        legal = g.legal_tuples()
        g.apply(legal[rng.integers(len(legal))])
    return checked, changed


def test_observation_and_legal_list_ignore_hidden_zones():
    rng = np.random.default_rng(7)
    counts = [_play_out_reshuffling(GameState.new(None, None, seed=1000 + game), rng) for game in range(30)]
    checked, changed = np.sum(counts, axis=0)
    assert checked > 1000
    assert changed > checked * 0.9   # the perturbation really changed the hidden state


def test_hand_built_positions_hide_the_same_zones():
    """The same property from positions random play rarely reaches (``random_position``: odd
    boards, big hands and discards, response windows and pending choices opened by hand), and
    on every position of a random playout from each."""
    from scenario import random_position
    rng = np.random.default_rng(17)
    counts = [_play_out_reshuffling(random_position(rng, block=0.3, pend=0.3), rng) for _ in range(25)]
    checked, changed = np.sum(counts, axis=0)
    assert checked > 300
    assert changed > checked * 0.8


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


def _random_positions(games, seed):
    """Every position of ``games`` seeded random-legal games (GameState, copies)."""
    rng = np.random.default_rng(seed)
    for game in range(games):
        g = GameState.new(None, None, seed=500 + game)
        while not g.done:
            yield g
            legal = g.legal_tuples()
            g = g.clone().apply(legal[rng.integers(len(legal))])


def test_pending_choice_is_shown_only_to_the_player_who_chooses():
    from tcg_env.observation import GLOBAL_FEATURES, view
    from verification.layout import G_PEND_CARD, G_PEND_PLAYER, PH_CHOOSE_MODE, PH_CHOOSE_TARGET
    card, rule = GLOBAL_FEATURES.index("pending_card"), GLOBAL_FEATURES.index("pending_target_rule")
    seen = 0
    for g in _random_positions(40, 1):
        chooser = g.row[G_PEND_PLAYER]
        if g.phase not in (PH_CHOOSE_TARGET, PH_CHOOSE_MODE):
            for p in (0, 1):
                assert view(g.observation(p), "globals")[card] == 0
            continue
        assert g.current_player == chooser
        mine, theirs = view(g.observation(chooser), "globals"), view(g.observation(1 - chooser), "globals")
        assert mine[card] == g.row[G_PEND_CARD] != 0
        assert theirs[card] == 0 and theirs[rule] == 0
        seen += 1
    assert seen > 5


def test_the_two_seats_views_mirror_each_other():
    """Seat p's "my" features are seat 1-p's "opp" features, the flags follow the real seats, and the
    attack pointers name rows owned by the attacker and by the defender."""
    from tcg_env.observation import ENTITY_FEATURES, GLOBAL_FEATURES, view
    from verification.layout import G_ACTIVE, G_ATK_SRC, G_FIRST
    from verification.spec import ENT_MY_BOARD, ENT_OPP_BOARD
    G = {n: i for i, n in enumerate(GLOBAL_FEATURES)}
    owner, present = ENTITY_FEATURES.index("owner"), ENTITY_FEATURES.index("present")
    rest = [i for i in range(len(ENTITY_FEATURES)) if i != owner]
    pairs = [(n, "opp_" + n[3:]) for n in GLOBAL_FEATURES if n.startswith("my_")]
    attacks = 0
    for g in _random_positions(15, 2):
        gl = [view(g.observation(p), "globals") for p in (0, 1)]
        en = [view(g.observation(p), "entities") for p in (0, 1)]
        for p in (0, 1):
            q = 1 - p
            for mine, theirs in pairs:
                assert gl[p][G[mine]] == gl[q][G[theirs]], (mine, p)
            assert gl[p][G["i_went_first"]] == int(g.row[G_FIRST] == p)
            assert gl[p][G["is_my_turn"]] == int(g.row[G_ACTIVE] == p)
            assert en[p][0, owner] == 0 and en[p][1, owner] == 1
            assert np.array_equal(en[p][0, rest], en[q][1, rest])
            for slot in range(10):
                a, b = en[p][ENT_MY_BOARD + slot], en[q][ENT_OPP_BOARD + slot]
                assert np.array_equal(a[rest], b[rest])
                if a[present]:
                    assert a[owner] == 0 and b[owner] == 1
        if g.row[G_ATK_SRC] >= 0:
            att = g.row[G_ACTIVE]
            for p in (0, 1):
                src, tgt = gl[p][G["attacker_entity"]], gl[p][G["attack_target_entity"]]
                assert en[p][src, present] and en[p][tgt, present]
                assert en[p][src, owner] == int(p != att) and en[p][tgt, owner] == int(p == att)
            attacks += 1
    assert attacks > 20
