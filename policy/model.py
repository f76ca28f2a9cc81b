"""TCGPolicy: an entity encoder with multi-head self-attention, a value head, and
prefix-conditioned action heads.

``forward(globals_, entities)`` (a flat observation split by :func:`obs_tensors`) encodes a
batch (no masking, no sampling) into an :class:`Encoding`. The
tokens are the global row plus the *present* entities only, packed to the front and cut to
the batch's largest present count (absent entities would be key-padded anyway; their
encodings are zero), so the attention cost follows the live board, not the 32 slots.
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

With ``PolicyConfig.afford`` the heads also read the decision's *affordances*
(``policy.affordances``: which entity fills which pointer slot of some legal tuple, which
primaries are legal), computed from the legal tuples handed to ``forward`` and added after the
value is read: the value stays a function of the observation alone. With
``PolicyConfig.pointer_primary`` head 0 scores each primary whose head 1 is a pointer (play a
card, attack, block, activate, move) as the log-sum-exp of head 1's logits over the entities
that fill it in a legal tuple, so choosing the primary and then the entity is one softmax over
(primary, entity) pairs: the scores are per card, not per kind of move.

Three more options, each off by default and each measured without a gain in learning speed
(benchmarks/RESULTS.md, tenth session): ``typed_inputs`` feeds the observation's categorical
fields (zone, slot, card type, subtype, phase, target rule, weapon and pending card ids, the
attacking and attacked entities) through embeddings instead of as scaled numbers;
``separate_value`` gives the value its own encoder (``self.critic``, built with
``value_only=True``: an encoder and a value head, no action heads); ``pointer_mlp`` scores
pointer entities with an MLP of query + key instead of their dot product. A fourth,
``oracle_value`` (eleventh session, also without a gain), is an asymmetric actor-critic: the
critic also reads the opponent's hand (:func:`oracle_entities`), the heads never do.

The policy knows nothing about legality or PPO: masks come from the legal tuples in
``training.sampler``, and affordances are read off those tuples, never recomputed.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from prefabs.enums import Effect, Target
from tcg_env.observation import ENTITY_FEATURES, GLOBAL_FEATURES, NUM_GLOBALS
from verification.spec import ENT_MY_HAND, HEAD_SIZES, NUM_ENTITIES, NUM_PRIMARIES, SLOT_KIND, SlotKind

from .affordances import AFFORD_SLOTS, NUM_AFFORD, affordances
from .config import PolicyConfig

NUM_HEADS = 4
POINTER = int(SlotKind.POINTER)
BIN = int(SlotKind.BIN)
UNUSED = int(SlotKind.UNUSED)
_F_PRESENT = ENTITY_FEATURES.index("present")
_F_CARD = ENTITY_FEATURES.index("card_id")
_F_OWNER = ENTITY_FEATURES.index("owner")   # 0 = the observing seat's, 1 = the opponent's
_NUMERIC = [i for i in range(len(ENTITY_FEATURES)) if i != _F_CARD]
_SCALE = 1.0 / 10.0   # int8 features are small counts and stats; scale them near unit range
# typed_inputs: categorical features, each as (column, number of values); they get embedding rows
# instead of a scaled number in the linear input
_ENT_CAT = [(ENTITY_FEATURES.index(n), k) for n, k in (("zone", 5), ("zone_slot", 10), ("card_type", 6),
                                                       ("subtype", 11))]
_F_WEAPON = ENTITY_FEATURES.index("weapon_card")
_G_CAT = [(GLOBAL_FEATURES.index(n), k) for n, k in (("phase", 6), ("pending_target_rule", 17))]
_G_PENDING = GLOBAL_FEATURES.index("pending_card")
_G_ATTACK = [GLOBAL_FEATURES.index("attacker_entity"), GLOBAL_FEATURES.index("attack_target_entity")]
# columns that reach the linear input as numbers only without typed_inputs (the leaders' card ids
# are in their entity rows too)
_ENT_TYPED = [c for c, _ in _ENT_CAT] + [_F_WEAPON]
_G_TYPED = [c for c, _ in _G_CAT] + [_G_PENDING] + _G_ATTACK + [GLOBAL_FEATURES.index("my_leader_card"),
                                                               GLOBAL_FEATURES.index("opp_leader_card")]


def _offsets(cats) -> tuple[torch.Tensor, torch.Tensor, int]:
    cols = torch.as_tensor([c for c, _ in cats])
    sizes = torch.as_tensor([k for _, k in cats])
    return cols, torch.cumsum(sizes, 0) - sizes, int(sizes.sum())
# primaries whose head 1 is an entity pointer, and their affordance column (pointer_primary)
_PTR1 = [(int(p), i) for i, (p, j) in enumerate(AFFORD_SLOTS) if j == 1]
_PTR1_PRIM = [p for p, _ in _PTR1]
_PTR1_COL = [i for _, i in _PTR1]


_TEXT_SLOTS = 7          # the 4 ability slots (play, death, attack, activated) and 3 modes
_N_EFF = max(int(e) for e in Effect) + 1
_N_TGT = max(int(t) for t in Target) + 1     # target rule values are not contiguous (0-5, 10-16)
_TEXT_WIDTH = _N_EFF + _N_TGT + 2             # one-hot effect, one-hot target rule, a1 and a2


def card_text_table(num_cards: int, table: np.ndarray | None = None) -> np.ndarray:
    """``[num_cards, F]`` float32: each card's printed ability text from the compiled card
    ``table`` (default: the shipped cards'; row = card id): per ability slot and mode a one-hot
    effect, a one-hot target rule and the two amounts / 10, then the activated ability's cost /
    10 and the number of modes / 3."""
    from prefabs import default_pool
    from prefabs import table as T
    table = default_pool().table if table is None else table
    cols = [T.C_ABIL + 4 * j for j in range(4)] + [T.C_MODES + 4 * j for j in range(_TEXT_SLOTS - 4)]
    out = np.zeros((num_cards, _TEXT_SLOTS * _TEXT_WIDTH + 2), np.float32)
    for c in range(min(num_cards, len(table))):
        for j, o in enumerate(cols):
            eff, a1, a2, tgt = (int(v) for v in table[c, o:o + 4])
            base = j * _TEXT_WIDTH
            out[c, base + eff] = 1.0
            out[c, base + _N_EFF + tgt] = 1.0
            out[c, base + _N_EFF + _N_TGT] = a1 / 10.0
            out[c, base + _N_EFF + _N_TGT + 1] = a2 / 10.0
        out[c, -2] = table[c, T.C_ACT_COST] / 10.0
        out[c, -1] = table[c, T.C_NMODES] / 3.0
    return out


@dataclass
class Encoding:
    """A batch's encoding. Entities are kept *packed*: ``tokens`` [B, W + 1, d] holds the
    encodings of the present entities (at most W per row, the batch's largest present count)
    and a zero last row; ``pos`` [B, E] gives each entity's row in ``tokens`` (the zero row
    for an absent entity). Pointer heads score the W + 1 packed rows and gather the scores
    back to the E entity indices, so their keys, matmuls and gradient buffers follow the live
    board instead of the 32 slots."""
    tokens: torch.Tensor     # [B, W + 1, d] packed entity encodings; the last row is zero
    pos: torch.Tensor        # [B, E] long: row of ``tokens`` holding each entity
    present: torch.Tensor    # [B, E] bool
    pooled: torch.Tensor     # [B, d]
    value: torch.Tensor      # [B]
    # pointer keys per head, computed once per encoding: the sampler's drawn path and the
    # exact entropy's prefix tree both score entities against them
    keys: dict = field(default_factory=dict, repr=False, compare=False)
    # a policy that reads the legal tuples, encoded without them: values only, heads raise
    no_legal: bool = False
    # pointer_primary: [B, E, len(_PTR1)] bool, entity e fills head 1 of primary _PTR1_PRIM[i]
    ptr1: torch.Tensor | None = None

    @classmethod
    def from_entities(cls, entities: torch.Tensor, present: torch.Tensor, pooled: torch.Tensor,
                      value: torch.Tensor) -> "Encoding":
        """An encoding from an unpacked ``[B, E, d]`` entity table (absent rows read as zero)."""
        B, E, d = entities.shape
        tokens = torch.cat([entities, entities.new_zeros(B, 1, d)], dim=1)
        idx = torch.arange(E, device=present.device).expand(B, E)
        return cls(tokens, torch.where(present, idx, torch.full_like(idx, E)), present, pooled, value)

    @property
    def entities(self) -> torch.Tensor:
        """The unpacked ``[B, E, d]`` entity encodings (zero for absent entities)."""
        d = self.tokens.shape[-1]
        return self.tokens.gather(1, self.pos.unsqueeze(-1).expand(-1, -1, d))

    def index(self, idx: torch.Tensor) -> "Encoding":
        """Rows ``idx`` of the batch (for evaluating many prefixes of the same states)."""
        return Encoding(self.tokens[idx], self.pos[idx], self.present[idx], self.pooled[idx], self.value[idx],
                        no_legal=self.no_legal, ptr1=None if self.ptr1 is None else self.ptr1[idx])


class TCGPolicy(nn.Module):
    def __init__(self, config: PolicyConfig | None = None, value_only: bool = False,
                 card_table: np.ndarray | None = None):
        """``card_table``: the compiled table of the cards it plays (``CardPool.table``; None:
        the shipped cards), read only by the ``card_text`` input."""
        super().__init__()
        self.config = cfg = config or PolicyConfig()
        cfg.check()   # its fields may have been set after it was made
        self.value_only = value_only
        d = cfg.d_model
        self.card_emb = nn.Embedding(cfg.num_cards, d)
        if cfg.card_text:
            # derived from the card table (checkpoints record its digest), so not saved
            self.register_buffer("card_text", torch.as_tensor(card_text_table(cfg.num_cards, card_table)),
                                 persistent=False)
            self.card_text_in = nn.Linear(self.card_text.shape[1], d)
        self.ent_in = nn.Linear(len(_NUMERIC), d)
        self.glob_in = nn.Linear(NUM_GLOBALS, d)
        ent_scale = torch.full((len(ENTITY_FEATURES),), _SCALE)
        glob_scale = torch.full((NUM_GLOBALS,), _SCALE)
        if cfg.typed_inputs:
            ent_scale[_ENT_TYPED] = 0.0
            glob_scale[_G_TYPED] = 0.0
            for name, cats in (("ent", _ENT_CAT), ("glob", _G_CAT)):
                cols, offs, rows = _offsets(cats)
                self.register_buffer(f"{name}_cat_cols", cols, persistent=False)
                self.register_buffer(f"{name}_cat_offs", offs, persistent=False)
                self.register_buffer(f"{name}_cat_max", torch.as_tensor([k - 1 for _, k in cats]), persistent=False)
                setattr(self, f"{name}_cat_emb", nn.Embedding(rows, d))
            self.weapon_in = nn.Linear(d, d)      # a weapon's card through the shared card embedding
            self.pending_in = nn.Linear(d, d)     # the card whose target or mode is pending
            self.attack_emb = nn.Embedding(2, d)  # the entity attacking, and the entity attacked
        self.register_buffer("ent_scale", ent_scale[_NUMERIC], persistent=False)
        self.register_buffer("ent_numeric", torch.as_tensor(_NUMERIC), persistent=False)
        self.register_buffer("glob_scale", glob_scale, persistent=False)
        layer = nn.TransformerEncoderLayer(d, cfg.n_heads, cfg.d_ff, cfg.dropout, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(d)
        if (cfg.separate_value or cfg.oracle_value) and not value_only:
            # the critic: an encoder of the same size with its own weights and the value head
            self.critic = TCGPolicy(replace(cfg, separate_value=False, oracle_value=False, afford=False,
                                            pointer_primary=False), value_only=True, card_table=card_table)
        else:
            self.value_head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 1))
        self.register_buffer("slot_kind", torch.as_tensor(SLOT_KIND.astype(np.int64)), persistent=False)
        if value_only:
            return
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
        if cfg.pointer_mlp:
            self.ptr_v = nn.ModuleList([nn.Linear(d, 1) for _ in (1, 2)])
        if cfg.afford:
            self.aff_ent = nn.Linear(NUM_AFFORD, d)
            self.aff_glob = nn.Linear(NUM_PRIMARIES, d)
            self.aff_q = nn.Linear(d, d)
            self.aff_k = nn.Linear(d, d)
            self.aff_v = nn.Linear(d, d)
        assert HEAD_SIZES[1] == NUM_ENTITIES and HEAD_SIZES[2] == NUM_ENTITIES

    # -- encoder
    def forward(self, globals_: torch.Tensor, entities: torch.Tensor, legal_tuples: torch.Tensor | None = None,
                legal_count: torch.Tensor | None = None, opp_entities: torch.Tensor | None = None) -> Encoding:
        """Encode a batch: ``globals_`` [B, 32] and ``entities`` [B, 32, 24] (int8 or float).

        With ``config.afford`` or ``config.pointer_primary`` the heads also need the decision's
        legal list (``legal_tuples`` [B, L, 4], ``legal_count`` [B]); without one the encoding
        has a value and no heads.

        With ``config.oracle_value`` the value also reads ``opp_entities`` [B, 32, 24], the
        entity table of the *opponent's* observation of the same positions (training only; see
        :func:`oracle_entities`). Without it the value is NaN: the action heads never read it."""
        present = entities[..., _F_PRESENT] > 0
        B, E = present.shape
        # Only present entities become tokens: they are moved to the front of each row (in
        # index order) and the token axis is cut to the batch's largest present count (~20
        # of 32 in play), since attention cost grows with its square. Absent entities are
        # key-padded anyway, so the present entities' encodings are unchanged; an absent
        # entity's encoding is zero (nothing reads it: pointer logits mask absent rows).
        width = int(present.sum(1).max()) if B else 0
        order = torch.argsort((~present).to(torch.int8), dim=1, stable=True)[:, :width]
        sel = entities[torch.arange(B, device=entities.device).unsqueeze(1), order]   # [B, W, F]
        ids = sel[..., _F_CARD].long().clamp(0, self.config.num_cards - 1)
        x = self.card_emb(ids)
        if self.config.card_text:
            x = x + self.card_text_in(self.card_text[ids])
        # ``ent_in`` reads the scaled numeric columns; its weight is spread over all F columns
        # (zero at the card id's) so the linear reads ``sel`` as it is, with no column copy
        w = self.ent_in.weight
        w_all = w.new_zeros(w.shape[0], sel.shape[-1]).index_copy(1, self.ent_numeric, w * self.ent_scale)
        x = x + F.linear(sel.float(), w_all, self.ent_in.bias)
        g = self.glob_in(globals_.float() * self.glob_scale)
        if self.config.typed_inputs:
            x, g = self._typed(x, g, sel, order, globals_)
        g = g.unsqueeze(1)
        tokens = torch.cat([g, x], dim=1)
        pad = torch.cat([torch.zeros_like(present[:, :1]), ~present.gather(1, order)], dim=1)
        h = self.out_norm(self._encode(tokens, pad))
        pooled = h[:, 0]
        d = h.shape[-1]
        # packed entity encodings, padding rows zeroed, plus one zero row for absent entities
        h_ent = torch.cat([h[:, 1:].masked_fill(pad[:, 1:].unsqueeze(-1), 0.0), h.new_zeros(B, 1, d)], dim=1)
        # each entity's packed row: present entities where ``order`` put them, absent ones the zero row
        pos = torch.full((B, E), width, dtype=torch.long, device=h.device)
        pos = pos.scatter(1, order, torch.arange(width, device=h.device).expand(B, width))
        pos = torch.where(present, pos, torch.full_like(pos, width))
        cfg = self.config
        if cfg.oracle_value and not self.value_only:
            value = (torch.full((B,), float("nan"), device=h.device) if opp_entities is None
                     else self.critic(globals_, oracle_entities(entities, opp_entities)).value)
        elif cfg.separate_value and not self.value_only:
            value = self.critic(globals_, entities).value
        else:
            value = self.value_head(pooled).squeeze(-1)
        if not (cfg.afford or cfg.pointer_primary):
            return Encoding(h_ent, pos, present, pooled, value)
        if legal_tuples is None:
            return Encoding(h_ent, pos, present, pooled, value, no_legal=True)
        ent_a, prim_a = affordances(legal_tuples, legal_count, E)
        ptr1 = ent_a[:, :, _PTR1_COL] > 0 if cfg.pointer_primary else None
        if not cfg.afford:
            return Encoding(h_ent, pos, present, pooled, value, ptr1=ptr1)
        # Affordances enter after the value is read: each present entity's encoding gains an
        # embedding of its flags, and the heads' base conditioning gains the legal primaries
        # plus one attention read-out over the updated entities.
        live = ~pad[:, 1:].unsqueeze(-1)
        add = self.aff_ent(ent_a.gather(1, order.unsqueeze(-1).expand(-1, -1, ent_a.shape[-1])))
        toks = h_ent[:, :width] + add.masked_fill(~live, 0.0)
        c = pooled + self.aff_glob(prim_a)
        scores = torch.einsum("bd,bwd->bw", self.aff_q(c), self.aff_k(toks)) / float(np.sqrt(d))
        attn = torch.softmax(scores.masked_fill(~live.squeeze(-1), torch.finfo(scores.dtype).min), dim=-1)
        c = c + torch.einsum("bw,bwd->bd", attn, self.aff_v(toks))
        return Encoding(torch.cat([toks, h_ent[:, width:]], dim=1), pos, present, c, value, ptr1=ptr1)

    def _typed(self, x, g, sel, order, globals_):
        """``PolicyConfig.typed_inputs``: categorical features as embeddings. Zone, slot, card type
        and subtype of each entity, and the phase and pending target rule, each get a learned
        row; a weapon and the pending card are read through the card embedding; the attacking
        and attacked entities get a flag row, instead of their index arriving as a number."""
        lim = self.config.num_cards - 1
        cat = torch.minimum(sel[..., self.ent_cat_cols].long().clamp(min=0), self.ent_cat_max)
        x = x + self.ent_cat_emb(cat + self.ent_cat_offs).sum(-2)
        wid = sel[..., _F_WEAPON].long().clamp(0, lim)
        x = x + self.weapon_in(self.card_emb(wid)) * (wid > 0).unsqueeze(-1)
        gl = globals_.long()
        gcat = torch.minimum(gl[:, self.glob_cat_cols].clamp(min=0), self.glob_cat_max)
        g = g + self.glob_cat_emb(gcat + self.glob_cat_offs).sum(-2)
        pend = gl[:, _G_PENDING].clamp(0, lim)
        g = g + self.pending_in(self.card_emb(pend)) * (pend > 0).unsqueeze(-1)
        for j, col in enumerate(_G_ATTACK):   # entity index, -1 for none
            hit = (order == gl[:, col:col + 1]).unsqueeze(-1)
            x = x + hit * self.attack_emb.weight[j]
        return x, g

    def _encode(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """``self.encoder``'s pre-norm layers, computed batch-first with the layers' own
        parameters (so checkpoints are unchanged): PyTorch's MultiheadAttention works
        sequence-first and copies q/k/v around its kernel, which on CPU cost as much as the
        attention itself at these sizes. Matches ``self.encoder(x, src_key_padding_mask=pad)``
        to float rounding (a test checks it)."""
        B, T, d = x.shape
        keep = ~pad[:, None, None, :]          # [B, 1, 1, T] True = may attend
        for layer in self.encoder.layers:
            attn = layer.self_attn
            H = attn.num_heads
            qkv = F.linear(layer.norm1(x), attn.in_proj_weight, attn.in_proj_bias)
            # unbind, then a transpose each: the backward writes the three gradients straight
            # into qkv's layout (a permute of all five axes cost a slow strided copy there)
            q, k, v = (t.transpose(1, 2) for t in qkv.view(B, T, 3, H, d // H).unbind(2))
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=keep,
                                               dropout_p=attn.dropout if self.training else 0.0)
            x = x + layer.dropout1(attn.out_proj(o.transpose(1, 2).reshape(B, T, d)))
            x = x + layer.dropout2(layer.linear2(layer.dropout(layer.activation(layer.linear1(layer.norm2(x))))))
        return x

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
                ptr = self.ptr_proj[j - 1](enc.tokens[rows, enc.pos[rows, v]])
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
        if enc.no_legal:
            raise ValueError("this policy's heads read the legal tuples (PolicyConfig.afford or pointer_primary; "
                             "see policy.affordances): encode with "
                             "policy(globals, entities, legal_tuples, legal_count) before asking for action logits")
        B = enc.pooled.shape[0]
        if rows is None:
            rows = torch.arange(B if prefix is None else prefix.shape[0], device=enc.pooled.device)
        if k == 0:
            logits = self.bin_out[0](self._condition(enc, 0, None, rows))
            return self._pointer_primary(enc, logits, rows) if self.config.pointer_primary else logits
        prefix = prefix.long()
        c = self._condition(enc, k, prefix, rows)
        bin_logits = self.bin_out[k](c)
        if k == 3:
            return bin_logits
        q = self.ptr_q[k - 1](c)
        # keyed by grad and autocast mode: keys made under no_grad must not feed a backward pass
        slot = (k, torch.is_grad_enabled(), torch.is_autocast_enabled(enc.tokens.device.type))
        keys = enc.keys.get(slot)
        if keys is None:
            keys = enc.keys[slot] = self.ptr_k[k - 1](enc.tokens)   # [B, W + 1, d], once per state
        P = q.shape[0]
        identity = P == B and bool((rows == torch.arange(B, device=rows.device)).all())
        if self.config.pointer_mlp:
            # additive scoring: one hidden layer over query + key, so a score can be a threshold
            # of a difference (does this attacker kill that unit) rather than a bilinear form
            z = torch.relu((keys if identity else keys[rows]) + q.unsqueeze(1))
            scores = self.ptr_v[k - 1](z).squeeze(-1) * float(np.sqrt(q.shape[-1]))
        elif identity:
            scores = torch.einsum("bd,bwd->bw", q, keys)
        else:
            # group the prefixes by state: [B, max prefixes per state, d] @ keys^T
            first = torch.searchsorted(rows, rows, right=False)
            pos = torch.arange(P, device=rows.device) - first
            width = int(pos.max()) + 1
            qpad = q.new_zeros(B, width, q.shape[-1]).index_put((rows, pos), q)
            scores = torch.bmm(qpad, keys.transpose(1, 2))[rows, pos]
        scores = scores.gather(1, enc.pos[rows])   # packed rows -> entity indices [P, E]
        ptr_logits = scores / float(np.sqrt(q.shape[-1]))
        ptr_logits = ptr_logits.masked_fill(~enc.present[rows], torch.finfo(ptr_logits.dtype).min)
        is_ptr = (self.slot_kind[prefix[:, 0], k - 1] == POINTER).unsqueeze(-1)
        return torch.where(is_ptr, ptr_logits, bin_logits)

    def _pointer_primary(self, enc: Encoding, logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Head 0 under ``pointer_primary``: each primary of ``_PTR1_PRIM`` gets the log-sum-exp of
        head 1's pointer logits (prefix = that primary) over the entities that fill head 1 in a
        legal tuple; a primary with none keeps its bin logit (it is masked as illegal anyway)."""
        ok = enc.ptr1[rows]                                  # [P, E, n]
        pr, pc = torch.nonzero(ok.any(1), as_tuple=True)     # (row, primary) pairs with a legal entity
        cols = torch.as_tensor(_PTR1_PRIM, device=rows.device)
        logits = logits.float()
        if pr.numel() == 0:
            return logits
        # only the pairs with a legal entity run head 1 (row-major, so its rows stay sorted)
        s = self.head_logits(enc, 1, cols[pc].unsqueeze(1), rows=rows[pr]).float()   # [M, E]
        low = torch.finfo(s.dtype).min                       # masked entries add exactly 0
        lse = torch.logsumexp(s.masked_fill(~ok[pr, :, pc], low), dim=-1)
        return logits.index_put((pr, cols[pc]), lse)

    def value(self, enc: Encoding) -> torch.Tensor:
        return enc.value


def oracle_entities(entities: torch.Tensor, opp_entities: torch.Tensor) -> torch.Tensor:
    """The oracle critic's entity table (``PolicyConfig.oracle_value``): a seat's own observed
    entities [B, 32, F] followed by the opponent's hand, taken from the hand rows of the
    opponent's own observation ``opp_entities`` [B, 32, F] and marked as the opponent's
    (``owner`` = 1): [B, 32 + HAND_MAX, F]. Only the critic reads this; the action heads see the
    seat's observation alone, so what is hidden from a player never reaches its choices."""
    hand = opp_entities[:, ENT_MY_HAND:NUM_ENTITIES].clone()
    hand[..., _F_OWNER] = hand[..., _F_PRESENT]
    return torch.cat([entities, hand.to(entities.dtype)], dim=1)


def obs_tensors(obs: np.ndarray | torch.Tensor, device=None):
    """Split flat int8 observations [B, OBS_SIZE] into (globals [B, 32], entities [B, 32, 24])."""
    t = torch.as_tensor(obs, device=device)
    g = t[:, :NUM_GLOBALS]
    e = t[:, NUM_GLOBALS:].reshape(t.shape[0], NUM_ENTITIES, len(ENTITY_FEATURES))
    return g, e


__all__ = ["TCGPolicy", "Encoding", "obs_tensors", "oracle_entities", "PolicyConfig", "GLOBAL_FEATURES"]
