"""training.card_stats: per-card play rates and advantages read off a rollout's decisions."""
import numpy as np
import pytest

from tcg_env import VecTCG
from tcg_env.bots import HeuristicBot, RandomBot
from verification.layout import P_HAND
from verification.rules import pbase
from training.card_stats import NUM_CARD_IDS, card_play_stats, card_scalars, primary_scalars, primary_stats
from verification.spec import ENT_MY_HAND, NUM_PRIMARIES, Primary

HAND_PLAYS = (Primary.PLAY_UNIT, Primary.PLAY_SPELL, Primary.ATTACH_WEAPON)


@pytest.fixture(scope="module")
def decisions():
    """(obs, legal, count, actions, hand card ids from the engine state) of bot-played games."""
    env = VecTCG(32, seed=9)
    bots = (RandomBot(1), HeuristicBot(2))
    out = {k: [] for k in ("obs", "legal", "count", "actions", "hand")}
    for t in range(120):
        act = bots[t % 2].act_batch(env.state, env.cards, env.legal_tuples, env.legal_count)
        seat = env.current_player
        out["obs"].append(env.observations.copy())
        out["legal"].append(env.legal_tuples.copy())
        out["count"].append(env.legal_count.copy())
        out["actions"].append(act.copy())
        out["hand"].append(np.stack([env.state[i, pbase(int(seat[i])) + P_HAND:][:10] for i in range(len(seat))]))
        env.step(act)
    return {k: np.concatenate(v) for k, v in out.items()}


def brute_force(d, adv):
    """The same sums by looping over decisions, reading card ids from the engine state."""
    want = np.zeros((4, NUM_CARD_IDS))
    for m in range(len(d["count"])):
        hand = d["hand"][m]
        playable = {int(hand[int(t[1]) - ENT_MY_HAND]) for t in d["legal"][m, :d["count"][m]] if t[0] in HAND_PLAYS}
        a = d["actions"][m]
        played = int(hand[int(a[1]) - ENT_MY_HAND]) if a[0] in HAND_PLAYS else None
        for c in playable:
            want[0, c] += 1
            if c == played:
                want[1, c] += 1
                want[2, c] += adv[m]
            else:
                want[3, c] += adv[m]
    return want


def test_card_play_stats_equal_a_loop_over_the_engine_state(decisions):
    adv = np.random.default_rng(0).normal(size=len(decisions["count"]))
    got = card_play_stats(decisions["obs"], decisions["legal"], decisions["count"], decisions["actions"], adv)
    want = brute_force(decisions, adv)
    assert np.allclose(got, want)
    # the bots really played units, spells and weapons here, and passed on some playable cards
    assert want[1].sum() > 100 and (want[0] > want[1]).sum() > 10
    played_types = {int(a[0]) for a in decisions["actions"]}
    assert {int(p) for p in HAND_PLAYS} <= played_types
    # padding past legal_count is never read
    junk = decisions["legal"].copy()
    for m, n in enumerate(decisions["count"]):
        junk[m, n:] = (int(Primary.PLAY_SPELL), ENT_MY_HAND, 0, 0)
    assert np.array_equal(card_play_stats(decisions["obs"], junk, decisions["count"], decisions["actions"], adv), got)
    # no decisions: all zeros
    assert not card_play_stats(decisions["obs"][:0], decisions["legal"][:0], decisions["count"][:0],
                               decisions["actions"][:0], adv[:0]).any()


def test_card_scalars_are_rates_and_mean_advantages():
    sums = np.zeros((4, NUM_CARD_IDS))
    sums[:, 5] = (10, 4, 2.0, -3.0)     # played 4 of 10: plays average +0.5, passes -0.5
    sums[:, 7] = (3, 3, 0.3, 0.0)       # always played: no passes to average
    sums[:, 9] = (2, 0, 0.0, 1.0)       # never played
    s = card_scalars(sums, {5: "Unmake", 7: "Grave Tide"})
    assert s == {"cards/play_rate/Unmake": 0.4, "cards/adv_played/Unmake": 0.5, "cards/adv_passed/Unmake": -0.5,
                 "cards/play_rate/Grave_Tide": 1.0, "cards/adv_played/Grave_Tide": pytest.approx(0.1),
                 "cards/play_rate/card_9": 0.0, "cards/adv_passed/card_9": 0.5}


def test_primary_stats_count_and_average_by_primary(decisions):
    acts = decisions["actions"]
    adv = np.random.default_rng(1).normal(size=len(acts))
    sums = primary_stats(acts, adv)
    for p in range(NUM_PRIMARIES):
        chose = acts[:, 0] == p
        assert sums[0, p] == chose.sum() and np.isclose(sums[1, p], adv[chose].sum())
    s = primary_scalars(sums)
    fracs = {k: v for k, v in s.items() if k.startswith("actions/frac/")}
    assert np.isclose(sum(fracs.values()), 1.0) and "actions/frac/PLAY_UNIT" in fracs
    chose = acts[:, 0] == Primary.ATTACK
    assert np.isclose(s["actions/adv/ATTACK"], adv[chose].mean())
    assert len(s) == 2 * len(np.unique(acts[:, 0]))   # primaries never chosen are left out


def test_primary_scalars_keep_a_chosen_primary_whose_advantages_sum_to_zero():
    """A primary is reported when it was chosen, whatever its advantages add up to."""
    sums = np.zeros((2, NUM_PRIMARIES))
    sums[:, Primary.END_TURN] = (3, 0.0)
    sums[:, Primary.ATTACK] = (1, 0.5)
    assert primary_scalars(sums) == {"actions/frac/END_TURN": 0.75, "actions/adv/END_TURN": 0.0,
                                     "actions/frac/ATTACK": 0.25, "actions/adv/ATTACK": 0.5}
