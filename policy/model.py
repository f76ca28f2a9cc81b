"""TCGPolicy: an entity encoder with multi-head self-attention, a value head, and
prefix-conditioned action heads.

``forward(obs)`` encodes a batch (no masking, no sampling) into an :class:`Encoding`.
``head_logits(encoding, k, prefix)`` gives head k's logits given the chosen values of
heads 0..k-1:

- the conditioning vector is the pooled state plus an embedding of each prefix value:
  the primary and bin values through learned tables, pointer values through the
  *encoding of the entity pointed at* (so permuting entity rows permutes pointers and
  leaves a tuple's log-prob unchanged: no embedding depends on a row's index);
- pointer heads score every entity by attention (query from the conditioning, keys from
  the entity encodings); entities that are not present get the most negative float
  (structural padding, never legality);
- bin heads are linear over the same conditioning;
- head 1 and head 2 use the pointer or the bin path per row, as ``ACTION_SPEC`` says for
  that row's primary. Head 3 is always a bin.

The policy knows nothing about legality or PPO: masks come from the legal tuples in
``training.sampler``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tcg_env.observation import ENTITY_FEATURES, GLOBAL_FEATURES, NUM_GLOBALS
from verification.spec import HEAD_SIZES, NUM_ENTITIES, SLOT_KIND, SlotKind

from .config import PolicyConfig

NUM_HEADS = 4
POINTER = int(SlotKind.POINTER)
BIN = int(SlotKind.BIN)
UNUSED = int(SlotKind.UNUSED)
_F_PRESENT = ENTITY_FEATURES.index("present")
_F_CARD = ENTITY_FEATURES.index("card_id")
_NUMERIC = [i for i in range(len(ENTITY_FEATURES)) if i != _F_CARD]
_SCALE = 1.0 / 10.0   # int8 features are small counts and stats; scale them near unit range


@dataclass
class Encoding:
    entities: torch.Tensor   # [B, E, d] entity encodings
    present: torch.Tensor    # [B, E] bool
    pooled: torch.Tensor     # [B, d]
    value: torch.Tensor      # [B]

    def index(self, idx: torch.Tensor) -> "Encoding":
        """Rows ``idx`` of the batch (for evaluating many prefixes of the same states)."""
        return Encoding(self.entities[idx], self.present[idx], self.pooled[idx], self.value[idx])


class TCGPolicy(nn.Module):
    def __init__(self, config: PolicyConfig | None = None):
        super().__init__()
        self.config = cfg = config or PolicyConfig()
        d = cfg.d_model
        self.card_emb = nn.Embedding(cfg.num_cards, d)
        self.ent_in = nn.Linear(len(_NUMERIC), d)
        self.glob_in = nn.Linear(NUM_GLOBALS, d)
        layer = nn.TransformerEncoderLayer(d, cfg.n_heads, cfg.d_ff, cfg.dropout, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(d)
        self.value_head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 1))
        # prefix conditioning
        self.prim_emb = nn.Embedding(HEAD_SIZES[0], d)
        self.bin_emb = nn.ModuleList([nn.Embedding(HEAD_SIZES[k], d) for k in (1, 2)])
        self.ptr_proj = nn.ModuleList([nn.Linear(d, d) for _ in (1, 2)])
        self.cond = nn.ModuleList([nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.ReLU())
                                   for _ in range(NUM_HEADS)])
        # output paths
        self.bin_out = nn.ModuleList([nn.Linear(d, HEAD_SIZES[k]) for k in range(NUM_HEADS)])
        self.ptr_q = nn.ModuleList([nn.Linear(d, d) for _ in (1, 2)])
        self.ptr_k = nn.ModuleList([nn.Linear(d, d) for _ in (1, 2)])
        self.register_buffer("slot_kind", torch.as_tensor(SLOT_KIND.astype(np.int64)), persistent=False)
        assert HEAD_SIZES[1] == NUM_ENTITIES and HEAD_SIZES[2] == NUM_ENTITIES

    # -- encoder
    def forward(self, globals_: torch.Tensor, entities: torch.Tensor) -> Encoding:
        """Encode a batch: ``globals_`` [B, 32] and ``entities`` [B, 32, 24] (int8 or float)."""
        ent = entities.long()
        present = ent[..., _F_PRESENT] > 0
        x = self.card_emb(ent[..., _F_CARD].clamp(0, self.config.num_cards - 1))
        x = x + self.ent_in(entities[..., _NUMERIC].float() * _SCALE)
        g = self.glob_in(globals_.float() * _SCALE).unsqueeze(1)
        tokens = torch.cat([g, x], dim=1)
        pad = torch.cat([torch.zeros_like(present[:, :1]), ~present], dim=1)
        h = self.out_norm(self.encoder(tokens, src_key_padding_mask=pad))
        pooled = h[:, 0]
        ents = h[:, 1:]
        value = self.value_head(pooled).squeeze(-1)
        return Encoding(ents, present, pooled, value)

    # -- heads
    supports_rows = True   # head_logits accepts ``rows`` (many prefixes per encoded state)

    def _condition(self, enc: Encoding, k: int, prefix: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        c = enc.pooled[rows]
        if k >= 1:
            a0 = prefix[:, 0]
            c = c + self.prim_emb(a0)
            for j in range(1, k):
                kind = self.slot_kind[a0, j - 1]
                v = prefix[:, j]
                ptr = self.ptr_proj[j - 1](enc.entities[rows, v])
                binv = self.bin_emb[j - 1](v)
                e = torch.where((kind == POINTER).unsqueeze(-1), ptr, binv)
                c = c + torch.where((kind == UNUSED).unsqueeze(-1), torch.zeros_like(e), e)
        return self.cond[k](c)

    def head_logits(self, enc: Encoding, k: int, prefix: torch.Tensor | None = None,
                    rows: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[P, HEAD_SIZES[k]]`` of head k given ``prefix`` [P, >=k] (values of heads 0..k-1).

        Without ``rows`` there is one prefix per encoded state (P = B). With ``rows`` [P]
        (sorted), prefix p belongs to state ``rows[p]``: the exact entropy evaluates every
        legal prefix of a state this way without copying the state's entity table per prefix."""
        B = enc.pooled.shape[0]
        if rows is None:
            rows = torch.arange(B if prefix is None else prefix.shape[0], device=enc.pooled.device)
        if k == 0:
            return self.bin_out[0](self._condition(enc, 0, None, rows))
        prefix = prefix.long()
        c = self._condition(enc, k, prefix, rows)
        bin_logits = self.bin_out[k](c)
        if k == 3:
            return bin_logits
        q = self.ptr_q[k - 1](c)
        keys = self.ptr_k[k - 1](enc.entities)            # [B, E, d], once per state
        P = q.shape[0]
        if P == B and bool((rows == torch.arange(B, device=rows.device)).all()):
            scores = torch.einsum("bd,bed->be", q, keys)
        else:
            # group the prefixes by state: [B, max prefixes per state, d] @ keys^T
            first = torch.searchsorted(rows, rows, right=False)
            pos = torch.arange(P, device=rows.device) - first
            width = int(pos.max()) + 1
            qpad = q.new_zeros(B, width, q.shape[-1]).index_put((rows, pos), q)
            scores = torch.bmm(qpad, keys.transpose(1, 2))[rows, pos]
        ptr_logits = scores / float(np.sqrt(q.shape[-1]))
        ptr_logits = ptr_logits.masked_fill(~enc.present[rows], torch.finfo(ptr_logits.dtype).min)
        is_ptr = (self.slot_kind[prefix[:, 0], k - 1] == POINTER).unsqueeze(-1)
        return torch.where(is_ptr, ptr_logits, bin_logits)

    def value(self, enc: Encoding) -> torch.Tensor:
        return enc.value


def obs_tensors(obs: np.ndarray | torch.Tensor, device=None):
    """Split flat int8 observations [B, OBS_SIZE] into (globals [B, 32], entities [B, 32, 24])."""
    t = torch.as_tensor(obs, device=device)
    g = t[:, :NUM_GLOBALS]
    e = t[:, NUM_GLOBALS:].reshape(t.shape[0], NUM_ENTITIES, len(ENTITY_FEATURES))
    return g, e


__all__ = ["TCGPolicy", "Encoding", "obs_tensors", "PolicyConfig", "GLOBAL_FEATURES"]
