"""Shared data for the policy and sampler tests: observations and legal lists from games driven
by a random and a heuristic bot, and a seeded policy whose bin and pointer heads can be scaled
up so that argmax and draws differ visibly."""
from __future__ import annotations

import numpy as np
import torch

from policy.config import PolicyConfig
from policy.model import TCGPolicy
from tcg_env.bots import HeuristicBot, RandomBot
from tcg_env.vec import VecTCG


def bot_driven_states(games: int, seed: int, steps: int):
    """(obs [N, OBS] int8, legal [N, MAX_LEGAL, 4] int8, count [N]) from ``steps`` steps of
    ``games`` games, the heuristic (seed + 1) acting every third step and random (seed) else."""
    env = VecTCG(games, seed=seed)
    bots = (RandomBot(seed), HeuristicBot(seed + 1))
    obs, leg, cnt = [], [], []
    for t in range(steps):
        obs.append(env.observations.copy())
        leg.append(env.legal_tuples.copy())
        cnt.append(env.legal_count.copy())
        env.step(bots[t % 3 == 0].act_batch(env.state, env.cards, env.legal_tuples, env.legal_count))
    assert env.illegal_counts.sum() == 0
    return np.concatenate(obs), np.concatenate(leg), np.concatenate(cnt)


def seeded_policy(cfg: PolicyConfig | None = None, seed: int = 0, scale: float | None = None) -> TCGPolicy:
    """A policy initialised from ``seed`` (default config when ``cfg`` is None); ``scale``
    multiplies the bin and pointer heads' output weights for sharper distributions."""
    torch.manual_seed(seed)
    pol = TCGPolicy(cfg or PolicyConfig())
    if scale is not None:
        with torch.no_grad():
            for m in list(pol.bin_out) + list(pol.ptr_q):
                m.weight.mul_(scale)
                m.bias.mul_(scale)
    return pol
