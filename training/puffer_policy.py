"""PuffeRL with this project's policy and sequential sampler.

PufferLib's trainer (``pufferlib.pufferl.PuffeRL``, pufferlib-core 3.0.10) never samples by
itself; it calls the policy and then one module-level function, in exactly two places::

    # PuffeRL.evaluate(), under torch.no_grad()
    logits, value = policy.forward_eval(obs, state)
    action, logprob, _ = pufferlib.pytorch.sample_logits(logits)
    # PuffeRL.train(), per minibatch
    logits, newvalue = policy(mb_obs, state)
    _, newlogprob, entropy = pufferlib.pytorch.sample_logits(logits, action=mb_actions)

(``pufferlib.pufferl.eval`` makes the first call too.) The stock ``sample_logits`` samples
each head of a MultiDiscrete *independently* from padded per-head logits, which cannot
express our legality (masks derived from the legal tuples by prefix) nor the prefix
conditioning of the heads. The hook is ``sample_logits`` itself: ``pufferl`` looks it up as
an attribute of the module ``pufferlib.pytorch`` at every call, so replacing that one
attribute routes both calls through :func:`sample_logits` below. Nothing else is patched.

- :class:`PufferTCGPolicy` wraps a :class:`~policy.model.TCGPolicy`. Its ``forward`` and
  ``forward_eval`` split the flat observation (``tcg_env.puffer`` layout) into the 800-byte
  observation and the legal tuples, encode the observation and return
  ``(SequentialLogits, value)``: the "logits" are a carrier holding the encoding and the
  legal lists, because our heads are evaluated lazily, one prefix at a time.
- :func:`sample_logits` (installed by :func:`install`, or ``with installed():``) sees a
  :class:`SequentialLogits` and calls ``training.sampler.sample`` when PuffeRL passes no
  action (rollout) and ``training.sampler.evaluate`` on the stored tuples when it does
  (train), returning ``(actions [B, 4] long, log_prob [B], entropy [B])`` as PuffeRL expects.
  Any other logits (another policy in the same process) go to the original function.
- Every sampled tuple is checked against its row's legal list inside the hook
  (``wrapper.stats``; ``strict=True`` raises :class:`IllegalSampleError`). Replays of stored
  tuples are checked by ``training.sampler.evaluate`` itself (``ReplayMismatchError``).

Usage (``tests/puffer_train_check.py`` runs this)::

    import pufferlib.pufferl                       # process-wide side effects: see DEVELOPERS.md
    from training.puffer_policy import PufferTCGPolicy, install, train_config
    install()
    trainer = pufferlib.pufferl.PuffeRL(train_config(batch_size=256, bptt_horizon=8, minibatch_size=128),
                                        vecenv, PufferTCGPolicy(TCGPolicy(cfg)))
    trainer.evaluate(); trainer.train()

What PuffeRL does with the results is PuffeRL's: its GAE runs along each agent row, and a
row of ``TCGPufferEnv`` interleaves the two seats of one self-play game (the reward is that of
the seat that just acted), so its advantages are not this project's seat-chained GAE
(docs/TRAINING.md). This module makes PuffeRL *sample and replay* with our sampler; it does
not make PuffeRL's update the project's update. ``wrapper.state_dict()`` keys carry a
``policy.`` prefix; ``wrapper.policy.state_dict()`` is the plain ``TCGPolicy`` one.

pufferlib is imported only by :func:`install` (through ``tcg_env.puffer.import_pufferlib``).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from policy.model import Encoding, TCGPolicy, obs_tensors
from tcg_env.observation import OBS_SIZE
from tcg_env.puffer import FLAT_OBS_SIZE, LEGAL_COUNT_OFFSET, LEGAL_OFFSET
from verification.spec import MAX_LEGAL

from . import sampler

__all__ = ["PufferTCGPolicy", "SequentialLogits", "SampleStats", "IllegalSampleError", "sample_logits",
           "install", "uninstall", "installed", "is_installed", "unpack_tensor", "legal_membership",
           "train_config"]


class IllegalSampleError(RuntimeError):
    """The sequential sampler drew a tuple that is not in its row's legal list (a bug)."""


def unpack_tensor(flat: torch.Tensor):
    """Torch twin of ``tcg_env.puffer.unpack``: flat int8 observations ``[B, FLAT_OBS_SIZE]`` ->
    ``(obs [B, OBS_SIZE] int8, legal_tuples [B, MAX_LEGAL, 4] int8, legal_count [B] long)``
    (views except the count)."""
    if flat.dim() != 2 or flat.shape[1] != FLAT_OBS_SIZE:
        raise ValueError(f"expected flat observations [B, {FLAT_OBS_SIZE}], got {tuple(flat.shape)}")
    obs = flat[:, :OBS_SIZE]
    count = flat[:, LEGAL_COUNT_OFFSET].long() * 128 + flat[:, LEGAL_COUNT_OFFSET + 1].long()
    legal = flat[:, LEGAL_OFFSET:].reshape(flat.shape[0], MAX_LEGAL, 4)
    return obs, legal, count


def legal_membership(actions: torch.Tensor, legal: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """``[B]`` bool: row i's tuple ``actions[i]`` is one of ``legal[i, :count[i]]``."""
    width = int(count.max()) if count.numel() else 0
    lt = legal[:, :width].long()
    live = torch.arange(width, device=lt.device).unsqueeze(0) < count.unsqueeze(1)
    return ((lt == actions.long().unsqueeze(1)).all(-1) & live).any(-1)


@dataclass
class SequentialLogits:
    """What :class:`PufferTCGPolicy` returns where PuffeRL expects logits: everything the
    sequential sampler needs for one batch. Only :func:`sample_logits` understands it."""
    owner: "PufferTCGPolicy"
    encoding: Encoding
    legal_tuples: torch.Tensor   # [B, W, 4] int8 (W: the longest list in the batch)
    legal_count: torch.Tensor    # [B] long
    observations: torch.Tensor   # [B, FLAT_OBS_SIZE] int8: the rows the policy was called on

    @property
    def batch_size(self) -> int:
        return int(self.legal_count.shape[0])


@dataclass
class SampleStats:
    """Counters kept by the hook (rows, not calls, except ``*_calls``)."""
    sample_calls: int = 0
    sampled: int = 0              # rows drawn by training.sampler.sample
    checked: int = 0              # sampled rows checked against their legal list
    illegal_sampled: int = 0      # of those, not in the list (must stay 0)
    replay_calls: int = 0
    replayed: int = 0             # rows replayed by training.sampler.evaluate
    max_legal_count: int = 0
    first_illegal: list = field(default_factory=list)   # up to 8 (row, tuple) for a report

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


class PufferTCGPolicy(nn.Module):
    """A :class:`~policy.model.TCGPolicy` with PuffeRL's policy interface (see the module doc).

    ``entropy``: "exact" (default; the joint entropy over the legal tuples) or "sampled", as
    in ``training.sampler``. ``generator``: a ``torch.Generator`` for the draws (None: the
    global RNG). ``strict``: raise :class:`IllegalSampleError` when a drawn tuple is not legal
    (otherwise only counted in ``stats``). ``observer``: optional callable
    ``observer(kind, logits, actions, result)`` called after each hook call, kind "sample" or
    "replay" (``actions`` is PuffeRL's ``action`` argument, None when sampling; ``result`` the
    ``training.sampler.SampleResult``); tests capture log-probs with it."""

    def __init__(self, policy: TCGPolicy, entropy: str = "exact", generator: torch.Generator | None = None,
                 strict: bool = True, observer=None):
        super().__init__()
        if policy.config.oracle_value:
            raise ValueError("PolicyConfig.oracle_value: the value reads the opponent's view of each position, which "
                             "PuffeRL's buffer does not carry; train it with tcg train, or use separate_value here")
        if entropy not in ("exact", "sampled"):
            raise ValueError(f"entropy must be 'exact' or 'sampled', got {entropy!r}")
        self.policy = policy
        self.entropy = entropy
        self.generator = generator
        self.strict = strict
        self.observer = observer
        self.stats = SampleStats()

    def forward(self, observations: torch.Tensor, state=None):
        """``observations`` [B, FLAT_OBS_SIZE] int8 (PuffeRL's buffer rows) ->
        ``(SequentialLogits, value [B])``. ``state`` (PuffeRL's dict) is not used."""
        dev = next(self.policy.parameters()).device
        observations = torch.as_tensor(observations).to(dev)
        obs, legal, count = unpack_tensor(observations)
        # the buffer holds MAX_LEGAL rows per list; the heads and the sampler need only the longest
        legal = legal[:, :max(1, int(count.max()) if count.numel() else 1)]
        g, e = obs_tensors(obs)
        enc = self.policy(g, e, legal, count)
        return SequentialLogits(self, enc, legal, count, observations), enc.value

    forward_eval = forward

    # -- called by the hook ----------------------------------------------------------------
    def _sample(self, logits: SequentialLogits, action=None):
        st = self.stats
        legal, count = logits.legal_tuples, logits.legal_count
        st.max_legal_count = max(st.max_legal_count, int(count.max()) if count.numel() else 0)
        if action is None:
            res = sampler.sample(self.policy, logits.encoding, legal, count, generator=self.generator,
                                 entropy=self.entropy)
            ok = legal_membership(res.actions, legal, count)
            st.sample_calls += 1
            st.sampled += res.actions.shape[0]
            st.checked += int(ok.numel())
            bad = torch.nonzero(~ok).flatten()
            if bad.numel():
                st.illegal_sampled += int(bad.numel())
                for r in bad[:max(0, 8 - len(st.first_illegal))].tolist():
                    st.first_illegal.append((r, res.actions[r].tolist()))
                if self.strict:
                    r = int(bad[0])
                    raise IllegalSampleError(f"sampled tuple {res.actions[r].tolist()} (row {r}) is not in its "
                                             f"legal list of {int(count[r])} tuples")
            out = res.actions
        else:
            stored = torch.as_tensor(action).to(legal.device).reshape(-1, 4).long()
            if stored.shape[0] != logits.batch_size:
                raise ValueError(f"{stored.shape[0]} stored tuples for a batch of {logits.batch_size} rows")
            res = sampler.evaluate(self.policy, logits.encoding, legal, count, stored, entropy=self.entropy)
            st.replay_calls += 1
            st.replayed += stored.shape[0]
            out = stored
        if self.observer is not None:
            self.observer("sample" if action is None else "replay", logits, action, res)
        return out, res.log_prob, res.entropy


# -- the hook ---------------------------------------------------------------------------------
_ORIGINAL = None


def sample_logits(logits, action=None):
    """Replacement for ``pufferlib.pytorch.sample_logits``: our sequential sampler for
    :class:`SequentialLogits`, PufferLib's own function for anything else."""
    if isinstance(logits, SequentialLogits):
        return logits.owner._sample(logits, action)
    if _ORIGINAL is None:
        raise RuntimeError("training.puffer_policy.sample_logits called for foreign logits before install()")
    return _ORIGINAL(logits, action=action)


sample_logits._tcg_sequential_hook = True


def is_installed() -> bool:
    import sys
    pt = sys.modules.get("pufferlib.pytorch")
    return pt is not None and getattr(pt.sample_logits, "_tcg_sequential_hook", False)


def install() -> None:
    """Set ``pufferlib.pytorch.sample_logits`` to :func:`sample_logits` (idempotent).

    That attribute is what ``pufferlib.pufferl`` calls in ``PuffeRL.evaluate`` (rollout),
    ``PuffeRL.train`` (replay of the stored actions) and ``pufferl.eval``; no other name is
    touched. Imports PufferLib through ``tcg_env.puffer.import_pufferlib`` if needed."""
    global _ORIGINAL
    from tcg_env.puffer import import_pufferlib
    import_pufferlib()
    import pufferlib.pytorch as pt
    if getattr(pt.sample_logits, "_tcg_sequential_hook", False):
        return
    _ORIGINAL = pt.sample_logits
    pt.sample_logits = sample_logits


def uninstall() -> None:
    """Restore PufferLib's own ``sample_logits``."""
    import sys
    pt = sys.modules.get("pufferlib.pytorch")
    if pt is not None and _ORIGINAL is not None and getattr(pt.sample_logits, "_tcg_sequential_hook", False):
        pt.sample_logits = _ORIGINAL


@contextmanager
def installed():
    """``with installed(): ...`` installs the hook and restores the original afterwards
    (only if this block installed it)."""
    was = is_installed()
    install()
    try:
        yield
    finally:
        if not was:
            uninstall()


def train_config(**overrides) -> dict:
    """A complete config dict for ``PuffeRL(config, vecenv, policy)``.

    pufferlib-core ships no ``config/default.ini``; these are the ``[train]`` defaults of
    upstream PufferLib 3.0's ``default.ini`` for every key ``PuffeRL`` reads, except
    ``device="cpu"``, ``optimizer="adam"`` ("muon" needs heavyball), ``learning_rate=3e-4``
    and ``env="tcg"`` (shown by the dashboard). ``batch_size`` / ``bptt_horizon`` may be
    "auto" (not both). Unknown keys raise."""
    cfg = dict(
        env="tcg", seed=42, torch_deterministic=True, cpu_offload=False, device="cpu", optimizer="adam",
        anneal_lr=True, precision="float32", total_timesteps=100_000_000, learning_rate=3e-4,
        gamma=0.995, gae_lambda=0.90, update_epochs=1, clip_coef=0.2, vf_coef=2.0, vf_clip_coef=0.2,
        max_grad_norm=1.5, ent_coef=0.001, adam_beta1=0.95, adam_beta2=0.999, adam_eps=1e-8,
        data_dir="experiments", checkpoint_interval=200, batch_size="auto", minibatch_size=16384,
        max_minibatch_size=32768, bptt_horizon=64, compile=False, compile_mode="max-autotune-no-cudagraphs",
        compile_fullgraph=True, vtrace_rho_clip=1.0, vtrace_c_clip=1.0, prio_alpha=0.8, prio_beta0=0.2,
        use_rnn=False,
    )
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise KeyError(f"unknown PuffeRL config key(s) {sorted(unknown)}")
    cfg.update(overrides)
    return cfg
