"""PPO self-play trainer.

One update = a rollout of ``rollout_steps`` decisions in each of ``num_envs`` games of the
native batched env, then ``update_epochs`` passes of clipped PPO over the learner's
decisions. Per update:

1. **Opponents.** In a ``pool_fraction`` of the games one seat is an opponent (the heuristic
   bot with probability ``bot_opponent_prob``, else a past self from the pool, chosen as the
   latest with probability ``pool_latest_prob`` or else with weight ``(1 - learner win rate
   against it)^2 + 0.05``, prioritised fictitious self-play); in the other games the learner
   plays both seats. Until the pool has a member, the games that would face a past self are
   self-play (those given the heuristic bot still face it). The learner's seat
   against an opponent alternates within each deck pairing (:func:`learner_seats`).
2. **Rollout.** The learner's rows are encoded and sampled with the sequential sampler; every
   stored row keeps the observation, the legal tuples (trimmed to the step's longest list),
   the action, log-prob, value, seat and game id. Opponent rows are played but not stored.
3. **Advantages** by seat-chained GAE (``training.gae``). With ``wait_value`` the value also
   trains on the waiting seat's view of each game at the rollout's start, the view the previous
   rollout bootstrapped that seat's chain from (``training.gae.waiting_value_targets``).
4. **PPO.** Log-prob and entropy are replayed with ``sampler.evaluate``; before the first
   gradient step of each update the ratio must be 1 (``ratio_check_tol``) or training stops:
   a mismatch means rollout and replay disagree, which is a bug.

Checkpoints hold the model, optimizer, all RNG states, the env rows, the pool, ratings,
config and counters; ``--resume`` continues exactly. Only rank 0 writes checkpoints and logs.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from policy import PolicyConfig, TCGPolicy, obs_tensors
from prefabs import CardSet, shipped_cards
from tcg_env import VecTCG
from tcg_env.bots import HeuristicBot
from verification.spec import ACTION_SPEC_VERSION

from . import distributed as D
from .checkpoint import (FORMAT, VERSION, CheckpointError, atomic_save, check_finite_weights,
                         load_checkpoint, remove_stale_temps, resume_fields, resume_target, why)
from .cards import checkpoint_cards
from .config import TrainConfig, check_device, deck_values, deck_weight_vector
from .card_stats import card_play_stats, card_scalars, primary_scalars, primary_stats, tag_name
from .evaluate import SNAPSHOT_PREFIX
from .gae import seat_gae, waiting_value_targets
from .resume_checks import check_run_state
from .shaping import potential
from .losses import ReplayModule
from .sampler import sample


# what policy.pt keeps of a training checkpoint (enough for tcg eval, play and --init-from)
POLICY_KEYS = ("format", "version", "action_spec_version", "card_table_digest", "policy_config", "model", "counters",
               "card_files")


def deal_pairings(num_envs: int, weights: np.ndarray, decks=None) -> list[tuple[str, str]]:
    """The pairing of each of ``num_envs`` games when deck ``d`` of ``decks`` (default: the
    prebuilt ones, in order) weighs ``weights[d]``: pairing (a, b) gets a share of the games
    proportional to ``weights[a] * weights[b]``, dealt interleaved (smooth weighted round-robin),
    so every stretch of games, such as the pool games at the front or either seat's games, holds
    close to the same mix. With equal weights it deals the pairings in turn, as ``decks='all'`` does."""
    from prefabs import default_decks
    names = list(default_decks() if decks is None else decks)
    pairs = [(a, b) for a in names for b in names]
    w = np.array([weights[i] * weights[j] for i in range(len(names)) for j in range(len(names))], np.float64)
    total = w.sum()
    if not total > 0:
        raise ValueError("deck weights: at least one deck needs a weight > 0")
    credit = np.zeros_like(w)
    out = []
    for _ in range(num_envs):
        credit += w
        k = int(np.argmax(credit))
        credit[k] -= total
        out.append(pairs[k])
    return out


def own_deck_index(deck_rows: np.ndarray, cards: CardSet | None = None) -> np.ndarray:
    """int[N, 2]: for each game's two seats, the index in the decks of ``cards`` (default: the
    shipped cards' prebuilt decks) of the deck it plays (-1 for a deck not among them)."""
    rows = (cards or shipped_cards()).deck_rows()
    hit = (deck_rows[:, :, None, :] == rows[None, None]).all(-1)
    return np.where(hit.any(-1), hit.argmax(-1), -1).astype(np.int64)


def learner_seats(deck_rows: np.ndarray) -> np.ndarray:
    """int32[N]: the learner's seat in each game of a batch whose decks are ``deck_rows``
    [N, 2, deck size] (``VecTCG.decks``), for the games where one seat is an opponent: the games
    of each deck pairing take seat 0, 1, 0, 1, ... in game order, so every pairing (and every
    prefix of the games, such as the pool games at the front) is played from both seats, as
    ``training.evaluate.match_decks`` lays out a match. (Seat ``i % 2`` would tie the seat to the
    pairing wherever pairings are dealt in a period of even length: with ``decks='all'``, game i
    plays pairing ``i % 16``, and the learner would never hold Emberfang or Anvil against a
    Thornwall or Sagefire opponent.)"""
    n = deck_rows.shape[0]
    _, key = np.unique(deck_rows.reshape(n, -1), axis=0, return_inverse=True)
    key = key.reshape(-1)
    order = np.argsort(key, kind="stable")              # each pairing's games, in game order
    first = np.searchsorted(key[order], key[order])     # where each pairing's run starts
    seat = np.empty(n, np.int32)
    seat[order] = (np.arange(n) - first) % 2
    return seat


class RatioCheckError(RuntimeError):
    """Rollout and replay log-probs disagree before the first gradient step: a bug."""


# the policy's on/off options that TrainConfig exposes under the same name (build_policy copies them)
_POLICY_FLAGS = [f.name for f in fields(PolicyConfig)
                 if f.type in (bool, "bool") and f.name in TrainConfig.__dataclass_fields__]


def build_policy(cfg: TrainConfig, cards: CardSet | None = None) -> TCGPolicy:
    """The policy ``cfg`` trains, for the run's cards (``cfg.cards()`` unless given)."""
    table = (cards or cfg.cards()).pool.table if cfg.card_text else None   # read by the card_text input only
    return TCGPolicy(policy_config(cfg), card_table=table)


def policy_config(cfg: TrainConfig) -> PolicyConfig:
    """The policy a run of ``cfg`` trains: the named size with the config's overrides and options."""
    pc = PolicyConfig.named(cfg.policy_size)
    if cfg.d_model:
        pc.d_model = cfg.d_model
        pc.d_ff = 2 * cfg.d_model
    if cfg.n_layers:
        pc.n_layers = cfg.n_layers
    if cfg.n_heads:
        pc.n_heads = cfg.n_heads
    for f in _POLICY_FLAGS:   # the policy options TrainConfig exposes under the same name
        setattr(pc, f, getattr(cfg, f))
    return pc


def check_resumable(data: dict, cfg: TrainConfig, path, world: int, cards: CardSet | None = None) -> None:
    """CheckpointError unless the resumable checkpoint ``data`` (read from ``path``) can be
    continued by a run of ``cfg`` with ``world`` ranks: its settings and counters are well
    formed, it trains the same policy, its games were dealt by the same deck layout, and it was
    written by as many ranks; and every other field it restores has the form a run writes
    (:func:`training.resume_checks.check_run_state`). `tcg train --resume` runs this before it
    starts any rank, and :meth:`Trainer.load` again in each. ``cards``: the run's
    (``cfg.cards()`` unless given); the checkpoint's must be the same cards and decks."""
    for key in ("optimizer", "rng", "env", "counters", "train_config"):
        if key not in data:
            raise CheckpointError(f"{path} is a policy-only checkpoint (no '{key}'); it cannot be resumed, "
                                  f"use it with --init-from")
    resume_fields(data, path)   # its settings and counters are well formed
    # through from_dict, so a checkpoint written before a field existed reads it as its default
    try:
        saved = PolicyConfig.from_dict(data["policy_config"]).to_dict()
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its policy config cannot be read: {why(e)}") from None
    ours = policy_config(cfg).to_dict()
    if saved != ours:
        raise CheckpointError(f"{path}: its policy config {data['policy_config']} differs from this run's {ours}")
    cards = cards or cfg.cards()
    try:
        theirs = checkpoint_cards(data, path)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    differ = theirs.difference(cards, ("the checkpoint", "this run"))
    if differ:
        files = ", ".join(f"{k} {getattr(cfg, k)!r}" for k in ("cards_file", "decks_file") if getattr(cfg, k))
        raise CheckpointError(f"{path} was trained on {theirs.describe()}; this run's settings "
                              f"({files or 'no cards_file or decks_file'}) give {cards.describe()}, and {differ}: "
                              f"resume with the files as they were (--set cards_file=PATH --set decks_file=PATH)")
    # the games' rows come back from the checkpoint, and with them their decks: the deck
    # layout the seats and per-deck settings are derived from (own_deck, learner_seat) must
    # be the one they were dealt by
    defaults = TrainConfig()
    for key in ("num_envs", "decks", "deck_weights"):
        was = data["train_config"].get(key, getattr(defaults, key))
        same = (deck_values(was, key, cards.decks) == deck_values(cfg.deck_weights, key, cards.decks)
                if key == "deck_weights" else was == getattr(cfg, key))   # weights: the same decks and numbers, however written
        if not same:
            raise CheckpointError(f"{path}: {key} {was!r} differs from this run's {getattr(cfg, key)!r}; "
                                  f"resume with the same {key}")
    written_by = data.get("world_size", 1)
    if isinstance(written_by, bool) or not isinstance(written_by, int) or written_by < 1:
        raise CheckpointError(f"{path}: its world_size {written_by!r} must be a whole number of ranks >= 1")
    if written_by != world:
        raise CheckpointError(f"{path} was written by a run of {written_by} rank(s) and this run has "
                              f"{world}: resume with the same number of ranks (--nproc {written_by})")
    check_run_state(data, cfg, path, world, build_policy(cfg, cards), torch.device(cfg.device), cards.pool)


@dataclass
class PoolMember:
    name: str
    update: int
    state_dict: dict
    games: int = 0
    learner_wins: float = 0.0

    def learner_win_rate(self) -> float:
        return (self.learner_wins + 1.0) / (self.games + 2.0)


@dataclass
class Rollout:
    obs: list = field(default_factory=list)
    legal: list = field(default_factory=list)
    count: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    logp: list = field(default_factory=list)
    values: list = field(default_factory=list)
    seats: list = field(default_factory=list)
    learner: list = field(default_factory=list)
    dones: list = field(default_factory=list)
    truncs: list = field(default_factory=list)
    seat_rewards: list = field(default_factory=list)
    final_values: list = field(default_factory=list)
    phis: list = field(default_factory=list)
    final_phis: list = field(default_factory=list)
    # TrainConfig.wait_value: the waiting seat's view of each game at the rollout's start
    wait_seat: np.ndarray | None = None
    wait_obs: np.ndarray | None = None
    wait_phi: np.ndarray | None = None
    # TrainConfig.oracle_value: the opponent's view of every stored position (the critic's input)
    opp_obs: list = field(default_factory=list)
    wait_opp: np.ndarray | None = None

    def legal_padded(self) -> np.ndarray:
        """The stored legal lists as one array [T, N, width, 4], each step's list padded with
        zeros to the widest step's (each step stores only as many columns as its longest list)."""
        width = max(l.shape[1] for l in self.legal)
        legal = np.zeros((len(self.legal), self.legal[0].shape[0], width, 4), np.int8)
        for t, l in enumerate(self.legal):
            legal[t, :, :l.shape[1]] = l
        return legal


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: str | None = None, init_from: str | None = None,
                 console=None, quiet: bool = False, checkpoint: dict | None = None):
        """``checkpoint``: the dict already read (``load_checkpoint``) from the file that ``resume``
        names (``resume_target``) or from ``init_from``, so it is not read again; it is checked
        here as a file read now would be."""
        cfg.validate()
        check_device(cfg.device, "config: device")   # one this machine has
        self.cfg = cfg
        self.rank, self.world = D.rank(), D.world_size()
        self.is_main = self.rank == 0
        self.console = console
        self.quiet = quiet or not self.is_main
        self.device = torch.device(D.local_device(cfg.device))
        self._pin = cfg.pin_memory and self.device.type == "cuda"
        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        torch.manual_seed(cfg.seed)
        self.out = Path(cfg.out)
        self.cards = cfg.cards()   # the shipped cards, or the run's own files (training.cards)
        self.policy = build_policy(cfg, self.cards).to(self.device)
        self.opp_policy = build_policy(cfg, self.cards).to(self.device).eval()
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.learning_rate, eps=1e-5)
        self.replay = D.wrap(ReplayModule(self.policy, cfg.entropy, cfg.independent_heads, touch_all=D.active()))
        run_decks = self.cards.decks
        weights = deck_values(cfg.deck_weights, "deck_weights", run_decks)
        if cfg.decks != "all":
            decks = run_decks[cfg.decks]
        elif weights or not self.cards.shipped:   # the shipped pool's VecTCG deals its prebuilt pairings itself
            decks = self.cards.env_decks(deal_pairings(cfg.num_envs, deck_weight_vector(weights, run_decks),
                                                       run_decks))
        else:
            decks = None
        env_seed = cfg.seed * 1_000_003 + self.rank
        self.env = VecTCG(cfg.num_envs, seed=env_seed, decks=decks, pool=self.cards.pool, threads=cfg.env_threads)
        self.own_deck = own_deck_index(self.env.decks, self.cards)
        scale = deck_values(cfg.ent_deck_scale, "ent_deck_scale", run_decks)
        # per deck (and a last entry, 1, for a deck not among the run's: index -1)
        self.ent_scale = np.append(deck_weight_vector(scale, run_decks), 1.0).astype(np.float32) if scale else None
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed * 7919 + self.rank)
        self.np_rng = np.random.default_rng(cfg.seed * 104729 + self.rank)
        self.bot = HeuristicBot(cfg.seed)
        self.pool: list[PoolMember] = []
        self.ratings: dict[str, tuple[float, float]] = {}
        self.update = 0
        self.steps = 0
        self.started = time.time()
        self.elapsed_before = 0.0
        self.history: list[dict] = []
        n_pool = int(round(cfg.pool_fraction * cfg.num_envs))
        self.pool_envs = np.zeros(cfg.num_envs, np.bool_)
        self.pool_envs[:n_pool] = True
        self.learner_seat = learner_seats(self.env.decks)
        self.opponent: str | None = None
        self.illegal_total = 0
        self.card_sums = None   # per-card and per-primary sums since the last write (training.card_stats)
        if init_from:
            self._init_from(init_from, checkpoint)
        if resume:
            self.load(resume, checkpoint)
        self.writer = None
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(self.out / "tb"), purge_step=self.update + 1 if resume else None)
            if resume:   # the league table forgets the same updates, to be played again
                from .evaluate import rewind_league
                rewind_league(self.out / "league.csv", self.update)

    # ------------------------------------------------------------------ opponents
    def _choose_opponent(self) -> str | None:
        cfg = self.cfg
        if not self.pool_envs.any():
            return None
        r = self.np_rng.random()
        if r < cfg.bot_opponent_prob:
            return "heuristic"
        if not self.pool:
            return None
        if self.np_rng.random() < cfg.pool_latest_prob:
            m = self.pool[-1]
        else:
            w = np.array([(1.0 - m.learner_win_rate()) ** 2 + 0.05 for m in self.pool])
            m = self.pool[int(self.np_rng.choice(len(self.pool), p=w / w.sum()))]
        self.opp_policy.load_state_dict(m.state_dict)
        return m.name

    def _add_to_pool(self):
        sd = {k: v.detach().cpu().clone() for k, v in self.policy.state_dict().items()}
        self.pool.append(PoolMember(f"{SNAPSHOT_PREFIX}{self.update}", self.update, sd))
        self._trim_pool()

    def _trim_pool(self):
        """Drop the oldest members until at most ``pool_size`` remain (several at once after a
        resume with a smaller ``pool_size``). A member that leaves the pool is never evaluated
        again: its rating goes too."""
        while len(self.pool) > self.cfg.pool_size:
            self.ratings.pop(self.pool.pop(0).name, None)

    # ------------------------------------------------------------------ acting
    def _dev(self, x: np.ndarray) -> torch.Tensor:
        """Host array ``x`` as a tensor on the learner's device. With ``pin_memory`` on CUDA it
        goes through page-locked memory (PyTorch's caching host allocator) and an asynchronous
        copy, which the next kernel on the stream waits for."""
        t = torch.as_tensor(x)
        if self._pin:
            return t.pin_memory().to(self.device, non_blocking=True)
        return t.to(self.device)

    def _policy_act(self, policy, obs, legal, count, rows, store: bool, opp_obs=None):
        g, e = obs_tensors(self._dev(obs[rows]))
        lt = self._dev(legal[rows])
        lc = self._dev(count[rows])
        oe = None if opp_obs is None else obs_tensors(self._dev(opp_obs[rows]))[1]
        with torch.no_grad(), self._autocast():
            enc = policy(g, e, lt, lc, oe)
            res = sample(policy, enc, lt, lc, generator=self.gen, entropy="sampled",
                         independent=self.cfg.independent_heads and store)
        return res.actions.cpu().numpy().astype(np.int32), res.log_prob.float().cpu().numpy(), \
            enc.value.float().cpu().numpy()

    def _autocast(self):
        if self.cfg.bf16 and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast(self.device.type, enabled=False)

    def _values_of(self, obs: np.ndarray, opp_obs: np.ndarray) -> np.ndarray:
        """Values of ``obs``; ``opp_obs`` is the other seat's view of the same positions, which
        only the oracle critic reads (``TrainConfig.oracle_value``)."""
        if len(obs) == 0:
            return np.zeros(0, np.float32)
        oe = obs_tensors(self._dev(opp_obs))[1] if self.cfg.oracle_value else None
        with torch.no_grad(), self._autocast():
            return self.policy(*obs_tensors(self._dev(obs)), opp_entities=oe).value.float().cpu().numpy()

    def _phi(self, obs: np.ndarray) -> np.ndarray:
        """Shaping potentials of observations ``[..., OBS_SIZE]`` (zeros when shaping is off)."""
        c = self.cfg
        return potential(obs, c.shaping_hp, c.shaping_board, c.shaping_enemy_board, c.shaping_hand)

    # ------------------------------------------------------------------ rollout
    def collect(self) -> tuple[Rollout, dict]:
        cfg, env = self.cfg, self.env
        N = cfg.num_envs
        ro = Rollout()
        self.opponent = self._choose_opponent()
        ended = {"games": 0, "learner_wins": 0.0}
        illegal_before = int(env.illegal_counts.sum())
        self.policy.eval()
        if cfg.wait_value:
            # the view that bootstrapped the waiting seat's chain at the end of the last rollout
            ro.wait_seat = (1 - env.current_player).astype(np.int32)
            ro.wait_obs = env.observe(ro.wait_seat)
            ro.wait_phi = self._phi(ro.wait_obs)
            if cfg.oracle_value:   # the waiting seat's opponent is the seat about to act
                ro.wait_opp = env.observations.copy()
        local_steps = 0
        for _ in range(cfg.rollout_steps):
            actor = env.current_player.copy()
            if self.opponent is None:
                learner = np.ones(N, np.bool_)
            else:
                learner = ~self.pool_envs | (actor == self.learner_seat)
            obs = env.observations.copy()
            count = env.legal_count.copy()
            width = int(count.max())
            legal = env.legal_tuples[:, :width].copy()
            actions = np.zeros((N, 4), np.int32)
            logp = np.zeros(N, np.float32)
            values = np.zeros(N, np.float32)
            li = np.nonzero(learner)[0]
            # the oracle critic's input: the same positions seen from the seat that is not acting
            opp_obs = env.observe(1 - actor) if cfg.oracle_value else None
            a, lp, v = self._policy_act(self.policy, obs, legal, count, li, store=True, opp_obs=opp_obs)
            actions[li], logp[li], values[li] = a, lp, v
            oi = np.nonzero(~learner)[0]
            if len(oi):
                if self.opponent == "heuristic":
                    self.bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count, out=actions,
                                       rows=oi)
                else:
                    actions[oi] = self._policy_act(self.opp_policy, obs, legal, count, oi, store=False)[0]
            env.step(actions)
            done = env.terminals | env.truncations
            final_values = np.zeros((N, 2), np.float32)
            final_phis = np.zeros((N, 2), np.float32)
            tr = np.nonzero(env.truncations)[0]
            if len(tr):
                fo = env.final_observations[tr]
                final_values[tr, 0] = self._values_of(fo[:, 0], fo[:, 1])
                final_values[tr, 1] = self._values_of(fo[:, 1], fo[:, 0])
                final_phis[tr] = self._phi(fo)
            for i in np.nonzero(done & self.pool_envs)[0]:
                if self.opponent is not None:
                    ended["games"] += 1
                    ended["learner_wins"] += float(env.seat_rewards[i, self.learner_seat[i]] > 0)
            ro.obs.append(obs)
            if opp_obs is not None:
                ro.opp_obs.append(opp_obs)
            ro.legal.append(legal)
            ro.count.append(count)
            ro.actions.append(actions)
            ro.logp.append(logp)
            ro.values.append(values)
            ro.seats.append(actor)
            ro.learner.append(learner)
            ro.dones.append(done.copy())
            ro.truncs.append(env.truncations.copy())
            ro.seat_rewards.append(env.seat_rewards.copy())
            ro.final_values.append(final_values)
            ro.phis.append(self._phi(obs))
            ro.final_phis.append(final_phis)
            local_steps += int(learner.sum())
        last_obs = [env.observe(np.full(N, p, np.int32)) for p in (0, 1)]
        ro.last_values = np.stack([self._values_of(last_obs[p], last_obs[1 - p]) for p in (0, 1)],
                                  axis=1).astype(np.float32)
        ro.last_phis = np.stack([self._phi(o) for o in last_obs], axis=1)
        # the step counter drives LR annealing: it must be the same global count on every rank
        ro.global_steps = D.all_reduce_sum(local_steps)
        self.steps += ro.global_steps
        stats = {"illegal_actions": int(env.illegal_counts.sum()) - illegal_before}
        self.illegal_total += stats["illegal_actions"]
        if self.opponent is not None and self.opponent != "heuristic" and ended["games"]:
            m = next(m for m in self.pool if m.name == self.opponent)
            m.games += ended["games"]
            m.learner_wins += ended["learner_wins"]
        # counts, not a rate, and always present: under torchrun the ranks pick their opponents
        # independently and the stats are all-reduced key by key
        vs_bot = self.opponent == "heuristic"
        stats["heuristic_games"] = ended["games"] if vs_bot else 0
        stats["heuristic_wins"] = ended["learner_wins"] if vs_bot else 0.0
        return ro, stats

    # ------------------------------------------------------------------ update
    def learn(self, ro: Rollout) -> dict:
        cfg = self.cfg
        values = np.stack(ro.values)
        learner = np.stack(ro.learner)
        seats, dones, truncs = np.stack(ro.seats), np.stack(ro.dones), np.stack(ro.truncs)
        seat_rewards, final_values = np.stack(ro.seat_rewards), np.stack(ro.final_values)
        phis, final_phis = np.stack(ro.phis), np.stack(ro.final_phis)
        adv, ret = seat_gae(values, seats, learner, dones, truncs, seat_rewards, final_values, ro.last_values,
                            cfg.gamma, cfg.gae_lambda, phis, final_phis, ro.last_phis)
        w_obs = w_tgt = w_opp = None
        if cfg.wait_value:
            seat_ok = (np.ones(cfg.num_envs, np.bool_) if self.opponent is None
                       else ~self.pool_envs | (ro.wait_seat == self.learner_seat))
            tgt, ok = waiting_value_targets(ro.wait_seat, ro.wait_phi, seat_ok, seats, learner, dones, truncs,
                                            seat_rewards, final_values, final_phis, ret, phis, cfg.gamma)
            w_obs = self._dev(ro.wait_obs[ok])
            w_tgt = self._dev(tgt[ok])
            if cfg.oracle_value:
                w_opp = self._dev(ro.wait_opp[ok])
        t_idx, i_idx = np.nonzero(learner)
        M = len(t_idx)
        n_obs, n_legal = np.stack(ro.obs)[t_idx, i_idx], ro.legal_padded()[t_idx, i_idx]
        n_count, n_act = np.stack(ro.count)[t_idx, i_idx], np.stack(ro.actions)[t_idx, i_idx]
        if cfg.card_stats_every:
            a = adv[t_idx, i_idx]
            sums = (card_play_stats(n_obs, n_legal, n_count, n_act, a), primary_stats(n_act, a))
            self.card_sums = sums if self.card_sums is None else tuple(x + y for x, y in zip(self.card_sums, sums))
        dev = self.device
        b_obs = self._dev(n_obs)
        b_legal = self._dev(n_legal)
        b_count = self._dev(n_count)
        b_act = self._dev(n_act).long()
        b_logp = self._dev(np.stack(ro.logp)[t_idx, i_idx])
        b_val = self._dev(values[t_idx, i_idx])
        b_adv = self._dev(adv[t_idx, i_idx])
        b_ret = self._dev(ret[t_idx, i_idx])
        b_opp = self._dev(np.stack(ro.opp_obs)[t_idx, i_idx]) if cfg.oracle_value else None
        # every rank must run the same number of minibatches for DDP: size them by the global min
        M_all = D.all_reduce_min(M)
        # fewer decisions than minibatches (a tiny rollout): one decision each, never an empty one
        n_mb = max(1, min(cfg.num_minibatches, M_all))
        mb = max(1, M_all // n_mb)
        b_ent_w = None
        if self.ent_scale is not None:
            b_ent_w = self._dev(self.ent_scale[self.own_deck[i_idx, seats[t_idx, i_idx]]])
        ent_coef = self.ent_coef()
        if cfg.anneal_lr:
            frac = max(0.0, 1.0 - self.steps / cfg.total_steps)
            for g in self.optimizer.param_groups:
                g["lr"] = cfg.learning_rate * frac
        self.policy.train()
        agg: dict[str, list] = {}
        first = True
        stop = False
        for epoch in range(cfg.update_epochs):
            perm = torch.randperm(M, generator=torch.Generator().manual_seed(cfg.seed + self.update * 131 + epoch))
            w_chunks = (torch.arange(len(w_obs), device=dev).tensor_split(n_mb)
                        if w_obs is not None else [None] * n_mb)
            for start, w_idx in zip(range(0, mb * n_mb, mb), w_chunks):
                idx = perm[start:start + mb].to(dev)
                # the entropy bonus reads the exact entropy of the minibatch's first n_ent rows (a
                # uniform subset: the minibatch is a random draw), the others' entropy is NaN
                n_ent = min(len(idx), max(1, int(np.ceil(cfg.entropy_rows * len(idx)))))
                with self._autocast():
                    new_logp, entropy, value, head_ent, forced, applicable, w_value = self.replay(
                        b_obs[idx], b_legal[idx], b_count[idx], b_act[idx],
                        None if w_idx is None else w_obs[w_idx], None if b_opp is None else b_opp[idx],
                        None if w_idx is None or w_opp is None else w_opp[w_idx], entropy_rows=n_ent)
                entropy = entropy[:n_ent]
                logratio = new_logp - b_logp[idx]
                if first:
                    worst = logratio.abs().max().item()
                    if worst > cfg.ratio_check_tol:
                        raise RatioCheckError(
                            f"update {self.update + 1}: before the first gradient step the PPO ratio must be 1, but "
                            f"max |log ratio| = {worst:.3g} > {cfg.ratio_check_tol:g}. The rollout log-prob and the "
                            f"replayed log-prob disagree (masks, dropout/eval mode, dtype or padding): a bug.")
                    first = False
                ratio = logratio.exp()
                mb_adv = b_adv[idx]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std(unbiased=False) + 1e-8)
                pg = torch.max(-mb_adv * ratio, -mb_adv * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef)).mean()
                v = value.float()
                if cfg.clip_vloss:
                    v_clip = b_val[idx] + (v - b_val[idx]).clamp(-cfg.clip_coef, cfg.clip_coef)
                    vl = 0.5 * torch.max((v - b_ret[idx]) ** 2, (v_clip - b_ret[idx]) ** 2).mean()
                else:
                    vl = 0.5 * ((v - b_ret[idx]) ** 2).mean()
                ent = entropy.mean()
                bonus = ent if b_ent_w is None else (entropy.float() * b_ent_w[idx[:n_ent]]).mean()
                loss = pg + cfg.vf_coef * vl - ent_coef * bonus
                if w_value.numel():
                    wl = 0.5 * ((w_value.float() - w_tgt[w_idx]) ** 2).mean()
                    loss = loss + cfg.vf_coef * wl
                    agg.setdefault("wait_value_loss", []).append(wl.item())
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                gnorm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - logratio).mean().item()
                    old_kl = (-logratio).mean().item()
                    clipfrac = ((ratio - 1).abs() > cfg.clip_coef).float().mean().item()
                for k, val in (("policy_loss", pg.item()), ("value_loss", vl.item()), ("entropy", ent.item()),
                               ("approx_kl", approx_kl), ("old_approx_kl", old_kl), ("clipfrac", clipfrac),
                               ("grad_norm", float(gnorm)), ("ratio_min", ratio.min().item()),
                               ("ratio_mean", ratio.mean().item()), ("ratio_max", ratio.max().item())):
                    agg.setdefault(k, []).append(val)
                for k in range(4):
                    agg.setdefault(f"head_entropy_{k}", []).append(head_ent[:, k].mean().item())
                    agg.setdefault(f"forced_frac_{k}", []).append(
                        (forced[:, k].float().sum() / applicable[:, k].float().sum().clamp(min=1)).item())
                # the mean over ranks: every rank must take the same number of DDP steps
                if cfg.target_kl and D.all_reduce_mean(approx_kl) > cfg.target_kl:
                    stop = True
                    break
            if stop:
                break
        # a diverged step (NaN or inf weights) stops the run here, before the next rollout samples from
        # NaN probabilities and before anything is saved: the last good checkpoints stay
        check_finite_weights(self.policy.state_dict(), f"update {self.update + 1}")
        stats = {k: float(np.mean(v)) for k, v in agg.items()}
        if cfg.wait_value:   # present on every rank (the stats are reduced key by key)
            stats.setdefault("wait_value_loss", 0.0)
            stats["wait_value_rows"] = 0 if w_obs is None else len(w_obs)
        stats["ratio_min"] = float(np.min(agg["ratio_min"]))
        stats["ratio_max"] = float(np.max(agg["ratio_max"]))
        y, p = b_ret.cpu().numpy(), b_val.cpu().numpy()
        var = np.var(y)
        stats["explained_variance"] = float("nan") if var == 0 else float(1 - np.var(y - p) / var)
        stats["learning_rate"] = self.optimizer.param_groups[0]["lr"]
        stats["ent_coef"] = ent_coef
        stats["legal_per_decision"] = float(b_count.float().mean())
        stats["decisions"] = M
        stats["kl_early_stop"] = float(stop)
        return stats

    def ent_coef(self) -> float:
        """The entropy weight of the next update: ``ent_coef``, or with ``ent_anneal_steps`` the
        linear anneal from ``ent_coef`` to ``ent_coef_end`` over that many learner decisions."""
        cfg = self.cfg
        if not cfg.ent_anneal_steps:
            return cfg.ent_coef
        frac = min(1.0, self.steps / cfg.ent_anneal_steps)
        return cfg.ent_coef + (cfg.ent_coef_end - cfg.ent_coef) * frac

    # ------------------------------------------------------------------ loop
    def elapsed(self) -> float:
        return self.elapsed_before + time.time() - self.started

    def done(self) -> bool:
        """Whether to stop. The step count agrees across ranks, but each rank has its own clock:
        under torchrun the ranks stop together as soon as any of them is out of time (a rank
        that went on alone would wait forever in the next all-reduce)."""
        cfg = self.cfg
        stop = self.steps >= cfg.total_steps or (bool(cfg.minutes) and self.elapsed() >= cfg.minutes * 60)
        return D.all_reduce_min(int(not stop)) == 0

    def train(self, progress=None) -> dict:
        """Update until :meth:`done`, then evaluate and save. The closing evaluation is skipped
        where it would repeat one already made at this update (the same games, rated twice in
        the league): when the last update was an ``eval_every`` one, and when a resumed run had
        no time left for an update (nothing has changed since its checkpoint; the caller's table,
        as ``tcg train`` prints, still measures it)."""
        cfg = self.cfg
        last = {}
        start = self.update
        while not self.done():
            t0 = time.time()
            ro, rstats = self.collect()
            t1 = time.time()
            lstats = self.learn(ro)
            self.update += 1
            stats = D.reduce_stats({**rstats, **lstats})
            if stats["heuristic_games"]:
                stats["rollout_win_rate_vs_heuristic"] = stats["heuristic_wins"] / stats["heuristic_games"]
            stats["sps"] = ro.global_steps / max(time.time() - t0, 1e-9)
            stats["rollout_s"], stats["learn_s"] = t1 - t0, time.time() - t1
            if cfg.pool_add_every and self.update % cfg.pool_add_every == 0:
                self._add_to_pool()
            if cfg.eval_every and self.update % cfg.eval_every == 0:
                stats.update(self.evaluate_now())
            self._log(stats)
            if cfg.card_stats_every and self.update % cfg.card_stats_every == 0:
                self.log_card_stats()
            if cfg.checkpoint_every and self.update % cfg.checkpoint_every == 0:
                self.save()   # every rank: the others' states are gathered into rank 0's file
            last = stats
            if progress is not None:
                progress(self, stats)
        # the same on every rank (update counts agree), so the evaluation's collectives stay paired
        if self.update == start:
            if not self.quiet:
                self._print(f"no update fit in what was left of the budget (update {self.update}, "
                            f"{self.elapsed() / 60:.2f} minutes in all): give a larger --minutes or --total-steps")
        elif not (cfg.eval_every and self.update % cfg.eval_every == 0):
            final = self.evaluate_now()
            last.update(final)
            if self.is_main:
                self._log_eval(final)
        self.save()
        D.barrier()   # the other ranks wait for rank 0's closing evaluation and checkpoint
        return last

    # ------------------------------------------------------------------ evaluation
    def evaluate_now(self) -> dict:
        """Evaluation games, split between the ranks (they hold identical parameters and pools):
        every rank plays its block of each match and rank 0 joins the results, rates them and
        writes the league table; the others return {}."""
        from .evaluate import evaluate_policy, update_league
        cfg = self.cfg
        newest = self.pool[-cfg.eval_pool_members:] if cfg.eval_pool_members else []   # [-0:] is all
        opponents = ["random", "heuristic"] + [m.name for m in newest]
        results = {}
        for name in opponents:
            sd = next((m.state_dict for m in self.pool if m.name == name), None)
            results[name] = evaluate_policy(self.policy, name, cfg.eval_games, seed=cfg.seed * 31 + self.update,
                                            device=self.device, opponent_state_dict=sd,
                                            opponent_builder=lambda: build_policy(cfg, self.cards), split=True,
                                            cards=self.cards)
        if not self.is_main:
            return {}
        update_league(self, results)
        out = {f"eval/win_rate_vs_{k}": v["win_rate"] for k, v in results.items()}
        # where a plateau against the heuristic sits: the learner's win rate by the deck it played
        for deck, v in results["heuristic"]["by_own_deck"].items():
            out[f"eval/heuristic_by_own_deck/{tag_name(deck)}"] = v["win_rate"]
        for deck, v in results["heuristic"]["by_opponent_deck"].items():
            out[f"eval/heuristic_by_opponent_deck/{tag_name(deck)}"] = v["win_rate"]
        # the learner's openskill rating against the heuristic anchor's fixed mu of 25
        out["eval/learner_rating_mu"], out["eval/learner_rating_sigma"] = self.ratings["learner"]
        return out

    # ------------------------------------------------------------------ logging
    def _log(self, stats: dict):
        self.history.append({"update": self.update, "steps": self.steps, **{k: v for k, v in stats.items()
                                                                             if isinstance(v, (int, float))}})
        if not self.is_main or self.writer is None:
            return
        w = self.writer
        for k in ("policy_loss", "value_loss", "entropy", "approx_kl", "old_approx_kl", "clipfrac",
                  "explained_variance", "grad_norm", "wait_value_loss"):
            if k in stats:
                w.add_scalar(f"losses/{k}", stats[k], self.steps)
        for k in range(4):
            if f"head_entropy_{k}" in stats:
                w.add_scalar(f"losses/head_entropy_{k}", stats[f"head_entropy_{k}"], self.steps)
                w.add_scalar(f"charts/forced_frac_{k}", stats[f"forced_frac_{k}"], self.steps)
        for k in ("ratio_min", "ratio_mean", "ratio_max", "learning_rate", "ent_coef", "legal_per_decision", "illegal_actions",
                  "sps", "rollout_s", "learn_s", "kl_early_stop", "rollout_win_rate_vs_heuristic"):
            if k in stats:
                w.add_scalar(f"charts/{k}", stats[k], self.steps)
        w.add_scalar("charts/illegal_actions_total", self.illegal_total, self.steps)
        w.add_scalar("charts/pool_size", len(self.pool), self.steps)
        self._log_eval({k: v for k, v in stats.items() if k.startswith("eval/")})
        if not self.quiet and self.cfg.log_every and self.update % self.cfg.log_every == 0:
            self._print(self.summary_line(stats))

    def log_card_stats(self):
        """Sum the per-card and per-primary play stats of the updates since the last call over all
        ranks (every rank must call it) and write them to TensorBoard under ``cards/`` and
        ``actions/`` (training.card_stats)."""
        if self.card_sums is None:
            return
        sums, prim = (D.all_reduce_sum_array(x) for x in self.card_sums)
        self.card_sums = None
        if self.writer is None:
            return
        if not hasattr(self, "_card_names"):
            self._card_names = {c.id: c.name for c in self.cards.pool.cards}
        for k, v in {**card_scalars(sums, self._card_names), **primary_scalars(prim)}.items():
            self.writer.add_scalar(k, v, self.steps)

    def _log_eval(self, ev: dict):
        if self.writer is None:
            return
        for k, v in ev.items():
            self.writer.add_scalar(k, v, self.steps)
        self.writer.flush()

    def summary_line(self, s: dict) -> str:
        ev = " ".join(f"{k.split('vs_')[1]}={v:.2f}" for k, v in s.items() if k.startswith("eval/win_rate_vs_")
                      and not k.split("vs_")[1].startswith("self"))
        return (f"upd {self.update:4d} steps {self.steps:>9,d} sps {s.get('sps', 0):7.0f} "
                f"pg {s.get('policy_loss', 0):+.3f} v {s.get('value_loss', 0):.3f} H {s.get('entropy', 0):.2f} "
                f"kl {s.get('approx_kl', 0):.4f} clip {s.get('clipfrac', 0):.2f} ev {s.get('explained_variance', 0):+.2f} "
                f"illegal {int(s.get('illegal_actions', 0))} opp {self.opponent or 'self'}" + (f" | win {ev}" if ev else ""))

    def _print(self, msg: str):
        if self.console is not None:
            self.console.print(msg, highlight=False, markup=False)
        else:
            print(msg, flush=True)

    # ------------------------------------------------------------------ checkpoints
    def state(self, rank_state: dict | None = None) -> dict:
        """Everything a checkpoint holds; ``rank_state`` is this rank's :meth:`_rank_state` when
        the caller already has it."""
        return {
            "format": FORMAT, "version": VERSION, "action_spec_version": ACTION_SPEC_VERSION,
            "card_table_digest": self.cards.digest,
            **self.cards.checkpoint_entry(),   # a run on its own cards: the files' text
            "policy_config": self.policy.config.to_dict(),
            "model": {k: v.detach().cpu() for k, v in self.policy.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "train_config": self.cfg.to_dict(),
            "counters": {"update": self.update, "steps": self.steps, "elapsed": self.elapsed(),
                         "illegal_total": self.illegal_total},
            **(rank_state or self._rank_state()),
            "world_size": self.world,
            "pool": [{"name": m.name, "update": m.update, "games": m.games, "learner_wins": m.learner_wins,
                      "state_dict": m.state_dict} for m in self.pool],
            "ratings": {k: [float(a), float(b)] for k, (a, b) in self.ratings.items()},
            "history": json.dumps(self.history[-2000:]),
        }

    def _rank_state(self) -> dict:
        """What differs between ranks: the RNG states and the env's game rows."""
        return {
            "rng": {"torch": torch.get_rng_state(), "generator": self.gen.get_state(),
                    "numpy": json.dumps(self.np_rng.bit_generator.state),
                    "bot": torch.as_tensor(self.bot._rng.view(np.int64).copy()),
                    # the generators the rollout's heuristic seat draws from, one per game row
                    "bot_rows": torch.as_tensor(self._bot_rows().view(np.int64).copy())},
            "env": {k: torch.as_tensor(np.array(getattr(self.env, k))) for k in ("state", "illegal_counts")},   # copies
            "pool_stats": [[m.games, m.learner_wins] for m in self.pool],
        }

    def _bot_rows(self) -> np.ndarray:
        """The heuristic opponent's generators for this rank's game rows (uint64[num_envs]), the
        ones ``collect`` hands it through ``act_batch``."""
        return self.bot._batch_rng(self.env.num_games)

    def save(self) -> Path | None:
        """Write a checkpoint (rank 0). Under torchrun every rank must call it: the other ranks'
        RNG states, game rows and pool win counts are gathered into the file (``rank_states``,
        ranks 1..W-1), so ``--resume`` with the same number of ranks continues each rank exactly."""
        others = D.gather_to_main(self._rank_state())
        if not self.is_main:
            return None
        ck = self.out / "checkpoints"
        path = ck / f"ckpt_{self.update:06d}.pt"
        full = self.state(others[0])
        if self.world > 1:
            full["rank_states"] = others[1:]
        atomic_save(full, path)
        atomic_save({k: full[k] for k in POLICY_KEYS if k in full}, self.out / "policy.pt")
        kept = sorted(ck.glob("ckpt_*.pt"))
        for old in kept[:-self.cfg.keep_checkpoints]:
            old.unlink()
        return path

    def load(self, path: str | Path, data: dict | None = None):
        """Continue the run saved at ``path`` (a run folder or a checkpoint file); ``data``: that
        checkpoint's dict if it has been read already."""
        path, run_dir = resume_target(path)
        if data is None:
            data = load_checkpoint(path, map_location="cpu")
        check_resumable(data, self.cfg, path, self.world, self.cards)   # every field below has been checked for form
        mine = data if self.rank == 0 else data["rank_states"][self.rank - 1]
        try:   # on a CUDA device only here: the check above leaves a CUDA generator's state to the generator
            self.gen.set_state(mine["rng"]["generator"])
        except (RuntimeError, TypeError, ValueError) as e:
            raise CheckpointError(f"{path}: its generator state does not fit a generator on {self.device} "
                                  f"({why(e, lines=1)}); resume on the device it was written on") from None
        self.policy.load_state_dict(data["model"])
        self.optimizer.load_state_dict(data["optimizer"])
        c = data["counters"]
        self.update, self.steps, self.elapsed_before = int(c["update"]), int(c["steps"]), float(c["elapsed"])
        self.illegal_total = int(c.get("illegal_total", 0))
        self.started = time.time()
        r = mine["rng"]
        torch.set_rng_state(r["torch"])
        self.np_rng.bit_generator.state = json.loads(r["numpy"])
        self.bot._rng[:] = r["bot"].numpy().view(np.uint64)
        if "bot_rows" in r:   # written before it was saved: the rows' generators start afresh, as then
            self._bot_rows()[:] = r["bot_rows"].numpy().view(np.uint64)
        env = mine["env"]   # the games' rows: their legal lists and observations are derived again
        self.env.load_state(env["state"].numpy())
        self.env.illegal_counts[...] = env["illegal_counts"].numpy()
        self.pool = [PoolMember(m["name"], int(m["update"]), m["state_dict"], int(m["games"]),
                                float(m["learner_wins"])) for m in data["pool"]]
        for m, (games, wins) in zip(self.pool, mine.get("pool_stats", [])):   # each rank's own counts
            m.games, m.learner_wins = int(games), float(wins)
        self.ratings = {k: (v[0], v[1]) for k, v in data["ratings"].items()}
        self._trim_pool()   # resumed with a smaller pool_size (--set pool_size=N)
        self.history = json.loads(data["history"])
        self.resumed_from = path
        remove_stale_temps(path.parent, run_dir)   # left by a writer killed mid-save; only now, all checks passed

    def _init_from(self, path, data: dict | None = None):
        from .checkpoint import load_init_weights
        load_init_weights(self.policy, path, data, cards=self.cards)   # CheckpointError names any differing field

    def close(self):
        if self.writer is not None:
            self.writer.close()
