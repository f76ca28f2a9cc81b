"""Second mutation audit of the scripted bots: ``tcg_env/bots/search.py`` (the ISMCTS bot),
``tcg_env/bots/heuristic.py`` and ``tcg_env/bots/policy_bot.py``: the cases the older tests
(tests/test_search_bot.py, tests/test_search_internals.py, tests/test_bots.py,
tests/test_checkpoint.py) left open.

70 one-line mutants run (41 in search.py, 23 in heuristic.py, 6 in policy_bot.py; a 71st, S49, was
not run for time), 63 survived the older tests, 3 of them equivalent: S10 (dropping the
"some child already" guard of the widening test: with no child the bound max(1, ...) >= 1 lets
the node widen anyway), S22 (``kind != RANDOM`` for ``kind == HEURISTIC``: the constructor allows
only those two kinds), P05 (``entropy="exact"`` for ``"sampled"``: the bot reads only the
actions). 2 are left untested: S13 (ties among equally scored unexpanded actions broken by the
last key instead of the first: no document orders them, and key order is not the legal order
the heuristic's own tie rule uses) and H09 (the mulligan's "cost 5 or more" threshold moved to 6:
an undocumented tuning constant). The other 58 fail here (S27, a search run on a finished row,
by a segmentation fault of the test process).

Where the older tests were thinnest: the heuristic's scoring (only its win rate against the
random bot and its tie rule were read back, so any one rule could be flipped: exact-lethal
burn, exact kills, the curve, ranged units to the alley, the token's cost, weapons on armed
units, blocking an exactly-lethal attack...); the search's rollout length and turn limit, the
prior switch, the actor column and availability of a new node, the widening bound's edge
(v ** alpha equal to the child count), counts that under-count in the determinization, the
search seed's forced low bit, the ms budget's chunks, act_batch on finished rows, default rows,
per-row generators and changing batch sizes, inclusive argument limits and the documented
defaults, play_search_match's deck/seat layout; and the checkpoint bot's seed and greedy flag.

Each test names the mutants it was written for (S = search.py, H = heuristic.py, P =
policy_bot.py); each fails on its mutants and passes on clean code.
"""
import numpy as np
import pytest

from tcg_env import GameState
from tcg_env.bots import HeuristicBot
from tcg_env.bots import search as S
from tcg_env.bots.heuristic import lethal_on_board, score
from tcg_env.bots.search import (N_AVAIL, N_CHILD, N_KEY, N_PLAYER, N_SIB, N_VISITS, SearchBot,
                                 _evaluate, _unique_keys, determinize, init_tree, run_simulations, search_row)
from tcg_env.engine import apply_action
from verification.layout import DONE_NO, G_DONE, G_TURN
from verification.legal import enumerate_legal
from verification.spec import ENT_MY_BOARD, ENT_MY_HAND, ENT_OPP_BOARD, ENT_OPP_LEADER, MAX_LEGAL, Primary

from scenario import (Scenario, attack, block, end_turn, no_block, play_spell, play_unit, random_play_states)


@pytest.fixture(scope="module")
def states():
    """Real mid-game decisions (past the mulligans) from random play, both seats."""
    return random_play_states(3, every=6, game_seed=830, skip_mulligan=True)


def _heur(g):
    return HeuristicBot(0).act(g)


# ============================================================================ heuristic
# Every position below is built so that the rule under test alone decides the heuristic's tuple
# (the competing tuple wins when the rule is broken or ignored).

def test_heuristic_plays_the_most_expensive_affordable_unit_first():
    """H10: 'plays on curve (expensive affordable cards first)': with 5 IKZ and a 1-cost and a
    5-cost unit in hand (the cheap one listed first), the 5-cost unit is played."""
    g = (Scenario().main_phase(active=0).hand(0, ["Scrapyard Mutt", "Siege Golem"]).ikz(0, n=5).build())
    t = _heur(g)
    assert t[0] == Primary.PLAY_UNIT and t[1] == ENT_MY_HAND + 1, t


def test_heuristic_puts_ranged_units_in_the_alley_and_melee_units_in_the_garden():
    """H11: a RANGED unit is played into the alley (slots 5-9), a melee one into the garden."""
    g = Scenario().main_phase(active=0).hand(0, ["Hillside Longbowman"]).ikz(0, n=3).build()
    t = _heur(g)
    assert t[0] == Primary.PLAY_UNIT and t[2] >= 5, t
    g = Scenario().main_phase(active=0).hand(0, ["Thornback Boar"]).ikz(0, n=3).build()
    t = _heur(g)
    assert t[0] == Primary.PLAY_UNIT and t[2] < 5, t


def test_heuristic_avoids_spending_the_ikz_token_for_nothing():
    """H21: using the one-use IKZ token costs a play 2.5 points: with 2 IKZ and the token, a
    2-cost unit paid without the token beats a 3-cost unit that needs it (which the curve rule
    alone would prefer)."""
    g = (Scenario().main_phase(active=0).hand(0, ["Cogwork Scout", "Ember Drake"]).ikz(0, n=2).token(0).build())
    legal = {tuple(int(x) for x in t) for t in g.legal_tuples()}
    assert play_unit(1, 0, token=True) in legal and play_unit(1, 0) not in legal
    t = _heur(g)
    assert t[0] == Primary.PLAY_UNIT and t[1] == ENT_MY_HAND + 0 and t[3] == 0, t


def test_heuristic_aims_removal_at_the_unit_it_kills():
    """H02: a 2-damage spell goes to the unit it kills outright (2 health: exactly lethal), not
    to a bigger unit it only scratches."""
    g = (Scenario().main_phase(active=0).hand(0, ["Spark Jolt"]).ikz(0, n=1)
         .unit(1, 0, "Thornback Boar", keywords=0).unit(1, 1, "Prowling Wolf").build())
    assert _heur(g) == play_spell(0, ENT_OPP_BOARD + 1)


def test_heuristic_values_a_unit_by_its_attack_more_than_its_health():
    """H01: a unit's value weighs attack 1.5 times: a 3-damage spell that can kill either a 2/1
    or a 1/2 kills the 2/1 (the 1/2 sits in the first slot)."""
    g = (Scenario().main_phase(active=0).hand(0, ["Firebolt"]).ikz(0, n=2)
         .unit(1, 0, "Wisp Lantern", atk=1, hp=2).unit(1, 1, "Scrapyard Mutt", atk=2, hp=1).build())
    assert _heur(g) == play_spell(0, ENT_OPP_BOARD + 1)


def test_heuristic_burns_the_enemy_leader_for_exact_lethal():
    """H04: a burn spell that deals exactly the enemy leader's remaining health is played at once
    (it wins the game), ahead of any unit."""
    g = (Scenario().main_phase(active=0).hand(0, ["Siege Golem", "Ember Lance"]).ikz(0, n=5)
         .leader(1, hp=3).build())
    t = _heur(g)
    assert t[0] == Primary.PLAY_SPELL and t[1] == ENT_MY_HAND + 1, t


def test_heuristic_aims_damage_at_the_enemy_leader_not_its_own():
    """H23: a 'deal 3 damage to any unit or leader' spell with no unit on the board is aimed at
    the enemy leader (pointer 1), never at its own leader (pointer 0)."""
    g = Scenario().main_phase(active=0).hand(0, ["Firebolt"]).ikz(0, n=2).build()
    assert _heur(g) == play_spell(0, ENT_OPP_LEADER)


def test_heuristic_does_not_waste_a_heal_on_full_health():
    """H05, H12: a heal is worth only the health it restores: with both leaders at full health
    and no units, Mending Light is not cast (the turn ends)."""
    g = Scenario().main_phase(active=0).hand(0, ["Mending Light"]).ikz(0, n=1).build()
    assert _heur(g) == end_turn()


def test_heuristic_does_not_draw_past_a_full_hand():
    """H06: a draw spell is worth little when the cards drawn would not fit (a 9-card hand
    drawing 2): the turn ends instead; with room in hand the same spell is cast."""
    filler = ["Deepforge Colossus"] * 8
    g = Scenario().main_phase(active=0).hand(0, ["Secret Ledger"] + filler).ikz(0, n=3).leader(0, used=True).build()
    assert _heur(g) == end_turn()
    g = Scenario().main_phase(active=0).hand(0, ["Secret Ledger"] + filler[:3]).ikz(0, n=3).leader(0, used=True).build()
    assert _heur(g)[:2] == (int(Primary.PLAY_SPELL), ENT_MY_HAND)


def test_heuristic_arms_the_unit_without_a_weapon():
    """H13: a weapon goes to a unit without one, not onto a unit whose weapon it would replace
    (even a bigger unit)."""
    g = (Scenario().main_phase(active=0).hand(0, ["Rusty Shiv"]).ikz(0, n=1)
         .unit(0, 0, "Siege Golem", weapon="Rusty Shiv", ready=False)
         .unit(0, 1, "Scrapyard Mutt", ready=False).build())
    t = _heur(g)
    assert t[0] == Primary.ATTACH_WEAPON and t[2] == ENT_MY_BOARD + 1, t


def test_heuristic_goes_face_on_exact_lethal():
    """H07: 'attacks the leader when the board has lethal': attack equal to the enemy leader's
    health is lethal, so the attack goes to the leader, not to a favourable trade."""
    g = (Scenario().main_phase(active=0).unit(0, 0, "Siege Golem").unit(1, 0, "Scrapyard Mutt")
         .leader(1, hp=5).build())
    assert _heur(g) == attack(0)
    g = (Scenario().main_phase(active=0).unit(0, 0, "Siege Golem").unit(1, 0, "Scrapyard Mutt")
         .leader(1, hp=6).build())
    assert _heur(g) == attack(0, 0)


def test_heuristic_attacks_the_leader_with_its_strongest_unit_first():
    """H14: with no lethal and nothing to trade with, the bigger attacker hits the leader first."""
    g = (Scenario().main_phase(active=0).unit(0, 0, "Scrapyard Mutt").unit(0, 1, "Siege Golem")
         .leader(1, hp=20).build())
    assert _heur(g) == attack(1)


def test_heuristic_takes_a_trade_that_kills_exactly():
    """H15: an attacker whose attack equals the defender's health kills it; surviving the
    retaliation, that trade beats hitting the leader."""
    g = (Scenario().main_phase(active=0).unit(0, 0, "Thornback Boar", keywords=0)
         .unit(1, 0, "Banner Knight", atk=2, hp=3).leader(1, hp=20).build())
    assert _heur(g) == attack(0, 0)


def test_heuristic_takes_the_more_valuable_of_two_free_kills():
    """H17: of two kills the attacker survives, the more valuable victim (the 2/2, not the 2/1
    in the first slot)."""
    g = (Scenario().main_phase(active=0).unit(0, 0, "Siege Golem")
         .unit(1, 0, "Scrapyard Mutt", atk=2, hp=1).unit(1, 1, "Cogwork Scout", atk=2, hp=2).leader(1, hp=20).build())
    assert _heur(g) == attack(0, 1)


def test_heuristic_knows_a_ranged_unit_in_the_alley_takes_no_retaliation():
    """H16: a RANGED unit attacking from the alley survives whatever the defender's attack, so
    killing a 3/2 with a 2/3 archer from the alley is a free kill that beats playing a unit."""
    g = (Scenario().main_phase(active=0).unit(0, 5, "Hillside Longbowman")
         .unit(1, 0, "Ember Drake", atk=3, hp=2).hand(0, ["Scrapyard Mutt"]).ikz(0, n=1).leader(1, hp=20).build())
    assert _heur(g) == attack(5, 0)


def test_heuristic_does_not_trade_a_unit_down():
    """H25: a kill that also loses the attacker, which is worth more than its victim, is barely
    better than nothing: a harmless attack on the same GUARD (the attacker survives) comes first."""
    g = (Scenario().main_phase(active=0).unit(0, 0, "Ember Drake", atk=3, hp=1).unit(0, 1, "Wisp Lantern", atk=1, hp=2)
         .unit(1, 0, "Rivet Sentry", atk=1, hp=2).leader(1, hp=20).build())
    assert _heur(g) == attack(1, 0)


def test_heuristic_prefers_a_safe_attack_to_ending_the_turn():
    """H28: an attack that costs nothing (the attacker survives) is better than ending the turn."""
    g = (Scenario().main_phase(active=0).unit(0, 0, "Wisp Lantern", atk=1, hp=2)
         .unit(1, 0, "Rivet Sentry", atk=1, hp=2).leader(1, hp=20).build())
    assert _heur(g) == attack(0, 0)


def test_heuristic_moves_a_ranged_unit_out_of_the_garden():
    """H20: a RANGED unit standing in the garden (that cannot attack now) moves to the alley."""
    g = Scenario().main_phase(active=0).unit(0, 0, "Hillside Longbowman", ready=False).build()
    t = _heur(g)
    assert t[0] == Primary.MOVE and t[1] == ENT_MY_BOARD + 0, t


def _attacked(attacker, blocker, defender_hp):
    """Player 1 attacks player 0's leader with ``attacker`` (slot 0); player 0 may block with
    ``blocker`` (slot 0). Returns the block decision."""
    name, atk, hp = attacker
    bname, batk, bhp = blocker
    g = (Scenario().main_phase(active=1, turn=4).unit(1, 0, name, atk=atk, hp=hp, keywords=0)
         .unit(0, 0, bname, atk=batk, hp=bhp, keywords=0).leader(0, hp=defender_hp).build())
    g.apply(attack(0))
    assert g.current_player == 0 and block(0) in {tuple(int(x) for x in t) for t in g.legal_tuples()}
    return g


def test_heuristic_blocks_an_attack_that_would_be_exactly_lethal():
    """H18: 'blocks to survive': an attack for exactly the leader's health is blocked, even by a
    blocker that dies for nothing."""
    assert _heur(_attacked(("Siege Golem", 5, 6), ("Scrapyard Mutt", 2, 1), 5)) == block(0)
    assert _heur(_attacked(("Siege Golem", 5, 6), ("Scrapyard Mutt", 2, 1), 6)) == no_block()


def test_heuristic_does_not_block_into_an_even_or_losing_trade():
    """H19, H26: a blocker with exactly the attacker's attack as health dies blocking; killing
    an attacker worth less than itself is not worth it, so the attack is let through."""
    assert _heur(_attacked(("Scrapyard Mutt", 2, 1), ("Cogwork Scout", 2, 2), 20)) == no_block()


# ============================================================================ search: determinization
def _det(g, seed, me=None):
    s = g.row.copy()
    determinize(s, g.pool.table, g.current_player if me is None else me, np.array([seed], np.uint64),
                np.zeros(g.pool.table.shape[0], np.int32), np.zeros(40, np.int32))
    return s


def test_determinize_refuses_public_zones_that_under_count(states):
    """S06: 'a count that does not add up raises': a card missing from the public zones (one
    card fewer in the opponent's discard, so one unseen card more than its hand and deck hold)
    raises for the opponent's pool, as it does for my deck, and is never dealt around with a
    card silently dropped."""
    from verification.layout import P_DISC_N
    from verification.rules import pbase
    checked = 0
    for g in states[:20]:
        me = g.current_player
        for who in (me, 1 - me):
            b = pbase(who)
            if g.row[b + P_DISC_N] == 0:
                continue
            h = g.clone()
            h.row[b + P_DISC_N] -= 1
            with pytest.raises(ValueError, match="do not match"):
                _det(h, 7)
            checked += int(who != me)
    assert checked >= 3


# ============================================================================ search: one simulation by hand
def _one_simulation_by_hand(g, bot, seed):
    """What the module docstring says one simulation from a fresh tree does, step by step with
    the engine's public functions: determinize with the search generator, expand the root action
    the heuristic scores highest, roll out with the heuristic for ``horizon`` decisions or until
    ``turns`` turns past the root's are over, and evaluate from the searcher's view."""
    cards = g.pool.table
    me = g.current_player
    s = _det(g, seed)
    legal = np.zeros((MAX_LEGAL, 4), np.int8)
    n = enumerate_legal(s, cards, legal)
    keys, rows = np.empty(MAX_LEGAL, np.int64), np.empty(MAX_LEGAL, np.int64)
    m = _unique_keys(s, me, legal, n, keys, rows)
    lethal = lethal_on_board(s, cards, me, legal, n)
    v = np.array([score(s, cards, me, *legal[rows[t]], lethal) for t in range(m)])
    j = int(np.argmax(v))
    unique_best = int(np.sum(v == v[j])) == 1
    apply_action(s, cards, *legal[rows[j]])
    horizon = int(bot.settings[S.S_HORIZON])
    turns = int(bot.settings[S.S_TURNS])
    last = int(g.row[G_TURN]) + turns if turns > 0 else 1 << 30
    steps = 0
    from tcg_env.bots.heuristic import heuristic_choice
    while s[G_DONE] == DONE_NO and (horizon <= 0 or steps < horizon) and s[G_TURN] <= last:
        n = enumerate_legal(s, cards, legal)
        k = heuristic_choice(s, cards, legal, n)
        apply_action(s, cards, *legal[k])
        steps += 1
    return int(keys[j]), float(_evaluate(s, cards, me, bot.settings)), unique_best


def _one_simulation(g, bot, seed):
    tree, value, meta = bot._tree, bot._value, bot._meta
    init_tree(tree, value, meta)
    assert run_simulations(g.row, g.pool.table, tree, value, meta, np.array([seed], np.uint64), 1, bot.settings) == 1
    return tree, value, meta


@pytest.mark.parametrize("kw", [dict(), dict(horizon=3), dict(horizon=0, turns=1)], ids=["default", "h3", "turns1"])
def test_one_simulation_expands_the_heuristics_favourite_and_rolls_out_to_the_horizon(states, kw):
    """S15-S20, S36-S38: from a fresh tree one simulation makes exactly one root child (the
    action the heuristic scores highest, by the searcher, available once, visited once) and
    backs up the evaluation after a heuristic rollout of exactly ``horizon`` decisions (or until
    ``turns`` turns past the root's are over); the same by hand with one decision more or one
    turn more gives another value somewhere, so the count is really checked."""
    bot = SearchBot(0, simulations=4, **kw)
    longer = SearchBot(0, simulations=4, **{k: v + 1 for k, v in kw.items()} if kw else dict(horizon=16))
    checked = differ = 0
    for i, g in enumerate(states[:40]):
        seed = 1000 + i
        key, want, unique_best = _one_simulation_by_hand(g, bot, seed)
        if not unique_best:
            continue   # the order among equally scored actions is no promise
        tree, value, meta = _one_simulation(g, bot, seed)
        assert meta[0] == 2 and tree[0, N_CHILD] == 1 and tree[1, N_SIB] == -1
        assert tree[1, N_KEY] == key
        assert (tree[1, N_VISITS], tree[1, N_AVAIL], tree[1, N_PLAYER]) == (1, 1, g.current_player)
        assert tree[0, N_VISITS] == 1
        assert value[1] == pytest.approx(want, abs=1e-12) and value[0] == pytest.approx(want, abs=1e-12)
        differ += int(abs(_one_simulation_by_hand(g, longer, seed)[1] - want) > 1e-9)
        checked += 1
    assert checked >= 10 and differ >= 2, (checked, differ)


def test_without_the_prior_a_random_unexpanded_action_is_expanded(states):
    """S14, S17, S36: ``prior=False`` expands a random unexpanded action (so over a few search
    seeds several different first children), where the default expands the heuristic's
    favourite every time."""
    g = max(states, key=lambda g: len(g.legal_tuples()))
    firsts = {True: set(), False: set()}
    for prior in (True, False):
        bot = SearchBot(0, simulations=4, prior=prior)
        for seed in range(1, 13):
            tree, _, _ = _one_simulation(g, bot, seed)
            firsts[prior].add(int(tree[1, N_KEY]))
    assert len(firsts[True]) == 1
    assert len(firsts[False]) >= 4


def test_every_node_records_the_player_whose_action_it_is(states):
    """S16: the tree's actor column (N_PLAYER) is the player who took the node's action, the
    one the key encodes, for the opponent's nodes too (which the tree must hold after a few
    hundred simulations mid-game)."""
    g = states[10]
    bot = SearchBot(0, simulations=200)
    init_tree(bot._tree, bot._value, bot._meta)
    run_simulations(g.row, g.pool.table, bot._tree, bot._value, bot._meta, np.array([5], np.uint64), 200, bot.settings)
    n = int(bot._meta[0])
    players = bot._tree[1:n, N_PLAYER]
    assert np.array_equal(players, bot._tree[1:n, N_KEY] // (16 * 4096 * 64 * 2))
    assert set(players.tolist()) == {0, 1}


def test_progressive_widening_adds_a_child_exactly_while_below_the_bound(states):
    """S10-S12: at the root (where every action is available every time) a simulation expands
    a new child exactly when the root has fewer than ``max(1, pw_c * visits ** pw_alpha)``
    children: simulation by simulation the count of root children follows that rule, for the
    default (1, 0.5) and for (2, 0.25)."""
    g = max(states, key=lambda g: len(g.legal_tuples()))
    legal = g.legal_tuples()
    keys, rows = np.empty(MAX_LEGAL, np.int64), np.empty(MAX_LEGAL, np.int64)
    m = _unique_keys(g.row, g.current_player, legal, len(legal), keys, rows)
    assert m >= 12
    for pw_c, pw_alpha in ((1.0, 0.5), (2.0, 0.25)):
        bot = SearchBot(0, simulations=60, pw_c=pw_c, pw_alpha=pw_alpha)
        tree, value, meta = bot._tree, bot._value, bot._meta
        init_tree(tree, value, meta)
        rng = np.array([np.uint64(31)], np.uint64)
        k = 0
        for v in range(60):
            run_simulations(g.row, g.pool.table, tree, value, meta, rng, 1, bot.settings)
            kids, c = 0, tree[0, N_CHILD]
            while c >= 0:
                kids += 1
                c = tree[c, N_SIB]
            want = k + int(k < m and k < max(1.0, pw_c * v ** pw_alpha))
            assert kids == want, (pw_c, pw_alpha, v, kids, want)
            k = kids


# ============================================================================ search: seeds and budgets
def test_search_seed_zero_is_a_working_generator(states):
    """S24: the search generator's low bit is forced on (a zero xorshift state would stay zero
    and deal the same world in every simulation), so seeds 0 and 1 name the same search."""
    g = next(g for g in states if len(g.legal_tuples()) > 4)
    legal = g.legal_tuples()
    trees = []
    for seed in (0, 1, 2):
        bot = SearchBot(0, simulations=40)
        search_row(g.row, g.pool.table, legal, len(legal), seed, 40, bot._tree, bot._value, bot._meta, bot.settings)
        n = int(bot._meta[0])
        trees.append((bot._tree[:n].copy(), bot._value[:n].copy()))
    assert np.array_equal(trees[0][0], trees[1][0]) and np.array_equal(trees[0][1], trees[1][1])
    assert not (np.array_equal(trees[0][0], trees[2][0]) and np.array_equal(trees[0][1], trees[2][1]))


class _Clock:
    """A fake ``time`` module for the search: every perf_counter() call is 1 ms later."""

    def __init__(self):
        self.t = 0.0

    def perf_counter(self):
        self.t += 0.001
        return self.t


def test_a_budget_in_ms_runs_the_same_simulations_as_search_row(states, monkeypatch):
    """S25: 'a budget in milliseconds runs the same simulations in chunks': with the clock
    faked, the ms search ends with the very tree and row that ``search_row`` gives for its
    seed and its number of simulations (an even seed included: both force the low bit)."""
    g = next(g for g in states if len(g.legal_tuples()) > 4)
    legal = g.legal_tuples()
    for seed in (2, 7):
        monkeypatch.setattr(S, "time", _Clock())
        bot = SearchBot(0, ms=9)
        k = bot._search(g.row, g.pool.table, legal, len(legal), np.uint64(seed))
        done = bot.last_simulations
        assert 8 <= done <= 40
        ref = SearchBot(0, simulations=done)
        k2 = search_row(g.row, g.pool.table, legal, len(legal), seed, done, ref._tree, ref._value, ref._meta,
                        ref.settings)
        n = int(ref._meta[0])
        assert k == k2 and bot._meta[0] == n
        assert np.array_equal(bot._tree[:n], ref._tree[:n]) and np.array_equal(bot._value[:n], ref._value[:n])


def test_last_simulations_counts_only_searched_decisions():
    """S26: a mulligan is played by the heuristic's rule without a search, so it counts no
    simulations; a searched decision counts its budget."""
    g = GameState.new(None, None, seed=3)
    bot = SearchBot(0, simulations=6)
    bot.last_simulations = -1
    bot.act(g)   # the first player's mulligan
    assert bot.last_simulations == 0
    while g.phase == 0 or len(g.legal_tuples()) < 2:
        g.apply(tuple(int(x) for x in g.legal_tuples()[0]))
    bot.act(g)
    assert bot.last_simulations == 6


# ============================================================================ search: act_batch
def _batch(games):
    from verification.layout import STATE_SIZE
    n = len(games)
    state = np.zeros((n, STATE_SIZE), np.int32)
    legal = np.zeros((n, MAX_LEGAL, 4), np.int8)
    legal_n = np.zeros(n, np.int32)
    for i, g in enumerate(games):
        state[i] = g.row
        t = g.legal_tuples()
        legal[i, :len(t)] = t
        legal_n[i] = len(t)
    return state, legal, legal_n


def test_act_batch_leaves_finished_rows_alone_and_acts_on_every_row_by_default(states):
    """S27, S30: rows with no decision (a finished game) keep what ``out`` held; with ``rows``
    left out every other row is acted on, the last one included."""
    over = GameState.new(None, None, seed=1)
    while not over.done:
        over.apply(HeuristicBot(0).act(over))
    games = [states[3], over, states[4], states[5]]
    state, legal, legal_n = _batch(games)
    out = np.full((4, 4), 99, np.int32)
    SearchBot(1, simulations=8).act_batch(state, games[0].pool.table, legal, legal_n, out=out)
    assert (out[1] == 99).all()
    for i in (0, 2, 3):
        assert games[i].explain(tuple(int(x) for x in out[i])) is None


def test_act_batch_gives_every_row_its_own_generator_for_any_batch_size(states):
    """S28, S29: by default each row of a batch draws its search seeds from its own generator:
    the same position in every row of a batch is searched with different seeds (so not always
    to the same tuple); and one bot can act on batches of different sizes."""
    g = max(states, key=lambda g: len(g.legal_tuples()))
    bot = SearchBot(2, simulations=12)
    state, legal, legal_n = _batch([g] * 3)
    out = bot.act_batch(state, g.pool.table, legal, legal_n)
    for r in out:
        assert g.explain(tuple(int(x) for x in r)) is None
    state, legal, legal_n = _batch([g] * 8)   # a bigger batch after a smaller one
    out = bot.act_batch(state, g.pool.table, legal, legal_n)
    assert len({tuple(r) for r in out}) >= 2


# ============================================================================ search: settings
def test_search_bot_defaults_are_the_documented_ones():
    """S34, S35: the documented defaults: 400 simulations, heuristic rollouts without epsilon,
    a horizon of 15 decisions, no turn limit, c = 0.4, the heuristic prior and widening
    1 * sqrt(visits)."""
    bot = SearchBot()
    st = bot.settings
    assert bot.simulations == 400 and bot.ms is None
    assert (st[S.S_C], st[S.S_ROLLOUT], st[S.S_EPSILON], st[S.S_HORIZON], st[S.S_TURNS], st[S.S_PRIOR],
            st[S.S_PW_C], st[S.S_PW_ALPHA]) == (0.4, S.ROLLOUT_HEURISTIC, 0.0, 15, 0, 1.0, 1.0, 0.5)


def test_search_bot_settings_carry_every_argument():
    """S36-S38: each argument lands in its setting."""
    st = SearchBot(rollout="random", epsilon=0.3, horizon=5, turns=2, c=0.7, prior=False, pw_c=2.0,
                   pw_alpha=0.25, eval_weights=np.arange(8.0)).settings
    assert (st[S.S_C], st[S.S_ROLLOUT], st[S.S_EPSILON], st[S.S_HORIZON], st[S.S_TURNS], st[S.S_PRIOR],
            st[S.S_PW_C], st[S.S_PW_ALPHA]) == (0.7, S.ROLLOUT_RANDOM, 0.3, 5, 2, 0.0, 2.0, 0.25)
    assert list(st[S.S_EVAL:]) == list(range(8))


def test_search_bot_argument_limits_are_inclusive_where_documented():
    """S31-S33, S39-S41: epsilon 0 and 1 are allowed, anything outside [0, 1] is not; pw_alpha
    (like c and pw_c) must be finite and >= 0; evaluation weights must be finite; budgets of
    exactly 1,000,000 simulations or 600,000 ms are allowed, one more or 0 ms is not."""
    from tcg_env.bots.search import MAX_MS, MAX_SIMULATIONS, parse_budget
    for eps in (0.0, 1.0):
        SearchBot(epsilon=eps)
    for eps in (-0.01, 1.01):
        with pytest.raises(ValueError, match="epsilon"):
            SearchBot(epsilon=eps)
    for bad in (-0.5, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="pw_alpha"):
            SearchBot(pw_alpha=bad)
    w = np.zeros(8)
    w[2] = np.nan
    with pytest.raises(ValueError, match="eval_weights"):
        SearchBot(eval_weights=w)
    assert parse_budget(f"{MAX_MS}ms") == (None, float(MAX_MS))
    assert parse_budget(str(MAX_SIMULATIONS)) == (MAX_SIMULATIONS, None)
    for bad in (f"{MAX_MS + 1}ms", str(MAX_SIMULATIONS + 1)):
        with pytest.raises(ValueError, match="bad search budget"):
            parse_budget(bad)
    assert SearchBot(ms=MAX_MS).ms == MAX_MS
    for bad in (0, 0.0, -1, MAX_MS + 1):
        with pytest.raises(ValueError, match="ms must be"):
            SearchBot(ms=bad)


# ============================================================================ search: matches
def test_play_search_match_refuses_an_unknown_opponent():
    """S42: only the built-in random and heuristic bots are opponents; anything else is a
    ValueError naming them (not a KeyError)."""
    with pytest.raises(ValueError, match="random or heuristic"):
        S.play_search_match(SearchBot(0, simulations=2), "search", games=1)


def test_play_search_match_plays_each_pair_in_both_seats_and_credits_the_right_deck(monkeypatch):
    """S43, S44: game g puts the search bot in seat g % 2 with the first deck of pair
    (g // 2) % pairs, and counts the game for that deck: the first 2 * decks games all play the
    first deck (deck_pairs lists it outermost)."""
    import tcg_env.engine as E
    from prefabs import default_decks
    from tcg_env.selfcheck import deck_pairs
    pairs = deck_pairs()
    names = list(default_decks())
    seen = []
    real = E.reset_game

    def spy(s, cards, d0, d1, seed):
        seen.append((np.array(d0), np.array(d1)))
        return real(s, cards, d0, d1, seed)

    monkeypatch.setattr(E, "reset_game", spy)
    games = 2 * len(names)
    res = S.play_search_match(SearchBot(0, simulations=2, horizon=2), "random", games=games, seed=4)
    assert len(seen) == games
    for g, (d0, d1) in enumerate(seen):
        a, b = pairs[(g // 2) % len(pairs)]
        mine, theirs = (d0, d1) if g % 2 == 0 else (d1, d0)
        assert np.array_equal(mine, a) and np.array_equal(theirs, b), g
    assert res["by_deck"][names[0]]["games"] == games
    assert sum(d["games"] for d in res["by_deck"].values()) == games
    assert sum(d["wins"] for d in res["by_deck"].values()) == res["wins"]


# ============================================================================ the checkpoint bot
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import torch
    from policy import PolicyConfig, TCGPolicy
    from training.checkpoint import save_policy
    torch.manual_seed(0)
    return str(save_policy(TCGPolicy(PolicyConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64)),
                           tmp_path_factory.mktemp("ckpt") / "p.pt"))


def test_policy_bot_samples_with_its_seed_and_is_greedy_when_asked(checkpoint, states):
    """P01, P02: in sample mode the bot's seed drives its draws (the same seed plays the same
    tuples, another seed other tuples somewhere); in greedy mode the seed does not matter."""
    from tcg_env.bots.policy_bot import PolicyBot
    picked = states[:30]

    def plays(seed, greedy):
        bot = PolicyBot(checkpoint, greedy=greedy, seed=seed)
        return [bot.act(g) for g in picked]

    a, b, c = plays(1, False), plays(1, False), plays(2, False)
    assert a == b and a != c
    assert plays(1, True) == plays(2, True)


def test_policy_bot_checks_its_seed_first_and_returns_int32_tuples(checkpoint, states):
    """P03, P04, P06: a bad seed is refused before the checkpoint is read (so a missing file
    still names the seed); ``act_batch`` returns int32 tuples; a finished game has no decision."""
    from tcg_env.bots.policy_bot import PolicyBot
    for bad in (1.5, "3", -1):
        with pytest.raises(ValueError, match="bot seed must be"):
            PolicyBot("/nonexistent/p.pt", seed=bad)
    bot = PolicyBot(checkpoint, seed=0)
    g = states[0]
    legal = g.legal_tuples()
    out = bot.act_batch(g.observation()[None], legal[None], np.array([len(legal)], np.int32))
    assert out.dtype == np.int32 and out.shape == (1, 4)
    over = GameState.new(None, None, seed=2)
    while not over.done:
        over.apply(HeuristicBot(0).act(over))
    with pytest.raises(ValueError, match="game is over"):
        bot.act(over)
