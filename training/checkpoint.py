"""Checkpoint files: data only (``torch.load(..., weights_only=True)``), versioned, atomic.

A checkpoint is a dict of tensors and plain values:
``format`` ("tcg-checkpoint"), ``version``, ``action_spec_version``, ``card_table_digest``
(hex digest of the compiled card pool), ``policy_config`` (dict), ``model`` (state dict),
``card_files`` (only for a run on its own cards: the text of its cards and decks files,
:mod:`training.cards`), and, for training checkpoints, more keys (optimizer, counters, ...).
Loading checks every one of them and raises :class:`CheckpointError` naming what is wrong.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from prefabs import CardSet, card_table_digest
from tcg_env.atomic import atomic_write
from tcg_env.state import shown
from verification.spec import ACTION_SPEC_VERSION

from .cards import checkpoint_cards

FORMAT = "tcg-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, or made for another game or model."""


class NonFiniteWeightsError(RuntimeError):
    """Training made the policy's weights NaN or infinite; they are never saved."""


def nonfinite_weights(state_dict) -> list[str]:
    """The names of the tensors in ``state_dict`` holding a NaN or an infinity."""
    return [k for k, v in state_dict.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def check_finite_weights(state_dict, what: str) -> None:
    """Raise :class:`NonFiniteWeightsError` when ``state_dict`` holds a NaN or an infinity."""
    bad = nonfinite_weights(state_dict)
    if bad:
        raise NonFiniteWeightsError(f"{what}: the policy's weights are NaN or infinite ({', '.join(bad[:4])}"
                                    f"{', ...' if len(bad) > 4 else ''}); they are not saved, and the checkpoints "
                                    f"written before are kept. A smaller learning rate or grad-norm clip may help.")


def atomic_save(obj, path: str | Path) -> Path:
    """torch.save to a temporary file in the same folder, fsync, then rename over ``path``."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def save_policy(policy, path: str | Path, extra: dict | None = None, cards: CardSet | None = None) -> Path:
    """Write ``policy`` trained on ``cards`` (None: the shipped cards) with the ``extra`` keys."""
    check_finite_weights(policy.state_dict(), f"saving {path}")
    data = {
        "format": FORMAT, "version": VERSION, "action_spec_version": ACTION_SPEC_VERSION,
        "card_table_digest": cards.digest if cards is not None else card_table_digest(),
        "policy_config": policy.config.to_dict(),
        "model": {k: v.detach().cpu() for k, v in policy.state_dict().items()},
        **(cards.checkpoint_entry() if cards is not None else {}),
    }
    if extra:
        data.update(extra)
    return atomic_save(data, path)


def why(e: BaseException, lines: int = 3, width: int = 400) -> str:
    """An exception's message for a one-line error: its first ``lines`` non-empty lines joined
    by '; ' (a state-dict error's first line says only "Error(s) in loading state_dict"; the
    missing keys or size mismatches follow), terminal colour codes removed, cut at ``width``."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    out = "; ".join([t.strip() for t in text.splitlines() if t.strip()][:lines])
    return out if len(out) <= width else out[:width - 3] + "..."


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load and validate a checkpoint dict (data only; nothing in it is executed)."""
    if not str(path).strip():   # Path('') would read as the current folder
        raise CheckpointError(f"a checkpoint is named by its file path, got {str(path)!r}")
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} " + ("is a folder, not a file" if path.is_dir() else "does not exist"))
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as e:
        raise CheckpointError(f"checkpoint {path} cannot be read ({e.strerror or e})") from None
    if head != b"PK\x03\x04":   # torch.save writes a zip archive; anything else is not a checkpoint
        raise CheckpointError(f"{path} is not a torch checkpoint file (those are zip archives; this one starts "
                              f"with {head!r})")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for a corrupt or non-weights file
        raise CheckpointError(f"checkpoint {path} cannot be read as a weights-only torch file (truncated, corrupt, "
                              f"or holding objects other than tensors and plain data): "
                              f"{type(e).__name__}: {why(e, lines=1)}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a tcg checkpoint (format {data.get('format') if isinstance(data, dict) else type(data).__name__!r})")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {data.get('version')}; this code reads version {VERSION}")
    if data.get("action_spec_version") != ACTION_SPEC_VERSION:
        raise CheckpointError(f"{path} was trained for action spec version {data.get('action_spec_version')}; "
                              f"this game uses version {ACTION_SPEC_VERSION}")
    try:   # the cards it carries (else the shipped ones) compile to its card table digest
        checkpoint_cards(data, path)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    for key in ("policy_config", "model"):
        if key not in data:
            raise CheckpointError(f"{path} lacks '{key}'")
    if not isinstance(data["policy_config"], dict) or not isinstance(data["model"], dict):
        raise CheckpointError(f"{path}: 'policy_config' and 'model' must be dicts, got "
                              f"{type(data['policy_config']).__name__} and {type(data['model']).__name__}")
    bad = nonfinite_weights(data["model"])
    if bad:
        raise CheckpointError(f"{path}: the model weights hold NaN or infinite values ({', '.join(bad[:4])}): "
                              f"it was saved from a diverged run")
    return data


def resume_target(path: str | Path) -> tuple[Path, Path]:
    """``--resume PATH``: (the checkpoint to resume, the run's folder). PATH is a run folder (its
    newest ``checkpoints/ckpt_*.pt``) or one checkpoint file (whose run folder is the one above
    its ``checkpoints`` folder, else the folder it lies in)."""
    path = Path(path)
    if path.is_dir():
        cands = sorted((path / "checkpoints").glob("ckpt_*.pt"))
        if not cands:
            raise CheckpointError(f"--resume {path}: no checkpoints in {path / 'checkpoints'}")
        return cands[-1], path
    if not path.is_file():
        raise CheckpointError(f"--resume {path}: no such run folder or checkpoint file")
    return path, path.parent.parent if path.parent.name == "checkpoints" else path.parent


MAX_COUNTER = 2 ** 53   # a checkpoint's counters (decisions, updates, seconds) stay exact as floats


def resume_fields(data: dict, path: str | Path) -> tuple[dict, dict]:
    """A resumable checkpoint's training settings (``train_config``) and step counters
    (``counters``: update, steps, elapsed seconds, illegal_total), checked for form:
    :class:`CheckpointError` naming the file and the field if either is not a table or a
    counter is not a number >= 0 (a file edited or written by something else)."""
    if "train_config" not in data:
        raise CheckpointError(f"{path} is a policy-only checkpoint (no 'train_config'); it cannot be resumed, "
                              f"use it with --init-from")
    tc, c = data["train_config"], data.get("counters", {})
    for name, value in (("train_config", tc), ("counters", c)):
        if not isinstance(value, dict):
            raise CheckpointError(f"{path}: '{name}' is a {type(value).__name__}, not a table")
    for key in ("update", "steps", "elapsed", "illegal_total"):
        if key not in c and key != "illegal_total":   # illegal_total came later: absent reads as 0
            raise CheckpointError(f"{path}: counters lack '{key}'")
        v = c.get(key, 0)
        # compared as they are, never converted: an int past a float's range (10**400) is refused, not an OverflowError
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= MAX_COUNTER \
                or (key != "elapsed" and v != int(v)):
            raise CheckpointError(f"{path}: counters '{key}' = {shown(v)} must be a{' whole' if key != 'elapsed' else ''} "
                                  f"number >= 0 (at most 2**53)")
    return dict(tc), dict(c)


def remove_stale_temps(*folders: str | Path) -> None:
    """Delete the temporary files :func:`atomic_write` leaves behind when its writer is killed
    mid-save (``ckpt_*.pt.<random>.tmp``, ``policy.pt.<random>.tmp`` and a rewound
    ``league.csv.<random>.tmp``) in ``folders``, and nothing else: a folder named by ``--resume
    FILE`` may hold the user's own files."""
    for folder in dict.fromkeys(Path(f) for f in folders):
        for pattern in ("ckpt_*.pt.*.tmp", "policy.pt.*.tmp", "league.csv.*.tmp"):
            for stale in folder.glob(pattern):
                if stale.is_file():
                    stale.unlink()


def load_policy(path: str | Path, map_location="cpu", cards: CardSet | None = None):
    """A :class:`~policy.TCGPolicy` from a checkpoint, in eval mode. The checkpoint must have
    been trained on ``cards`` (None: the shipped cards), else :class:`CheckpointError`; the
    cards a checkpoint was trained on are :func:`policy_cards`."""
    from policy import PolicyConfig, TCGPolicy
    from prefabs import shipped_cards
    data = load_checkpoint(path, map_location)
    own, cards = checkpoint_cards(data, path), cards or shipped_cards()
    if not own.same_as(cards):
        raise CheckpointError(f"{path} was trained on {own.describe()}, not on {cards.describe()}: "
                              f"a policy plays only the cards it was trained on")
    try:
        cfg = PolicyConfig.from_dict(dict(data["policy_config"]))
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: its policy config cannot be read: {why(e)}") from None
    try:
        policy = TCGPolicy(cfg, card_table=own.pool.table)
        policy.load_state_dict(data["model"])
    except (ValueError, RuntimeError, TypeError) as e:
        raise CheckpointError(f"{path}: the model weights do not fit the recorded policy config: "
                              f"{why(e)}") from None
    policy.eval()
    return policy


def policy_cards(path: str | Path) -> CardSet:
    """The cards the checkpoint ``path`` was trained on (its ``card_files``, else the shipped ones)."""
    return checkpoint_cards(load_checkpoint(path), path)


def load_init_weights(policy, path: str | Path, data: dict | None = None, cards: CardSet | None = None) -> dict:
    """Load a policy checkpoint's weights into the existing ``policy`` (e.g. a BC policy as the
    start of PPO: ``tcg train --init-from``). The checkpoint is validated like any other
    (format, versions, card pool); its policy config must equal ``policy.config`` field for
    field, else :class:`CheckpointError` names the differing fields. A field the checkpoint does
    not record (it was written before the option existed) counts as that option's default, as in
    :func:`load_policy`. ``data``: the file's dict if :func:`load_checkpoint` has read it
    already (``path`` then only names it in errors). ``cards``: the cards the policy will play
    (None: the shipped ones); the checkpoint must have been trained on them. Returns the
    checkpoint dict."""
    from policy import PolicyConfig
    from prefabs import shipped_cards
    if data is None:
        data = load_checkpoint(path, map_location="cpu")
    own, cards = checkpoint_cards(data, path), cards or shipped_cards()
    if not own.same_as(cards):
        raise CheckpointError(f"{path} was trained on {own.describe()}, and this run plays {cards.describe()}: "
                              f"a policy starts only from one trained on the same cards and decks")
    theirs, ours = dict(data["policy_config"]), policy.config.to_dict()
    try:
        theirs = PolicyConfig.from_dict(theirs).to_dict()
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: its policy config does not load: {why(e)}") from None
    if theirs != ours:
        diff = ", ".join(f"{k}: checkpoint {theirs.get(k, '(absent)')!r} vs policy {ours.get(k, '(absent)')!r}"
                         for k in sorted(set(theirs) | set(ours)) if theirs.get(k) != ours.get(k))
        raise CheckpointError(f"{path}: policy config differs from the policy to initialise ({diff})")
    try:
        policy.load_state_dict(data["model"])
    except (RuntimeError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: the model weights do not fit the policy: {why(e)}") from None
    return data
