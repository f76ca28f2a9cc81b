"""Training settings: one dataclass, each field documented; named configs are TOML files in
``training/configs/`` (``cpu.toml``, ``gpu.toml``; package data, installed with ``training``)."""
from __future__ import annotations

import math
import tomllib
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from policy.config import PolicyConfig
from tcg_env.vec import MAX_GAMES

CONFIG_DIR = Path(__file__).resolve().parent / "configs"   # package data: a wheel install has them too
MAX_THREADS = 256   # a bound on thread and rank counts (torch segfaults starting 100,000 threads)
MAX_ROLLOUT = 1 << 22   # decisions per rank and update (num_envs x rollout_steps): the gpu config holds 262,144


def _f(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    # --- run
    seed: int = _f(1, "Seed of everything: envs, sampling, initial weights (0..2**32-1).")
    total_steps: int = _f(2_000_000, "Stop after this many learner decisions (agent steps) in all, a resumed run counting those before it.")
    minutes: float = _f(0.0, "Stop after this many minutes of training wall time in all, a resumed run counting the time before it (0: no time limit).")
    device: str = _f("cpu", "Torch device for the learner ('cpu', 'cuda', 'cuda:1').")
    torch_threads: int = _f(0, "torch.set_num_threads for the learner (0: leave torch's default; with nproc > 1, the cores split between the ranks).")
    nproc: int = _f(1, "Ranks on this machine: tcg train starts them under torchrun (DDP; gloo on CPU); each steps its own num_envs games. Ignored when already under torchrun.")
    # --- policy
    policy_size: str = _f("small", "Policy size: 'small' (CPU) or 'large' (GPU).")
    d_model: int = _f(0, "Override the policy width, and the feed-forward width with it (twice the width; 0: the size's defaults).")
    n_layers: int = _f(0, "Override the number of encoder layers (0: the size's default).")
    n_heads: int = _f(0, "Override the attention heads per encoder layer (0: the size's default); must divide the width.")
    card_text: bool = _f(False, "Policy input: add each card's printed ability text from the card table to its id embedding.")
    typed_inputs: bool = _f(False, "Policy input: categorical observation fields (zone, slot, card type, subtype, phase, target rule, weapon and pending card ids, attacker and attacked entity) through embeddings instead of as scaled numbers (PolicyConfig.typed_inputs).")
    pointer_mlp: bool = _f(False, "Policy heads: pointer scores from an MLP of query + key (additive attention) instead of their dot product (PolicyConfig.pointer_mlp).")
    separate_value: bool = _f(False, "Policy: the value gets its own encoder of the same size instead of sharing the action heads' (PolicyConfig.separate_value).")
    oracle_value: bool = _f(False, "Policy: asymmetric actor-critic. The value gets its own encoder, which also reads the opponent's hand from the opponent's view of the same position; the action heads never see it (PolicyConfig.oracle_value).")
    afford: bool = _f(False, "Policy input: the action heads see which entities fill which pointer slot of a legal tuple and which primaries are legal (policy.affordances); the value head does not.")
    pointer_primary: bool = _f(False, "Policy heads: score each pointer primary (play, attack, block, move, ...) as the log-sum-exp of head 1's scores over its legal entities, so the primary and its card are one softmax.")
    bf16: bool = _f(False, "bf16 autocast for the policy forward on CUDA (log-softmax stays fp32).")
    pin_memory: bool = _f(False, "Stage host-to-GPU copies (rollout observations and legal tuples, the update's batch) in pinned memory and copy asynchronously (CUDA only; ignored on CPU).")
    # --- rollouts
    num_envs: int = _f(256, "Games stepped in parallel by the batched env (per rank).")
    rollout_steps: int = _f(64, "Env steps per rollout; each step is one decision in every game.")
    env_threads: int = _f(1, "Threads stepping slices of the batch (numba nogil); 1 steps inline.")
    cards_file: str = _f("", "Train on your own cards: a cards file (TOML in the form of prefabs/data/cards.toml; docs/examples/cards.toml is a small one). '': the shipped cards. Checkpoints carry its text.")
    decks_file: str = _f("", "The decks the games are dealt from: a decks file (TOML in the form of prefabs/data/decks.toml) of decks built from the run's cards. '': the prebuilt decks (which need the shipped cards' names).")
    decks: str = _f("all", "'all' (any case: every pairing of the run's decks) or a deck name used by both seats (any case, or any part of the name that fits only one deck).")
    deck_weights: str = _f("", "With decks='all': how the games are dealt pairings, by deck weight: a pairing's share is the product of its two decks' weights, e.g. 'Thornwall Bastion=2' ('Name=w;Name=w', unlisted decks weigh 1; '': every pairing equally).")
    # --- PPO
    learning_rate: float = _f(1e-3, "Adam learning rate (annealed linearly to 0 when anneal_lr).")
    anneal_lr: bool = _f(True, "Anneal the learning rate linearly over total_steps.")
    gamma: float = _f(0.995, "Discount per decision of the same seat.")
    gae_lambda: float = _f(0.95, "GAE lambda, chained per seat.")
    update_epochs: int = _f(2, "Passes over each rollout.")
    num_minibatches: int = _f(4, "Minibatches per epoch.")
    clip_coef: float = _f(0.2, "PPO ratio clip.")
    clip_vloss: bool = _f(True, "Clip the value loss around the rollout values.")
    ent_coef: float = _f(0.01, "Weight of the entropy bonus.")
    ent_anneal_steps: int = _f(0, "Anneal the entropy weight linearly from ent_coef to ent_coef_end over the first N learner decisions, then hold it (0: ent_coef throughout).")
    ent_coef_end: float = _f(0.0, "The entropy weight at the end of the anneal (with ent_anneal_steps > 0).")
    ent_deck_scale: str = _f("", "Multipliers of the entropy weight by the deck the learner plays in each row, e.g. 'Thornwall Bastion=0.3' ('Name=x;Name=x', unlisted decks: 1; '': off).")
    entropy: str = _f("exact", "Entropy of the bonus: 'exact' joint entropy, or 'sampled' (per-head at the drawn prefix; an ablation).")
    entropy_rows: float = _f(1.0, "Fraction of each minibatch's decisions whose entropy (the exact joint entropy; with entropy='sampled' or independent_heads, their estimate) enters the bonus and the logged losses/entropy (the minibatch is a random draw, so its first rows are a uniform subset and the bonus stays an unbiased estimate of the minibatch mean; the exact entropy's prefix tree, about a fifth of the learn step's cost at 1, shrinks with it). 1: every decision.")
    shaping_hp: float = _f(0.0, "Potential-based shaping (training.shaping): weight of (my - opponent leader health) / 20 in the potential (0: off).")
    shaping_board: float = _f(0.0, "Potential-based shaping: weight of (my - opponent board attack + health) / 20 in the potential (0: off).")
    shaping_enemy_board: float = _f(0.0, "Potential-based shaping: extra weight of the opponent's board attack + health / 20 (subtracted), so removing an enemy unit counts more than deploying one.")
    shaping_hand: float = _f(0.0, "Potential-based shaping: weight of (my - opponent hand count) / 20 in the potential (card advantage; 0: off).")
    vf_coef: float = _f(0.5, "Weight of the value loss.")
    wait_value: bool = _f(False, "Also train the value on the waiting seat's view at each rollout's start (the view that bootstraps its chain at the previous rollout's end), with its next decision's return as target (training.gae.waiting_value_targets).")
    max_grad_norm: float = _f(0.5, "Global gradient-norm clip.")
    target_kl: float = _f(0.0, "Stop the epoch loop when approx_kl exceeds this (0: never).")
    ratio_check_tol: float = _f(1e-4, "Max |log ratio| allowed before the first gradient step of an update.")
    independent_heads: bool = _f(False, "Ablation: sample heads independently with masks applied only to the primary (illegal tuples are then possible and are counted).")
    # --- self-play and opponents
    pool_fraction: float = _f(0.5, "Fraction of games where one seat is a pool opponent (the rest are pure self-play).")
    pool_add_every: int = _f(10, "Add the current policy to the opponent pool every K updates (0: never; the pool games are then self-play but for the share bot_opponent_prob gives the heuristic bot).")
    pool_size: int = _f(12, "Keep at most this many past selves in the pool.")
    pool_latest_prob: float = _f(0.5, "Probability of facing the latest pool member; otherwise prioritised by how often it beats the learner.")
    bot_opponent_prob: float = _f(0.2, "Probability that the pool games of an update face the heuristic bot instead of a past self.")
    # --- evaluation
    eval_every: int = _f(10, "Evaluate every E updates (0: only at the end).")
    eval_games: int = _f(96, f"Games per opponent per evaluation (half in each seat), 2..{MAX_GAMES:,}. Game i plays deck pairing "
                              "(i // 2) mod 16, so a multiple of 32 plays every pairing equally often from both seats.")
    eval_pool_members: int = _f(2, "The newest pool members included in each evaluation (0: the bots only).")
    # --- checkpoints and logs
    out: str = _f("runs/latest", "Output folder: checkpoints, TensorBoard logs, league table.")
    checkpoint_every: int = _f(10, "Write a checkpoint every K updates (and at the end; 0: only at the end).")
    keep_checkpoints: int = _f(3, "Keep the last K checkpoints (at least 1: --resume reads the newest).")
    log_every: int = _f(1, "Print a summary line every K updates (0: never).")
    card_stats_every: int = _f(10, "Write per-card play rates, the mean advantage of playing / passing each card, and each primary's share and mean advantage (training.card_stats) to TensorBoard every K updates (0: off).")

    @classmethod
    def named(cls, name: str) -> "TrainConfig":
        names = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))
        path = CONFIG_DIR / f"{name}.toml"
        if Path(name).name == name and path.is_file():
            return cls.from_toml(path)
        if Path(name).name != name or Path(name).exists():   # a path, not a name: it must be a .toml file
            raise ValueError(f"config {name!r} is a path: a config file must end in .toml (or give a named config: "
                             f"{', '.join(names)})")
        raise ValueError(f"unknown config {name!r}; named configs: {', '.join(names)} (files in {CONFIG_DIR})")

    @classmethod
    def from_toml(cls, path: str | Path) -> "TrainConfig":
        if not Path(path).exists() and (CONFIG_DIR / Path(path).name).is_file() and Path(path).parent == Path("."):
            path = CONFIG_DIR / Path(path).name   # --config cpu.toml: the named config's file
        try:
            raw = tomllib.loads(Path(path).read_text())
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path}: not valid TOML: {e}") from None
        except (OSError, UnicodeDecodeError) as e:
            names = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.toml")))
            why = e.strerror if isinstance(e, OSError) else e.reason
            raise ValueError(f"config {path} cannot be read ({why}); give a readable .toml file or a named "
                             f"config ({names})") from None
        except (ValueError, RecursionError) as e:   # an integer past Python's digit limit; nesting past the stack
            raise ValueError(f"{path}: not valid TOML ({type(e).__name__}: {str(e)[:200]})") from None
        return cls.from_dict(raw, where=str(path))

    @classmethod
    def typed(cls, raw: dict, where: str = "config") -> dict:
        """``raw`` with every key a known setting and every value of its setting's type (an int
        is taken for a float), else ValueError naming ``where`` (a config file, or --set)."""
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"{where}: unknown setting(s) {sorted(unknown)}; see `tcg train --help`")
        out, defaults = {}, cls()
        for k, v in raw.items():
            want = type(getattr(defaults, k))
            if want is float and isinstance(v, int) and not isinstance(v, bool):
                try:
                    v = float(v)
                except OverflowError:   # TOML and --set read integers of any size
                    raise ValueError(f"{where}: {k} must be a number within float range, got an integer of "
                                     f"{v.bit_length()} bits") from None
            if not isinstance(v, want) or (want is int and isinstance(v, bool)):
                kind = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[want]
                raise ValueError(f"{where}: {k} = {v!r} must be {kind}")
            out[k] = v
        return out

    @classmethod
    def from_dict(cls, raw: dict, where: str = "config") -> "TrainConfig":
        cfg = cls()
        for k, v in cls.typed(raw, where).items():
            setattr(cfg, k, v)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        def need(ok, msg):
            if not ok:
                raise ValueError(f"config: {msg}")
        odd = [f.name for f in fields(self) if isinstance(getattr(self, f.name), float)
               and not math.isfinite(getattr(self, f.name))]
        need(not odd, f"{', '.join(odd)} must be finite (inf or nan trains NaN weights)")
        # every generator's seed is derived from it by a small multiplier, within torch's 64 bits
        need(0 <= self.seed < 2 ** 32, f"seed must be in 0..2**32-1, got {self.seed}")
        need(self.total_steps > 0, "total_steps must be > 0")
        need(math.isfinite(self.minutes) and self.minutes >= 0, "minutes must be a finite number >= 0 (0: no time limit)")
        need(self.num_envs >= 1 and self.rollout_steps >= 1, "num_envs and rollout_steps must be >= 1")
        need(self.num_envs <= MAX_GAMES, f"num_envs must be at most {MAX_GAMES:,} (games per rank), got {self.num_envs:,}")
        need(self.num_envs * self.rollout_steps <= MAX_ROLLOUT,
             f"num_envs x rollout_steps must be at most {MAX_ROLLOUT:,} decisions per rank and update (the rollout "
             f"is held in memory), got {self.num_envs:,} x {self.rollout_steps:,}")
        need(self.num_minibatches >= 1 and self.update_epochs >= 1, "num_minibatches and update_epochs must be >= 1")
        need(self.num_minibatches <= self.num_envs * self.rollout_steps,
             f"num_minibatches ({self.num_minibatches:,}) must be at most the decisions of a rollout, num_envs x "
             f"rollout_steps = {self.num_envs * self.rollout_steps:,}")
        need(self.policy_size in ("small", "large"), "policy_size must be 'small' or 'large'")
        need(min(self.d_model, self.n_layers, self.n_heads) >= 0, "d_model, n_layers and n_heads must be >= 0 (0: the size's default)")
        size = PolicyConfig.named(self.policy_size)
        width, heads = self.d_model or size.d_model, self.n_heads or size.n_heads
        need(width % heads == 0, f"n_heads ({heads}{'' if self.n_heads else f', the {self.policy_size} size default'}) "
                                 f"must divide the policy width ({width}); set n_heads to a divisor of d_model")
        try:   # the policy these settings build, checked by the policy's own rules (its size bounds)
            PolicyConfig(d_model=width, n_heads=heads, n_layers=self.n_layers or size.n_layers, d_ff=size.d_ff)
        except ValueError as e:
            need(False, str(e))
        need(self.entropy in ("exact", "sampled"), "entropy must be 'exact' or 'sampled'")
        need(0.0 <= self.pool_fraction <= 1.0, "pool_fraction must be in [0, 1]")
        need(0.0 < self.entropy_rows <= 1.0, "entropy_rows must be in (0, 1]")
        need(0.0 < self.gamma <= 1.0 and 0.0 <= self.gae_lambda <= 1.0, "gamma in (0, 1], gae_lambda in [0, 1]")
        need(1 <= self.env_threads <= MAX_THREADS, f"env_threads must be in 1..{MAX_THREADS}")
        need(1 <= self.nproc <= MAX_THREADS, f"nproc must be >= 1 (and at most {MAX_THREADS})")
        need(0 <= self.torch_threads <= MAX_THREADS, f"torch_threads must be >= 0 (0: torch's default) and at most "
                                                     f"{MAX_THREADS}")
        check_device(self.device, "config: device", available=False)
        # each evaluation plays its games in one batch of envs: past the cap it would fail mid-run
        bad = match_games_problem(self.eval_games, "eval_games")
        need(bad is None, bad)
        need(bool(self.out.strip()) and "\x00" not in self.out,
             f"out must name a folder, got {self.out!r} (a non-empty path without NUL characters)")
        for name in ("eval_every", "eval_pool_members", "checkpoint_every", "pool_add_every", "log_every"):
            need(getattr(self, name) >= 0, f"{name} must be >= 0 (0: see `tcg train --help`)")
        need(self.keep_checkpoints >= 1, "keep_checkpoints must be >= 1 (--resume reads the newest)")
        need(self.pool_size >= 1, "pool_size must be >= 1")
        for name in ("pool_latest_prob", "bot_opponent_prob"):
            need(0.0 <= getattr(self, name) <= 1.0, f"{name} must be in [0, 1]")
        need(self.learning_rate > 0 and self.clip_coef > 0 and self.max_grad_norm > 0 and self.ratio_check_tol > 0,
             "learning_rate, clip_coef, max_grad_norm and ratio_check_tol must be > 0")
        need(self.vf_coef >= 0 and self.target_kl >= 0, "vf_coef and target_kl must be >= 0 (target_kl 0: never stop early)")
        need(self.card_stats_every >= 0, "card_stats_every must be >= 0 (0: off)")
        need(self.ent_coef >= 0 and self.ent_coef_end >= 0, "ent_coef and ent_coef_end must be >= 0")
        need(self.ent_anneal_steps >= 0, "ent_anneal_steps must be >= 0 (0: no anneal)")
        from prefabs import DeckError, deck_choice
        decks = self.cards().decks   # ValueError naming cards_file or decks_file
        try:   # 'all' in any case, or one deck for both seats stored by its full name
            self.decks = deck_choice(self.decks, decks) or "all"
        except DeckError as e:
            raise ValueError(f"config: decks: {e}") from None
        self.ent_deck_scale = canonical_deck_values(self.ent_deck_scale, "ent_deck_scale", decks)
        self.deck_weights = canonical_deck_values(self.deck_weights, "deck_weights", decks)
        weights = deck_values(self.deck_weights, "deck_weights", decks)
        need(not weights or self.decks == "all", "deck_weights needs decks = 'all' (it weighs the pairings)")
        need(not weights or deck_weight_vector(weights, decks).any(),
             "deck_weights: at least one deck needs a weight > 0")

    def cards(self):
        """The run's :class:`prefabs.CardSet`: ``cards_file`` and ``decks_file`` read
        now (the shipped cards and decks for ''). ValueError naming the setting otherwise."""
        from .cards import run_cards
        return run_cards(self.cards_file, self.decks_file)

    def to_dict(self) -> dict:
        return asdict(self)


def match_games_problem(n: int, what: str) -> str | None:
    """What is wrong with ``n`` games for one evaluation match (``what`` names the setting), or
    None. A match plays its games in one batch of envs: 2..``MAX_GAMES``, both seats."""
    return None if 2 <= n <= MAX_GAMES else f"{what} must be in 2..{MAX_GAMES:,}, got {n:,}"


def check_device(name: str, what: str, available: bool = True) -> None:
    """Raise ValueError unless ``name`` is a torch device ('cpu', 'cuda', 'cuda:K') and, with
    ``available``, one this machine has (a config naming 'cuda' still loads on a CPU machine)."""
    import torch
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"{what} {name!r} is not a torch device ('cpu', 'cuda', 'cuda:1')") from None
    if dev.type == "cuda" and available:
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if dev.index is not None and dev.index >= n or n == 0:
            raise ValueError(f"{what} {name!r}: this machine has {n} CUDA device(s)"
                             + ("" if n else " (or torch was built without CUDA); use 'cpu'"))
    elif dev.type not in ("cpu", "cuda"):
        raise ValueError(f"{what} {name!r}: only 'cpu' and 'cuda' devices are supported")


def deck_values(text: str, what: str, decks=None) -> dict[str, float]:
    """Parse ``'Deck Name=x;Other Deck=y'`` (the form of ``deck_weights`` and ``ent_deck_scale``)
    into ``{name: x}``. Names must be decks of ``decks`` (default: the prebuilt ones; any case or
    a unique part), values finite and >= 0, each deck once."""
    return {name: v for name, _, v in _deck_value_items(text, what, decks)}


def canonical_deck_values(text: str, what: str, decks=None) -> str:
    """``text`` (checked as :func:`deck_values` does) with each deck by its full name and each
    value as written: ``'thorn=2'`` is stored as ``'Thornwall Bastion=2'``."""
    return ";".join(f"{name}={written}" for name, written, _ in _deck_value_items(text, what, decks))


def _deck_value_items(text: str, what: str, decks=None) -> list[tuple[str, str, float]]:
    """(full deck name, value as written, value) of each part of ``text``, checked."""
    from prefabs import DeckError, default_decks, find_deck
    decks = default_decks() if decks is None else decks
    names = list(decks)
    out: list[tuple[str, str, float]] = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        name, sep, val = part.rpartition("=")
        try:
            name = find_deck(name.strip(), decks) if sep else None
        except DeckError as e:
            raise ValueError(f"config: {what}: {part!r}: {e}") from None
        if name is None:
            raise ValueError(f"config: {what}: {part!r} is not 'Deck Name=number' naming one of the run's decks "
                             f"({'; '.join(names)})")
        try:
            v = float(val)
        except ValueError:
            raise ValueError(f"config: {what}: {val.strip()!r} (for {name!r}) is not a number") from None
        if not (0.0 <= v < float("inf")):
            raise ValueError(f"config: {what}: {name!r} = {v!r} must be a finite number >= 0")
        if any(name == seen for seen, _, _ in out):
            raise ValueError(f"config: {what}: {name!r} is given twice")
        out.append((name, val.strip(), v))
    return out


def deck_weight_vector(values: dict[str, float], decks=None) -> np.ndarray:
    """Per deck of ``decks`` (default: the prebuilt ones), in order: its value in ``values``, else 1."""
    from prefabs import default_decks
    return np.array([values.get(name, 1.0) for name in (default_decks() if decks is None else decks)], np.float64)


def help_table() -> str:
    """Every setting with its built-in default, the value each named config sets (blank where it
    keeps the default), and its meaning, for ``tcg train --help``. A plain ``tcg train`` runs the
    cpu config, so its column is what a run gets unless a flag or --set says otherwise."""
    named = {p.stem: tomllib.loads(p.read_text()) for p in sorted(CONFIG_DIR.glob("*.toml"))}
    lines = [f"  {'setting':<20} {'default':<14} " + "".join(f"{n:<11}" for n in named) + "meaning"]
    for f in fields(TrainConfig):
        default = f.default if f.default is not MISSING else ""
        sets = "".join(f"{repr(raw[f.name]) if f.name in raw else '':<11}" for raw in named.values())
        lines.append(f"  {f.name:<20} {default!r:<14} {sets}{f.metadata.get('help', '')}")
    return "\n".join(lines)
