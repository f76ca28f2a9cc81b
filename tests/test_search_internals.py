"""The ISMCTS search's internals (tcg_env/bots/search.py), read back directly: the
determinization's count checks and its re-seeded generator, the tree's edge keys and their
sorted lookup, UCB1 selection with availability counts, progressive widening, the visit and
value bookkeeping, the simulation budget and a full tree, the root's final choice, and the
evaluation (its seat perspective, terminal scores and linear model)."""
import numpy as np
import pytest

from tcg_env.bots.search import (N_AVAIL, N_CHILD, N_COLS, N_KEY, N_PARENT, N_PLAYER, N_SIB, N_VISITS,
                                 EVAL_FEATURES, EVAL_WEIGHTS, S_EVAL, SearchBot, _evaluate, _find, _unique_keys,
                                 action_key, best_root_row, determinize, eval_features, init_tree, run_simulations,
                                 search_row)
from verification.layout import (DONE_NO, DONE_TERMINAL, DONE_TRUNCATED, G_DONE, G_RNG_HI, G_RNG_LO, G_SEED_HI,
                                 G_SEED_LO, G_WINNER, P_DECKLIST, P_DECK_N, P_DISC, P_DISC_N, P_HAND, P_HAND_N, P_HP,
                                 P_IKZ_N)
from verification.rules import pbase
from verification.spec import ENT_MY_HAND, MAX_LEGAL, Primary

from scenario import random_play_states

_HAND_PRIMARIES = (int(Primary.PLAY_UNIT), int(Primary.PLAY_SPELL), int(Primary.ATTACH_WEAPON))


@pytest.fixture(scope="module")
def states():
    """Real mid-game decisions (past the mulligans) from random play, both seats."""
    return random_play_states(4, every=5, game_seed=610, skip_mulligan=True)


def _det(g, seed):
    s = g.row.copy()
    determinize(s, g.pool.table, g.current_player, np.array([seed], np.uint64),
                np.zeros(g.pool.table.shape[0], np.int32), np.zeros(40, np.int32))
    return s


def _keys(g):
    legal = g.legal_tuples()
    keys = np.empty(MAX_LEGAL, np.int64)
    rows = np.empty(MAX_LEGAL, np.int64)
    m = _unique_keys(g.row, g.current_player, legal, len(legal), keys, rows)
    return legal, keys[:m].copy(), rows[:m].copy()


def _edge(g, t):
    """The tree edge a tuple should have: a hand pointer replaced by the card it points at."""
    a0, a1, a2, a3 = (int(x) for x in t)
    p = g.current_player
    if a0 in _HAND_PRIMARIES:
        a1 = ("card", int(g.row[pbase(p) + P_HAND + a1 - ENT_MY_HAND]))
    return (p, a0, a1, a2, a3)


# ----------------------------------------------------------------------------- determinization
def test_determinize_refuses_a_public_card_the_deck_list_lacks(states):
    """A discard pile showing a card that is not in its owner's deck list is an over-count that
    raises, for either player, both when it replaces a discarded card and when it is one card
    more (then the positive counts alone still add up to the hidden zones' sizes, so only the
    check for a negative count catches it); it is never silently dealt around."""
    checked = 0
    for g in states:
        me = g.current_player
        for q in (me, 1 - me):
            b = pbase(q)
            if g.row[b + P_DISC_N] == 0:
                continue
            deck = set(g.row[b + P_DECKLIST:b + P_DECKLIST + 30].tolist())
            alien = next(c for c in range(1, g.pool.table.shape[0]) if c not in deck)
            h = g.clone()
            h.row[b + P_DISC] = alien
            with pytest.raises(ValueError, match="unseen"):
                _det(h, 5)
            h = g.clone()
            h.row[b + P_DISC + h.row[b + P_DISC_N]] = alien
            h.row[b + P_DISC_N] += 1
            with pytest.raises(ValueError, match="unseen"):
                _det(h, 5)
            checked += 1
        if checked >= 6:
            break
    assert checked >= 6


def test_determinize_reseeds_the_game_generator_from_the_search_seed(states):
    """The determinized game's generator words come from the search's generator (different
    search seeds give different future draws), never the true game's, and the replay seed words
    are cleared."""
    g = states[3]
    words = set()
    for seed in range(1, 9):
        d = _det(g, seed)
        assert d[G_SEED_LO] == 0 and d[G_SEED_HI] == 0
        assert (d[G_RNG_LO], d[G_RNG_HI]) != (g.row[G_RNG_LO], g.row[G_RNG_HI])
        words.add((int(d[G_RNG_LO]), int(d[G_RNG_HI])))
    assert len(words) == 8


# ----------------------------------------------------------------------------- tree edges
def test_action_keys_identify_cards_not_hand_positions(states):
    """Two tuples share a tree edge exactly when they agree on the actor, the primary, the card
    (for a hand pointer: the card id it points at, whatever its hand position) or entity, and
    sub2 and sub3; swapping two different hand cards moves a play's edge with the card."""
    pairs = diff_a3 = moved = 0
    for g in states[:40]:
        legal = g.legal_tuples()
        ks = [int(action_key(g.row, g.current_player, *(int(x) for x in t))) for t in legal]
        es = [_edge(g, t) for t in legal]
        for i in range(len(legal)):
            for j in range(i + 1, len(legal)):
                assert (ks[i] == ks[j]) == (es[i] == es[j]), (legal[i], legal[j])
                pairs += 1
                diff_a3 += int(es[i][:4] == es[j][:4] and es[i][4] != es[j][4])
        # the other player's key for the same tuple is another edge, and so is the other sub3
        a0, a1, a2, a3 = (int(x) for x in legal[0])
        assert int(action_key(g.row, 1 - g.current_player, a0, a1, a2, a3)) != ks[0]
        assert int(action_key(g.row, g.current_player, a0, a1, a2, 1 - a3)) != ks[0]
        diff_a3 += 1
        # a play from hand follows the card when the hand is reordered
        p = g.current_player
        b = pbase(p)
        hn = int(g.row[b + P_HAND_N])
        hand = g.row[b + P_HAND:b + P_HAND + hn]
        for t in legal:
            if int(t[0]) in _HAND_PRIMARIES and hn >= 2:
                i = int(t[1]) - ENT_MY_HAND
                j = next((k for k in range(hn) if hand[k] != hand[i]), None)
                if j is None:
                    continue
                s2 = g.row.copy()
                s2[b + P_HAND + i], s2[b + P_HAND + j] = s2[b + P_HAND + j], s2[b + P_HAND + i]
                k_same = action_key(s2, p, int(t[0]), ENT_MY_HAND + j, int(t[2]), int(t[3]))
                k_moved = action_key(s2, p, *(int(x) for x in t))
                assert k_same == action_key(g.row, p, *(int(x) for x in t)) != k_moved
                moved += 1
                break
    assert pairs > 1000 and diff_a3 > 0 and moved > 5


def test_unique_keys_are_sorted_first_rows_and_find_misses_absent_keys(states):
    """``_unique_keys``: the distinct keys in ascending order, each with the first legal row that
    has it (also when the same card sits twice in hand); ``_find`` returns a key's index and -1
    for any key not there (below, between, above)."""
    dups = 0
    for g in states:
        legal, keys, rows = _keys(g)
        ks = [int(action_key(g.row, g.current_player, *(int(x) for x in t))) for t in legal]
        assert list(keys) == sorted(set(ks))
        for j, k in enumerate(keys):
            assert rows[j] == ks.index(int(k))
            assert _find(keys, len(keys), k) == j
        dups += len(ks) - len(keys)
        absent = {int(keys[0]) - 1, int(keys[-1]) + 1, 1 << 60, -5}
        absent |= {int(a) + 1 for a, b in zip(keys[:-1], keys[1:]) if b - a > 1}
        for k in absent:
            assert _find(keys, len(keys), np.int64(k)) == -1, k
    assert dups > 10


# ----------------------------------------------------------------------------- selection and bookkeeping
def _root_with_children(g, visits, values, avail, root_visits):
    """A tree whose root has one child per distinct legal key of g (so nothing is left to widen)."""
    legal, keys, rows = _keys(g)
    m = len(keys)
    cap = m + 16
    tree = np.zeros((cap, N_COLS), np.int64)
    value = np.zeros(cap, np.float64)
    meta = np.zeros(2, np.int64)
    init_tree(tree, value, meta)
    tree[0, N_VISITS] = root_visits
    for j in range(m):
        c = j + 1
        tree[c] = 0
        tree[c, N_KEY], tree[c, N_PARENT], tree[c, N_CHILD] = keys[j], 0, -1
        tree[c, N_SIB] = tree[0, N_CHILD]
        tree[c, N_VISITS], tree[c, N_AVAIL], tree[c, N_PLAYER] = visits[j], avail[j], g.current_player
        value[c] = values[j]
        tree[0, N_CHILD] = c
    meta[0] = m + 1
    return tree, value, meta, m


def test_ucb_picks_the_best_mean_plus_exploration_with_availability_counts(states):
    """With every root action already a child, one simulation counts one more availability for
    each child and follows the child with the largest ``mean + c * sqrt(ln(avail) / visits)``
    (the searcher acts at the root, so its own mean), on random trees where the exploration term
    decides about half the time."""
    r = np.random.default_rng(3)
    cands = [g for g in states if len(_keys(g)[1]) >= 4][:6]
    assert len(cands) == 6
    c_uct = 0.7
    bot = SearchBot(0, simulations=10, c=c_uct)
    explore_decided = 0
    for g in cands:
        m = len(_keys(g)[1])
        for trial in range(6):
            visits = r.integers(1, 30, m)
            values = r.uniform(-1, 1, m) * visits
            avail = visits + r.integers(0, 60, m)
            tree, value, meta, _ = _root_with_children(g, visits, values, avail, int(visits.sum()))
            before = tree[1:m + 1, N_VISITS].copy()
            rng = np.array([np.uint64(1000 + trial)], np.uint64)
            assert run_simulations(g.row, g.pool.table, tree, value, meta, rng, 1, bot.settings) == 1
            assert np.array_equal(tree[1:m + 1, N_AVAIL], avail + 1)
            u = values / visits + c_uct * np.sqrt(np.log(avail + 1.0) / visits)
            picked = np.nonzero(tree[1:m + 1, N_VISITS] != before)[0]
            assert list(picked) == [int(np.argmax(u))], (u, picked)
            explore_decided += int(np.argmax(u) != np.argmax(values / visits))
            assert tree[0, N_VISITS] == visits.sum() + 1
    assert explore_decided >= 5


def test_progressive_widening_bounds_the_root_children(states):
    """A node visited v times has at most max(1, pw_c * v ** pw_alpha) children when it expands
    another: after 64 simulations the root of a wide decision has at most 9 children (sqrt(63)
    < 8 when the 9th came), and with pw_c = 0 every distinct action is expanded."""
    g = max(states, key=lambda g: len(_keys(g)[1]))
    m = len(_keys(g)[1])
    assert m >= 14

    def root_children(**kw):
        bot = SearchBot(0, simulations=64, **kw)
        tree, value, meta = bot._tree, bot._value, bot._meta
        init_tree(tree, value, meta)
        rng = np.array([np.uint64(77)], np.uint64)
        assert run_simulations(g.row, g.pool.table, tree, value, meta, rng, 64, bot.settings) == 64
        n, c = 0, tree[0, N_CHILD]
        while c >= 0:
            n += 1
            c = tree[c, N_SIB]
        return n

    assert 2 <= root_children() <= 9
    assert root_children(pw_c=0.0) == m


def test_visits_and_values_are_backed_up_to_the_root(states):
    """Every simulation adds one visit and its reward to each node on its path, the root
    included: after N simulations the root has N visits, each node's visits cover its children's,
    and every node's value sum stays within its visit count (rewards are in [-1, 1])."""
    g = states[5]
    bot = SearchBot(0, simulations=48)
    tree, value, meta = bot._tree, bot._value, bot._meta
    init_tree(tree, value, meta)
    rng = np.array([np.uint64(9)], np.uint64)
    run_simulations(g.row, g.pool.table, tree, value, meta, rng, 48, bot.settings)
    n = int(meta[0])
    assert tree[0, N_VISITS] == 48
    for node in range(n):
        kids, c = 0, tree[node, N_CHILD]
        while c >= 0:
            assert tree[c, N_PARENT] == node
            kids += tree[c, N_VISITS]
            c = tree[c, N_SIB]
        assert kids <= tree[node, N_VISITS] <= kids + 48
        assert abs(value[node]) <= tree[node, N_VISITS] + 1e-9
    assert abs(value[0]) > 0


def test_search_row_runs_exactly_its_budget_and_stops_when_the_tree_is_full(states):
    """``search_row`` with N simulations leaves a root with N visits (the whole budget ran); a
    tree with room for only a few nodes stops early, full, and says how many it ran."""
    g = next(g for g in states if len(g.legal_tuples()) > 3)
    legal = g.legal_tuples()
    for sims in (7, 30):
        bot = SearchBot(0, simulations=sims)
        search_row(g.row, g.pool.table, legal, len(legal), 5, sims, bot._tree, bot._value, bot._meta, bot.settings)
        assert bot._tree[0, N_VISITS] == sims
    tree = np.zeros((6, N_COLS), np.int64)
    value = np.zeros(6, np.float64)
    meta = np.zeros(2, np.int64)
    init_tree(tree, value, meta)
    done = run_simulations(g.row, g.pool.table, tree, value, meta, np.array([np.uint64(3)], np.uint64), 50,
                           SearchBot(0).settings)
    assert done < 50 and meta[0] == 6 and tree[0, N_VISITS] == done


def test_a_finished_game_has_nothing_to_search_and_the_kernels_say_so(states):
    """On a finished game ``run_simulations`` runs none (the tree stays as it was) and
    ``search_row`` returns -1, no legal row. The kernels used to read past the game's end and
    crash the process; the bot never called them there, but a caller of the kernels might."""
    g = states[0].clone()
    while not g.done:
        g.apply(tuple(g.legal_tuples()[0]))
    bot = SearchBot(0, simulations=10)
    init_tree(bot._tree, bot._value, bot._meta)
    before = bot._tree.copy(), bot._meta.copy()
    assert run_simulations(g.row, g.pool.table, bot._tree, bot._value, bot._meta, np.array([np.uint64(3)], np.uint64),
                           10, bot.settings) == 0
    assert np.array_equal(bot._tree, before[0]) and np.array_equal(bot._meta, before[1])
    legal = np.zeros((MAX_LEGAL, 4), np.int8)
    assert search_row(g.row, g.pool.table, legal, 0, 5, 10, bot._tree, bot._value, bot._meta, bot.settings) == -1


def test_the_root_plays_the_most_visited_child_then_the_better_mean_then_the_first_row(states):
    """``best_root_row``: most visits wins; among equal visits the better mean; among equal
    visits and means the first legal row (of the rows sharing the winning edge too)."""
    g = next(g for g in states if len(_keys(g)[1]) >= 4)
    legal, keys, rows = _keys(g)
    m = len(keys)
    cards = g.pool.table

    def pick(visits, values):
        tree, value, _, _ = _root_with_children(g, np.asarray(visits), np.asarray(values, float),
                                                np.asarray(visits) + 1, int(np.sum(visits)))
        return int(best_root_row(g.row, cards, legal, len(legal), tree, value))

    v = [5] * m
    v[2] = 9
    assert pick(v, [0.0] * m) == rows[2]
    v = [5] * m
    vals = [0.0] * m
    vals[1], vals[3] = 2.0, 4.0   # child 3 has the better mean
    assert pick(v, vals) == rows[3]
    vals[1] = 4.0                 # a tie: the first legal row of the two
    assert pick(v, vals) == min(rows[1], rows[3])


# ----------------------------------------------------------------------------- evaluation
def test_evaluation_is_from_the_searchers_view(states):
    """Mid-game the evaluation is ``tanh(z / 2)`` with z the weighted sum of the features, mine
    minus the opponent's (so the two seats' evaluations of one state are opposite when the
    to-act feature has no weight); a finished game is +1 for my win, -1 for my loss and 0 for a
    draw or a truncation."""
    settings = SearchBot(0).settings
    w = np.asarray(EVAL_WEIGHTS)
    assert np.array_equal(settings[S_EVAL:], w)
    # each feature against a position built by hand: mine count plus, the opponent's minus
    from scenario import Scenario
    base = (Scenario().main_phase(active=0).hand(0, ["Spark Jolt", "Spark Jolt"]).hand(1, ["Spark Jolt"])
            .ikz(0, n=3).ikz(1, n=1).unit(0, 0, "Siege Golem", atk=4, hp=5, max_hp=6)
            .unit(1, 2, "Scrapyard Mutt", atk=2, hp=1).unit(1, 6, "Scrapyard Mutt", atk=1, hp=1).build())
    s, cards = base.row, base.pool.table
    s[pbase(0) + P_HP], s[pbase(1) + P_HP] = 17, 12
    deck = (int(s[pbase(0) + P_DECK_N]), int(s[pbase(1) + P_DECK_N]))
    for me, sign in ((0, 1.0), (1, -1.0)):
        got = np.empty(len(EVAL_FEATURES))
        eval_features(s, cards, me, got)
        want = sign * np.array([17 - 12, 4 - 3, 5 - 2, 1 - 2, 2 - 1, int(s[pbase(0) + P_IKZ_N]) - int(s[pbase(1) + P_IKZ_N]),
                                deck[0] - deck[1], 1.0])
        want[7] = 1.0 if me == 0 else -1.0   # player 0 is to act
        assert np.array_equal(got, want), (me, got, want)
    nonzero = 0
    for g in states[:30]:
        s, cards = g.row, g.pool.table
        for me in (0, 1):
            f = np.empty(len(EVAL_FEATURES))
            eval_features(s, cards, me, f)
            assert _evaluate(s, cards, me, settings) == pytest.approx(np.tanh(0.5 * float(w @ f)), abs=1e-12)
        assert _evaluate(s, cards, 0, settings) == pytest.approx(-_evaluate(s, cards, 1, settings), abs=1e-12)
        nonzero += int(abs(_evaluate(s, cards, 0, settings)) > 1e-3)
    assert nonzero > 10
    s = states[0].row.copy()
    assert s[G_DONE] == DONE_NO
    for done, winner, want in ((DONE_TERMINAL, 0, (1.0, -1.0)), (DONE_TERMINAL, 1, (-1.0, 1.0)),
                               (DONE_TERMINAL, 2, (0.0, 0.0)), (DONE_TRUNCATED, -1, (0.0, 0.0))):
        s[G_DONE], s[G_WINNER] = done, winner
        assert (_evaluate(s, cards, 0, settings), _evaluate(s, cards, 1, settings)) == want


def test_horizon_zero_plays_rollouts_to_the_end(states):
    """``horizon=0`` means no limit: with every evaluation weight zero, the only non-zero
    rewards are finished games (+1/-1), so the root's value sum is a non-zero whole number; with
    a horizon of 1 the same search scores every cut rollout 0."""
    g = states[8]

    def root_value(horizon):
        bot = SearchBot(0, simulations=24, horizon=horizon, eval_weights=np.zeros(len(EVAL_FEATURES)))
        init_tree(bot._tree, bot._value, bot._meta)
        run_simulations(g.row, g.pool.table, bot._tree, bot._value, bot._meta, np.array([np.uint64(21)], np.uint64),
                        24, bot.settings)
        return bot._value[0]

    v = root_value(0)
    assert v != 0 and v == round(v)
    assert root_value(1) == 0.0


def test_rollout_epsilon_is_the_chance_of_a_uniform_random_tuple(states):
    """A heuristic rollout step plays the heuristic's tuple with epsilon 0, a uniform random one
    with epsilon 1 (spread over the legal rows), and a mix of the two in between."""
    from tcg_env.bots.heuristic import heuristic_choice
    from tcg_env.bots.search import ROLLOUT_HEURISTIC, _rollout_index
    g = max(states, key=lambda g: len(g.legal_tuples()))
    legal = g.legal_tuples()
    n = len(legal)
    assert n >= 8
    best = heuristic_choice(g.row, g.pool.table, legal, n)
    rng = np.array([np.uint64(99)], np.uint64)

    def picks(eps):
        return [int(_rollout_index(g.row, g.pool.table, legal, n, rng, ROLLOUT_HEURISTIC, eps)) for _ in range(400)]

    assert set(picks(0.0)) == {best}
    uniform = picks(1.0)
    assert len(set(uniform)) >= min(n, 8) and uniform.count(best) < 400 * (2.0 / n + 0.05)
    half = picks(0.5).count(best) / 400
    assert 0.4 < half < 0.5 + 0.5 / n + 0.1
