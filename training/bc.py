"""Behaviour cloning from demonstrations (``tcg bc``).

``train_bc(BCConfig(demos=FILE, out=DIR, ...))`` fits a policy to the expert tuples of a
demonstrations file (``training.demos``) and keeps the checkpoint with the best validation loss.

- **Split by game.** The games are shuffled with ``split_seed`` and a ``val_frac`` share of
  them (at least one) becomes the validation set; no game has decisions in both.
- **One loss.** ``LOSSES[loss]`` is picked once; the training step and the validation pass call
  that same function object with the same arguments ``(policy, batch)`` (validation under
  ``torch.no_grad`` and ``policy.eval()``). No class weights.
- ``masked`` (default): ``-log_prob`` of the expert tuple from ``training.sampler.evaluate``,
  the very function PPO replays with (prefix masks derived from the legal list; a forced or
  unused head contributes 0). ``unmasked``: plain cross-entropy of each head over its full
  size (``verification.spec.HEAD_SIZES``), head k conditioned on the expert's prefix
  (teacher forcing through ``policy.head_logits``), no legality mask, summed over the heads
  the expert's primary uses (a slot the primary does not use is always 0 and is never a choice,
  so the decoder never consults it).
- An expert tuple missing from its own legal list is **counted and skipped** (never trained on).
- **Metrics** on the validation set after every epoch (or every ``val_every`` steps): the loss;
  the expert's masked NLL (the masked loss as a metric, so both losses' models compare on one scale);
  accuracy with inference-time masking, for the whole tuple (greedy ``sampler.sample``) and per
  head (the masked argmax of head k given the expert prefix, over decisions where head k is a
  real choice: used by the primary and more than one legal value); and, for every model, the
  **illegal-action rate without inference masking** (argmax of each head given the argmax
  prefix, unused slots 0, checked against the legal list).
- **Early stopping** when the validation loss has not improved for ``patience`` validations
  (the first validation is of the untrained policy, at step 0).
- Output in ``out``: ``policy.pt`` (best validation loss; ``training.checkpoint`` format, so it
  loads in ``tcg eval --checkpoint``, ``tcg play --opponent checkpoint:PATH`` and ``tcg train
  --init-from``), ``last.pt``, ``curves.csv`` and ``curves.json`` (one row per validation),
  ``summary.json``.
"""
from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from policy import PolicyConfig, TCGPolicy, obs_tensors
from verification.spec import SLOT_KIND, SlotKind

from .checkpoint import load_init_weights, save_policy
from .config import MAX_THREADS
from .demos import Demos, load_demos
from .sampler import NUM_HEADS, valid_rows, evaluate, prefix_mask, sample

__all__ = ["BCConfig", "BCBatch", "make_batch", "batch_metrics", "LOSSES", "masked_loss", "unmasked_loss", "split_by_game", "expert_legal",
           "build_bc_policy", "train_bc", "load_init_weights", "BCTrainer", "NoFiniteValidationError"]

_UNUSED = int(SlotKind.UNUSED)


class NoFiniteValidationError(ValueError):
    """A cloning run ended without one finite validation loss, so it has no best policy to save
    (``last.pt`` and the curves are still written). ``tcg bc`` reports it and exits 1."""


@dataclass
class BCConfig:
    demos: str = ""
    """Demonstrations file written by ``tcg demos``."""
    out: str = "runs/bc"
    """Output folder."""
    loss: str = "masked"
    """'masked' (-log-prob from sampler.evaluate) or 'unmasked' (per-head cross-entropy, no masks)."""
    epochs: int = 20
    """Passes over the training games (upper bound; early stopping and ``minutes`` may stop sooner)."""
    minutes: float = 0.0
    """Wall-time limit in minutes (0: none). Checked after every step."""
    seed: int = 0
    """Seed of the initial weights and the minibatch order."""
    split_seed: int = 0
    """Seed of the train/validation split by game (kept apart from ``seed`` so seeds share a split)."""
    val_frac: float = 0.1
    """Share of the games held out for validation."""
    patience: int = 3
    """Stop after this many validations without a lower validation loss (0: never stop early)."""
    min_delta: float = 0.0
    """An improvement must lower the validation loss by more than this."""
    batch_size: int = 256
    """Decisions per minibatch."""
    lr: float = 1e-3
    """Adam learning rate."""
    weight_decay: float = 0.0
    """Adam weight decay."""
    max_grad_norm: float = 1.0
    """Global gradient-norm clip (0: none)."""
    val_every: int = 0
    """Validate every this many optimizer steps (0: once per epoch)."""
    policy: str = "cpu"
    """Policy size: a named training config ('cpu', 'gpu': the size that config trains, so the
    checkpoint can initialise ``tcg train --config NAME --init-from``) or a policy size ('small', 'large')."""
    device: str = "cpu"
    """Torch device."""
    threads: int = 0
    """torch.set_num_threads (0: leave torch's default)."""

    def validate(self) -> None:
        def need(ok, msg):
            if not ok:
                raise ValueError(msg)
        need(bool(self.demos), "--demos is required")
        need(self.loss in LOSSES, f"--loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        need(self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}")
        need(math.isfinite(self.minutes) and self.minutes >= 0, f"--minutes must be a finite number >= 0, got {self.minutes}")
        need(0.0 < self.val_frac < 1.0, f"--val-frac must be in (0, 1), got {self.val_frac}")
        need(self.patience >= 0, f"--patience must be >= 0, got {self.patience}")
        need(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        need(self.lr >= 0, f"--lr must be >= 0, got {self.lr}")
        need(bool(str(self.out).strip()), f"--out must name a folder, got {self.out!r}")
        need(self.val_every >= 0, f"--val-every must be >= 0, got {self.val_every}")
        need(0 <= self.threads <= MAX_THREADS, f"--threads must be in 0..{MAX_THREADS}, got {self.threads}")
        need(all(math.isfinite(v) for v in (self.lr, self.max_grad_norm, self.weight_decay, self.min_delta))
             and self.max_grad_norm >= 0 and self.weight_decay >= 0 and self.min_delta >= 0,
             "--lr, --max-grad-norm, --weight-decay and --min-delta must be finite, the last three >= 0")
        from .config import check_device
        check_device(self.device, "--device")
        build_bc_policy(self.policy, dry=True)

    def to_dict(self) -> dict:
        return asdict(self)


def build_bc_policy(name: str, dry: bool = False, cards=None):
    """A fresh policy of the size ``name`` names (see :attr:`BCConfig.policy`), for ``cards``
    (the :class:`prefabs.CardSet` the demonstrations were played on; None: the shipped cards)."""
    from prefabs import shipped_cards
    cards = cards or shipped_cards()
    if name in ("small", "large"):
        pc = PolicyConfig.named(name)
    else:
        from .config import TrainConfig
        from .ppo import build_policy
        try:
            cfg = TrainConfig.named(name)
        except ValueError:
            raise ValueError(f"--policy {name!r}: give a named training config (cpu, gpu) or a policy size "
                             f"(small, large)") from None
        if dry:
            return None
        return build_policy(cfg, cards)
    return None if dry else TCGPolicy(pc, card_table=cards.pool.table)


# ----------------------------------------------------------------------------- data
@dataclass
class BCBatch:
    obs: torch.Tensor       # int8 [B, OBS_SIZE]
    legal: torch.Tensor     # int8 [B, W, 4] (rows past count are zeros and never read)
    count: torch.Tensor     # int32 [B]
    actions: torch.Tensor   # long [B, 4] expert tuples

    def __len__(self) -> int:
        return int(self.obs.shape[0])


def make_batch(data: Demos, idx, device="cpu") -> BCBatch:
    legal, count = data.padded_legal(idx)
    dev = torch.device(device)
    return BCBatch(torch.as_tensor(data.obs[idx], device=dev), torch.as_tensor(legal, device=dev),
                   torch.as_tensor(count, device=dev), torch.as_tensor(data.action[idx].astype(np.int64), device=dev))


def expert_legal(data: Demos) -> np.ndarray:
    """bool [R]: record r's expert tuple is one of its legal tuples."""
    if len(data) == 0:
        return np.zeros(0, np.bool_)
    rep = np.repeat(data.action, data.legal_count, axis=0)
    hit = np.all(data.legal == rep, axis=1)
    return np.add.reduceat(hit.astype(np.int64), data.legal_offset[:-1]) > 0


def split_by_game(game: np.ndarray, val_frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train record indices, validation record indices), split by game id."""
    ids = np.unique(game)
    if len(ids) < 2:
        raise ValueError(f"a train/validation split by game needs at least 2 games, the demonstrations hold {len(ids)}")
    perm = np.random.default_rng(seed).permutation(ids)
    n_val = min(len(ids) - 1, max(1, int(round(val_frac * len(ids)))))
    val_ids = perm[:n_val]
    in_val = np.isin(game, val_ids)
    return np.nonzero(~in_val)[0], np.nonzero(in_val)[0]


# ----------------------------------------------------------------------------- losses
def masked_loss(policy, batch: BCBatch) -> torch.Tensor:
    """Per-decision ``-log_prob`` of the expert tuple under the sequential sampler's prefix masks,
    computed by ``training.sampler.evaluate`` (the function PPO replays with). The log-prob does
    not depend on the entropy mode; "sampled" skips the exact-entropy tree walk BC does not use."""
    g, e = obs_tensors(batch.obs)
    enc = policy(g, e, batch.legal, batch.count)
    return -evaluate(policy, enc, batch.legal, batch.count, batch.actions, entropy="sampled").log_prob


def unmasked_loss(policy, batch: BCBatch) -> torch.Tensor:
    """Per-decision sum of each used head's plain cross-entropy over its full size, head k
    conditioned on the expert prefix (teacher forcing), without legality masks."""
    g, e = obs_tensors(batch.obs)
    enc = policy(g, e, batch.legal, batch.count)
    a = batch.actions
    kinds = torch.as_tensor(SLOT_KIND.astype(np.int64), device=a.device)
    total = torch.zeros(a.shape[0], device=a.device)
    for k in range(NUM_HEADS):
        logits = policy.head_logits(enc, k, a[:, :k] if k else None).float()
        ce = F.cross_entropy(logits, a[:, k], reduction="none")
        used = torch.ones_like(ce, dtype=torch.bool) if k == 0 else kinds[a[:, 0], k - 1] != _UNUSED
        total = total + torch.where(used, ce, torch.zeros_like(ce))
    return total


LOSSES = {"masked": masked_loss, "unmasked": unmasked_loss}


# ----------------------------------------------------------------------------- metrics
@torch.no_grad()
def batch_metrics(policy, batch: BCBatch) -> dict:
    """Sums over the batch (divide by the counts): masked greedy tuple accuracy, masked
    teacher-forced per-head accuracy on real choices, and the unmasked argmax decoder's
    illegal tuples and exact matches."""
    g, e = obs_tensors(batch.obs)
    enc = policy(g, e, batch.legal, batch.count)
    a = batch.actions
    B = a.shape[0]
    greedy = sample(policy, enc, batch.legal, batch.count, greedy=True, entropy="sampled").actions
    out = {"n": B, "tuple_correct": int((greedy == a).all(1).sum())}
    width = int(batch.count.max())
    legal = batch.legal[:, :width].long()
    valid = valid_rows(legal, batch.count.long())
    kinds = torch.as_tensor(SLOT_KIND.astype(np.int64), device=a.device)
    for k in range(NUM_HEADS):
        mask = prefix_mask(legal, valid, a, k)
        logits = policy.head_logits(enc, k, a[:, :k] if k else None).float()
        pred = logits.masked_fill(~mask, float("-inf")).argmax(-1)
        used = torch.ones(B, dtype=torch.bool, device=a.device) if k == 0 else kinds[a[:, 0], k - 1] != _UNUSED
        choice = used & (mask.sum(-1) > 1)
        out[f"head{k}_n"] = int(choice.sum())
        out[f"head{k}_correct"] = int((choice & (pred == a[:, k])).sum())
    # no inference masking: argmax of each head given the argmax prefix
    dec = torch.zeros_like(a)
    for k in range(NUM_HEADS):
        logits = policy.head_logits(enc, k, dec[:, :k].clone() if k else None).float()
        v = logits.argmax(-1)
        if k > 0:
            v = torch.where(kinds[dec[:, 0], k - 1] != _UNUSED, v, torch.zeros_like(v))
        dec[:, k] = v
    listed = ((legal == dec[:, None, :]).all(-1) & valid).any(-1)
    out["unmasked_illegal"] = int((~listed).sum())
    out["unmasked_correct"] = int((dec == a).all(1).sum())
    return out


# ----------------------------------------------------------------------------- training
class BCTrainer:
    """Holds the data, the split, the policy and the optimizer; :meth:`run` trains."""

    def __init__(self, cfg: BCConfig, data: Demos | None = None, console=None):
        cfg.validate()
        self.cfg = cfg
        self.console = console
        self.device = torch.device(cfg.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.data = data if data is not None else load_demos(cfg.demos)
        ok = expert_legal(self.data)
        self.illegal_expert = int((~ok).sum())
        train, val = split_by_game(self.data.game, cfg.val_frac, cfg.split_seed)
        self.train_idx = train[ok[train]]
        self.val_idx = val[ok[val]]
        if len(self.train_idx) == 0 or len(self.val_idx) == 0:
            raise ValueError("after skipping illegal expert tuples a split is empty: more games are needed")
        self.train_games = np.unique(self.data.game[train])
        self.val_games = np.unique(self.data.game[val])
        torch.manual_seed(cfg.seed)
        self.cards = self.data.cards   # the demonstrations' cards: the policy reads and is saved with them
        self.policy = build_bc_policy(cfg.policy, cards=self.cards).to(self.device)
        self.loss_fn = LOSSES[cfg.loss]   # the one function for train and validation
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.rng = np.random.default_rng(cfg.seed)
        self.out = Path(cfg.out)
        self.curves: list[dict] = []
        self.step = 0
        self.epoch = 0

    def _print(self, msg: str) -> None:
        if self.console is not None:
            self.console.print(msg, highlight=False, markup=False)

    def train_step(self, idx) -> float:
        self.policy.train()
        batch = make_batch(self.data, idx, self.device)
        loss = self.loss_fn(self.policy, batch).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.cfg.max_grad_norm)
        self.optimizer.step()
        self.step += 1
        return float(loss.detach())

    @torch.no_grad()
    def validate(self, idx=None) -> dict:
        """Mean loss (the training loss function) and the metrics over ``idx`` (default: validation)."""
        idx = self.val_idx if idx is None else idx
        was = self.policy.training
        self.policy.eval()
        tot = {}
        loss_sum = nll_sum = 0.0
        bs = max(self.cfg.batch_size, 512)
        for s in range(0, len(idx), bs):
            batch = make_batch(self.data, idx[s:s + bs], self.device)
            loss = float(self.loss_fn(self.policy, batch).sum())
            loss_sum += loss
            # a metric, not the loss: the expert's NLL under the masked sampler, comparable across losses
            nll_sum += loss if self.loss_fn is masked_loss else float(masked_loss(self.policy, batch).sum())
            for k, v in batch_metrics(self.policy, batch).items():
                tot[k] = tot.get(k, 0) + v
        self.policy.train(was)
        n = max(tot.get("n", 0), 1)
        res = {"val_loss": loss_sum / n, "val_masked_nll": nll_sum / n, "val_tuple_acc": tot["tuple_correct"] / n,
               "val_unmasked_illegal_rate": tot["unmasked_illegal"] / n,
               "val_unmasked_tuple_acc": tot["unmasked_correct"] / n}
        for k in range(NUM_HEADS):
            res[f"val_head{k}_acc"] = tot[f"head{k}_correct"] / tot[f"head{k}_n"] if tot[f"head{k}_n"] else float("nan")
        return res

    def _save(self, path: Path, row: dict) -> None:
        save_policy(self.policy, path, extra={"bc": {"loss": self.cfg.loss, "epoch": float(row["epoch"]),
                                                     "step": int(row["step"]), "val_loss": float(row["val_loss"]),
                                                     "demos": str(self.cfg.demos)}}, cards=self.cards)

    def _write_curves(self) -> None:
        if not self.curves:
            return
        with (self.out / "curves.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(self.curves[0]))
            w.writeheader()
            w.writerows(self.curves)
        (self.out / "curves.json").write_text(json_text(self.curves, indent=1))

    def run(self, progress=None) -> dict:
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "bc_config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        t0 = time.time()
        best, best_row, bad, why = math.inf, None, 0, "epochs"
        steps_per_epoch = math.ceil(len(self.train_idx) / cfg.batch_size)
        total_steps = steps_per_epoch * cfg.epochs
        run_loss, run_n = 0.0, 0

        def validate_now():
            nonlocal best, best_row, bad, run_loss, run_n
            row = {"epoch": round(self.epoch + frac_epoch(), 4), "step": self.step,
                   "minutes": round((time.time() - t0) / 60, 4),
                   "train_loss": run_loss / run_n if run_n else float("nan"), **self.validate()}
            run_loss, run_n = 0.0, 0
            self.curves.append(row)
            improved = row["val_loss"] < best - cfg.min_delta
            if improved:
                best, best_row, bad = row["val_loss"], row, 0
                self._save(self.out / "policy.pt", row)
            else:
                bad += 1
            self._write_curves()
            self._print(f"epoch {row['epoch']:.2f} step {self.step} | train {row['train_loss']:.4f} "
                        f"val {row['val_loss']:.4f}{' *' if improved else ''}" +
                        (f" (masked NLL {row['val_masked_nll']:.4f})" if cfg.loss != "masked" else "") +
                        " | masked tuple acc "
                        f"{row['val_tuple_acc']:.3f} heads " +
                        " ".join(f"{row[f'val_head{k}_acc']:.3f}" for k in range(NUM_HEADS)) +
                        f" | unmasked-argmax illegal {row['val_unmasked_illegal_rate']:.3f} | "
                        f"{row['minutes']:.1f} min")
            return cfg.patience > 0 and bad >= cfg.patience

        pos = [0]

        def frac_epoch():
            return pos[0] / max(len(self.train_idx), 1)

        self._print(f"bc: {len(self.data)} decisions in {len(np.unique(self.data.game))} games; train "
                    f"{len(self.train_idx)} decisions / {len(self.train_games)} games, validation {len(self.val_idx)} / "
                    f"{len(self.val_games)} games; {self.illegal_expert} illegal expert tuple(s) skipped; loss "
                    f"{cfg.loss}; policy {cfg.policy} ({sum(p.numel() for p in self.policy.parameters()):,} "
                    f"parameters)")
        validate_now()                  # step 0: the untrained policy (its loss starts the curves)
        while self.epoch < cfg.epochs:
            order = self.rng.permutation(self.train_idx)
            pos[0] = 0
            for s in range(0, len(order), cfg.batch_size):
                run_loss += self.train_step(order[s:s + cfg.batch_size])
                run_n += 1
                pos[0] = min(s + cfg.batch_size, len(order))
                if progress is not None:
                    progress(self.step, total_steps)
                if cfg.minutes and time.time() - t0 >= cfg.minutes * 60:
                    why = "time limit"
                    break
                if cfg.val_every and self.step % cfg.val_every == 0 and pos[0] < len(order) and validate_now():
                    why = "early stop"
                    break
            if why == "early stop":
                break
            if pos[0] == len(order):    # a complete epoch
                self.epoch += 1
                pos[0] = 0
            if why == "time limit":
                if run_n:               # steps since the last validation
                    validate_now()
                break
            if validate_now():
                why = "early stop"
                break
        last = self.curves[-1]
        self._save(self.out / "last.pt", last)
        if best_row is None:            # no finite validation loss: nothing can be called the best policy
            raise NoFiniteValidationError(f"the validation loss was never finite ({len(self.curves)} validations, the last "
                             f"{last['val_loss']}), so no policy.pt was written; last.pt and the curves hold the "
                             f"final weights and losses. Try a lower --lr or --max-grad-norm")
        summary = {"demos": str(cfg.demos), "out": str(self.out), "loss": cfg.loss, "seed": cfg.seed,
                   "policy": cfg.policy, "stopped": why, "epochs": last["epoch"], "steps": self.step,
                   "seconds": round(time.time() - t0, 1), "best_epoch": best_row["epoch"],
                   "best_step": best_row["step"], "best_val_loss": best_row["val_loss"],
                   "val_masked_nll": best_row["val_masked_nll"], "val_tuple_acc": best_row["val_tuple_acc"],
                   **{f"val_head{k}_acc": best_row[f"val_head{k}_acc"] for k in range(NUM_HEADS)},
                   "val_unmasked_illegal_rate": best_row["val_unmasked_illegal_rate"],
                   "val_unmasked_tuple_acc": best_row["val_unmasked_tuple_acc"],
                   "train_decisions": int(len(self.train_idx)), "val_decisions": int(len(self.val_idx)),
                   "train_games": int(len(self.train_games)), "val_games": int(len(self.val_games)),
                   "illegal_expert_skipped": self.illegal_expert, "checkpoint": str(self.out / "policy.pt")}
        (self.out / "summary.json").write_text(json_text(summary, indent=2))
        return summary


def json_text(obj, **kw) -> str:
    """``obj`` as JSON any parser reads: a figure with no value (the first row's train loss, a
    head with no choices) is ``null``, never the ``NaN`` that strict parsers refuse."""
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v
    return json.dumps(clean(obj), allow_nan=False, **kw)


def train_bc(cfg: BCConfig, console=None, progress=None, data: Demos | None = None) -> dict:
    """Train, write the outputs into ``cfg.out`` and return the summary (see the module docstring)."""
    return BCTrainer(cfg, data=data, console=console).run(progress=progress)
