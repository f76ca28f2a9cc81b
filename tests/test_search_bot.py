"""The ISMCTS search bot: it never reads hidden state, plays only legal tuples, is reproducible
under a budget in simulations, takes forced moves at once, parses its budget strictly, acts on a
batch, and beats the random bot."""
import numpy as np
import pytest

from tcg_env import GameState, VecTCG
from tcg_env.bots import make_bot
from tcg_env.bots.search import SearchBot, determinize, play_search_match
from verification.layout import (G_RNG_HI, G_RNG_LO, G_SEED_HI, G_SEED_LO, P_DECK, P_DECK_N, P_HAND,
                                 P_HAND_N, P_IKZDECK, P_IKZDECK_N, P_DISC, P_DISC_N, PH_MULLIGAN)
from verification.rules import pbase

from scenario import hidden_cards_moved, random_play_states, reshuffle_hidden

SIMS = 24


def _mid_game_states():
    """States from random play (past the mulligans), both seats to act, each a real decision."""
    return random_play_states(6, every=7, game_seed=500, skip_mulligan=True)


def _hidden_slices(s, me):
    """(start, length) of every zone ``me`` cannot see, plus the generator and seed words."""
    opp = 1 - me
    zones = []
    for p in (0, 1):
        b = pbase(p)
        zones.append((b + P_DECK, int(s[b + P_DECK_N])))
        zones.append((b + P_IKZDECK, int(s[b + P_IKZDECK_N])))
    zones.append((pbase(opp) + P_HAND, int(s[pbase(opp) + P_HAND_N])))
    return zones




def _determinized(g: GameState, seed: int) -> np.ndarray:
    s = g.row.copy()
    rng = np.array([seed], np.uint64)
    determinize(s, g.pool.table, g.current_player, rng, np.zeros(g.pool.table.shape[0], np.int32),
                np.zeros(40, np.int32))
    return s


@pytest.fixture(scope="module")
def states():
    return _mid_game_states()


def test_determinization_depends_only_on_the_information_set(states):
    rng = np.random.default_rng(1)
    changed = 0
    for g in states:
        me = g.current_player
        h = reshuffle_hidden(g, me, rng)
        changed += int(hidden_cards_moved(g.row, h.row))
        d_true, d_shuffled = _determinized(g, 99), _determinized(h, 99)
        # the same search seed deals exactly the same world from either true state
        assert np.array_equal(d_true, d_shuffled)
        # every public word and my own hand are kept; each hidden zone keeps its size and contents
        hidden = np.zeros(g.row.size, bool)
        for start, n in _hidden_slices(g.row, me):
            hidden[start:start + n] = True
            if start != pbase(1 - me) + P_HAND and start != pbase(1 - me) + P_DECK:
                assert sorted(d_true[start:start + n]) == sorted(g.row[start:start + n])
        for w in (G_RNG_LO, G_RNG_HI, G_SEED_LO, G_SEED_HI):
            hidden[w] = True
        assert np.array_equal(d_true[~hidden], g.row[~hidden])
        ob = pbase(1 - me)
        hn, dn = g.row[ob + P_HAND_N], g.row[ob + P_DECK_N]
        opp_cards = lambda r: sorted(np.concatenate([r[ob + P_HAND:ob + P_HAND + hn], r[ob + P_DECK:ob + P_DECK + dn]]))  # noqa: E731
        assert opp_cards(d_true) == opp_cards(g.row)
        # and the generator is not the true game's
        assert (d_true[G_RNG_LO], d_true[G_RNG_HI]) != (g.row[G_RNG_LO], g.row[G_RNG_HI])
    assert len(states) >= 20
    assert changed == len(states)
    # different search seeds deal different worlds (the deal is really random)
    g = states[len(states) // 2]
    assert not np.array_equal(_determinized(g, 1), _determinized(g, 2))


def test_determinization_rejects_inconsistent_public_zones(states):
    g = states[0].clone()
    me = g.current_player
    b = pbase(1 - me)
    s = g.row
    # a discard pile that shows a card the deck list does not have room for
    card = s[b + P_DECK]
    for k in range(4):
        s[b + P_DISC + s[b + P_DISC_N]] = card
        s[b + P_DISC_N] += 1
    with pytest.raises(ValueError, match="unseen cards"):
        _determinized(g, 3)


def test_search_never_reads_hidden_state(states):
    """Same search seed and budget: re-shuffling what the acting player cannot see (the
    opponent's hand within its unknown cards, every deck and IKZ deck order, the game's
    generator) never changes the chosen tuple."""
    rng = np.random.default_rng(2)
    seats = set()
    distinct_seed_choices = 0
    picked = states[::3]
    for g in picked:
        me = g.current_player
        seats.add(me)
        a = SearchBot(11, simulations=2 * SIMS).act(g)
        for _ in range(2):
            h = reshuffle_hidden(g, me, rng)
            assert hidden_cards_moved(h.row, g.row)
            assert SearchBot(11, simulations=2 * SIMS).act(h) == a
        distinct_seed_choices += int(SearchBot(12, simulations=2 * SIMS).act(g) != a)
    assert len(picked) >= 30
    assert seats == {0, 1}
    # the choice does depend on the search's own randomness somewhere, so the equality above
    # is not the trivial one of a search that ignores its samples
    assert distinct_seed_choices > 0


def test_search_plays_only_legal_tuples_and_is_reproducible():
    for seed in (0, 1):
        g = GameState.new(None, None, seed=40 + seed)
        a, b = SearchBot(seed, simulations=16), SearchBot(seed, simulations=16)
        moves = 0
        while not g.done and moves < 400:
            x, y = a.act(g), b.act(g)
            assert x == y
            assert g.explain(x) is None
            g.apply(x)
            moves += 1
        assert g.done


def test_forced_move_returns_at_once_without_searching():
    rng = np.random.default_rng(0)
    forced = None
    for seed in range(20):
        g = GameState.new(None, None, seed=seed)
        while not g.done and len(g.legal_tuples()) != 1:
            legal = g.legal_tuples()
            g.apply(legal[rng.integers(len(legal))])
        if not g.done:
            forced = g
            break
    assert forced is not None
    g = forced
    bot = SearchBot(0, simulations=1_000_000)
    before = bot._rng.copy()
    assert bot.act(g) == tuple(int(x) for x in g.legal_tuples()[0])
    assert np.array_equal(bot._rng, before)   # no search seed was drawn
    with pytest.raises(ValueError, match="game is over"):
        while not g.done:
            g.apply(g.legal_tuples()[0])
        bot.act(g)


def test_budget_syntax():
    assert make_bot("search").simulations > 0
    b = make_bot("search:200", seed=3)
    assert isinstance(b, SearchBot) and (b.simulations, b.ms, b.seed) == (200, None, 3)
    b = make_bot("search:50ms")
    assert (b.simulations, b.ms) == (None, 50.0)
    for bad in ("search:", "search:0", "search:-3", "search:abc", "search:1.5", "search:5s", "search:ms",
                "search:0ms", "search:99999999", "search:200:1"):
        with pytest.raises(ValueError, match=r"search:N .*search:Nms"):
            make_bot(bad)
    with pytest.raises(ValueError, match="search"):
        make_bot("searchy")
    with pytest.raises(ValueError, match="not both"):
        SearchBot(simulations=10, ms=10)


def test_time_budget_plays_legal_tuples():
    g = GameState.new(None, None, seed=5)
    bot = make_bot("search:3ms", seed=1)
    for _ in range(60):
        if g.done:
            break
        t = bot.act(g)
        assert g.explain(t) is None
        g.apply(t)


def test_act_batch_on_a_vec_env_matches_act():
    env = VecTCG(6, seed=9)
    bot = SearchBot(4, simulations=12)
    heur = make_bot("heuristic")
    checked = 0
    for _ in range(40):
        rng = np.full(env.num_games, 12345, np.uint64)
        mine = np.nonzero(env.current_player == 0)[0]
        theirs = np.nonzero(env.current_player == 1)[0]
        acts = heur.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count, rows=theirs)
        bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count, out=acts, rng=rng, rows=mine)
        for i in mine[:2]:
            single = SearchBot(4, simulations=12)
            single._rng[0] = np.uint64(12345)
            assert tuple(acts[i]) == single.act(env.game(i))
            checked += 1
        env.step(acts)
        assert env.illegal_counts.sum() == 0
    assert checked > 20


def test_search_beats_random():
    res = play_search_match(SearchBot(0, simulations=SIMS), "random", games=20, seed=3)
    assert res["games"] == 20
    assert res["win_rate"] >= 0.8, res


def test_play_and_eval_take_a_search_opponent(tmp_path, capsys):
    import io
    import json

    import torch

    from policy import PolicyConfig, TCGPolicy
    from tcg_env.play import play_game
    from training.checkpoint import save_policy
    from training.cli import main

    out = io.StringIO()
    res = play_game(opponent="search:8", seed=5, input=io.StringIO("1\n" * 300), output=out, plain=True)
    assert "Bot: " in out.getvalue() and res.replay.seats["bot"] == "search:8"

    torch.manual_seed(0)
    path = save_policy(TCGPolicy(PolicyConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64)), tmp_path / "p.pt")
    assert main(["eval", "--checkpoint", str(path), "--opponent", "search:8", "--games", "4", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rec["opponent"] == "search:8" and rec["games"] == 4
    assert rec["wins"] + rec["losses"] + rec["draws"] == 4 and rec["illegal_actions"] == 0
    assert main(["eval", "--checkpoint", str(path), "--opponent", "search:0ms", "--games", "4"]) == 2
    assert "search:Nms" in capsys.readouterr().err
    for cmd in ("play", "eval"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        assert "search[:BUDGET]" in capsys.readouterr().out


def _zones(s, me):
    """The dealt order of every zone ``me`` cannot see: my deck, the opponent's hand then deck
    (one pool), and each IKZ deck."""
    mb, ob = pbase(me), pbase(1 - me)
    ohn, odn = int(s[ob + P_HAND_N]), int(s[ob + P_DECK_N])
    return {
        "my deck": tuple(s[mb + P_DECK:mb + P_DECK + s[mb + P_DECK_N]]),
        "opponent hand": tuple(sorted(s[ob + P_HAND:ob + P_HAND + ohn])),
        "opponent hand+deck": tuple(s[ob + P_HAND:ob + P_HAND + ohn]) + tuple(s[ob + P_DECK:ob + P_DECK + odn]),
        "IKZ deck 0": tuple(s[pbase(0) + P_IKZDECK:pbase(0) + P_IKZDECK + s[pbase(0) + P_IKZDECK_N]]),
        "IKZ deck 1": tuple(s[pbase(1) + P_IKZDECK:pbase(1) + P_IKZDECK + s[pbase(1) + P_IKZDECK_N]]),
    }


def test_determinization_shuffles_every_hidden_zone(states):
    """Each hidden zone is really dealt at random, not left in the canonical (ascending card
    id) order: over a few search seeds my deck, the opponent's hand (as a set of cards) and its
    hand+deck, and both IKZ decks each come out in more than one way whenever they can."""
    checked = set()
    for g in states[::4]:
        me = g.current_player
        deals = [_zones(_determinized(g, seed), me) for seed in range(1, 13)]
        ob = pbase(1 - me)
        hn = int(g.row[ob + P_HAND_N])
        for zone in deals[0]:
            seen = {d[zone] for d in deals}
            cards = deals[0][zone] if zone != "opponent hand" else deals[0]["opponent hand+deck"]
            if len(set(cards)) < 2 or (zone == "opponent hand" and not 0 < hn < len(cards)):
                continue   # one arrangement only: nothing to shuffle
            assert len(seen) > 1, (zone, seen)
            checked.add(zone)
    assert checked == {"my deck", "opponent hand", "opponent hand+deck", "IKZ deck 0", "IKZ deck 1"}


def test_determinization_shuffle_is_uniform():
    """The deal is a uniform shuffle (Fisher-Yates): every order of four cards comes up about
    equally often (a cyclic-only Sattolo shuffle or a skipped last swap would miss most)."""
    from tcg_env.bots.search import _shuffle_pool
    rng = np.array([0x9E3779B97F4A7C15], np.uint64)
    counts = {}
    for _ in range(2400):
        pool = np.arange(1, 5, dtype=np.int32)
        _shuffle_pool(pool, 4, rng)
        counts[tuple(pool)] = counts.get(tuple(pool), 0) + 1
    assert len(counts) == 24
    assert 50 < min(counts.values()) and max(counts.values()) < 160, counts


def _lethal_unless_blocked():
    """A real position (from random play, so its hidden zones determinize) where the actor p's
    attack on the enemy leader wins at once unless the defender blocks, and after any block p has
    nothing left but END_TURN or MOVE; p's own leader is then set to 1 health, so the defender,
    blocking, is the one likely to win. Returns (state, attack tuple)."""
    from verification.layout import P_HP, PH_MAIN
    from verification.spec import ENT_OPP_LEADER, Primary
    rng = np.random.default_rng(0)
    for game in range(40):
        g = GameState.new(None, None, seed=900 + game)
        while not g.done:
            legal = g.legal_tuples()
            p = g.current_player
            for a in (legal if g.phase == PH_MAIN else []):
                if a[0] != Primary.ATTACK or a[2] != ENT_OPP_LEADER:
                    continue
                root = g.clone()
                root.row[pbase(1 - p) + P_HP] = 1
                after = root.clone().apply(tuple(a))
                if after.done or after.current_player != 1 - p:
                    continue
                reply = after.legal_tuples()
                blocks = [after.clone().apply(tuple(r)) for r in reply if r[0] == Primary.BLOCK]
                unblocked = after.clone().apply((int(Primary.NO_BLOCK), 0, 0, 0))
                if blocks and len(blocks) + 1 == len(reply) and unblocked.done and unblocked.winner == p and all(
                        not b.done and b.current_player == p and
                        all(r[0] in (Primary.END_TURN, Primary.MOVE) for r in b.legal_tuples()) for b in blocks):
                    root.row[pbase(p) + P_HP] = 1
                    return root, tuple(int(x) for x in a)
            g.apply(legal[rng.integers(len(legal))])
    raise AssertionError("no position found")


def test_the_search_lets_the_opponent_choose_its_own_best_reply():
    """At the defender's nodes the tree maximises the defender's value, not the searcher's: facing
    an attack that is lethal unless blocked, the defender's replies in the tree are mostly the
    block, and the attack is valued as losing. (With the searcher's value maximised everywhere,
    the tree lets the defender decline to block and scores the attack as a sure win.)"""
    from tcg_env.bots.search import N_CHILD, N_KEY, N_SIB, N_VISITS, action_key, init_tree, run_simulations
    from verification.spec import Primary
    st, a = _lethal_unless_blocked()
    bot = SearchBot(seed=3, simulations=400)
    init_tree(bot._tree, bot._value, bot._meta)
    rng = np.array([np.uint64(12345)], np.uint64)
    assert run_simulations(st.row, st.pool.table, bot._tree, bot._value, bot._meta, rng, 400, bot.settings) == 400
    tree, value = bot._tree, bot._value

    def children(node):
        c = tree[node, N_CHILD]
        while c >= 0:
            yield c
            c = tree[c, N_SIB]

    me = st.current_player
    node = next(c for c in children(0) if tree[c, N_KEY] == action_key(st.row, me, *a))
    after = st.clone().apply(a)
    block_keys = {action_key(after.row, 1 - me, *r) for r in after.legal_tuples() if r[0] == Primary.BLOCK}
    visits = {int(tree[c, N_KEY]): int(tree[c, N_VISITS]) for c in children(node)}
    blocked = sum(v for k, v in visits.items() if k in block_keys)
    assert blocked > 0.8 * sum(visits.values()), visits
    assert value[node] / tree[node, N_VISITS] < 0.0
