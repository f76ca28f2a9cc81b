"""Analytic test games A-E of PITFALLS.md: tiny bandits and episodes with exact answers,
trained through the real sampler (``training.sampler.sample`` / ``evaluate``) with a
minimal policy-gradient or PPO loop written here.

Each game builds its legal tuple lists directly (``[B, L, 4]`` + counts); no card engine.
Policies implement ``head_logits(enc, k, prefix)`` over an :class:`policy.model.Encoding`:
:class:`PrefixMLP` is a small autoregressive module (head k sees the primary and the
sub-values drawn before it, like ``TCGPolicy``), with an ``autoregressive=False``
variant whose heads ignore the prefix (game E's control). Games D, E and E' also train
the real :class:`TCGPolicy` (small config) on synthetic observations.

- A. rare-primary bandit: the best tuple of one rare context needs a primary legal only
  there; P(optimal) > 0.95 in every context, the primary is never drawn where illegal.
- B. entropy fixed point: zero reward, END (1 tuple) vs PLAY (9 tuples). Exact joint
  entropy drives P(END) to 0.1; the per-head sum at the drawn prefix drives it to 0.5.
  Generalised: reward r and weight tau converge to softmax(r / tau) within KL < 0.01.
- C. forced chain: five steps, one real decision; forced steps have log-prob 0,
  entropy 0, ratio exactly 1, no gradient; only the real decision learns.
- D. shuffled pointer: point at the unit with the largest attack, units placed at random
  rows; TCGPolicy reaches it, an off-by-one entity indexing stays at chance.
- E. dependent heads: reward iff token bin = f(primary) and hand pointer = g(obs); the
  primary is forced by the legal list and not visible in the observation, so only a
  policy whose sub-heads see the drawn primary can exceed the best product of marginals.
- E'. head 1 needs the primary: the rewarded hand card depends on the drawn primary (two
  primaries legal, or one, unseen by the observation); TCGPolicy reaches it, a head 1 blind
  to the primary stays under 2/3 (game E cannot tell: it needs the primary at head 3 only).

Torch runs single-threaded here: the tensors are tiny.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from policy.config import PolicyConfig
from policy.model import ENTITY_FEATURES, Encoding, TCGPolicy
from training.sampler import evaluate, exact_entropy, sample
from tcg_env.observation import NUM_GLOBALS
from verification.spec import HEAD_SIZES, NUM_ENTITIES, SLOT_KIND, Primary, SlotKind

END = int(Primary.END_TURN)
MULLIGAN = int(Primary.MULLIGAN)
PLAY_UNIT = int(Primary.PLAY_UNIT)
PLAY_SPELL = int(Primary.PLAY_SPELL)
ATTACK = int(Primary.ATTACK)
CHOOSE_MODE = int(Primary.CHOOSE_MODE)
F_PRESENT = ENTITY_FEATURES.index("present")
F_CARD = ENTITY_FEATURES.index("card_id")
F_COST = ENTITY_FEATURES.index("cost")
F_ATTACK = ENTITY_FEATURES.index("attack")
F_HEALTH = ENTITY_FEATURES.index("health")


# the tensors are tiny: intra-op threads only add synchronisation (50x slower on a busy 2-core box)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------- helpers

def _check_tuple(t):
    """A hand-written tuple must respect ACTION_SPEC: unused sub-slots are 0."""
    p = t[0]
    for j in range(3):
        if SLOT_KIND[p, j] == SlotKind.UNUSED:
            assert t[j + 1] == 0, (t, j)
        assert 0 <= t[j + 1] < HEAD_SIZES[j + 1]


def pad_legal(lists):
    """Lists of tuples -> (legal [N, L, 4] long, count [N] long), zero-padded."""
    L = max(len(x) for x in lists)
    legal = torch.zeros(len(lists), L, 4, dtype=torch.long)
    for i, x in enumerate(lists):
        for t in x:
            _check_tuple(t)
        legal[i, :len(x)] = torch.tensor(x, dtype=torch.long)
    return legal, torch.tensor([len(x) for x in lists], dtype=torch.long)


def legal_row_of(actions, legal, count):
    """Index of each action in its row's legal list; asserts every action is legal."""
    L = legal.shape[1]
    valid = torch.arange(L).unsqueeze(0) < count.unsqueeze(1)
    hit = (actions.unsqueeze(1) == legal).all(-1) & valid
    assert bool(hit.any(-1).all()), f"illegal tuple sampled: {actions[~hit.any(-1)][:4].tolist()}"
    return hit.float().argmax(-1)


def tuple_probs(policy, enc, legal, count):
    """Exact probability ``[B, L]`` of every legal tuple (0 on padding), via the prefix tree."""
    L = legal.shape[1]
    valid = torch.arange(L).unsqueeze(0) < count.unsqueeze(1)
    _, _, _, logp = exact_entropy(policy, enc, legal, count, return_tuple_logp=True)
    probs = torch.zeros(legal.shape[0], L)
    probs[valid] = logp.exp()
    return probs


class PrefixMLP(nn.Module):
    """A minimal prefix-conditioned policy: head k's logits are an MLP of the pooled
    observation plus embeddings of the drawn primary and sub-values 1..k-1.

    With ``autoregressive=False`` every head ignores the prefix (independent heads given
    the observation) -- the control of game E."""

    def __init__(self, obs_dim: int, d: int = 64, autoregressive: bool = True):
        super().__init__()
        self.autoregressive = autoregressive
        self.inp = nn.Linear(obs_dim, d)
        self.prim = nn.Embedding(HEAD_SIZES[0], d)
        self.sub = nn.ModuleList([nn.Embedding(HEAD_SIZES[k], d) for k in (1, 2)])
        self.hid = nn.ModuleList([nn.Linear(d, d) for _ in range(4)])
        self.out = nn.ModuleList([nn.Linear(d, HEAD_SIZES[k]) for k in range(4)])

    def forward(self, obs: torch.Tensor) -> Encoding:
        pooled = self.inp(obs.float())
        B = obs.shape[0]
        return Encoding.from_entities(pooled.new_zeros(B, 1, 1), torch.ones(B, 1, dtype=torch.bool),
                                      pooled, pooled.new_zeros(B))

    def head_logits(self, enc: Encoding, k: int, prefix: torch.Tensor | None = None) -> torch.Tensor:
        c = enc.pooled
        if self.autoregressive and k >= 1:
            prefix = prefix.long()
            c = c + self.prim(prefix[:, 0])
            for j in range(1, k):
                c = c + self.sub[j - 1](prefix[:, j])
        return self.out[k](torch.relu(self.hid[k](c)))


SMALL = dict(d_model=32, n_heads=2, n_layers=1, d_ff=64)


def small_tcg_policy() -> TCGPolicy:
    return TCGPolicy(PolicyConfig(**SMALL))


def pg_loss(res, reward, ent_coef=0.0):
    adv = reward - reward.mean()
    return -(adv * res.log_prob).mean() - ent_coef * res.entropy.mean()


def ppo_epochs(policy, opt, obs, legal, count, actions, old_logp, adv, epochs=4, clip=0.2):
    """Full-batch clipped PPO epochs; returns the ratio tensor of each epoch (before its step)."""
    ratios = []
    for _ in range(epochs):
        ev = evaluate(policy, policy(obs), legal, count, actions, entropy="sampled")   # no entropy term here
        ratio = (ev.log_prob - old_logp).exp()
        ratios.append(ratio.detach())
        loss = -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return ratios


# ----------------------------------------------------------------------------- game A

# Contexts 0 and 1 (common): END or PLAY_UNIT (hand 22/23, slot 0/1, token 0/1).
# Context 2 (rare, 10%): the same plus ATTACK (attacker 2/3, target 1/12), legal only there.
A_PLAYS = [(PLAY_UNIT, h, s, t) for h in (22, 23) for s in (0, 1) for t in (0, 1)]
A_ATTACKS = [(ATTACK, a, tgt, 0) for a in (2, 3) for tgt in (1, 12)]
A_LEGAL = [[(END, 0, 0, 0)] + A_PLAYS, [(END, 0, 0, 0)] + A_PLAYS, [(END, 0, 0, 0)] + A_PLAYS + A_ATTACKS]
A_BEST = [(PLAY_UNIT, 22, 1, 0), (PLAY_UNIT, 23, 0, 1), (ATTACK, 3, 12, 0)]


def a_reward(ctx: int, t: tuple) -> float:
    if t == A_BEST[ctx]:
        return 1.0
    if t[0] == END:
        return 0.1
    if t[0] == PLAY_UNIT:
        return 0.5 if ctx == 2 else 0.3       # in the rare context PLAY is a tempting second best
    return 0.4


def test_game_a_rare_primary_bandit():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    policy = PrefixMLP(3, d=64)
    opt = torch.optim.Adam(policy.parameters(), lr=1e-2)
    legal_c, count_c = pad_legal(A_LEGAL)
    rew_c = torch.tensor([[a_reward(c, tuple(t)) if i < count_c[c] else 0.0 for i, t in enumerate(legal_c[c].tolist())]
                          for c in range(3)])
    B = 128
    attack_where_illegal = 0
    rare_draws = 0
    for it in range(60):
        ctx = torch.multinomial(torch.tensor([0.45, 0.45, 0.10]), B, replacement=True, generator=gen)
        obs = nn.functional.one_hot(ctx, 3).float()
        legal, count = legal_c[ctx], count_c[ctx]
        with torch.no_grad():
            res = sample(policy, policy(obs), legal, count, generator=gen, entropy="sampled")
        row = legal_row_of(res.actions, legal, count)
        attack_where_illegal += int(((res.actions[:, 0] == ATTACK) & (ctx != 2)).sum())
        rare_draws += int((ctx == 2).sum())
        r = rew_c[ctx, row]
        adv = torch.zeros(B)
        for c in range(3):                     # per-context mean baseline
            m = ctx == c
            if m.any():
                adv[m] = r[m] - r[m].mean()
        ppo_epochs(policy, opt, obs, legal, count, res.actions, res.log_prob, adv)
    assert attack_where_illegal == 0
    with torch.no_grad():
        obs = torch.eye(3)
        probs = tuple_probs(policy, policy(obs), legal_c, count_c)
        p_opt = [float(probs[c, A_LEGAL[c].index(A_BEST[c])]) for c in range(3)]
        # exploration check: 3 x 10^4 fresh draws, ATTACK never drawn where it is illegal
        ctx = torch.arange(3).repeat_interleave(10_000)
        res = sample(policy, policy(nn.functional.one_hot(ctx, 3).float()), legal_c[ctx], count_c[ctx], generator=gen,
                     entropy="sampled")
        legal_row_of(res.actions, legal_c[ctx], count_c[ctx])
        assert int(((res.actions[:, 0] == ATTACK) & (ctx != 2)).sum()) == 0
    print(f"\n[A] P(optimal) per context = {[round(p, 4) for p in p_opt]} (rare context seen {rare_draws} times)")
    assert min(p_opt) > 0.95, p_opt


# ----------------------------------------------------------------------------- game B

# END, or PLAY_UNIT with 3 hand cards x 3 slots (token forced to 0): 1 + 9 tuples.
B_LEGAL = [(END, 0, 0, 0)] + [(PLAY_UNIT, h, s, 0) for h in (22, 23, 24) for s in (0, 1, 2)]


def _train_entropy(mode: str, steps: int = 300, B: int = 16, seed: int = 0):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    policy = PrefixMLP(1, d=32)
    opt = torch.optim.Adam(policy.parameters(), lr=3e-2)
    legal, count = pad_legal([B_LEGAL] * B)
    obs = torch.ones(B, 1)
    for _ in range(steps):
        if mode == "exact_rows":   # PPO's path with entropy_rows: replay, exact entropy of the first rows
            with torch.no_grad():
                acts = sample(policy, policy(obs), legal, count, generator=gen).actions
            loss = -evaluate(policy, policy(obs), legal, count, acts, entropy_rows=B // 4).entropy[:B // 4].mean()
        else:
            res = sample(policy, policy(obs), legal, count, generator=gen, entropy=mode)
            loss = -res.entropy.mean()             # zero reward: the entropy bonus is the whole loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        probs = tuple_probs(policy, policy(obs[:1]), legal[:1], count[:1])[0]
        h = float(exact_entropy(policy, policy(obs[:1]), legal[:1], count[:1])[0])
    return float(probs[0]), h, probs


def test_game_b_entropy_fixed_point_exact_vs_sampled():
    # item 5: the entropy term carries a gradient; one step of the bonus alone raises H
    torch.manual_seed(1)
    policy = PrefixMLP(1, d=32)
    legal, count = pad_legal([B_LEGAL] * 4)
    obs = torch.ones(4, 1)
    h0 = exact_entropy(policy, policy(obs), legal, count)
    assert h0.requires_grad
    opt = torch.optim.SGD(policy.parameters(), lr=0.1)
    res = sample(policy, policy(obs), legal, count, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(res.entropy, h0)
    (-res.entropy.mean()).backward()
    opt.step()
    with torch.no_grad():
        assert float(exact_entropy(policy, policy(obs), legal, count).mean()) > float(h0.mean()) + 1e-4

    p_exact, h_exact, probs = _train_entropy("exact")
    p_sampled, h_sampled, _ = _train_entropy("sampled")
    print(f"\n[B] exact: P(END)={p_exact:.4f} H={h_exact:.4f} (max log10={math.log(10):.4f}, "
          f"max PLAY tuple dev {float((probs[1:] - 0.1).abs().max()):.4f}); sampled: P(END)={p_sampled:.4f} "
          f"H={h_sampled:.4f}")
    assert abs(p_exact - 0.1) < 0.02
    assert float((probs[1:] - 0.1).abs().max()) < 0.02
    assert abs(h_exact - math.log(10)) < 0.01
    assert abs(p_sampled - 0.5) < 0.1
    # the exact entropy of a subset of the rows (TrainConfig.entropy_rows) keeps the exact fixed point
    p_rows, h_rows, _ = _train_entropy("exact_rows")
    assert abs(p_rows - 0.1) < 0.02 and abs(h_rows - math.log(10)) < 0.01


def _train_soft(seed: int, tau: float = 0.5):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    r_tab = torch.tensor([0.3] + [0.0, 0.5, 0.2, 0.8, 0.1, 0.4, 0.6, 0.0, 0.3])
    target = torch.softmax(r_tab / tau, 0)
    policy = PrefixMLP(1, d=32)
    opt = torch.optim.Adam(policy.parameters(), lr=2e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 if i < 150 else 0.15)
    B = 128
    legal, count = pad_legal([B_LEGAL] * B)
    obs = torch.ones(B, 1)
    for it in range(250):
        res = sample(policy, policy(obs), legal, count, generator=gen)
        r = r_tab[legal_row_of(res.actions, legal, count)]
        loss = pg_loss(res, r, ent_coef=tau)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        probs = tuple_probs(policy, policy(obs[:1]), legal[:1], count[:1])[0]
    return float((target * (target / probs).log()).sum()), probs, target


def test_game_b_generalised_soft_optimum():
    """Reward r and entropy weight tau: the fixed point is pi(t) ∝ exp(r(t) / tau)."""
    kl, probs, target = _train_soft(seed=2)
    print(f"\n[B'] KL(target || pi) = {kl:.5f}; P(END) = {float(probs[0]):.4f} vs {float(target[0]):.4f}")
    assert kl < 0.01


# ----------------------------------------------------------------------------- game C

# Five steps; only step 2 is a decision (CHOOSE_MODE 0/1/2 or END). Reward 1 at the end
# iff mode 2 was chosen. Heads that are forced or unused must add nothing.
C_STEPS = [
    [(MULLIGAN, 0, 0, 0)],
    [(PLAY_UNIT, 23, 4, 1)],
    [(CHOOSE_MODE, 0, m, 0) for m in range(3)] + [(END, 0, 0, 0)],
    [(ATTACK, 2, 1, 0)],
    [(END, 0, 0, 0)],
]
C_DECISION = 2


def test_game_c_forced_chain():
    torch.manual_seed(3)
    gen = torch.Generator().manual_seed(3)
    T = len(C_STEPS)
    policy = PrefixMLP(T, d=32)
    opt = torch.optim.Adam(policy.parameters(), lr=1e-2)
    E = 64                                           # episodes per update
    step_legal, step_count = pad_legal(C_STEPS)
    step = torch.arange(T).repeat(E)                  # [E*T], episode-major
    obs = nn.functional.one_hot(step, T).float()
    legal, count = step_legal[step], step_count[step]
    forced_rows = step != C_DECISION
    p_hist = []
    for it in range(40):
        # roll out E episodes; the steps do not depend on earlier actions, so one batched call
        # per update is the same as stepping (the decision row is the only one with a choice)
        with torch.no_grad():
            res = sample(policy, policy(obs), legal, count, generator=gen)
        legal_row_of(res.actions, legal, count)
        f = forced_rows
        assert torch.isfinite(res.log_prob).all() and torch.isfinite(res.entropy).all()
        assert bool((res.log_prob[f] == 0).all()) and bool((res.entropy[f] == 0).all())
        assert bool((res.head_entropy[f] == 0).all()) and bool((res.head_log_prob[f] == 0).all())
        assert bool((res.forced[f] == res.applicable[f]).all())     # every applicable head forced
        assert bool((res.actions[f] == legal[f, 0]).all())
        d = ~f
        want = torch.where((res.actions[d, 0] == END).unsqueeze(1), torch.tensor([True, False, False, False]),
                           torch.tensor([True, False, True, False]))
        assert bool((res.applicable[d] == want).all())
        mode2 = (res.actions.view(E, T, 4)[:, C_DECISION] == torch.tensor([CHOOSE_MODE, 0, 2, 0])).all(-1)
        ret = mode2.float().repeat_interleave(T)      # terminal reward, undiscounted, to every step
        adv = ret - ret.mean()                        # forced steps get a non-zero advantage on purpose

        # the forced steps' part of the surrogate has exactly zero gradient
        ev = evaluate(policy, policy(obs), legal, count, res.actions)
        part = -(adv[f] * ev.log_prob[f]).sum()
        grads = torch.autograd.grad(part, list(policy.parameters()), allow_unused=True)
        assert all(g is None or bool((g == 0).all()) for g in grads)

        ratios = ppo_epochs(policy, opt, obs, legal, count, res.actions, res.log_prob, adv)
        assert torch.allclose(ratios[0], torch.ones_like(ratios[0]), atol=1e-6, rtol=0)   # item 7
        for r in ratios:                              # after updates too: ratio is exactly 1 at forced steps
            assert bool((r[f] == 1).all()) and torch.isfinite(r).all()
        for p in policy.parameters():
            assert torch.isfinite(p).all()
        with torch.no_grad():
            probs = tuple_probs(policy, policy(torch.eye(T)), step_legal, step_count)
        assert bool((probs[forced_rows[:T]][:, 0] == 1).all())
        p_hist.append(float(probs[C_DECISION, 2]))
    print(f"\n[C] P(mode 2 at the decision) = {p_hist[0]:.3f} -> {p_hist[-1]:.4f}")
    assert p_hist[-1] > 0.95


# ----------------------------------------------------------------------------- game D

D_UNITS = 4
D_ROWS = 10          # my board rows 2-11


def d_batch(B: int, gen: torch.Generator):
    """Leaders present; D_UNITS units at random board rows with distinct attacks 1-9 and a
    random health (a distractor). Legal: ATTACK (unit, enemy leader). Target: argmax attack."""
    g = torch.zeros(B, NUM_GLOBALS)
    ent = torch.zeros(B, NUM_ENTITIES, len(ENTITY_FEATURES))
    ent[:, :2, F_PRESENT] = 1
    ent[:, :2, F_CARD] = 1
    rows = torch.stack([torch.randperm(D_ROWS, generator=gen)[:D_UNITS] for _ in range(B)]) + 2
    atk = torch.stack([torch.randperm(9, generator=gen)[:D_UNITS] for _ in range(B)]).float() + 1
    hp = torch.randint(1, 10, (B, D_UNITS), generator=gen).float()
    bi = torch.arange(B).unsqueeze(1)
    ent[bi, rows, F_PRESENT] = 1
    ent[bi, rows, F_CARD] = 2
    ent[bi, rows, F_ATTACK] = atk
    ent[bi, rows, F_HEALTH] = hp
    legal = torch.zeros(B, D_UNITS, 4, dtype=torch.long)
    legal[:, :, 0] = ATTACK
    legal[:, :, 1] = rows
    legal[:, :, 2] = 1
    count = torch.full((B,), D_UNITS, dtype=torch.long)
    best = rows.gather(1, atk.argmax(1, keepdim=True)).squeeze(1)
    return (g, ent), legal, count, best


class OffByOnePolicy(TCGPolicy):
    """TCGPolicy with an entity-indexing off-by-one: pointer row e is scored from the
    encoding of entity e-1 (as if ``h[:, :-1]`` had been taken instead of ``h[:, 1:]``)."""

    def forward(self, globals_, entities):
        enc = super().forward(globals_, entities)
        return Encoding.from_entities(torch.roll(enc.entities, 1, dims=1), enc.present, enc.pooled, enc.value)


def _train_pointer(policy, steps=100, B=64, seed=4):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(policy.parameters(), lr=3e-3)
    for it in range(steps):
        (g, ent), legal, count, best = d_batch(B, gen)
        res = sample(policy, policy(g, ent), legal, count, generator=gen, entropy="sampled")
        legal_row_of(res.actions, legal, count)
        assert bool(res.forced[:, 2].all()) and not bool(res.applicable[:, 3].any())
        loss = pg_loss(res, (res.actions[:, 1] == best).float())
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        (g, ent), legal, count, best = d_batch(1000, torch.Generator().manual_seed(seed + 100))
        res = sample(policy, policy(g, ent), legal, count, greedy=True, entropy="sampled")
    return float((res.actions[:, 1] == best).float().mean())


def test_game_d_shuffled_pointer_and_off_by_one():
    torch.manual_seed(4)
    acc = _train_pointer(small_tcg_policy())
    torch.manual_seed(4)
    acc_bug = _train_pointer(OffByOnePolicy(PolicyConfig(**SMALL)))
    print(f"\n[D] greedy argmax accuracy: TCGPolicy {acc:.3f}, off-by-one {acc_bug:.3f} (chance {1 / D_UNITS:.2f})")
    assert acc > 0.9
    assert acc_bug < 0.45


# ----------------------------------------------------------------------------- game E

# The legal list forces the primary (PLAY_UNIT with P = 0.6, else PLAY_SPELL); the
# observation does not reveal which. Sub1: one of hand cards 22-25 (obs says which is
# rewarded: g). Sub2: forced (slot 0 / enemy leader). Sub3: token 0/1, rewarded iff it
# equals f(primary) = {PLAY_UNIT: 0, PLAY_SPELL: 1}.
E_HANDS = (22, 23, 24, 25)
E_P_UNIT = 0.6
E_F = {PLAY_UNIT: 0, PLAY_SPELL: 1}
# Heads that ignore the prefix choose the token from the observation alone, which carries
# no information about the primary: the best product of marginals wins with probability
# max_b P(f(primary) = b) (the pointer part can still be learned exactly from the obs).
E_CAP = max(E_P_UNIT, 1 - E_P_UNIT)


def hand_observation(B: int, hands):
    """Synthetic TCGPolicy inputs for games E and E': empty globals, both leaders present, and
    the entity rows ``hands`` present as the same cost-2 card (the games then mark the ones that
    matter)."""
    g = torch.zeros(B, NUM_GLOBALS)
    ent = torch.zeros(B, NUM_ENTITIES, len(ENTITY_FEATURES))
    ent[:, :2, F_PRESENT] = 1
    ent[:, :2, F_CARD] = 1
    for h in hands:
        ent[:, h, F_PRESENT] = 1
        ent[:, h, F_CARD] = 3
        ent[:, h, F_COST] = 2
    return g, ent


def e_legal():
    out = {}
    for p, sub2 in ((PLAY_UNIT, 0), (PLAY_SPELL, 1)):
        out[p] = [(p, h, sub2, t) for h in E_HANDS for t in (0, 1)]
    return out


def e_batch(B, gen, tcg: bool):
    prim = torch.where(torch.rand(B, generator=gen) < E_P_UNIT, PLAY_UNIT, PLAY_SPELL)
    good = torch.randint(0, len(E_HANDS), (B,), generator=gen)
    lists = e_legal()
    lu, _ = pad_legal([lists[PLAY_UNIT]])
    ls, _ = pad_legal([lists[PLAY_SPELL]])
    is_u = (prim == PLAY_UNIT).view(B, 1, 1)
    legal = torch.where(is_u, lu.expand(B, -1, -1), ls.expand(B, -1, -1))
    count = torch.full((B,), len(lists[PLAY_UNIT]), dtype=torch.long)
    if tcg:
        g, ent = hand_observation(B, E_HANDS)
        ent[torch.arange(B), torch.tensor(E_HANDS)[good], F_COST] = 8      # the rewarded card
        obs = (g, ent)
    else:
        obs = (nn.functional.one_hot(good, len(E_HANDS)).float(),)
    target_hand = torch.tensor(E_HANDS)[good]
    target_tok = torch.where(prim == PLAY_UNIT, E_F[PLAY_UNIT], E_F[PLAY_SPELL])
    return obs, legal, count, prim, target_hand, target_tok


def _train_dependent(policy, tcg: bool, steps: int, lr: float, B: int = 128, seed: int = 5):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    for it in range(steps):
        obs, legal, count, prim, hand, tok = e_batch(B, gen, tcg)
        res = sample(policy, policy(*obs), legal, count, generator=gen, entropy="sampled")
        legal_row_of(res.actions, legal, count)
        assert bool((res.actions[:, 0] == prim).all()) and bool(res.forced[:, 0].all())
        win = ((res.actions[:, 1] == hand) & (res.actions[:, 3] == tok)).float()
        loss = pg_loss(res, win)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        obs, legal, count, prim, hand, tok = e_batch(4000, torch.Generator().manual_seed(seed + 100), tcg)
        probs = tuple_probs(policy, policy(*obs), legal, count)
        win_t = (legal[:, :, 1] == hand.unsqueeze(1)) & (legal[:, :, 3] == tok.unsqueeze(1))
    # The same cap on this very sample: states with the same observation (the same rewarded
    # hand card) share one token distribution q under prefix-blind heads, so their summed win
    # is at most n_obs * max_b frac(f(primary) = b) -- an upper bound with no sampling slack.
    cap = sum(max(float((tok[hand == h] == b).sum()) for b in (0, 1)) for h in E_HANDS) / len(tok)
    return float((probs * win_t).sum(1).mean()), cap    # exact expected win rate on held-out states


def test_game_e_dependent_heads():
    assert E_CAP == pytest.approx(0.6)
    torch.manual_seed(5)
    p_ar, _ = _train_dependent(PrefixMLP(len(E_HANDS), d=32), tcg=False, steps=100, lr=1e-2)
    torch.manual_seed(5)
    p_ind, cap = _train_dependent(PrefixMLP(len(E_HANDS), d=32, autoregressive=False), tcg=False, steps=100,
                                  lr=1e-2)
    torch.manual_seed(5)
    p_tcg, _ = _train_dependent(small_tcg_policy(), tcg=True, steps=100, lr=3e-3)
    print(f"\n[E] P(win): autoregressive {p_ar:.4f}, TCGPolicy {p_tcg:.4f}, independent heads {p_ind:.4f} "
          f"(analytic cap {E_CAP:.2f}, on the held-out sample {cap:.4f})")
    assert abs(cap - E_CAP) < 0.03
    assert p_ar > 0.95
    assert p_tcg > 0.95
    assert p_ind <= cap + 1e-4 and p_ind < 0.75
    assert p_ind > cap - 0.1          # the control did learn the part it can (pointer = g(obs))


# ----------------------------------------------------------------------------- game E'

# Game E rewards f(primary) at head 3, which sees the primary through its own embedding and
# through the sub-2 value (slot 0 / enemy leader): a head 1 blind to the primary passes it. Here the primary matters at
# head 1. Hand cards 22-25; the observation marks one card with cost 8 (the unit to play)
# and another with attack 8 (the spell to cast). PLAY_UNIT wins iff the hand pointer is the
# cost-8 card, PLAY_SPELL iff it is the attack-8 card; sub2 and the token are forced. A third
# of the states offer both primaries (the policy picks one), a third PLAY_UNIT only and a third
# PLAY_SPELL only; the observation does not say which. The primary is always a hand pointer, so
# head 1 has the same mask and the same output path under both, and only the drawn primary
# tells it which card to point at.
E2_HANDS = (22, 23, 24, 25)
E2_BOTH, E2_UNIT, E2_SPELL = 0, 1, 2      # which primaries are legal
# A head 1 that ignores the primary has one distribution q over the hand per observation.
# With u, s, b the states of one observation whose legal primaries are UNIT only, SPELL only
# and both, and q_u, q_s its mass on the two marked cards, the wins are at most
# u q_u + s q_s + b max(q_u, q_s) <= max(u, s) + b: a third of the states lost, cap 2/3 (a
# bilinear bound at the corners, whatever head 0 does in the two-primary states).
E2_CAP = 2 / 3


def e2_legal():
    unit = [(PLAY_UNIT, h, 0, 0) for h in E2_HANDS]
    spell = [(PLAY_SPELL, h, 1, 0) for h in E2_HANDS]
    return {E2_BOTH: unit + spell, E2_UNIT: unit, E2_SPELL: spell}


def e2_batch(B, gen):
    kind = torch.randint(0, 3, (B,), generator=gen)
    pair = torch.stack([torch.randperm(len(E2_HANDS), generator=gen)[:2] for _ in range(B)])
    hands = torch.tensor(E2_HANDS)
    unit_card, spell_card = hands[pair[:, 0]], hands[pair[:, 1]]
    lists = e2_legal()
    legal_k, count_k = pad_legal([lists[k] for k in (E2_BOTH, E2_UNIT, E2_SPELL)])
    legal, count = legal_k[kind], count_k[kind]
    g, ent = hand_observation(B, E2_HANDS)
    ent[:, list(E2_HANDS), F_ATTACK] = 2
    bi = torch.arange(B)
    ent[bi, unit_card, F_COST] = 8
    ent[bi, spell_card, F_ATTACK] = 8
    return (g, ent), legal, count, kind, unit_card, spell_card


def e2_win(actions, unit_card, spell_card):
    """1 where the hand pointer is the card the drawn primary wants."""
    want = torch.where(actions[..., 0] == PLAY_UNIT, unit_card, spell_card)
    return (actions[..., 1] == want).float()


class PrimaryBlindHead1(TCGPolicy):
    """TCGPolicy whose head 1 does not see the drawn primary (heads 2 and 3 still do): game E''s
    control, the bug of adding the primary's embedding only from head 2 on."""

    def _condition(self, enc, k, prefix, rows):
        if k == 1:
            return self.cond[1](enc.pooled[rows])
        return super()._condition(enc, k, prefix, rows)


def _train_e2(policy, steps: int = 80, B: int = 128, seed: int = 6):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(policy.parameters(), lr=3e-3)
    both_draws = torch.zeros(2)
    for it in range(steps):
        obs, legal, count, kind, uc, sc = e2_batch(B, gen)
        res = sample(policy, policy(*obs), legal, count, generator=gen, entropy="sampled")
        legal_row_of(res.actions, legal, count)
        assert bool((res.forced[:, 0] == (kind != E2_BOTH)).all())     # a real choice in the two-primary states
        assert bool(res.forced[:, 2:].all())
        both = kind == E2_BOTH
        both_draws += torch.stack([(res.actions[both, 0] == p).sum() for p in (PLAY_UNIT, PLAY_SPELL)]).float()
        loss = pg_loss(res, e2_win(res.actions, uc, sc))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert bool((both_draws > 0).all()), both_draws        # both primaries were drawn where both are legal
    with torch.no_grad():
        obs, legal, count, kind, uc, sc = e2_batch(3000, torch.Generator().manual_seed(seed + 100))
        probs = tuple_probs(policy, policy(*obs), legal, count)
        p_win = float((probs * e2_win(legal, uc.unsqueeze(1), sc.unsqueeze(1))).sum(1).mean())
    # the cap on this very sample: per observation (the pair of marked cards), max(u, s) + b
    cap = 0.0
    for key in torch.unique(uc * 100 + sc):
        m = uc * 100 + sc == key
        n = [int((kind[m] == k).sum()) for k in (E2_BOTH, E2_UNIT, E2_SPELL)]
        cap += n[0] + max(n[1], n[2])
    return p_win, cap / len(kind)    # exact expected win rate on held-out states, and the blind cap there


def test_game_e2_head1_depends_on_the_drawn_primary():
    """TCGPolicy's head 1 reads the primary drawn at head 0: it reaches P(win) > 0.95 where a
    head 1 blind to the primary is capped at 2/3 (also checked on the held-out states
    themselves, with no sampling slack), and the blind control stays under that cap."""
    torch.manual_seed(6)
    p_tcg, cap = _train_e2(small_tcg_policy())
    torch.manual_seed(6)
    p_blind, _ = _train_e2(PrimaryBlindHead1(PolicyConfig(**SMALL)))
    print(f"\n[E'] P(win): TCGPolicy {p_tcg:.4f}, primary-blind head 1 {p_blind:.4f} "
          f"(analytic cap {E2_CAP:.3f}, on the held-out sample {cap:.4f})")
    # max(u, s) of a finite group sits above its mean: about +0.02 at 250 states per observation
    assert abs(cap - E2_CAP) < 0.05
    assert p_tcg > 0.95 and p_tcg > cap + 0.25
    assert p_blind <= cap + 1e-4
    assert p_blind > 0.5              # the control did learn the part it can (which card each primary wants)
