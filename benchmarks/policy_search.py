#!/usr/bin/env python
"""How much a search that knows only the rules and the trained network adds to a policy.

At each of its decisions with a choice, the searching player takes the policy's ``--candidates``
most probable legal tuples (a decision the policy is at least ``--sure`` sure of is played
without search) and scores each by ``--determinizations`` rollouts: a determinization of the
hidden zones (``tcg_env.bots.search.determinize``: public information and the searcher's own
hand only), the candidate, then up to ``--horizon`` decisions of both seats sampled from the
policy itself in one batched ``VecTCG``. A finished rollout scores its result (+1 / -1, 0 for a
draw or truncation); an unfinished one the network's own estimate from the searcher's view, the
value head plus the shaping potential it was trained against (``V + phi``, clipped to [-1, 1]:
the head learns the shaped return ``V - phi``, ``training.shaping``). Every candidate is rolled
out from the same determinizations (common random numbers). The best mean is played.

No hand-written knowledge enters beyond what the network was trained with (its shaping
potential): no heuristic prior, rollout or evaluation (compare ``bench_search.py``, whose ISMCTS
uses the heuristic). ``--margin M`` keeps the policy's
favourite unless another candidate's mean beats it by more than M. The opponent is a built-in
bot, deck pairings and seats as ``play_search_match``. ``--no-search`` plays the policy alone
(sampling; ``--greedy``: its most probable tuple) on the same games, the baseline. ``--part
I/N`` plays games g with g mod N == I, so N processes share a match; sum their JSON lines.

    python benchmarks/policy_search.py --checkpoint runs/latest/policy.pt --games 64
    python benchmarks/policy_search.py --checkpoint CKPT --games 64 --no-search

Prints one JSON line: wins, losses, draws, truncations, win rate, by the searcher's deck, and the
searched decisions with their mean wall time. Not run by `make bench` (it needs a checkpoint). A
measurement for the plateau against the heuristic (benchmarks/RESULTS.md), not a bot of the
package.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from prefabs import default_decks, default_pool
from tcg_env.bots import _mix
from tcg_env.bots.builtin import BOT_HEURISTIC, BOT_RANDOM, bot_index
from tcg_env.bots.search import determinize
from tcg_env.engine import apply_action, observe_batch, reset_game
from tcg_env.observation import OBS_SIZE
from tcg_env.selfcheck import deck_pairs
from tcg_env.vec import VecTCG, game_seeds
from verification.layout import DONE_NO, G_DONE, G_PHASE, G_WINNER, PH_MULLIGAN, STATE_SIZE
from verification.legal import enumerate_legal
from verification.rules import actor
from verification.spec import MAX_LEGAL


class PolicySearch:
    def __init__(self, path, candidates, determinizations, horizon, sure, seed, margin=0.0):
        from training.checkpoint import load_checkpoint, load_policy
        self.policy = load_policy(path)
        if self.policy.config.oracle_value:   # its value reads the opponent's view: no estimate at play time
            raise SystemExit(f"policy_search: {path} has an oracle critic (oracle_value), whose value needs "
                             f"hidden information; the search's horizon estimate cannot use it")
        cfg = dict(load_checkpoint(path).get("train_config") or {})
        self.shaping = {k: float(cfg.get(f"shaping_{k}", 0.0)) for k in ("hp", "board", "enemy_board", "hand")}
        self.k, self.m, self.h, self.sure, self.margin = candidates, determinizations, horizon, sure, margin
        self.gen = torch.Generator().manual_seed(seed)
        self.rng = np.array([_mix(seed + 99)], np.uint64)
        self.counts = np.zeros(default_pool().table.shape[0] + 1, np.int32)
        self.pool = np.zeros(64, np.int32)
        self.vecs = {}

    # -- the policy on a batch
    def _encode(self, obs, legal, n):
        from policy import obs_tensors
        g, e = obs_tensors(np.ascontiguousarray(obs))
        return self.policy(g, e, torch.as_tensor(np.array(legal)), torch.as_tensor(np.array(n, np.int64)))

    def sample(self, obs, legal, n, greedy=False):
        from training.sampler import sample
        with torch.no_grad():
            lt = torch.as_tensor(np.array(legal))
            ln = torch.as_tensor(np.array(n, np.int64))
            enc = self._encode(obs, legal, n)
            res = sample(self.policy, enc, lt, ln, generator=self.gen, greedy=greedy, entropy="sampled")
        return res.actions.numpy().astype(np.int32)

    def log_probs(self, obs, legal, n):
        """log-prob of each of the n legal tuples of one decision."""
        from training.sampler import evaluate
        with torch.no_grad():
            enc = self._encode(obs[None], legal[None], np.array([n]))
            idx = torch.zeros(n, dtype=torch.long)
            lt = torch.as_tensor(np.array(legal))[None].expand(n, -1, -1)
            ln = torch.full((n,), n, dtype=torch.long)
            res = evaluate(self.policy, enc.index(idx), lt, ln, torch.as_tensor(legal[:n].astype(np.int64)),
                           entropy="sampled")
        return res.log_prob.numpy()

    def leaf_value(self, obs):
        from training.shaping import potential
        with torch.no_grad():
            from policy import obs_tensors
            g, e = obs_tensors(np.ascontiguousarray(obs))
            v = self.policy(g, e).value.numpy()
        phi = potential(obs, self.shaping["hp"], self.shaping["board"], self.shaping["enemy_board"],
                        self.shaping["hand"])
        return np.clip(v + phi, -1.0, 1.0)

    # -- one decision
    def choose(self, s, cards, me, legal, n):
        obs = np.zeros((1, OBS_SIZE), np.int8)
        observe_batch(s[None], cards, np.array([me], np.int32), obs)
        if s[G_PHASE] == PH_MULLIGAN:
            return self.sample(obs, legal[None], np.array([n]))[0], False
        lp = self.log_probs(obs[0], legal, n)
        order = np.argsort(-lp, kind="stable")
        if np.exp(lp[order[0]]) >= self.sure:
            return legal[order[0]].astype(np.int32), False
        cand = order[:self.k]
        k, m = len(cand), self.m
        R = k * m
        if R not in self.vecs:
            self.vecs[R] = VecTCG(R, seed=0)
        vec = self.vecs[R]
        rows = np.empty((R, STATE_SIZE), np.int32)
        for j in range(m):
            d = s.copy()
            determinize(d, cards, me, self.rng, self.counts, self.pool)
            rows[j::m] = d   # row c*m + j: candidate c from determinization j
        vec.load_state(rows)
        acts = np.repeat(legal[cand].astype(np.int32), m, axis=0)
        score = np.zeros(R, np.float64)
        done = np.zeros(R, bool)
        for t in range(self.h + 1):
            _, _, term, trunc, infos = vec.step(acts)
            if infos:
                raise RuntimeError(f"an illegal tuple in a rollout: {infos}")
            new = (term | trunc) & ~done
            score[new & term] = vec.seat_rewards[new & term, me]
            done |= new
            if done.all() or t == self.h:
                break
            acts = self.sample(vec.observations, vec.legal_tuples, vec.legal_count)
        live = ~done
        if live.any():
            score[live] = self.leaf_value(vec.observe(np.full(R, me, np.int64)))[live]
        means = score.reshape(k, m).mean(1)
        best = int(np.argmax(means))
        if means[best] - means[0] <= self.margin:   # the policy's favourite unless another is clearly better
            best = 0
        return legal[cand[best]].astype(np.int32), True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="a policy checkpoint (policy.pt or ckpt_*.pt)")
    ap.add_argument("--opponent", default="heuristic", choices=("heuristic", "random"))
    ap.add_argument("--games", type=int, default=64, help="games in the whole match (default 64)")
    ap.add_argument("--part", default="0/1", metavar="I/N", help="play games g with g mod N == I (default 0/1)")
    ap.add_argument("--candidates", type=int, default=4, help="policy's most probable tuples scored (default 4)")
    ap.add_argument("--determinizations", type=int, default=16, help="rollouts per candidate (default 16)")
    ap.add_argument("--horizon", type=int, default=24, help="rollout decisions before the value stands in (default 24)")
    ap.add_argument("--sure", type=float, default=0.95, help="play without search at this policy probability (default 0.95)")
    ap.add_argument("--margin", type=float, default=0.0,
                    help="play another candidate than the policy's favourite only if its mean is higher by more "
                         "than this (default 0: the best mean)")
    ap.add_argument("--no-search", action="store_true", help="the policy alone (sampling): the baseline")
    ap.add_argument("--greedy", action="store_true", help="with --no-search: the policy's most probable tuple")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = ap.parse_args(argv)
    try:
        part, parts = (int(x) for x in args.part.split("/"))
        assert 0 <= part < parts
    except (ValueError, AssertionError):
        ap.error(f"--part must be I/N with 0 <= I < N, got {args.part!r}")
    for name in ("games", "candidates", "determinizations", "horizon"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be >= 1")
    torch.set_num_threads(args.threads)
    if args.greedy and not args.no_search:
        ap.error("--greedy is a baseline: give it with --no-search")
    bot = PolicySearch(args.checkpoint, args.candidates, args.determinizations, args.horizon, args.sure, args.seed,
                       args.margin)
    pool = default_pool()
    cards = pool.table
    pairs = deck_pairs(pool)
    names = list(default_decks())
    seeds = game_seeds(args.seed, args.games)
    opp_kind = {"heuristic": BOT_HEURISTIC, "random": BOT_RANDOM}[args.opponent]
    opp_rng = np.array([_mix(args.seed + 17)], np.uint64)
    s = np.zeros(STATE_SIZE, np.int32)
    legal = np.zeros((MAX_LEGAL, 4), np.int8)
    res = {"checkpoint": args.checkpoint, "opponent": args.opponent, "search": not args.no_search,
           "greedy": args.greedy, "margin": args.margin,
           "candidates": args.candidates, "determinizations": args.determinizations, "horizon": args.horizon,
           "sure": args.sure, "part": args.part, "games": 0, "wins": 0, "losses": 0, "draws": 0, "truncated": 0,
           "searched": 0, "search_seconds": 0.0, "by_deck": {nm: {"games": 0, "wins": 0} for nm in names}}
    t_start = time.perf_counter()
    for g in range(part, args.games, parts):
        seat = g % 2
        pair = (g // 2) % len(pairs)
        a, b = pairs[pair]
        mine = res["by_deck"][names[pair // len(names)]]
        d0, d1 = (a, b) if seat == 0 else (b, a)
        reset_game(s, cards, d0, d1, seeds[g])
        while s[G_DONE] == DONE_NO:
            n = enumerate_legal(s, cards, legal)
            if actor(s) == seat:
                if n == 1:
                    tup = legal[0]
                elif args.no_search:
                    obs = np.zeros((1, OBS_SIZE), np.int8)
                    observe_batch(s[None], cards, np.array([seat], np.int32), obs)
                    tup = bot.sample(obs, legal[None], np.array([n]), greedy=args.greedy)[0]
                else:
                    t0 = time.perf_counter()
                    tup, searched = bot.choose(s, cards, seat, legal, n)
                    if searched:
                        res["searched"] += 1
                        res["search_seconds"] += time.perf_counter() - t0
            else:
                tup = legal[bot_index(opp_kind, s, cards, legal, n, opp_rng, 0)]
            apply_action(s, cards, tup[0], tup[1], tup[2], tup[3])
        w = int(s[G_WINNER])
        res["games"] += 1
        mine["games"] += 1
        mine["wins"] += int(w == seat)
        key = "wins" if w == seat else "losses" if w == 1 - seat else "draws" if w == 2 else "truncated"
        res[key] += 1
        print(f"game {g}: {key}, {res['wins']}/{res['games']} won, {time.perf_counter() - t_start:.0f} s",
              file=sys.stderr, flush=True)
    res["win_rate"] = res["wins"] / max(res["games"], 1)
    res["mean_search_ms"] = 1000.0 * res["search_seconds"] / max(res["searched"], 1)
    res["seconds"] = time.perf_counter() - t_start
    print(json.dumps(res))


if __name__ == "__main__":
    main()
