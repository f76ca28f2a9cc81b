"""A bot that plays a trained policy from a checkpoint, through the same sequential sampler
as training. torch, ``policy`` and ``training`` are imported only when one is built, so
``tcg_env`` itself never imports torch."""
from __future__ import annotations

import numpy as np

from ..state import check_seed


class PolicyBot:
    name = "checkpoint"

    def __init__(self, path: str, greedy: bool = True, seed: int = 0, device: str = "cpu", cards=None):
        """``cards``: the :class:`prefabs.CardSet` of the games it plays (None: the
        shipped cards); a checkpoint trained on other cards is refused (``CheckpointError``)."""
        import torch
        from training.checkpoint import load_policy

        seed = check_seed(seed, "bot seed")   # before the checkpoint is read
        self.path = path
        self.greedy = greedy
        self.device = torch.device(device)
        self.policy = load_policy(path, map_location=self.device, cards=cards).to(self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    def act_batch(self, observations: np.ndarray, legal_tuples: np.ndarray, legal_count: np.ndarray) -> np.ndarray:
        """Tuples ``int32[N, 4]`` for a batch of decisions (each with at least one legal tuple)."""
        import torch
        from policy import obs_tensors
        from training.sampler import sample

        with torch.no_grad():
            g, e = obs_tensors(observations, self.device)
            lt = torch.as_tensor(legal_tuples, device=self.device)
            lc = torch.as_tensor(legal_count, device=self.device)
            enc = self.policy(g, e, lt, lc)
            res = sample(self.policy, enc, lt, lc, generator=self.generator, greedy=self.greedy, entropy="sampled")
        return res.actions.cpu().numpy().astype(np.int32)

    def act(self, state) -> tuple[int, int, int, int]:
        legal = state.legal_tuples()
        if len(legal) == 0:
            raise ValueError("the game is over: there is no decision to make")
        obs = state.observation()[None]
        out = self.act_batch(obs, legal[None], np.array([len(legal)], np.int32))
        return tuple(int(x) for x in out[0])

    def __repr__(self):
        return f"PolicyBot({self.path!r}, greedy={self.greedy})"
