"""TCGPolicy (policy/model.py) and PolicyConfig: the encoder does no masking and no
sampling, padding entities can never be pointed at, entity rows carry no position, and
head 1/2 pick the pointer or the bin path per row."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from policy.config import PolicyConfig
from policy.model import TCGPolicy, obs_tensors
from tcg_env.bots import HeuristicBot
from tcg_env.observation import ENTITY_FEATURES, GLOBAL_FEATURES
from tcg_env.vec import VecTCG
from training.sampler import evaluate, exact_entropy, sample
from verification.spec import HEAD_SIZES, NUM_ENTITIES, SLOT_KIND, Primary, SlotKind

from policy_data import bot_driven_states, seeded_policy

NUM_HEADS = 4
POINTER = int(SlotKind.POINTER)
F32_MIN = torch.finfo(torch.float32).min
_PRESENT = ENTITY_FEATURES.index("present")
_ATTACK_COLS = [GLOBAL_FEATURES.index("attacker_entity"), GLOBAL_FEATURES.index("attack_target_entity")]
_MULT = [int(np.prod(HEAD_SIZES[k + 1:])) for k in range(NUM_HEADS)]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def states():
    """(obs [N, OBS] int8, legal [N, MAX_LEGAL, 4] int8, count [N]) from bot-driven games."""
    return bot_driven_states(24, seed=5, steps=90)


make_policy = seeded_policy


def tuple_key(t):
    t = t.long()
    return sum(t[..., k] * _MULT[k] for k in range(NUM_HEADS))


def pointer_slots(primary: int) -> list[int]:
    """The heads (1-3) that hold an entity pointer for this primary."""
    return [j + 1 for j in range(3) if SLOT_KIND[primary, j] == POINTER]


# ----------------------------------------------------------------------------- 7. forward
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_forward_and_heads_are_deterministic_and_draw_no_random_numbers(states, mode):
    obs, leg, cnt = states
    pol = make_policy(seed=1).train(mode == "train")
    idx = np.arange(0, len(cnt), 9)[:128]
    g, e = obs_tensors(obs[idx])
    prefix = torch.as_tensor(leg[idx, 0]).long()
    rng = torch.get_rng_state()
    with torch.no_grad():
        a, b = pol(g, e), pol(g, e)
        for f in ("entities", "present", "pooled", "value"):
            assert torch.equal(getattr(a, f), getattr(b, f)), f
        for k in range(NUM_HEADS):
            l1 = pol.head_logits(a, k, prefix[:, :k] if k else None)
            l2 = pol.head_logits(b, k, prefix[:, :k] if k else None)
            assert torch.equal(l1, l2)
            assert l1.shape == (len(idx), HEAD_SIZES[k])
        # no legality anywhere: every primary (legal here or not) gets a finite logit
        assert torch.isfinite(pol.head_logits(a, 0)).all()
        assert torch.isfinite(pol.head_logits(a, 3, prefix[:, :3])).all()
    assert torch.equal(torch.get_rng_state(), rng), "forward/head_logits consumed the global RNG"
    assert torch.equal(a.present, torch.as_tensor(obs[idx, 32:].reshape(len(idx), NUM_ENTITIES, -1)[..., _PRESENT] > 0))


# ----------------------------------------------------------------------------- 8. padding entities
def test_absent_entities_get_float32_min_pointer_logits(states):
    obs, leg, cnt = states
    pol = make_policy(seed=2).eval()
    idx = np.arange(0, len(cnt), 5)[:200]
    g, e = obs_tensors(obs[idx])
    B = len(idx)
    with torch.no_grad():
        enc = pol(g, e)
        present = enc.present
        assert (~present).sum() > 500 and present.all(1).sum() < B
        for p in (Primary.PLAY_SPELL, Primary.ATTACK, Primary.ACTIVATE, Primary.CHOOSE_TARGET):
            # a present entity for the sub1 pointer, when there is one
            sub1 = present.float().argmax(1)
            prefix = torch.stack([torch.full((B,), int(p)), sub1, torch.zeros(B, dtype=torch.long)], 1)
            for k in (1, 2):
                logits = pol.head_logits(enc, k, prefix[:, :k])
                if SLOT_KIND[p, k - 1] == POINTER:
                    assert (logits[~present] == F32_MIN).all(), (p.name, k)
                    assert torch.isfinite(logits[present]).all() and (logits[present] > F32_MIN / 2).all()
        # a bin slot is not an entity: no padding value there
        prefix = torch.stack([torch.full((B,), int(Primary.PLAY_UNIT)), sub1], 1)
        assert (pol.head_logits(enc, 2, prefix) > F32_MIN / 2).all()


@pytest.mark.parametrize("variant", ["fp32", "weights x1000", "bf16"])
def test_sampling_never_points_at_an_absent_entity(states, variant):
    """Legal lists that (wrongly) name every entity, present or not: the structural
    padding still keeps absent entities at probability 0."""
    obs, leg, cnt = states
    pol = make_policy(seed=3, scale=1000.0 if variant == "weights x1000" else None).eval()
    rng = np.random.default_rng(4)
    all_present = obs[:, 32:].reshape(len(cnt), NUM_ENTITIES, -1)[..., _PRESENT] > 0
    ok = all_present[:, 22:].any(1) & ~all_present[:, 22:].all(1)   # some hand cards, some empty hand rows
    idx = rng.choice(np.nonzero(ok)[0], 40, replace=False)
    g, e = obs_tensors(obs[idx])
    present = torch.as_tensor(all_present[idx])
    # tuples: CHOOSE_TARGET at any entity; PLAY_SPELL from any hand row at any entity (every
    # head keeps at least one present option: a leader, a hand card)
    tuples = [(int(Primary.CHOOSE_TARGET), 0, t, 0) for t in range(NUM_ENTITIES)]
    tuples += [(int(Primary.PLAY_SPELL), h, t, 1) for h in range(22, 32) for t in range(0, NUM_ENTITIES, 3)]
    legal = torch.tensor(tuples).unsqueeze(0).expand(len(idx), -1, -1)
    count = torch.full((len(idx),), len(tuples))
    reps = 60
    rows = torch.arange(len(idx)).repeat(reps)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant == "bf16"):
        enc = pol(g, e)
        r = sample(pol, enc.index(rows), legal[rows], count[rows],
                   generator=torch.Generator().manual_seed(5), entropy="sampled")
        _, bidx, tup, lp = exact_entropy(pol, enc, legal, count, return_tuple_logp=True)
    acts = r.actions
    for k in (1, 2):
        is_ptr = torch.as_tensor(SLOT_KIND[acts[:, 0].numpy(), k - 1] == POINTER)
        hit_absent = is_ptr & ~present[rows, acts[:, k]]
        assert not hit_absent.any(), f"{variant}: sampled {acts[hit_absent][:3].tolist()} (absent entity)"
    # and the exact probability of any tuple pointing at an absent entity is 0
    bad = torch.zeros(len(tup), dtype=torch.bool)
    for k in (1, 2):
        is_ptr = torch.as_tensor(SLOT_KIND[tup[:, 0].numpy(), k - 1] == POINTER)
        bad |= is_ptr & ~present[bidx, tup[:, k]]
    assert bad.any() and (lp[bad].exp() == 0).all()
    assert torch.isfinite(r.log_prob).all()


# ----------------------------------------------------------------------------- 9. permutation
def _permute(obs_row, legal_rows, perm, globals_too=False):
    """Entity row i of the new observation is old row perm[i]; pointer values e -> inv[e] (in the
    attacker / attacked globals too with ``globals_too``: the typed policy reads them as pointers,
    the plain one as numbers)."""
    inv = np.argsort(perm)
    o = obs_row.copy()
    ents = o[32:].reshape(NUM_ENTITIES, -1)
    o[32:] = ents[perm].reshape(-1)
    if globals_too:
        for col in _ATTACK_COLS:
            if o[col] >= 0:
                o[col] = inv[o[col]]
    lt = legal_rows.astype(np.int64).copy()
    for t in lt:
        for k in pointer_slots(int(t[0])):
            t[k] = inv[t[k]]
    return o, lt, inv


@pytest.mark.parametrize("variant", ["plain", "afford", "pointer_primary", "typed_inputs", "pointer_mlp"])
def test_permuting_entity_rows_permutes_pointers_and_keeps_log_probs(states, variant):
    """Also with the options that read the legal list (affordances, pointer-scored primaries):
    the list's pointers are permuted with the rows, so the permuted decision reads the same.
    With typed inputs the attacker / attacked globals are pointers too and are permuted."""
    obs, leg, cnt = states
    cfg = PolicyConfig(afford=variant == "afford", pointer_primary=variant == "pointer_primary",
                       typed_inputs=variant == "typed_inputs", pointer_mlp=variant == "pointer_mlp")
    pol = make_policy(cfg, seed=6).eval()
    rng = np.random.default_rng(7)
    # states whose legal lists hold pointer and bin slots, with absent entities
    cand = []
    for i in np.nonzero((cnt >= 6) & (cnt <= 150))[0]:
        prims = set(leg[i, :cnt[i], 0].tolist())
        if any(pointer_slots(p) for p in prims):
            cand.append(int(i))
    sel = rng.choice(cand, 8, replace=False)
    bins_checked = 0
    for i in sel:
        n = int(cnt[i])
        perm = rng.permutation(NUM_ENTITIES)
        assert (perm != np.arange(NUM_ENTITIES)).sum() > 20
        o2, lt2, inv = _permute(obs[i], leg[i, :n], perm, globals_too=cfg.typed_inputs)
        shuffle = rng.permutation(n)        # and list the tuples in another order
        L1 = torch.as_tensor(leg[i:i + 1, :n]).long()
        L2 = torch.as_tensor(lt2[shuffle]).unsqueeze(0)
        C = torch.tensor([n])
        with torch.no_grad():
            e1 = pol(*obs_tensors(obs[i:i + 1]), L1, C)
            e2 = pol(*obs_tensors(o2[None]), L2, C)
            assert torch.equal(e2.present[0], e1.present[0, perm])
            assert torch.allclose(e2.entities[0][e2.present[0]], e1.entities[0, perm][e2.present[0]], atol=1e-5)
            assert torch.allclose(e1.value, e2.value, atol=1e-5) and torch.allclose(e1.pooled, e2.pooled, atol=1e-5)
            H1, _, t1, lp1 = exact_entropy(pol, e1, L1, C, return_tuple_logp=True)
            H2, _, t2, lp2 = exact_entropy(pol, e2, L2, C, return_tuple_logp=True)
            assert abs(H1.item() - H2.item()) < 1e-5
            mapped = torch.as_tensor(lt2)                 # tuple j of the original, mapped
            assert torch.equal(tuple_key(t2), tuple_key(mapped[shuffle]))
            assert torch.allclose(lp2, lp1[shuffle], atol=1e-5, rtol=0)
            # evaluate agrees, tuple by tuple
            ev1 = evaluate(pol, e1.index(torch.zeros(n, dtype=torch.long)), L1.expand(n, -1, -1), C.expand(n), L1[0])
            ev2 = evaluate(pol, e2.index(torch.zeros(n, dtype=torch.long)), L2.expand(n, -1, -1), C.expand(n), mapped)
            assert torch.allclose(ev1.log_prob, ev2.log_prob, atol=1e-5, rtol=0)
            assert torch.allclose(ev1.log_prob, lp1, atol=1e-5, rtol=0)
            # head by head: pointer heads' probabilities permute, bin heads' stay put
            P1 = L1[0]
            P2 = mapped
            s1 = e1.index(torch.zeros(n, dtype=torch.long))
            s2 = e2.index(torch.zeros(n, dtype=torch.long))
            for k in (1, 2, 3):
                p1 = torch.softmax(pol.head_logits(s1, k, P1[:, :k]).float(), -1)
                p2 = torch.softmax(pol.head_logits(s2, k, P2[:, :k]).float(), -1)
                is_ptr = torch.as_tensor(SLOT_KIND[P1[:, 0].numpy(), k - 1] == POINTER)
                if is_ptr.any():
                    assert torch.allclose(p2[is_ptr][:, inv], p1[is_ptr], atol=1e-5, rtol=0), k
                if (~is_ptr).any():
                    assert torch.allclose(p2[~is_ptr], p1[~is_ptr], atol=1e-5, rtol=0), k
                    bins_checked += int((~is_ptr).sum())
    assert bins_checked > 0


# ----------------------------------------------------------------------------- 10. per-row path
def test_sub_head_path_is_chosen_per_row(states):
    """One batch mixing primaries whose sub1/sub2 are pointers and bins: head_logits of
    every head equals, row by row, what the row gets alone."""
    obs, leg, cnt = states
    pol = make_policy(seed=8).eval()
    rng = np.random.default_rng(9)
    prims = [Primary.PLAY_UNIT, Primary.PLAY_SPELL, Primary.MOVE, Primary.ATTACK, Primary.CHOOSE_MODE,
             Primary.ACTIVATE, Primary.MULLIGAN, Primary.ATTACH_WEAPON, Primary.LEADER_ABILITY,
             Primary.CHOOSE_TARGET, Primary.END_TURN]
    assert SLOT_KIND[Primary.PLAY_SPELL, 1] == POINTER and SLOT_KIND[Primary.ATTACK, 1] == POINTER
    assert all(SLOT_KIND[p, 1] == int(SlotKind.BIN) for p in (Primary.PLAY_UNIT, Primary.MOVE, Primary.CHOOSE_MODE))
    rows, prefixes = [], []
    for rep in range(3):
        for p in prims:
            i = int(rng.integers(len(cnt)))
            # a real legal tuple with this primary when some state has one, else a made-up prefix
            have = np.nonzero((leg[:, :, 0] == int(p)) & (np.arange(leg.shape[1]) < cnt[:, None]))
            if len(have[0]) > rep:
                j = rng.integers(len(have[0]))
                i, t = int(have[0][j]), leg[have[0][j], have[1][j]].astype(np.int64)
            else:
                t = np.array([int(p), int(rng.integers(2, 12)), int(rng.integers(0, 3)), 0])
            rows.append(i)
            prefixes.append(t)
    prefix = torch.as_tensor(np.stack(prefixes))
    g, e = obs_tensors(obs[rows])
    with torch.no_grad():
        enc = pol(g, e)
        for k in (1, 2, 3):
            batch = pol.head_logits(enc, k, prefix[:, :k])
            for r in range(len(rows)):
                alone = pol.head_logits(enc.index(torch.tensor([r])), k, prefix[r:r + 1, :k])
                assert torch.allclose(batch[r], alone[0], atol=1e-6, rtol=1e-6), (k, Primary(int(prefix[r, 0])).name)
            if k < 3:
                # the pointer rows carry the padding value at absent entities, bin rows never do
                is_ptr = torch.as_tensor(SLOT_KIND[prefix[:, 0].numpy(), k - 1] == POINTER)
                padded = (batch == F32_MIN).any(1)
                has_absent = (~enc.present).any(1)
                assert torch.equal(padded, is_ptr & has_absent), k
                assert (is_ptr & has_absent).any() and (~is_ptr).any()


def test_head_logits_with_rows_equals_indexed_encoding(states):
    """``rows`` (several prefixes per encoded state, used by the exact entropy) gives the
    same logits as encoding.index(rows), for every head and path."""
    obs, leg, cnt = states
    pol = make_policy(seed=10).eval()
    if not getattr(pol, "supports_rows", False):
        pytest.skip("this TCGPolicy has no rows argument")
    idx = np.nonzero((cnt >= 4) & (cnt <= 60))[0][:12]
    g, e = obs_tensors(obs[idx])
    rows, pre = [], []
    for b, i in enumerate(idx):
        take = np.arange(cnt[i])[: 2 + b % 7]          # a different number of prefixes per state
        rows += [b] * len(take)
        pre.append(leg[i, take].astype(np.int64))
    rows = torch.tensor(rows)
    prefix = torch.as_tensor(np.concatenate(pre))
    with torch.no_grad():
        enc = pol(g, e)
        for k in range(NUM_HEADS):
            a = pol.head_logits(enc, k, prefix[:, :k] if k else None, rows=rows)
            b = pol.head_logits(enc.index(rows), k, prefix[:, :k] if k else None)
            assert torch.allclose(a, b, atol=1e-5, rtol=1e-5), k
        # P == B but not one prefix per state: rows = [0, 0, 1, 1, ...]
        r2 = torch.arange(len(idx)) // 2
        p2 = torch.as_tensor(leg[idx[r2.numpy()], 0].astype(np.int64))
        for k in (1, 2):
            a = pol.head_logits(enc, k, p2[:, :k], rows=r2)
            b = pol.head_logits(enc.index(r2), k, p2[:, :k])
            assert torch.allclose(a, b, atol=1e-5, rtol=1e-5), k


# ----------------------------------------------------------------------------- 11. config
def test_named_configs():
    small, large = PolicyConfig.named("small"), PolicyConfig.named("large")
    assert small == PolicyConfig()
    assert large.d_model > small.d_model and large.n_layers >= small.n_layers
    for c in (small, large):
        assert c.d_model % c.n_heads == 0 and c.dropout == 0.0
    with pytest.raises(ValueError) as err:
        PolicyConfig.named("medium")
    assert "'medium'" in str(err.value) and "small" in str(err.value) and "large" in str(err.value)
    # the large config builds a working policy
    pol = TCGPolicy(large).eval()
    g = torch.zeros(2, 32, dtype=torch.int8)
    e = torch.zeros(2, NUM_ENTITIES, len(ENTITY_FEATURES), dtype=torch.int8)
    e[:, :2, _PRESENT] = 1
    with torch.no_grad():
        enc = pol(g, e)
    assert enc.entities.shape == (2, NUM_ENTITIES, large.d_model) and torch.isfinite(enc.value).all()


def test_config_round_trip_and_unknown_fields():
    c = PolicyConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64)
    assert PolicyConfig.from_dict(c.to_dict()) == c
    assert PolicyConfig.from_dict({"d_model": 32}) == PolicyConfig(d_model=32)
    with pytest.raises(ValueError, match="bogus"):
        PolicyConfig.from_dict({**c.to_dict(), "bogus": 1})
    with pytest.raises(ValueError, match="width"):
        PolicyConfig.from_dict({"width": 64})


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_batch_first_encoder_matches_torch_transformer(mode):
    """``_encode`` computes ``self.encoder``'s layers by hand (batch-first, no q/k/v copies):
    it must agree with PyTorch's own TransformerEncoder on the same parameters, padded keys
    included, so checkpoints mean the same thing either way."""
    torch.manual_seed(3)
    for cfg in (PolicyConfig(d_model=32, d_ff=64, n_heads=2, n_layers=1), PolicyConfig()):
        pol = getattr(TCGPolicy(cfg), mode)()
        x = torch.randn(64, 12, cfg.d_model)
        pad = torch.rand(64, 12) < 0.4
        pad[:, 0] = False
        pad[:3, 1:] = True                      # rows where only the global token attends
        with torch.no_grad():
            ours = pol._encode(x, pad)
            ref = pol.encoder(x, src_key_padding_mask=pad)
        keep = ~pad
        assert torch.allclose(ours[keep], ref[keep], atol=1e-5)


def test_absent_entities_do_not_change_the_encoding(states):
    """The encoder packs present entities into the first tokens and cuts the rest: an
    absent entity's features must not change anything, its encoding is zero, and a batch
    encodes each row as it would alone (the cut width depends on the batch)."""
    obs, _, _ = states
    pol = make_policy().eval()
    g, e = obs_tensors(obs[:200])
    present = e[..., _PRESENT] > 0
    noisy = e.clone()
    junk = torch.randint(-20, 20, noisy.shape, dtype=noisy.dtype)
    junk[..., _PRESENT] = 0
    noisy[~present] = junk[~present]
    with torch.no_grad():
        a, b = pol(g, e), pol(g, noisy)
        alone = [pol(g[i:i + 1], e[i:i + 1]) for i in (0, 57, 199)]
    assert torch.equal(a.present, b.present)
    assert torch.allclose(a.pooled, b.pooled, atol=1e-6) and torch.allclose(a.value, b.value, atol=1e-6)
    assert torch.allclose(a.entities, b.entities, atol=1e-6)
    assert bool((a.entities[~present] == 0).all()) and bool((a.entities[present].abs().sum(-1) > 0).all())
    for i, one in zip((0, 57, 199), alone):
        assert torch.allclose(one.entities[0], a.entities[i], atol=1e-5)
        assert torch.allclose(one.value[0], a.value[i], atol=1e-5)


def test_card_text_input_encodes_the_printed_abilities_and_round_trips(tmp_path):
    """PolicyConfig.card_text: every card's ability slots and modes become one-hot effect and
    target rule plus amounts, read from the card table; the table is derived (not saved), and a
    saved card-text policy loads with the same outputs."""
    from prefabs import default_pool
    from prefabs import table as T
    from prefabs.enums import Effect, Target
    from policy.model import _TEXT_WIDTH, card_text_table
    from training.checkpoint import load_policy, save_policy
    table = default_pool().table
    text = card_text_table(128)
    n_eff, n_tgt = max(map(int, Effect)) + 1, max(map(int, Target)) + 1
    cols = [T.C_ABIL + 4 * j for j in range(4)] + [T.C_MODES + 4 * j for j in range(3)]
    for c in range(len(table)):
        for j, o in enumerate(cols):
            eff, a1, a2, tgt = table[c, o:o + 4]
            blk = text[c, j * _TEXT_WIDTH:(j + 1) * _TEXT_WIDTH]
            assert blk[:n_eff].argmax() == eff and blk[:n_eff].sum() == 1
            assert blk[n_eff:n_eff + n_tgt].argmax() == tgt and blk[n_eff:n_eff + n_tgt].sum() == 1
            assert np.allclose(blk[-2:], [a1 / 10, a2 / 10])
    assert not text[len(table):].any()
    torch.manual_seed(0)
    pol = TCGPolicy(PolicyConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64, card_text=True)).eval()
    assert "card_text" not in pol.state_dict() and "card_text_in.weight" in pol.state_dict()
    obs = VecTCG(4, seed=2).observations
    loaded = load_policy(save_policy(pol, tmp_path / "p.pt")).eval()
    assert loaded.config.card_text
    with torch.no_grad():
        a, b = pol(*obs_tensors(obs)), loaded(*obs_tensors(obs))
        assert torch.equal(a.value, b.value) and torch.equal(a.tokens, b.tokens)
        # the text input moves the encoding: zeroing it changes the entity rows
        pol.card_text_in.weight.zero_()
        assert not torch.allclose(pol(*obs_tensors(obs)).tokens, a.tokens)


def test_typed_inputs_read_categorical_fields_through_embeddings_only(states, tmp_path):
    """PolicyConfig.typed_inputs: zone, slot, card type, subtype, weapon id, phase, pending card,
    pending target rule and the attacker / attacked indices reach the encoder only through their
    embedding rows (zeroing those rows makes the encoding blind to them), the attack flags mark
    the entity rows the globals point at, and a typed policy round-trips through a checkpoint."""
    from policy.model import _ENT_TYPED, _G_TYPED
    from training.checkpoint import load_policy, save_policy
    obs, leg, cnt = states
    g_at = 32 + np.arange(NUM_ENTITIES)[:, None] * len(ENTITY_FEATURES)
    blocking = np.nonzero(obs[:, _ATTACK_COLS[0]] >= 0)[0]
    assert len(blocking) > 5, "the fixture games should hold attack decisions"
    rows = np.concatenate([np.arange(40), blocking[:20]])
    base = obs[rows].copy()
    moved = base.copy()        # every typed column changed to another in-range value
    for c in _ENT_TYPED:
        moved[:, (g_at + c).ravel()] = np.where(moved[:, (g_at + c).ravel()] > 0, 1, 2)
    moved[:, _G_TYPED] = 3
    moved[:, _ATTACK_COLS] = -1
    torch.manual_seed(0)
    pol = TCGPolicy(PolicyConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64, typed_inputs=True)).eval()
    with torch.no_grad():
        a, b = pol(*obs_tensors(base)), pol(*obs_tensors(moved))
        assert not torch.allclose(a.tokens, b.tokens, atol=1e-4)
        assert not torch.allclose(a.value, b.value, atol=1e-5)
        for m in (pol.ent_cat_emb, pol.glob_cat_emb, pol.weapon_in, pol.pending_in, pol.attack_emb):
            for p in m.parameters():
                p.zero_()
        a, b = pol(*obs_tensors(base)), pol(*obs_tensors(moved))
        assert torch.allclose(a.tokens, b.tokens, atol=1e-6) and torch.allclose(a.value, b.value, atol=1e-6)
        # the attack flags land on the rows the globals name, and nowhere else (the input rows,
        # before attention mixes them)
        pol.attack_emb.weight.normal_()
        for i in blocking[:10]:
            g, e = obs_tensors(obs[i:i + 1])
            order = torch.arange(NUM_ENTITIES).unsqueeze(0)
            x, _ = pol._typed(torch.zeros(1, NUM_ENTITIES, 32), torch.zeros(1, 32), e, order, g)
            flagged = x[0].abs().amax(-1) > 0
            want = [int(obs[i, c]) for c in _ATTACK_COLS if obs[i, c] >= 0]
            assert sorted(flagged.nonzero().ravel().tolist()) == sorted(set(want))
    torch.manual_seed(1)
    pol = TCGPolicy(PolicyConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64, typed_inputs=True)).eval()
    loaded = load_policy(save_policy(pol, tmp_path / "p.pt")).eval()
    assert loaded.config.typed_inputs
    with torch.no_grad():
        x, y = pol(*obs_tensors(base)), loaded(*obs_tensors(base))
        assert torch.equal(x.value, y.value) and torch.equal(x.tokens, y.tokens)


def test_separate_value_has_its_own_encoder(states, tmp_path):
    """PolicyConfig.separate_value: the value comes from the critic's encoder only and the heads
    from the main one (moving either's weights leaves the other's output unchanged), the main
    policy has no value head of its own, and it round-trips through a checkpoint."""
    from training.checkpoint import load_policy, save_policy
    obs, leg, cnt = states
    idx = np.nonzero(cnt > 3)[0][:48]
    g, e = obs_tensors(obs[idx])
    torch.manual_seed(0)
    pol = TCGPolicy(PolicyConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64, separate_value=True,
                                 typed_inputs=True)).eval()
    names = [n for n, _ in pol.named_parameters()]
    assert not any(n.startswith("value_head") for n in names) and "critic.value_head.0.weight" in names
    assert not any(n.startswith("critic.") and ("bin_out" in n or "ptr_q" in n) for n in names)
    with torch.no_grad():
        a = pol(g, e)
        h0 = pol.head_logits(a, 0)
        for p in pol.critic.encoder.parameters():
            p.add_(0.5)
        b = pol(g, e)
        assert not torch.allclose(a.value, b.value) and torch.equal(b.tokens, a.tokens)
        assert torch.equal(pol.head_logits(b, 0), h0)
        for p in pol.encoder.parameters():
            p.add_(0.5)
        c = pol(g, e)
        assert torch.equal(c.value, b.value) and not torch.allclose(pol.head_logits(c, 0), h0)
    loaded = load_policy(save_policy(pol, tmp_path / "p.pt")).eval()
    assert loaded.config.separate_value
    with torch.no_grad():
        x, y = pol(g, e), loaded(g, e)
        assert torch.equal(x.value, y.value) and torch.equal(x.tokens, y.tokens)


def test_oracle_value_reads_the_opponents_hand_in_the_critic_only(tmp_path):
    """PolicyConfig.oracle_value: the critic's table is the seat's own entities plus the
    opponent's hand from the opponent's own view, marked as the opponent's; the value moves with
    the opponent's hidden cards while every action logit stays the same; without the opponent's
    view the value is NaN, never a silent guess; and it round-trips through a checkpoint."""
    from policy.model import oracle_entities
    from training.checkpoint import load_policy, save_policy
    from verification.spec import ENT_MY_HAND, HAND_MAX
    env = VecTCG(24, seed=7)
    bot = HeuristicBot(3)
    obs, opp = [], []
    for _ in range(30):
        obs.append(env.observations.copy())
        opp.append(env.observe(1 - env.current_player))
        env.step(bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count))
    obs, opp = np.concatenate(obs), np.concatenate(opp)
    g, e = obs_tensors(obs)
    oe = obs_tensors(opp)[1]
    oe_seen = oe.clone()
    owner, card = ENTITY_FEATURES.index("owner"), ENTITY_FEATURES.index("card_id")
    hand_n = GLOBAL_FEATURES.index("opp_hand_count")
    full = oracle_entities(e, oe)
    assert full.shape == (len(obs), NUM_ENTITIES + HAND_MAX, len(ENTITY_FEATURES))
    assert torch.equal(full[:, :NUM_ENTITIES], e)
    hand = full[:, NUM_ENTITIES:]
    # as many hand rows as the seat's own observation counts in the opponent's hand, all the opponent's
    assert torch.equal(hand[..., _PRESENT].sum(1).long(), g[:, hand_n].long())
    assert torch.equal(hand[..., owner], hand[..., _PRESENT])
    assert torch.equal(hand[..., card], oe[:, ENT_MY_HAND:, card])
    # ... and the seat's own observation does not hold those cards: no opponent row is in a hand
    assert not ((e[..., owner] == 1) & (e[..., ENTITY_FEATURES.index("zone")] == 4)).any()

    torch.manual_seed(0)
    pol = TCGPolicy(PolicyConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64, oracle_value=True)).eval()
    assert not any(n.startswith("value_head") for n, _ in pol.named_parameters())
    other = oe.clone()
    other[:, ENT_MY_HAND:, card] = torch.where(other[:, ENT_MY_HAND:, _PRESENT] > 0, 1, 0).to(other.dtype)
    with torch.no_grad():
        blind = pol(g, e)
        a, b = pol(g, e, opp_entities=oe), pol(g, e, opp_entities=other)
        assert torch.isnan(blind.value).all() and torch.isfinite(a.value).all()
        assert torch.equal(a.tokens, blind.tokens) and torch.equal(a.pooled, blind.pooled)
        assert torch.equal(pol.head_logits(a, 0), pol.head_logits(blind, 0))
        assert torch.equal(pol.head_logits(a, 0), pol.head_logits(b, 0))
        changed = (a.value - b.value).abs() > 1e-6
        has_hand = hand[..., _PRESENT].sum(1) > 0
        assert changed[has_hand].float().mean() > 0.9 and not changed[~has_hand].any()
    # the caller's observation (the opponent's view, a buffer the rollout keeps) is read, never written
    assert torch.equal(oe, oe_seen), "oracle_entities wrote into the opponent's observation"
    loaded = load_policy(save_policy(pol, tmp_path / "p.pt")).eval()
    assert loaded.config.oracle_value
    with torch.no_grad():
        assert torch.equal(loaded(g, e, opp_entities=oe).value, a.value)


# ----------------------------------------------------------------------------- affordances
def test_affordances_are_the_legal_lists_pointer_slots(states):
    """policy.affordances flags exactly the (entity, primary, pointer slot) triples of the legal
    list, and exactly its primaries, over ~2,000 states of random and heuristic games."""
    from policy.affordances import AFFORD_SLOTS, NUM_AFFORD, affordances
    obs, leg, cnt = states
    ent, prim = affordances(torch.as_tensor(leg), torch.as_tensor(cnt))
    assert ent.shape == (len(cnt), NUM_ENTITIES, NUM_AFFORD) and prim.shape == (len(cnt), len(Primary))
    slot = {(int(p), j): i for i, (p, j) in enumerate(AFFORD_SLOTS)}
    want_e = np.zeros(ent.shape, np.float32)
    want_p = np.zeros(prim.shape, np.float32)
    for b in range(len(cnt)):
        for t in leg[b, :cnt[b]]:
            want_p[b, t[0]] = 1
            for k in pointer_slots(int(t[0])):
                want_e[b, t[k], slot[(int(t[0]), k)]] = 1
    assert np.array_equal(ent.numpy(), want_e) and np.array_equal(prim.numpy(), want_p)
    # the rows past legal_count are never read: garbage there changes nothing
    junk = leg.copy()
    for b in range(len(cnt)):
        junk[b, cnt[b]:] = (int(Primary.ATTACK), 3, 1, 0)
    e2, p2 = affordances(torch.as_tensor(junk), torch.as_tensor(cnt))
    assert torch.equal(e2, ent) and torch.equal(p2, prim)
    # every pointer slot the game reaches in these states shows up somewhere
    seen = {AFFORD_SLOTS[i] for i in np.nonzero(want_e.any((0, 1)))[0]}
    for must in ((Primary.PLAY_UNIT, 1), (Primary.PLAY_SPELL, 2), (Primary.ATTACK, 1), (Primary.ATTACK, 2),
                 (Primary.BLOCK, 1), (Primary.MOVE, 1)):
        assert must in seen, must


def test_affordance_policy_keeps_the_value_off_the_legal_list_and_needs_it_for_heads(states):
    """PolicyConfig.afford: the value reads only the observation (a seat that is not acting has
    no legal list); the heads read the legal list's affordances and refuse to run without them."""
    obs, leg, cnt = states
    idx = np.nonzero(cnt > 3)[0][:64]
    g, e = obs_tensors(obs[idx])
    lt, lc = torch.as_tensor(leg[idx, :int(cnt[idx].max())]), torch.as_tensor(cnt[idx])
    pol = make_policy(PolicyConfig(afford=True), seed=3).eval()
    with torch.no_grad():
        full = pol(g, e, lt, lc)
        bare = pol(g, e)
        one = pol(g, e, lt, torch.ones_like(lc))    # only each list's first tuple
        assert torch.equal(full.value, bare.value) and torch.equal(full.value, one.value)
        with pytest.raises(ValueError, match="affordances"):
            pol.head_logits(bare, 0)
        with pytest.raises(ValueError, match="affordances"):
            sample(pol, bare, lt, lc)
        # the heads do read them: a different legal list moves the primary logits
        assert not torch.allclose(pol.head_logits(full, 0), pol.head_logits(one, 0))
        res = sample(pol, full, lt, lc, generator=torch.Generator().manual_seed(0))
        back = evaluate(pol, pol(g, e, lt, lc), lt, lc, res.actions)
        assert torch.allclose(res.log_prob, back.log_prob, atol=1e-6, rtol=0)


@pytest.mark.parametrize("pointer_primary", [True, False])
def test_pointer_primary_makes_the_primary_and_its_entity_one_softmax(states, pointer_primary):
    """PolicyConfig.pointer_primary: P(primary) * P(entity | primary), summed over the legal
    tuples with that prefix, equals one softmax over the legal (pointer primary, entity) pairs,
    scored by head 1, and the other legal primaries, scored by head 0's bin logits. Without
    the option the two differ (the identity is not automatic)."""
    from policy.model import _PTR1_PRIM
    obs, leg, cnt = states
    pol = make_policy(PolicyConfig(pointer_primary=pointer_primary), seed=4, scale=8.0).eval()
    rows = [i for i in np.nonzero((cnt > 3) & (cnt < 200))[0]
            if sum(int(p) in _PTR1_PRIM for p in set(leg[i, :cnt[i], 0].tolist())) >= 2][:40]
    assert len(rows) >= 20
    worst = 0.0
    with torch.no_grad():
        for i in rows:
            n = int(cnt[i])
            L = torch.as_tensor(leg[i:i + 1, :n]).long()
            C = torch.tensor([n])
            enc = pol(*obs_tensors(obs[i:i + 1]), L, C)
            _, _, tup, lp = exact_entropy(pol, enc, L, C, return_tuple_logp=True)
            got, want = {}, {}
            for t, l in zip(tup.tolist(), lp.exp().tolist()):
                key = (t[0], t[1]) if t[0] in _PTR1_PRIM else (t[0],)
                got[key] = got.get(key, 0.0) + l
            bins = pol.bin_out[0](pol._condition(enc, 0, None, torch.zeros(1, dtype=torch.long)))[0]
            for key in got:
                if len(key) == 2:
                    want[key] = pol.head_logits(enc, 1, torch.tensor([[key[0]]]))[0, key[1]].item()
                else:
                    want[key] = bins[key[0]].item()
            keys = sorted(got)
            flat = torch.softmax(torch.tensor([want[k] for k in keys]), 0)
            worst = max(worst, max(abs(flat[j].item() - got[k]) for j, k in enumerate(keys)))
    if pointer_primary:
        assert worst < 1e-5
    else:
        assert worst > 1e-2


# ----------------------------------------------------------------------------- head conditioning and scores
@pytest.mark.parametrize("pointer_mlp", [False, True], ids=["dot", "mlp"])
def test_pointer_logits_are_the_scaled_query_key_scores(states, pointer_mlp):
    """A pointer head's logit of a present entity is q . k / sqrt(d), q from the head's
    conditioning and k the entity's key (with ``pointer_mlp``: ptr_v(relu(q + k)), unscaled):
    the temperature of every pointer distribution rests on this scale."""
    obs, leg, cnt = states
    pol = make_policy(PolicyConfig(pointer_mlp=pointer_mlp), seed=11).eval()
    idx = np.arange(0, len(cnt), 7)[:64]
    g, e = obs_tensors(obs[idx])
    B = len(idx)
    with torch.no_grad():
        enc = pol(g, e)
        sub1 = enc.present.float().argmax(1)
        rows = torch.arange(B)
        for p, k in ((Primary.ATTACK, 1), (Primary.ATTACK, 2), (Primary.PLAY_SPELL, 2)):
            assert SLOT_KIND[p, k - 1] == POINTER
            prefix = torch.stack([torch.full((B,), int(p)), sub1], 1)[:, :k]
            q = pol.ptr_q[k - 1](pol._condition(enc, k, prefix, rows))
            keys = pol.ptr_k[k - 1](enc.entities)
            if pointer_mlp:
                want = pol.ptr_v[k - 1](torch.relu(keys + q.unsqueeze(1))).squeeze(-1)
            else:
                want = torch.einsum("bd,bed->be", q, keys) / float(np.sqrt(q.shape[-1]))
            got = pol.head_logits(enc, k, prefix)
            assert torch.allclose(got[enc.present], want[enc.present], atol=1e-5, rtol=1e-5), (p.name, k)


def test_each_head_reads_every_used_prefix_value_and_no_unused_one(states):
    """Head k is conditioned on the values of heads 0..k-1 that the primary uses: another
    entity in a pointer slot or another value in a bin slot moves head k's logits on every row
    (head 3 included), another value in an unused slot moves nothing."""
    obs, leg, cnt = states
    pol = make_policy(seed=12).eval()
    idx = np.arange(0, len(cnt), 11)[:48]
    g, e = obs_tensors(obs[idx])
    B = len(idx)
    checked = {int(SlotKind.POINTER): 0, int(SlotKind.BIN): 0, int(SlotKind.UNUSED): 0}
    with torch.no_grad():
        enc = pol(g, e)
        order = torch.argsort((~enc.present).to(torch.int8), dim=1, stable=True)
        assert bool((enc.present.sum(1) >= 2).all())     # two present entities per row (the leaders)
        ent_a, ent_b = order[:, 0], order[:, 1]
        for p in Primary:
            for k in (2, 3):
                base = torch.zeros(B, k, dtype=torch.long)
                base[:, 0] = int(p)
                for i in range(1, k):
                    base[:, i] = ent_a if SLOT_KIND[p, i - 1] == POINTER else 0
                for j in range(1, k):
                    kind = int(SLOT_KIND[p, j - 1])
                    alt = base.clone()
                    alt[:, j] = ent_b if kind == POINTER else 1
                    moved = (pol.head_logits(enc, k, base) - pol.head_logits(enc, k, alt)).abs().amax(1) > 1e-6
                    if kind == int(SlotKind.UNUSED):
                        assert not moved.any(), (p.name, k, j)
                    else:
                        assert moved.all(), (p.name, k, j)
                    checked[kind] += 1
    assert min(checked.values()) > 3, checked


def test_affordance_heads_read_which_entities_fill_the_slots(states):
    """PolicyConfig.afford: two legal lists with the same primaries but different entities in
    their pointer slots give different primary logits (the heads' conditioning reads the
    entities' affordance flags, not only the set of legal primaries)."""
    obs, leg, cnt = states
    pol = make_policy(PolicyConfig(afford=True), seed=13).eval()
    rows, thin = [], []
    for i in np.nonzero((cnt > 3) & (cnt < 120))[0]:
        T = leg[i, :cnt[i]]
        firsts = {}
        for t in T:
            firsts.setdefault(int(t[0]), t)
        # a pointer primary listed with two or more entities in head 1
        if any(SLOT_KIND[p, 0] == POINTER and len(set(T[T[:, 0] == p, 1].tolist())) > 1 for p in firsts):
            rows.append(int(i))
            thin.append(np.stack(list(firsts.values())))
        if len(rows) == 16:
            break
    assert len(rows) == 16
    g, e = obs_tensors(obs[rows])
    width = int(cnt[rows].max())
    Lf, Cf = torch.as_tensor(leg[rows, :width]).long(), torch.as_tensor(cnt[rows])
    Lt = torch.zeros(len(rows), width, 4, dtype=torch.long)
    for r, t in enumerate(thin):
        Lt[r, :len(t)] = torch.as_tensor(t.astype(np.int64))
    Ct = torch.tensor([len(t) for t in thin])
    with torch.no_grad():
        full, few = pol(g, e, Lf, Cf), pol(g, e, Lt, Ct)
        assert torch.equal(full.value, few.value)
        moved = (pol.head_logits(full, 0) - pol.head_logits(few, 0)).abs().amax(1) > 1e-6
    assert moved.all(), moved
