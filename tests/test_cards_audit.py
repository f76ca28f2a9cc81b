"""Audit of the card statistics (training.card_stats and the trainer's use of them) and of the
card-text input of the policy (policy.model.card_text_table, PolicyConfig.card_text): the
cases the older tests left open."""
import numpy as np
import pytest
import torch

from policy import obs_tensors
from policy.config import PolicyConfig
from policy.model import card_text_table
from prefabs import default_pool
from prefabs.enums import Trigger
from tcg_env.observation import ENTITY_FEATURES, view
from tcg_env.vec import VecTCG
from training import distributed as D
from training import ppo
from training.card_stats import (HAND_PRIMARIES, NUM_CARD_IDS, card_play_stats, card_scalars, primary_scalars,
                                 primary_stats)
from verification.spec import NUM_PRIMARIES, Primary

from policy_data import bot_driven_states, seeded_policy
from test_collect import trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------ card_scalars

def test_card_scalars_report_the_play_advantage_of_a_card_played_once():
    """One play is enough for a mean: a card played once of three playable decisions gets its
    play's advantage and the mean of its two passes; the tag keeps the card's name as printed
    (an apostrophe too), spaces turned to underscores."""
    sums = np.zeros((4, NUM_CARD_IDS))
    sums[:, 3] = (3, 1, 0.75, -0.5)
    assert card_scalars(sums, {3: "Sage's Rod"}) == {"cards/play_rate/Sage's_Rod": pytest.approx(1 / 3),
                                                     "cards/adv_played/Sage's_Rod": 0.75,
                                                     "cards/adv_passed/Sage's_Rod": -0.25}


def test_primary_stats_always_cover_every_primary():
    """The per-primary sums have one column per primary however few were chosen, so that
    updates and ranks can be added up column by column."""
    act = np.zeros((2, 4), np.int8)
    act[:, 0] = int(Primary.END_TURN)
    sums = primary_stats(act, np.array([0.5, -1.0]))
    assert sums.shape == (2, NUM_PRIMARIES) and int(Primary.END_TURN) < NUM_PRIMARIES - 1
    assert sums[0].sum() == 2 and sums[0, Primary.END_TURN] == 2 and sums[1, Primary.END_TURN] == -0.5


def test_card_play_stats_sum_float64_advantages_without_rounding():
    """The advantage rows are float64 sums of the advantages given: adding 2**-40 to each
    advantage of 1 adds exactly 2**-40 per decision (float32 would drop it)."""
    obs, legal, count = bot_driven_states(4, 3, 40)
    # each decision plays its first playable hand card if it has one (passing the others), else
    # takes its first legal tuple
    hand = np.isin(legal[..., 0], HAND_PRIMARIES) & (np.arange(legal.shape[1]) < count[:, None])
    act = legal[np.arange(len(count)), np.where(hand.any(1), hand.argmax(1), 0)]
    ones = np.ones(len(count))
    whole = card_play_stats(obs, legal, count, act, ones + 2.0 ** -40)
    base = card_play_stats(obs, legal, count, act, ones)
    tiny = card_play_stats(obs, legal, count, act, ones * 2.0 ** -40)
    assert base[2].sum() > 0 and base[3].sum() > 0   # plays and passes were summed
    assert np.array_equal(whole[2:], base[2:] + tiny[2:]) and not np.array_equal(whole[2:], base[2:])


# ------------------------------------------------------------------ card_text_table

def test_card_text_table_ends_with_the_activated_cost_and_the_number_of_modes():
    """The last two columns: the ACTIVATED ability's printed cost / 10 (0 for a card without
    one) and the number of modes / MAX_MODES (3), per card id, read from the cards themselves."""
    pool = default_pool()
    text = card_text_table(NUM_CARD_IDS)
    for c in pool.cards:
        act = c.abilities.get(Trigger.ACTIVATED)
        assert text[c.id, -2] == pytest.approx((act.cost if act else 0) / 10), c.name
        assert text[c.id, -1] == pytest.approx(len(c.modes) / 3), c.name
    # the pool has cards with an activated cost and with several modes, of different sizes
    assert len({float(v) for v in text[:, -2]}) > 2 and len({float(v) for v in text[:, -1]}) > 1
    # Hearth Spirit: "Activated (2 IKZ, once per turn)"; Crossroads Charm: "Choose one" of three
    assert text[pool.by_name["Hearth Spirit"].id, -2] == pytest.approx(0.2)
    assert text[pool.by_name["Crossroads Charm"].id, -1] == pytest.approx(1.0)


def test_card_text_input_reads_each_present_entity_own_card_text():
    """With card_text the text projection reads, for each entity token, the row of that
    entity's own card id (present entities in index order), and the card embedding still
    counts next to it; without it there is no text input at all."""
    pol = seeded_policy(PolicyConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64, card_text=True)).eval()
    obs = VecTCG(4, seed=2).observations
    ent = view(obs, "entities")
    present = ent[..., ENTITY_FEATURES.index("present")] > 0
    seen = []
    hook = pol.card_text_in.register_forward_hook(lambda m, args, out: seen.append(args[0].detach()))
    with torch.no_grad():
        enc = pol(*obs_tensors(obs))
    hook.remove()
    table = card_text_table(pol.config.num_cards)
    (rows,) = seen
    assert rows.shape[:2] == (len(obs), present.sum(1).max())
    ids_seen = set()
    for i in range(len(obs)):
        ids = ent[i, present[i], ENTITY_FEATURES.index("card_id")].astype(np.int64)
        assert np.array_equal(rows[i, :len(ids)].numpy(), table[ids])
        ids_seen |= set(ids.tolist())
    assert len({table[c].tobytes() for c in ids_seen}) > 5   # many different texts were read
    with torch.no_grad():
        pol.card_emb.weight.zero_()
        assert not torch.allclose(pol(*obs_tensors(obs)).tokens, enc.tokens)
    # without card_text a policy carries no text table and no text projection
    plain = seeded_policy(PolicyConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64))
    assert not hasattr(plain, "card_text") and not hasattr(plain, "card_text_in")
    assert not any(k.startswith("card_text") for k in plain.state_dict())


# ------------------------------------------------------------------ the trainer's sums

def _learner_rows(ro):
    """(obs, legal, count, actions) of the learner's decisions of a rollout, and their (t, i)."""
    t, i = np.nonzero(np.stack(ro.learner))
    return (np.stack(ro.obs)[t, i], ro.legal_padded()[t, i], np.stack(ro.count)[t, i],
            np.stack(ro.actions)[t, i]), (t, i)


def test_trainer_writes_every_k_updates_the_summed_stats_of_the_learner_decisions(tmp_path, monkeypatch):
    """card_stats_every=2: the trainer adds up, update after update, card_play_stats and
    primary_stats of the learner's decisions weighted by their GAE advantages (not the returns,
    not with a flipped sign), hands the sums of updates 1 and 2 to log_card_stats after the
    second update only, and keeps the third update's sums for the next write."""
    advs, rows, logged = [], [], []
    gae = ppo.seat_gae

    def spy_gae(*a, **k):
        out = gae(*a, **k)
        advs.append(out[0].copy())
        return out

    monkeypatch.setattr(ppo, "seat_gae", spy_gae)
    tr = trainer(tmp_path, card_stats_every=2, checkpoint_every=0, pool_add_every=0)
    learn, log = tr.learn, tr.log_card_stats
    tr.done = lambda: tr.update >= 3   # three updates, then the closing evaluation

    def spy_learn(ro):
        rows.append(_learner_rows(ro))
        return learn(ro)

    def spy_log():
        logged.append((tr.update, tuple(x.copy() for x in tr.card_sums)))
        return log()

    tr.learn, tr.log_card_stats = spy_learn, spy_log
    try:
        tr.train()
    finally:
        tr.close()
    assert len(rows) == len(advs) == 3
    per_update = []
    for ((obs, legal, count, act), (t, i)), adv in zip(rows, advs):
        a = adv[t, i]
        assert np.abs(a).sum() > 0
        per_update.append((card_play_stats(obs, legal, count, act, a), primary_stats(act, a)))
    assert [u for u, _ in logged] == [2]
    for k in range(2):
        assert np.allclose(logged[0][1][k], per_update[0][k] + per_update[1][k])
        assert np.allclose(tr.card_sums[k], per_update[2][k])   # kept for the next write
    assert per_update[0][0][1].sum() > 0 and per_update[0][0][3].any()   # cards were played and passed


def test_log_card_stats_writes_the_scalars_of_the_rank_sums_at_the_step(tmp_path, monkeypatch):
    """log_card_stats writes card_scalars (named after the cards) and primary_scalars of the
    sums all-reduced over ranks, at the global step count, then starts the sums afresh."""
    other = {}   # a second rank's sums, as the all-reduce adds them

    def all_reduce(x):
        y = other.setdefault(x.shape, np.random.default_rng(x.shape[0]).integers(0, 3, x.shape).astype(np.float64))
        return x + y

    tr = trainer(tmp_path, card_stats_every=5)
    writer = tr.writer
    try:
        ro, _ = tr.collect()
        tr.learn(ro)
        mine = tuple(x.copy() for x in tr.card_sums)
        monkeypatch.setattr(D, "all_reduce_sum_array", all_reduce)
        written = []
        tr.writer = type("W", (), {"add_scalar": lambda self, k, v, s: written.append((k, v, s))})()
        tr.log_card_stats()
        names = {c.id: c.name for c in default_pool().cards}
        want = {**card_scalars(mine[0] + other[mine[0].shape], names),
                **primary_scalars(mine[1] + other[mine[1].shape])}
        assert {k: v for k, v, _ in written} == pytest.approx(want) and len(written) == len(want)
        assert {s for _, _, s in written} == {tr.steps} and tr.steps != tr.update
        # the cards are named as the pool names them, spaces as underscores
        assert any(k == f"cards/play_rate/{n.replace(' ', '_')}" for k in want for n in names.values())
        assert tr.card_sums is None
    finally:
        tr.writer = writer
        tr.close()
