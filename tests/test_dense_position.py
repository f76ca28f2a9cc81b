"""The widest decision the rules allow: 985 legal tuples (the buffer bound MAX_LEGAL is 1,435).

Random play never lists more than a few hundred tuples (394 was the largest seen in the
custom-pool fuzz), so the enumerator, the explainer, the batched env, the bots and the
policy's sampler were never shown a list near the size they are built for. Per hand card the
most tuples are a spell's with an ANY target (22 targets, with and without the IKZ token: 44;
a unit or weapon gives at most 20); per unit, an activated ability with an ANY target (44) and
an attack (RANGED, from any slot: the enemy leader and five garden units, 6); a full board
leaves no MOVE, and each empty slot would cost more than its moves add. So: ten such spells in
hand, ten such units on each side, a leader ability with an ANY target, ten untapped IKZ and the
token. Every count below is worked out from the rules by hand, then checked against the
enumerator, the independent explainer over the whole tuple product space, ``VecTCG``, the bots
and the sampler."""
import numpy as np
import pytest
import torch

from prefabs import CardPool, Deck, default_pool
from prefabs.loader import card_raw, parse_cards
from scenario import Scenario
from tcg_env import VecTCG
from tcg_env.state import state_rows_problem
from verification.crosscheck import crosscheck_state, new_scratch
from verification.spec import BOARD_SLOTS, GARDEN_SLOTS, HAND_MAX, MAX_LEGAL, Primary

TARGETS = 2 + 2 * BOARD_SLOTS   # both leaders and both full boards: every entity an ANY target can name
WITH_AND_WITHOUT_TOKEN = 2


def _dense():
    """The pool (shipped cards, four Zaps, four Snipers, the Archmage) and the position, from a
    legal deck: at most three copies a name, so ten Zaps in hand and ten Snipers a side take
    four names each. What is not in hand or on the board is in the deck."""
    zaps, snipers = [f"Zap {i}" for i in "ABCD"], [f"Sniper {i}" for i in "ABCD"]
    raw = [card_raw(c) for c in default_pool().cards]
    raw += [{"name": z, "type": "SPELL", "subtype": "BOLT", "cost": 1,
             "effect": {"effect": "DAMAGE", "amount": 1, "target": "ANY"}} for z in zaps]
    raw += [{"name": u, "type": "UNIT", "subtype": "ROGUE", "cost": 1, "attack": 1, "health": 5,
             "keywords": ["RANGED"],
             "activated": {"effect": "DAMAGE", "amount": 1, "target": "ANY", "cost": 1}} for u in snipers]
    raw += [{"name": "Archmage", "type": "LEADER", "subtype": "SAGE", "health": 20,
             "ability": {"effect": "DAMAGE", "amount": 1, "target": "ANY", "cost": 1}}]
    pool = CardPool(parse_cards(raw))
    three = [name for name in zaps + snipers for _ in range(3)]                 # 24 cards
    main = tuple(three + ["Rivet Sentry"] * 3 + ["Ember Whelp"] * 3)            # 30
    deck = Deck(name="Dense", plan="", leader="Archmage", main=main, ikz=("Plain IKZ",) * 10)
    in_hand = [zaps[i // 3] for i in range(HAND_MAX)]                           # Zap A-C x3, Zap D
    on_board = [snipers[i // 3] for i in range(BOARD_SLOTS)]                    # Sniper A-C x3, Sniper D

    def rest(used):
        left = list(main)
        for name in used:
            left.remove(name)
        return left

    sc = Scenario(seed=0, deck0=deck, deck1=deck, pool=pool).main_phase(active=0).ikz(0, n=10).token(0)
    sc.hand(0, in_hand).deck(0, rest(in_hand + on_board)).deck(1, rest(on_board))
    for p in (0, 1):
        for slot, name in enumerate(on_board):
            sc.unit(p, slot, name)
    return pool, sc.build()


def test_the_densest_decision_lists_what_the_rules_say_and_the_explainer_agrees():
    pool, st = _dense()
    assert state_rows_problem(st.row, pool) is None   # a position the checks accept as sound
    legal = st.legal_tuples()
    counts = {p: int((legal[:, 0] == p).sum()) for p in Primary}
    assert counts[Primary.PLAY_SPELL] == HAND_MAX * TARGETS * WITH_AND_WITHOUT_TOKEN        # 440
    assert counts[Primary.ACTIVATE] == BOARD_SLOTS * TARGETS * WITH_AND_WITHOUT_TOKEN       # 440
    assert counts[Primary.LEADER_ABILITY] == TARGETS * WITH_AND_WITHOUT_TOKEN               # 44
    assert counts[Primary.ATTACK] == BOARD_SLOTS * (GARDEN_SLOTS + 1)   # RANGED: from any slot, at the garden or leader
    assert counts[Primary.END_TURN] == 1
    assert counts[Primary.MOVE] == 0 and counts[Primary.PLAY_UNIT] == 0 and counts[Primary.ATTACH_WEAPON] == 0
    assert len(legal) == sum(counts.values()) == 985 <= MAX_LEGAL
    scratch = new_scratch()
    n, mismatches, *first_bad, order_bad = crosscheck_state(st.row, pool.table, *scratch)
    assert (n, mismatches, order_bad) == (len(legal), 0, 0), first_bad


def test_the_batched_env_and_the_sampler_handle_the_densest_decision():
    from policy.config import PolicyConfig
    from policy.model import TCGPolicy, obs_tensors
    from training.sampler import evaluate, exact_entropy, sample
    pool, st = _dense()
    env = VecTCG(2, seed=0, pool=pool)
    env.load_state(np.stack([st.row, st.row]))
    n = len(st.legal_tuples())
    assert (env.legal_count == n).all() and (env.legal_tuples[0, :n] == st.legal_tuples()).all()
    assert (env.observations[0] == st.observation(0)).all()
    torch.manual_seed(0)
    pol = TCGPolicy(PolicyConfig()).eval()
    g, e = obs_tensors(env.observations[:1].copy())
    L, C = torch.as_tensor(env.legal_tuples[:1].copy()), torch.as_tensor(env.legal_count[:1].copy())
    with torch.no_grad():
        enc = pol(g, e)
        _, _, tuples, logp = exact_entropy(pol, enc, L, C, return_tuple_logp=True)
        assert len(tuples) == n and abs(torch.logsumexp(logp, 0).item()) < 1e-4   # one distribution over all n
        listed = {tuple(t) for t in st.legal_tuples().tolist()}
        by_tuple = {tuple(t): lp for t, lp in zip(tuples.tolist(), logp.tolist())}
        assert set(by_tuple) == listed
        gen = torch.Generator().manual_seed(1)
        for _ in range(32):   # the exact entropy is checked above: "sampled" keeps each draw cheap
            r = sample(pol, enc, L, C, generator=gen, entropy="sampled")
            drawn = tuple(r.actions[0].tolist())
            assert drawn in listed
            assert r.log_prob[0].item() == pytest.approx(by_tuple[drawn], abs=1e-5)
            replayed = evaluate(pol, enc, L, C, r.actions, entropy="sampled").log_prob[0].item()
            assert replayed == pytest.approx(r.log_prob[0].item(), abs=1e-6)
    env.step(env.legal_tuples[:, n - 1].astype(np.int32))   # the last tuple of the list plays too
    assert env.illegal_counts.sum() == 0


def test_the_bots_choose_a_listed_tuple_in_the_densest_decision():
    from tcg_env.bots import HeuristicBot, RandomBot
    from tcg_env.bots.search import SearchBot
    pool, st = _dense()
    listed = {tuple(t) for t in st.legal_tuples().tolist()}
    env = VecTCG(3, seed=0, pool=pool)
    env.load_state(np.stack([st.row] * 3))
    for bot in (RandomBot(0), HeuristicBot(0)):
        acts = bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count)
        assert {tuple(a) for a in acts.tolist()} <= listed
        assert tuple(bot.act(st)) in listed
    assert tuple(SearchBot(0, simulations=8).act(st)) in listed
