"""The module PPO differentiates: encode + replay through the sequential sampler.

Wrapping encode and ``sampler.evaluate`` in one ``forward`` lets DistributedDataParallel
see every parameter the loss uses (the action heads are called by the sampler, outside
the policy's own ``forward``)."""
from __future__ import annotations

import torch
from torch import nn

from policy import obs_tensors

from .sampler import evaluate


class ReplayModule(nn.Module):
    def __init__(self, policy, entropy: str = "exact", independent: bool = False, touch_all: bool = False):
        super().__init__()
        self.policy = policy
        self.entropy = entropy
        self.independent = independent
        # Under DDP every parameter must join each step's graph: a minibatch in which no legal
        # tuple reaches some head would leave that head's weights out, and DDP would otherwise
        # have to search the autograd graph for unused parameters on every step
        # (find_unused_parameters, which also warns on every run). Each parameter enters times
        # zero: its gradient is 0, what the other ranks would have averaged in for it anyway.
        self.touch_all = touch_all

    def forward(self, obs, legal, count, actions, value_obs=None, opp_obs=None, value_opp_obs=None,
                entropy_rows=None):
        """Replayed log-prob, entropy, value, per-head entropy, forced and applicable heads of the
        stored tuples; with ``value_obs`` also the value of those extra observations (value-only
        rows: the waiting seat's views of ``TrainConfig.wait_value``), else an empty tensor.
        ``opp_obs`` / ``value_opp_obs``: the other seat's views of the same positions, read only by
        the oracle critic (``PolicyConfig.oracle_value``). ``entropy_rows=n``: the exact entropy of
        the first n rows only (``sampler.evaluate``; the others' entropy is NaN)."""
        g, e = obs_tensors(obs, obs.device)
        oe = None if opp_obs is None else obs_tensors(opp_obs, opp_obs.device)[1]
        enc = self.policy(g, e, legal, count, oe)
        res = evaluate(self.policy, enc, legal, count, actions, entropy=self.entropy, independent=self.independent,
                       entropy_rows=entropy_rows)
        extra = enc.value.new_zeros(0)
        if value_obs is not None and len(value_obs):
            voe = None if value_opp_obs is None else obs_tensors(value_opp_obs, value_opp_obs.device)[1]
            extra = self.policy(*obs_tensors(value_obs, value_obs.device), opp_entities=voe).value
        value = enc.value
        if self.touch_all:
            value = value + torch.cat([p.reshape(-1)[:1] for p in self.policy.parameters()]).sum() * 0.0
        # plain tensors (not the dataclass), each of which DDP traces
        return res.log_prob, res.entropy, value, res.head_entropy, res.forced, res.applicable, extra
