#!/usr/bin/env python
"""Where a policy's play departs from the heuristic bot's: plays the policy against the
heuristic (decks and seats as in `tcg eval`) and, at every policy decision with more than one
legal tuple, asks the heuristic what it would play in the same state. Prints one JSON line:
the win rate, the share of decisions where the policy picks the heuristic's exact tuple, and
per heuristic primary the distribution of the policy's primaries (a confusion table).

    python benchmarks/heuristic_agreement.py --checkpoint runs/latest/policy.pt [--games 400]
    python benchmarks/heuristic_agreement.py --checkpoint CKPT --defer PLAY_SPELL,LEADER_ABILITY
    python benchmarks/heuristic_agreement.py --checkpoint CKPT --decks "Thornwall Bastion"

``--decks MINE[,THEIRS]`` plays one deck pairing instead of all of them, as ``tcg eval --decks``
(one name: that deck's mirror).

``--defer P1,P2`` plays the heuristic's tuple instead of the policy's wherever the heuristic's
choice has one of these primaries: the change in win rate against a run without it (same seed,
so the same deals) says how much the policy loses in those decisions. ``--defer-cards "Unmake,
Cinder Storm"`` does the same where the heuristic would cast one of these spells.
``--own-target-cards "Unmake"`` separates *when* from *at what*: where the heuristic would cast
one of these spells, the policy casts that same hand card but picks the target and the IKZ
token itself (sampled from the policy over only the legal tuples that cast it).

The JSON also holds ``spells_by_card``: per spell, the policy's decisions where it was castable,
where the heuristic would cast it, the policy's casts of it, the share of the heuristic's
casts where the policy cast the same card, and of those the share aimed at the same target.

A diagnostic for the plateau against the heuristic (benchmarks/RESULTS.md), not a score: the
heuristic is not optimal, and a different order of the same moves (move a unit, then attack)
counts as disagreement.
"""
import argparse
import json
import time
from collections import Counter

import numpy as np
import torch

from tcg_env import VecTCG
from tcg_env.bench import machine
from tcg_env.bots import HeuristicBot
from tcg_env.bots.heuristic import heuristic_choice
from training.checkpoint import load_policy
from training.evaluate import match_decks, parse_pairing, policy_actions
from prefabs import default_pool
from verification.layout import P_HAND
from verification.rules import pbase
from verification.spec import ENT_MY_HAND, Primary


def restricted_actions(policy, env, rows, lists, gen, greedy):
    """The policy's tuples for games ``rows`` when each may choose only from its own sub-list of
    legal tuples (``lists[k]``, rows of ``env.legal_tuples[rows[k]]``). (A policy trained with
    ``afford`` reads affordances off the list it is given, so it sees the sub-list's.)"""
    lt = np.zeros((len(rows), max(len(lst) for lst in lists), 4), np.int8)
    for k, lst in enumerate(lists):
        lt[k, :len(lst)] = lst
    count = np.array([len(lst) for lst in lists], np.int32)
    return policy_actions(policy, env, rows, "cpu", gen, greedy, legal=lt, count=count)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="policy.pt or a training checkpoint")
    ap.add_argument("--games", type=int, default=400)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--greedy", action="store_true", help="play the most likely tuple instead of sampling")
    ap.add_argument("--decks", default=None, metavar="MINE[,THEIRS]",
                    help="play only this prebuilt pairing (one name: its mirror), as tcg eval --decks")
    ap.add_argument("--defer", default="", metavar="P1,P2",
                    help="play the heuristic's tuple where its choice has one of these primaries "
                         f"(names: {', '.join(p.name for p in Primary)})")
    ap.add_argument("--defer-cards", default="", metavar="NAME,NAME",
                    help="play the heuristic's tuple where it would cast one of these spells (card names)")
    ap.add_argument("--own-target-cards", default="", metavar="NAME,NAME",
                    help="where the heuristic would cast one of these spells, cast the same card but let the "
                         "policy choose its target and token")
    args = ap.parse_args()
    if args.games < 2:
        ap.error("--games must be >= 2")
    pool = default_pool()
    spell_ids = {c.name: c.id for c in pool.cards if c.type.name == "SPELL"}
    names = {i: n for n, i in spell_ids.items()}

    def spell_list(flag, text):
        names_ = [n.strip() for n in text.split(",") if n.strip()]
        bad = [n for n in names_ if n not in spell_ids]
        if bad:
            ap.error(f"{flag}: unknown spell(s) {bad}; spells: {', '.join(sorted(spell_ids))}")
        return names_

    wanted = spell_list("--defer-cards", args.defer_cards)
    own_wanted = spell_list("--own-target-cards", args.own_target_cards)
    defer_cards = {spell_ids[n] for n in wanted}
    own_cards = {spell_ids[n] for n in own_wanted}
    try:
        defer = {int(Primary[n.strip().upper()]) for n in args.defer.split(",") if n.strip()}
    except KeyError as e:
        ap.error(f"--defer: unknown primary {e.args[0]!r}; names: {', '.join(p.name for p in Primary)}")
    policy = load_policy(args.checkpoint).eval()
    try:
        pairing = None if args.decks is None else parse_pairing(args.decks)
    except ValueError as e:
        ap.error(str(e))
    decks, seat = match_decks(args.games, pairing)
    env = VecTCG(args.games, seed=args.seed, decks=decks)
    bot = HeuristicBot(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    finished = np.zeros(args.games, np.bool_)
    result = np.zeros(args.games, np.float32)
    confusion = Counter()
    agree = total = deferred = 0
    castable, h_casts, p_casts, same, same_target = Counter(), Counter(), Counter(), Counter(), Counter()
    own_targeted = 0
    t0 = time.time()
    while not finished.all():
        mine = env.current_player == seat
        acts = env.legal_tuples[:, 0].astype(np.int32)
        pr = np.nonzero(mine & ~finished)[0]
        orow = np.nonzero(~mine & ~finished)[0]
        acts[pr] = policy_actions(policy, env, pr, "cpu", gen, args.greedy)
        own_rows, own_lists = [], []
        for i in pr:
            n = int(env.legal_count[i])
            if n <= 1:
                continue
            h = env.legal_tuples[i, heuristic_choice(env.state[i], env.cards, env.legal_tuples[i], n)]
            confusion[(Primary(int(h[0])).name, Primary(int(acts[i, 0])).name)] += 1
            agree += int((h == acts[i]).all())
            total += 1
            hand = env.state[i, pbase(int(env.current_player[i])) + P_HAND:]
            for c in {int(hand[int(t[1]) - ENT_MY_HAND]) for t in env.legal_tuples[i, :n]
                      if t[0] == Primary.PLAY_SPELL}:
                castable[c] += 1
            h_card = int(hand[int(h[1]) - ENT_MY_HAND]) if h[0] == Primary.PLAY_SPELL else 0
            p_card = int(hand[int(acts[i, 1]) - ENT_MY_HAND]) if acts[i, 0] == Primary.PLAY_SPELL else 0
            if h_card:
                h_casts[h_card] += 1
                same[h_card] += int(h_card == p_card)
                same_target[h_card] += int(h_card == p_card and acts[i, 2] == h[2])
            if p_card:
                p_casts[p_card] += 1
            if int(h[0]) in defer or h_card in defer_cards:
                acts[i] = h
                deferred += 1
            elif h_card in own_cards:
                lst = env.legal_tuples[i, :n]
                own_rows.append(i)
                own_lists.append(lst[(lst[:, 0] == Primary.PLAY_SPELL) & (lst[:, 1] == h[1])])
        if own_rows:
            acts[own_rows] = restricted_actions(policy, env, np.array(own_rows), own_lists, gen, args.greedy)
            own_targeted += len(own_rows)
        if len(orow):
            bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count, out=acts, rows=orow)
        env.step(acts)
        ended = (env.terminals | env.truncations) & ~finished
        result[ended] = env.seat_rewards[ended, seat[ended]]
        finished |= ended
    table = {}
    for h in sorted({a for a, _ in confusion}):
        row = {p: n for (a, p), n in confusion.items() if a == h}
        s = sum(row.values())
        table[h] = {"decisions": s, "policy_plays": {p: round(n / s, 3) for p, n in
                                                     sorted(row.items(), key=lambda kv: -kv[1])}}
    print(json.dumps({
        "bench": "heuristic_agreement", "checkpoint": args.checkpoint, "games": args.games, "decks": args.decks,
        "greedy": args.greedy,
        "defer": sorted(Primary(p).name for p in defer), "defer_cards": sorted(wanted), "deferred_decisions": deferred,
        "own_target_cards": sorted(own_wanted), "own_target_decisions": own_targeted,
        "machine": machine(), "date": time.strftime("%Y-%m-%d"), "seconds": round(time.time() - t0, 1),
        "win_rate": round(float((result > 0).mean()), 4), "decisions_with_a_choice": total,
        "tuple_agreement": round(agree / max(total, 1), 4), "by_heuristic_primary": table,
        "spells_by_card": {names[c]: {"castable": castable[c], "heuristic_casts": h_casts[c], "policy_casts": p_casts[c],
                                      "policy_same_card": round(same[c] / max(h_casts[c], 1), 3),
                                      "same_card_same_target": round(same_target[c] / max(same[c], 1), 3)}
                           for c in sorted(castable)},
    }))


if __name__ == "__main__":
    main()
