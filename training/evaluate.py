"""Evaluation matches, openskill ratings and the league table.

``evaluate_policy`` plays ``games`` games of a policy against ``random``, ``heuristic`` or
another policy, half in each seat, all inside the batched env: the bots act in numba, the
policies through the sequential sampler. ``play_match`` also takes any bot object with
``act_batch`` (such as the ISMCTS ``search`` bot) as the opponent. ``update_league`` rates the results with
openskill (Plackett-Luce), the heuristic held fixed as the anchor, and appends to ``league.csv`` and ``league.png`` in the run folder.

Matches play the shipped cards' prebuilt decks unless given ``cards`` (a
:class:`prefabs.CardSet`: a run on its own cards and decks files).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from policy import obs_tensors
from prefabs import default_decks, find_deck
from tcg_env import VecTCG
from tcg_env.bots import HeuristicBot, RandomBot

from .sampler import sample


def policy_actions(policy, env, rows, device, gen, greedy, legal=None, count=None):
    """The policy's tuples [len(rows), 4] for games ``rows`` of ``env`` (drawn, or greedy).
    ``legal`` [len(rows), W, 4] / ``count`` [len(rows)] replace the env's legal lists (a sub-list
    of each: the sampler masks by the list it is given, so this samples conditioned on it)."""
    if len(rows) == 0:
        return np.zeros((0, 4), np.int32)
    if (legal is None) != (count is None):
        raise ValueError("policy_actions: give both legal and count (a sub-list and its lengths) or neither")
    if legal is None:
        legal, count = env.legal_tuples[rows, :int(env.legal_count[rows].max())], env.legal_count[rows]
    g, e = obs_tensors(env.observations[rows], device)
    lt = torch.as_tensor(legal, device=device)
    lc = torch.as_tensor(count, device=device)
    with torch.no_grad():
        enc = policy(g, e, lt, lc)
        res = sample(policy, enc, lt, lc, generator=gen, greedy=greedy, entropy="sampled")
    return res.actions.cpu().numpy().astype(np.int32)


def _decks(cards):
    return default_decks() if cards is None else cards.decks


def parse_pairing(text: str, cards=None) -> tuple[str, str]:
    """``--decks MINE[,THEIRS]`` as a (mine, theirs) pair of deck names (of ``cards``, default the
    prebuilt decks); one name is that deck's mirror. A name may be in any case or a unique part of
    one (:func:`prefabs.find_deck`). Raises ValueError (:class:`prefabs.DeckError`) naming the
    decks for anything else."""
    names = [d.strip() for d in text.split(",")]
    if len(names) not in (1, 2):
        raise ValueError(f"--decks takes one deck name (its mirror) or two separated by a comma, got {text!r}")
    try:
        return _check_pairing((names[0], names[-1]), cards)
    except ValueError as e:
        raise type(e)(f"--decks {text!r}: {e}") from None


def _check_pairing(pairing, cards=None) -> tuple[str, str]:
    """``pairing`` as two deck names (each resolved by :func:`prefabs.find_deck`)."""
    if not isinstance(pairing, (tuple, list)) or len(pairing) != 2:
        raise ValueError(f"a pairing is two deck names (mine, theirs), got {pairing!r}")
    return find_deck(pairing[0], _decks(cards)), find_deck(pairing[1], _decks(cards))


def match_decks(games: int, pairing: tuple[str, str] | None = None, cards=None):
    """The deck and seat layout of a match: game i plays deck pairing (i // 2) mod P of the P
    pairings (16 of the prebuilt decks; as deck names, seat 0's first) with the measured side in seat i mod 2, so every pairing is
    played from both seats. Returns (list of name pairs, seat int32 [games]).

    ``pairing=(mine, theirs)``: every game plays that one pairing instead (the measured side
    always holds ``mine``), still alternating seats; ``(d, d)`` is deck d's mirror.
    ``cards``: the decks of a run on its own cards (:class:`prefabs.CardSet`)."""
    seat = (np.arange(games) % 2).astype(np.int32)
    names = list(_decks(cards))
    if pairing is not None:
        mine, theirs = _check_pairing(pairing, cards)
        return [(mine, theirs) if s == 0 else (theirs, mine) for s in seat], seat
    pairs = [(a, b) for a in names for b in names]
    return [pairs[(i // 2) % len(pairs)] for i in range(games)], seat


def _sides(decks, seat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per game, the measured side's deck and its opponent's."""
    return (np.array([pair[s] for pair, s in zip(decks, seat)]),
            np.array([pair[1 - s] for pair, s in zip(decks, seat)]))


def win_rates_by_deck(result: np.ndarray, decks, seat: np.ndarray, cards=None) -> tuple[dict, dict]:
    """({deck: {games, win_rate}} by the measured side's deck, the same by its opponent's deck)
    for per-game results from the measured side's point of view (> 0 is a win)."""
    mine, theirs = _sides(decks, seat)

    def by(which):
        return {d: {"games": int((which == d).sum()), "win_rate": float((result[which == d] > 0).mean())}
                for d in _decks(cards) if (which == d).any()}
    return by(mine), by(theirs)


def win_rates_by_pairing(result: np.ndarray, decks, seat: np.ndarray, cards=None) -> dict:
    """{own deck: {opponent's deck: {games, win_rate}}} of the pairings the match played, from
    the measured side's point of view: where in the deck matrix a win rate is made or lost."""
    mine, theirs = _sides(decks, seat)
    out: dict = {}
    for a in _decks(cards):
        for b in _decks(cards):
            hit = (mine == a) & (theirs == b)
            if hit.any():
                out.setdefault(a, {})[b] = {"games": int(hit.sum()), "win_rate": float((result[hit] > 0).mean())}
    return out


def _is_bot(x) -> bool:
    return callable(getattr(x, "act_batch", None))


def play_match(policy, opponent, games: int, seed: int = 0, device="cpu", greedy: bool = False,
               opponent_policy=None, block: tuple[int, int] | None = None,
               pairing: tuple[str, str] | None = None, opponent_greedy: bool | None = None,
               progress=None, cards=None, observe=None) -> dict:
    """Results of ``policy`` against ``opponent`` over ``games`` games, decks and seats laid out
    by :func:`match_decks` (the policy in seat 0 for even game ids); ``by_own_deck`` and
    ``by_opponent_deck`` break the win rate down by deck. ``opponent`` is "random",
    "heuristic", "policy" (with ``opponent_policy``), or any bot object with the built-in
    bots' ``act_batch(state, cards, legal, legal_n, out=, rows=)`` (for example
    ``make_bot("search:200")``). ``policy`` may itself be such a bot (a bot-vs-bot baseline).
    ``greedy``: the policies play their most likely tuple instead of sampling;
    ``opponent_greedy`` (None: as ``greedy``) sets it for ``opponent_policy`` alone.

    ``block=(lo, hi)`` plays only games lo..hi-1 of the match, each with the seed, decks and seat
    it has in the whole match: the blocks of one match can be played by different processes and
    joined with :func:`merge_blocks` (a built-in bot draws per game id, the same in any block; a
    policy's sampling draws differ with the split).
    ``pairing=(mine, theirs)`` plays only that deck pairing (see :func:`match_decks`).
    ``progress(finished, n)`` is called whenever more games have finished (``n``: the games this
    call plays, ``hi - lo`` with ``block``).
    ``cards``: play the decks and card pool of a run on its own cards (:class:`prefabs.CardSet`;
    None: the shipped cards and prebuilt decks).
    ``observe(env, acts, rows)`` is called before every step with the tuples about to be played
    and the rows (games of the block, in order) still playing, for tallies such as
    :class:`training.card_report.CardTally`; it must not write to ``env`` or ``acts``."""
    device = torch.device(device)
    if isinstance(opponent, str):
        if opponent not in ("random", "heuristic", "policy"):
            raise ValueError(f"opponent must be 'random', 'heuristic', 'policy' or a bot object, got {opponent!r}")
        if opponent == "policy" and opponent_policy is None:
            raise ValueError("opponent 'policy' needs opponent_policy")
        bot = RandomBot(seed) if opponent == "random" else HeuristicBot(seed) if opponent == "heuristic" else None
    elif _is_bot(opponent):
        bot = opponent
    else:
        raise TypeError(f"opponent must be a name or a bot with act_batch, got {type(opponent).__name__}")
    decks, seat = match_decks(games, pairing, cards)
    lo, hi = block if block is not None else (0, games)
    if not 0 <= lo < hi <= games:
        raise ValueError(f"block must be (lo, hi) with 0 <= lo < hi <= games={games}, got {block!r}")
    decks, seat = decks[lo:hi], seat[lo:hi]
    n = hi - lo
    env = VecTCG(n, seed=seed, decks=decks if cards is None else cards.env_decks(decks), first_game=lo,
                 pool=None if cards is None else cards.pool)
    finished = np.zeros(n, np.bool_)
    result = np.zeros(n, np.float32)
    lengths = np.zeros(n, np.int32)
    gen = torch.Generator(device=device).manual_seed(seed)
    # a bot with per-game generators (the built-in and search bots) draws by game id, so a game
    # plays the same in any block
    bot_rng = bot.game_rng(lo, n) if hasattr(bot, "game_rng") else None
    own_rng = policy.game_rng(lo, n) if hasattr(policy, "game_rng") else None
    measured_bot = _is_bot(policy)
    if not measured_bot:
        was_training = policy.training
        policy.eval()
    for _ in range(100_000):
        if finished.all():
            break
        mine = env.current_player == seat
        acts = env.legal_tuples[:, 0].astype(np.int32)
        pr = np.nonzero(mine & ~finished)[0]
        orow = np.nonzero(~mine & ~finished)[0]
        if measured_bot:
            if len(pr):
                kw = {} if own_rng is None else {"rng": own_rng}
                policy.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count, out=acts, rows=pr, **kw)
        else:
            acts[pr] = policy_actions(policy, env, pr, device, gen, greedy)
        if len(orow):
            if bot is not None:
                kw = {} if bot_rng is None else {"rng": bot_rng}
                bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count, out=acts, rows=orow, **kw)
            else:
                acts[orow] = policy_actions(opponent_policy, env, orow, device, gen,
                                            greedy if opponent_greedy is None else opponent_greedy)
        if observe is not None:
            observe(env, acts, np.nonzero(~finished)[0])
        env.step(acts)
        lengths[~finished] += 1
        ended = (env.terminals | env.truncations) & ~finished
        for i in np.nonzero(ended)[0]:
            result[i] = env.seat_rewards[i, seat[i]]
        finished |= ended
        if progress is not None and ended.any():
            progress(int(finished.sum()), n)
    if not measured_bot:
        policy.train(was_training)
    return summarize(result, lengths, int(env.illegal_counts.sum()), decks, seat, cards)


def summarize(result: np.ndarray, lengths: np.ndarray, illegal: int, decks, seat: np.ndarray, cards=None) -> dict:
    """A match's result dict from its per-game results (the measured side's view), game
    lengths in decisions, illegal actions, and deck/seat layout."""
    games = len(result)
    wins, losses = int((result > 0).sum()), int((result < 0).sum())
    own, opp = win_rates_by_deck(result, decks, seat, cards)
    return {"games": games, "wins": wins, "losses": losses, "draws": games - wins - losses,
            "win_rate": wins / games, "score": (wins + 0.5 * (games - wins - losses)) / games,
            "mean_decisions": float(lengths.mean()), "illegal_actions": int(illegal),
            "by_own_deck": own, "by_opponent_deck": opp, "by_pairing": win_rates_by_pairing(result, decks, seat, cards),
            "results": result, "lengths": lengths}


def blocks(games: int, parts: int) -> list[tuple[int, int]]:
    """Split games 0..games-1 into ``parts`` contiguous (lo, hi) blocks of near-equal size
    (some empty, lo == hi, when there are fewer games than parts)."""
    edges = [games * k // parts for k in range(parts + 1)]
    return list(zip(edges[:-1], edges[1:]))


def merge_blocks(parts: list[dict], games: int, pairing: tuple[str, str] | None = None, cards=None) -> dict:
    """One match's result from the :func:`play_match` results of its blocks, in block order
    (empty blocks as None); ``pairing`` and ``cards`` as the blocks were played with."""
    parts = [p for p in parts if p is not None]
    decks, seat = match_decks(games, pairing, cards)
    result = np.concatenate([p["results"] for p in parts])
    if len(result) != games:
        raise ValueError(f"the blocks hold {len(result)} games, the match has {games}")
    return summarize(result, np.concatenate([p["lengths"] for p in parts]),
                     sum(p["illegal_actions"] for p in parts), decks, seat, cards)


def evaluate_policy(policy, opponent: str, games: int, seed: int = 0, device="cpu", opponent_state_dict=None,
                    opponent_builder=None, split: bool = False, cards=None) -> dict | None:
    """``policy`` against "random", "heuristic" or a pool member (its state dict and a builder
    of its architecture), on ``cards`` (None: the shipped cards). With ``split`` under torchrun,
    every rank must call this: each plays its block of the games and rank 0 returns the joined
    result (the others None)."""
    from . import distributed as D
    opp = None
    kind = opponent
    if opponent not in ("random", "heuristic"):
        opp = opponent_builder().to(device).eval()
        opp.load_state_dict(opponent_state_dict)
        kind = "policy"
    if not split or D.world_size() == 1:
        return play_match(policy, kind, games, seed, device, opponent_policy=opp, cards=cards)
    lo, hi = blocks(games, D.world_size())[D.rank()]
    mine = play_match(policy, kind, games, seed, device, opponent_policy=opp, block=(lo, hi),
                      cards=cards) if hi > lo else None
    parts = D.gather_to_main(mine)
    return merge_blocks(parts, games, cards=cards) if parts is not None else None


#: The opponent whose rating is held fixed at openskill's prior (mu 25, sigma 25/3). Without an
#: anchor the scale floats: every pool snapshot is about as strong as the learner, so the
#: learner's rating stays near wherever its snapshots sit while the bots' ratings fall as it
#: improves (the learner's ordinal fell from ~26 to ~20 over an hour in which its win rate
#: against the heuristic rose). With the heuristic fixed, the learner's rating rises with its
#: strength and reads against the heuristic's 25.
ANCHOR = "heuristic"
SNAPSHOT_PREFIX = "self@"   # a pool member's name: self@UPDATE, a copy of the learner at that update


def update_league(trainer, results: dict) -> None:
    """Rate this evaluation's games with openskill and append to league.csv / league.png.
    The :data:`ANCHOR` keeps its prior rating; every other opponent and the learner move. A pool
    snapshot (named :data:`SNAPSHOT_PREFIX` + update) is a copy of the learner: rated for the
    first time, it starts from the learner's rating. Any other opponent (a bot such as ``random``
    or ``search:200``, another run's checkpoint) starts from the prior."""
    from openskill.models import PlackettLuce
    model = PlackettLuce()
    ratings = trainer.ratings
    prior = (model.mu, model.sigma)
    ratings[ANCHOR] = prior

    def get(name, start=prior):
        mu, sigma = ratings.get(name, start)
        return model.rating(mu=mu, sigma=sigma, name=name)

    learner = get("learner")
    as_learner = (learner.mu, learner.sigma)
    rows = []
    for name, r in results.items():
        opp = get(name, as_learner if name.startswith(SNAPSHOT_PREFIX) else prior)
        for res in r["results"]:
            ranks = [0, 1] if res > 0 else [1, 0] if res < 0 else [0, 0]
            [[learner], [moved]] = model.rate([[learner], [opp]], ranks=ranks)
            if name != ANCHOR:
                opp = moved
        ratings[name] = (opp.mu, opp.sigma)
        rows.append({"update": trainer.update, "steps": trainer.steps, "minutes": round(trainer.elapsed() / 60, 2),
                     "opponent": name, "games": r["games"], "wins": r["wins"], "losses": r["losses"],
                     "draws": r["draws"], "win_rate": round(r["win_rate"], 4),
                     "opponent_rating": round(opp.ordinal(), 3)})
    ratings["learner"] = (learner.mu, learner.sigma)
    for row in rows:
        row.update(learner_rating=round(learner.ordinal(), 3), learner_mu=round(learner.mu, 3),
                   learner_sigma=round(learner.sigma, 3))
    path = Path(trainer.out) / "league.csv"
    fields = list(rows[0])
    if path.exists():  # a resumed run keeps the header it started with (older runs lack the mu/sigma columns)
        with path.open(newline="") as f:
            fields = next(csv.reader(f), None) or fields
    new = not path.exists() or path.stat().st_size == 0   # an empty file (a kill mid-write) gets its header
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerows(rows)
    try:
        plot_league(path, Path(trainer.out) / "league.png")
    except Exception as e:  # a plot must never stop training
        trainer._print(f"(league plot skipped: {e})")


def rewind_league(path: Path, update: int) -> None:
    """Drop the rows of evaluations after ``update`` from a run's league table. A run evaluates
    an update before it saves that update's checkpoint, so one killed in between is resumed from
    an earlier checkpoint and plays those updates and their evaluations again (TensorBoard's
    ``purge_step`` drops their scalars the same way). The file is rewritten atomically; one
    without an ``update`` column is left as it is."""
    import io

    from .checkpoint import atomic_write
    path = Path(path)
    if not path.exists():
        return
    with path.open(newline="") as f:
        lines = list(csv.reader(f))
    if not lines or "update" not in lines[0]:
        return
    col = lines[0].index("update")
    keep = [r for r in lines[1:] if not (len(r) > col and r[col].isdigit() and int(r[col]) > update)]
    if len(keep) == len(lines) - 1:
        return
    text = io.StringIO(newline="")
    csv.writer(text).writerows([lines[0], *keep])
    atomic_write(path, lambda f: f.write(text.getvalue().encode()))


def plot_league(csv_path: Path, png_path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from openskill.models import PlackettLuce
    rows = list(csv.DictReader(csv_path.open()))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for opp in ("random", "heuristic"):
        pts = [(float(r["minutes"]), float(r["win_rate"])) for r in rows if r["opponent"] == opp]
        if pts:
            a1.plot(*zip(*pts), marker="o", label=f"vs {opp}")
    a1.set_xlabel("minutes")
    a1.set_ylabel("win rate")
    a1.set_ylim(0, 1)
    a1.grid(alpha=0.3)
    a1.legend()
    has_mu = bool(rows) and "learner_mu" in rows[0]  # runs started before the anchor wrote the ordinal only
    seen = {}
    for r in rows:  # one point per evaluation
        seen[(r["update"], r["minutes"])] = ((float(r["learner_mu"]), float(r["learner_sigma"])) if has_mu
                                             else (float(r["learner_rating"]), 0.0))
    pts = sorted((float(m), mu, sd) for (u, m), (mu, sd) in seen.items())
    if pts:
        x, mu, sd = (np.array(v) for v in zip(*pts))
        a2.plot(x, mu, marker="o", color="tab:green",
                label="learner (mu; band: mu +- 3 sigma)" if has_mu else "learner (ordinal)")
        if has_mu:
            a2.fill_between(x, mu - 3 * sd, mu + 3 * sd, color="tab:green", alpha=0.15)
        a2.axhline(PlackettLuce().mu, color="tab:orange", linestyle="--", label=f"{ANCHOR} (anchor, fixed)")
        a2.legend()
    a2.set_xlabel("minutes")
    a2.set_ylabel("openskill rating (mu)")
    a2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path, dpi=90)
    plt.close(fig)


def format_table(results: dict) -> str:
    from rich.table import Table
    t = Table(title="Evaluation")
    for c in ("opponent", "games", "wins", "losses", "draws", "win rate"):
        t.add_column(c, justify="right" if c != "opponent" else "left")
    for name, r in results.items():
        t.add_row(name, str(r["games"]), str(r["wins"]), str(r["losses"]), str(r["draws"]), f"{r['win_rate']:.1%}")
    return _render(t, 80)


def _render(table, width: int) -> str:
    from rich.console import Console
    console = Console(record=True, width=width)
    with console.capture() as cap:
        console.print(table)
    return cap.get()


def format_pairings(result: dict, cards=None) -> str:
    """The match's win rate by pairing as a deck matrix: rows the measured side's deck, columns
    the opponent's (games in brackets); ``cards`` as the match was played with."""
    from rich.table import Table
    by = result["by_pairing"]
    cols = [d for d in _decks(cards) if any(d in row for row in by.values())]
    t = Table(title="Win rate by pairing (rows: own deck, columns: opponent's deck)")
    t.add_column("own deck")
    for c in cols:
        t.add_column(c, justify="right")
    for own, row in by.items():
        t.add_row(own, *(f"{row[c]['win_rate']:.0%} ({row[c]['games']})" if c in row else "-" for c in cols))
    return _render(t, 100)
