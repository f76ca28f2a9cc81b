"""The sequential sampler: draw an action tuple head by head, with masks derived from
the legal tuples by prefix, and replay stored tuples through the same code path.

``sample(policy, enc, legal_tuples, legal_count, generator=None, greedy=False)`` draws
head 0, then head 1 given the drawn head 0, and so on. The mask of head k is the set of
values that continue the drawn prefix to at least one legal tuple, computed on the
device and vectorised over the batch (never a product of independent per-head masks).
``evaluate(policy, enc, legal_tuples, legal_count, actions)`` runs the same function
with the stored tuple instead of drawing: deterministic, no RNG.

- log-prob is the sum over heads that are applicable to the primary and not forced; a
  forced head (one legal value) and a head the primary does not use contribute exactly 0
  (and no gradient);
- masking is one boolean ``masked_fill`` on fp32 logits; softmax and log_softmax run in
  fp32 even under autocast;
- entropy is by default the exact joint entropy of the policy's distribution over the
  legal tuples, computed over the prefix tree (every distinct legal prefix, batched):
  ``H = sum_k sum_{prefix of length k} P(prefix) * H(head k | prefix)``;
  ``entropy="sampled"`` gives the cheaper sampled-prefix estimate (the sum of each head's
  entropy at the drawn prefix), which is unbiased for H but whose gradient drops a term
  (PITFALLS.md item 6);
- a decision with zero legal tuples raises;
- cost: where most rows of a batch have one legal value of head k (head 3 nearly always), the
  head runs only on the rows with a choice, and the exact entropy's prefix tree reuses the
  drawn path's log-probs for the node on the drawn prefix (same numbers, one graph); and
  ``evaluate(..., entropy_rows=n)`` builds the tree for the first n rows only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from verification.spec import HEAD_SIZES, SLOT_KIND, SlotKind

NUM_HEADS = 4
_UNUSED = int(SlotKind.UNUSED)
_MAXH = max(HEAD_SIZES)


class NoLegalActionError(ValueError):
    """A decision with zero legal tuples was handed to the sampler (a terminal state)."""


class ReplayMismatchError(RuntimeError):
    """A stored tuple is not legal under its stored legal list."""


@dataclass
class SampleResult:
    actions: torch.Tensor        # [B, 4] long
    log_prob: torch.Tensor       # [B]
    entropy: torch.Tensor        # [B] exact joint (default) or sampled-prefix
    head_log_prob: torch.Tensor  # [B, 4]
    head_entropy: torch.Tensor   # [B, 4] each head's entropy at the drawn prefix (0 when forced / unused)
    applicable: torch.Tensor     # [B, 4] bool: the primary uses this head
    forced: torch.Tensor         # [B, 4] bool: exactly one legal value
    legal_count: torch.Tensor    # [B]


def _slot_kind(device) -> torch.Tensor:
    return torch.as_tensor(SLOT_KIND.astype(np.int64), device=device)


def valid_rows(legal_tuples: torch.Tensor, legal_count: torch.Tensor) -> torch.Tensor:
    """``[B, L]`` bool: column r of row b is a real legal tuple (r < count[b]); a row with no
    legal tuple raises :class:`NoLegalActionError` (a finished game has no decision)."""
    if bool((legal_count <= 0).any()):
        bad = torch.nonzero(legal_count <= 0)[0].item()
        raise NoLegalActionError(f"batch row {bad} has no legal tuple: a finished game cannot be sampled from")
    L = legal_tuples.shape[1]
    return torch.arange(L, device=legal_tuples.device).unsqueeze(0) < legal_count.unsqueeze(1)


def prefix_mask(legal: torch.Tensor, valid: torch.Tensor, prefix: torch.Tensor, k: int) -> torch.Tensor:
    """``[B, HEAD_SIZES[k]]`` bool: values of head k that extend ``prefix[:, :k]`` to a legal tuple."""
    match = valid
    for j in range(k):
        match = match & (legal[:, :, j] == prefix[:, j:j + 1])
    size = HEAD_SIZES[k]
    idx = torch.where(match, legal[:, :, k], torch.full_like(legal[:, :, k], size))
    mask = torch.zeros(legal.shape[0], size + 1, dtype=torch.bool, device=legal.device)
    mask.scatter_(1, idx, True)
    return mask[:, :size]


def _masked_log_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    with torch.autocast(device_type=logits.device.type, enabled=False):
        return torch.log_softmax(logits.float().masked_fill(~mask, float("-inf")), dim=-1)


def _entropy(logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Entropy of a masked distribution; masked entries contribute exactly 0 (no 0 * -inf)."""
    safe = torch.where(mask, logp, torch.zeros_like(logp))
    return -(torch.where(mask, safe.exp(), torch.zeros_like(safe)) * safe).sum(-1)


def _trim(legal_tuples: torch.Tensor, legal_count: torch.Tensor):
    """Drop the columns past the longest legal list in the batch (they are never read)."""
    count = legal_count.long()
    if count.numel() and bool((count <= 0).any()):
        valid_rows(legal_tuples[:, :1], count)   # raises with the row
    width = int(count.max()) if count.numel() else 0
    return legal_tuples[:, :width].long(), count


def _run(policy, enc, legal_tuples, legal_count, actions=None, generator=None, greedy=False, entropy="exact",
         independent=False, entropy_rows=None):
    if entropy not in ("exact", "sampled"):
        raise ValueError(f"entropy must be 'exact' or 'sampled', got {entropy!r}")
    legal, count = _trim(legal_tuples, legal_count)
    valid = valid_rows(legal, count)
    B = legal.shape[0]
    if entropy_rows is not None and not 1 <= int(entropy_rows) <= B:
        raise ValueError(f"entropy_rows must be between 1 and the batch's {B} rows, got {entropy_rows!r}")
    kinds = _slot_kind(legal.device)
    chosen = torch.zeros(B, NUM_HEADS, dtype=torch.long, device=legal.device)
    head_lp = torch.zeros(B, NUM_HEADS, device=legal.device)
    head_ent = torch.zeros(B, NUM_HEADS, device=legal.device)
    applicable = torch.zeros(B, NUM_HEADS, dtype=torch.bool, device=legal.device)
    forced = torch.zeros(B, NUM_HEADS, dtype=torch.bool, device=legal.device)
    path_logp = []   # head k's masked log-probs at the drawn prefix, reused by the exact entropy
    for k in range(NUM_HEADS):
        if independent and k > 0:
            # Ablation: the sub-heads see only the primary and no legality mask; only the
            # ACTION_SPEC structure (an unused slot is 0) constrains them.
            appl_k = kinds[chosen[:, 0], k - 1] != _UNUSED
            mask = torch.ones(B, HEAD_SIZES[k], dtype=torch.bool, device=legal.device)
            mask[:, 1:] &= appl_k.unsqueeze(1)
            cond = torch.zeros_like(chosen[:, :k])
            cond[:, 0] = chosen[:, 0].clone()
            n_legal = mask.sum(-1)
            logp = _masked_log_softmax(policy.head_logits(enc, k, cond), mask)
        else:
            mask = prefix_mask(legal, valid, chosen, k)
            n_legal = mask.sum(-1)
            rows = torch.nonzero(n_legal > 1).squeeze(1)
            if 2 * rows.numel() > B or not getattr(policy, "supports_rows", False):
                # a copy: ``chosen`` is filled in place below and embeddings keep their indices for backward
                logp = _masked_log_softmax(policy.head_logits(enc, k, chosen[:, :k].clone() if k else None), mask)
            else:
                # Most rows have one legal value (head 3 nearly always): only the others run
                # the head (a policy with ``supports_rows`` scores a subset of the batch's
                # rows). Where one value is legal the masked log-softmax is exactly 0 there
                # and -inf elsewhere whatever the logits are (and has no gradient).
                logp = torch.zeros(mask.shape, device=legal.device).masked_fill(~mask, float("-inf"))
                if rows.numel():
                    logits = _head_at(policy, enc, k, chosen[rows, :k].clone() if k else None, rows)
                    logp = logp.index_put((rows,), _masked_log_softmax(logits, mask[rows]))
        path_logp.append(logp)
        if actions is None:
            if greedy:
                a = logp.argmax(-1)
            else:
                a = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(1)
        else:
            a = actions[:, k].long()
            # a value outside the head's range (a corrupt file, say) is not legal either: checked
            # before the gather, which would index out of bounds
            inside = (a >= 0) & (a < mask.shape[1])
            ok = inside & mask.gather(1, torch.where(inside, a, torch.zeros_like(a)).unsqueeze(1)).squeeze(1)
            if not bool(ok.all()):
                r = torch.nonzero(~ok)[0].item()
                raise ReplayMismatchError(f"stored tuple {actions[r].tolist()} (row {r}) is not legal under its "
                                          f"legal list at head {k}")
        appl = torch.ones(B, dtype=torch.bool, device=legal.device) if k == 0 else kinds[chosen[:, 0], k - 1] != _UNUSED
        one = n_legal == 1
        live = appl & ~one
        lp = logp.gather(1, a.unsqueeze(1)).squeeze(1)
        head_lp[:, k] = torch.where(live, lp, torch.zeros_like(lp))
        ent = _entropy(logp, mask)
        head_ent[:, k] = torch.where(live, ent, torch.zeros_like(ent))
        applicable[:, k] = appl
        forced[:, k] = appl & one
        chosen[:, k] = a
    if entropy == "exact" and not independent and entropy_rows is not None and entropy_rows < B:
        # the prefix tree of the first rows only; the others are NaN so that no caller averages them
        first = torch.arange(B, device=legal.device) < int(entropy_rows)
        joint = exact_entropy(policy, enc, legal, count, valid & first.unsqueeze(1), path=(chosen, path_logp))
        joint = torch.where(first, joint, torch.full_like(joint, float("nan")))
    elif entropy == "exact" and not independent:
        joint = exact_entropy(policy, enc, legal, count, valid, path=(chosen, path_logp))
    elif independent:
        joint = head_ent.sum(-1)
    elif entropy == "sampled":
        joint = head_ent.sum(-1)
    else:
        raise ValueError(f"entropy must be 'exact' or 'sampled', got {entropy!r}")
    return SampleResult(chosen, head_lp.sum(-1), joint, head_lp, head_ent, applicable, forced, count)


def exact_entropy(policy, enc, legal, count, valid=None, return_tuple_logp=False, path=None):
    """Exact joint entropy ``[B]`` of the policy over each row's legal tuples, by the prefix tree.

    With ``return_tuple_logp`` also returns (batch index [M], tuples [M, 4], log-prob [M]) of
    every legal tuple, for brute-force checks. ``path`` = (chosen [B, 4], [head k's masked
    log-probs [B, HEAD_SIZES[k]] at the chosen prefix]) from the drawn path of ``_run``: the
    tree's node on that path is then read from it instead of evaluating the head again (the
    same logits and mask, and one graph, so the gradient is unchanged)."""
    if valid is None:
        legal, count = _trim(legal, count)
        valid = valid_rows(legal, count)
    legal = legal.long()
    bidx, ridx = torch.nonzero(valid, as_tuple=True)
    tup = legal[bidx, ridx]                       # [M, 4]
    M = tup.shape[0]
    dev = legal.device
    log_p = torch.zeros(M, device=dev)
    H = torch.zeros(legal.shape[0], device=dev)
    key = bidx.clone()
    if path is not None:
        chosen, path_logp = path
        path_key = torch.arange(legal.shape[0], device=dev)
    for k in range(NUM_HEADS):
        if k > 0:
            key = key * (HEAD_SIZES[k - 1] + 1) + tup[:, k - 1]
            if path is not None:
                path_key = path_key * (HEAD_SIZES[k - 1] + 1) + chosen[:, k - 1]
        uniq, inv = torch.unique(key, return_inverse=True)
        U = uniq.shape[0]
        rep = torch.full((U,), M, dtype=torch.long, device=dev).scatter_reduce(
            0, inv, torch.arange(M, device=dev), reduce="amin")
        mask = torch.zeros(U, HEAD_SIZES[k], dtype=torch.bool, device=dev)
        mask[inv, tup[:, k]] = True
        # A prefix with one legal continuation (forced, or a slot the primary does not use)
        # has entropy 0 and log-prob 0: only the others need the head evaluated.
        live = torch.nonzero(mask.sum(-1) > 1).squeeze(1)
        if live.numel() == 0:
            continue
        lrep = rep[live]
        if path is None:
            logp_live = _masked_log_softmax(_tree_logits(policy, enc, k, tup, bidx, lrep), mask[live])
        else:
            # the drawn prefix of each row is one of its nodes: take it from the path
            on_path = uniq[live] == path_key[bidx[lrep]]
            off = torch.nonzero(~on_path).squeeze(1)
            logp_live = torch.zeros(live.numel(), HEAD_SIZES[k], device=dev, dtype=path_logp[k].dtype)
            logp_live = logp_live.index_put((torch.nonzero(on_path).squeeze(1),), path_logp[k][bidx[lrep[on_path]]])
            if off.numel():
                lo = lrep[off]
                logp_live = logp_live.index_put(
                    (off,), _masked_log_softmax(_tree_logits(policy, enc, k, tup, bidx, lo), mask[live[off]]))
        ent = _entropy(logp_live, mask[live])
        H = H.index_add(0, bidx[lrep], log_p[lrep].exp() * ent)
        # log-prob of each tuple's value at this level: 0 on forced prefixes
        slot = torch.full((U,), -1, dtype=torch.long, device=dev)
        slot[live] = torch.arange(live.numel(), device=dev)
        rs = slot[inv]
        on = rs >= 0
        step = torch.zeros(M, device=dev)
        step[on] = logp_live[rs[on], tup[on, k]]
        log_p = log_p + step
    if return_tuple_logp:
        return H, bidx, tup, log_p
    return H


def _head_at(policy, enc, k, prefix, rows):
    """Head k's logits for ``prefix`` [P, k] at batch rows ``rows`` [P] (sorted)."""
    if getattr(policy, "supports_rows", False):
        return policy.head_logits(enc, k, prefix, rows=rows)
    return policy.head_logits(enc.index(rows), k, prefix)


def _tree_logits(policy, enc, k, tup, bidx, rep):
    """Head k's logits at the prefixes of tuples ``rep`` (rows ``bidx[rep]`` of the batch)."""
    return _head_at(policy, enc, k, tup[rep, :k] if k else None, bidx[rep])


def sample(policy, encoding, legal_tuples, legal_count, generator=None, greedy=False, entropy="exact",
           independent=False):
    """Draw one legal tuple per row. See the module docstring.

    ``independent=True`` is an ablation only: sub-heads are drawn without prefix
    conditioning and without legality masks (only the primary is masked), so the drawn
    tuple can be illegal; its entropy is the per-head sum."""
    return _run(policy, encoding, legal_tuples, legal_count, None, generator, greedy, entropy, independent)


def evaluate(policy, encoding, legal_tuples, legal_count, actions, entropy="exact", independent=False,
             entropy_rows=None):
    """Replay stored tuples through the same path as :func:`sample` (no RNG).

    ``entropy_rows=n`` computes the exact joint entropy of the first n rows only (the others'
    entropy is NaN): for a batch in random order, their mean is an unbiased estimate of the
    batch's mean exact entropy at a fraction of the prefix tree's cost (``TrainConfig.entropy_rows``)."""
    return _run(policy, encoding, legal_tuples, legal_count, actions, None, False, entropy, independent,
                entropy_rows)
