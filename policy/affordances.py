"""Affordances: what the acting player can do now, read off the legal tuples.

A card game's interface shows which cards in hand can be played and what each can be aimed
at; the observation does not (legal tuples travel beside it). These features give the
policy's action heads that view, derived only from the legal list that
``verification.legal`` produced, never recomputed:

- per entity, one flag per *pointer slot* of the action spec: "this entity is the value of
  slot j in at least one legal tuple whose primary is p" (for example: hand card 3 can be
  cast as a spell; enemy unit 14 is a legal target of a spell; your unit 5 can attack);
- per decision, one flag per primary: "at least one legal tuple has this primary".

They are features of the *decision*, not of the state: the player who does not act has no
legal list, so the value head never reads them (see ``PolicyConfig.afford``).
"""
from __future__ import annotations

import numpy as np
import torch

from verification.spec import NUM_ENTITIES, NUM_PRIMARIES, SLOT_KIND, Primary, SlotKind

# (primary, head) pairs whose value is an entity pointer, in a fixed order: the entity features
AFFORD_SLOTS = tuple((Primary(p), j) for p in range(NUM_PRIMARIES) for j in (1, 2)
                     if SLOT_KIND[p, j - 1] == int(SlotKind.POINTER))
NUM_AFFORD = len(AFFORD_SLOTS)
AFFORD_NAMES = tuple(f"{p.name.lower()}.sub{j}" for p, j in AFFORD_SLOTS)

# _INDEX[p, j - 1]: feature index of (primary p, head j), -1 where that slot is not a pointer
_INDEX = np.full((NUM_PRIMARIES, 3), -1, np.int64)
for _i, (_p, _j) in enumerate(AFFORD_SLOTS):
    _INDEX[int(_p), _j - 1] = _i


def affordances(legal_tuples: torch.Tensor, legal_count: torch.Tensor,
                num_entities: int = NUM_ENTITIES) -> tuple[torch.Tensor, torch.Tensor]:
    """``(entity [B, E, NUM_AFFORD], primary [B, NUM_PRIMARIES])`` float 0/1 flags of a batch of
    legal lists (``legal_tuples`` [B, L, 4], the first ``legal_count`` [B] rows of each real)."""
    legal = legal_tuples.long()
    B, L = legal.shape[:2]
    dev = legal.device
    valid = torch.arange(L, device=dev).unsqueeze(0) < legal_count.long().unsqueeze(1)
    prim = legal[:, :, 0].clamp(0, NUM_PRIMARIES - 1)
    flags = torch.zeros(B, NUM_PRIMARIES + 1, device=dev)
    flags.scatter_(1, torch.where(valid, prim, torch.full_like(prim, NUM_PRIMARIES)), 1.0)
    index = torch.as_tensor(_INDEX, device=dev)
    E, A = num_entities, NUM_AFFORD
    ent = torch.zeros(B, E * A + 1, device=dev)
    for j in (1, 2):
        f = index[prim, j - 1]
        ptr = legal[:, :, j]
        flat = ptr.clamp(0, E - 1) * A + f
        # a pointer past a narrower entity axis flags nothing (clamping it would flag the last entity)
        ok = valid & (f >= 0) & (ptr >= 0) & (ptr < E)
        ent.scatter_(1, torch.where(ok, flat, torch.full_like(flat, E * A)), 1.0)
    return ent[:, :E * A].view(B, E, A), flags[:, :NUM_PRIMARIES]
