"""A per-card balance report over a match: which cards win games when they start in the hand.

``tcg cards --games N`` plays a bot (or a trained policy) against itself over every deck pairing
from both seats and prints, per card of the decks:

================= =========================================================================
``sides``         seat-games (one seat of one game) whose deck holds the card
``opening``       share of those in which it was in the dealt opening hand (the hand of the
                  seat's first decision, its mulligan)
``seen``          share in which it was in the seat's hand at any of its decisions
``plays``         times it was played per seat-game (PLAY_UNIT, PLAY_SPELL, ATTACH_WEAPON)
``play_rate``     decisions where it was played over decisions where it was playable (a legal
                  tuple played it from the hand; several copies count once)
``win_opening``   win rate of the seat-games that dealt it in the opening hand (for a card in
                  several decks: each deck's rate, averaged weighted by its seat-games)
``win_not``       the same of the seat-games whose deck holds it but did not deal it there
``diff``          ``win_opening - win_not``, with ``se``, its standard error
================= =========================================================================

**Why the opening hand.** Which cards a seat is dealt is decided by the shuffle alone, so among
the seat-games of one deck, those that dealt a card and those that did not differ, on average,
only by that card (the pairings, seats and the rest of the deck are alike): ``diff`` estimates
what starting with the card is worth to the player who plays it, mulligan included, against the
deck's average card. A card in several decks is compared within each deck, and the win rates
are averaged over its decks weighted by their seat-games: pooled raw, a card with three copies
in a strong deck and two in a weak one is dealt more often in the strong deck's games and
would read as strong for that alone (``--by-deck`` gives each deck's row). The figures card-game draft
sites read (win rate when drawn at any time against never drawn) do not work here: a 30-card
deck is mostly seen in a long game, so "never drawn" means "the game ended early", and the
difference measures game length more than the card. ``seen`` and ``plays`` describe how a card
is used; they are not compared with results. A win is a seat's game result above 0 (a draw or
truncation is not a win, as in ``tcg eval``). ``se`` is about ``100 / sqrt(sides)`` points: a
few thousand seat-games a card resolve a few points. With few seat-games, where a deck's rate
is 0% or 100%, the error is understated.

Every figure is read off the acting seat's own observation (its hand's card ids) and the legal
tuples, as :mod:`training.card_stats` reads a rollout, so nothing here decides legality.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from tcg_env.observation import view
from verification.spec import ENT_MY_HAND, HAND_MAX

from .card_stats import _CARD_ID, HAND_PRIMARIES, NUM_CARD_IDS, playable_cards

COLUMNS = ("sides", "opening", "seen", "plays", "play_rate", "win_opening", "win_not", "diff", "se")


class CardTally:
    """An observer for :func:`training.evaluate.play_match` (``observe=``): per game and seat, which
    cards were in the opening hand and which were seen in the hand, at how many decisions each was
    playable and how often each was played (each play is a decision), and the seat's decisions.
    ``games`` is the number of games the match plays (its rows)."""

    def __init__(self, games: int):
        self.opening = np.zeros((games, 2, NUM_CARD_IDS), np.bool_)
        self.held = np.zeros((games, 2, NUM_CARD_IDS), np.bool_)
        self.decisions = np.zeros((games, 2), np.int32)   # the seat's decisions in the game
        self.playable = np.zeros((games, 2, NUM_CARD_IDS), np.int32)
        self.plays = np.zeros((games, 2, NUM_CARD_IDS), np.int32)

    def __call__(self, env, acts: np.ndarray, rows: np.ndarray) -> None:
        """Count the decisions of ``rows`` (games still playing), about to be stepped with
        ``acts``."""
        if len(rows) == 0:
            return
        obs = env.observations[rows]
        ids = view(obs, "entities")[..., _CARD_ID].astype(np.int64)            # [rows, entities]
        seat = np.asarray(env.current_player)[rows].astype(np.int64)
        hand = ids[:, ENT_MY_HAND:ENT_MY_HAND + HAND_MAX]
        r, c = np.nonzero(hand)
        self.held[rows[r], seat[r], hand[r, c]] = True
        f = self.decisions[rows, seat][r] == 0   # the seat's first decision: its dealt hand
        self.opening[rows[r[f]], seat[r[f]], hand[r[f], c[f]]] = True
        self.decisions[rows, seat] += 1   # one decision per row
        a = np.asarray(acts)[rows]
        p = np.nonzero(np.isin(a[:, 0], HAND_PRIMARIES))[0]
        np.add.at(self.plays, (rows[p], seat[p], ids[p, a[p, 1].astype(np.int64)]), 1)
        count = np.asarray(env.legal_count)[rows]
        km, kc = playable_cards(ids, np.asarray(env.legal_tuples)[rows, :int(count.max())], count)
        np.add.at(self.playable, (rows[km], seat[km], kc), 1)


def card_report(tally: CardTally, result: np.ndarray, decks, seat: np.ndarray, cards,
                by_deck: bool = False) -> list[dict]:
    """One dict per card of the decks' main lists (``COLUMNS`` plus ``name``, ``type``, ``cost``
    and ``decks``: {deck: copies}), ordered by ``diff``, highest first (rows without one last).
    ``by_deck``: one row per card and deck holding it instead, over that deck's seat-games.

    ``result``, ``decks`` and ``seat`` are the match's (``play_match``'s ``results`` and
    :func:`training.evaluate.match_decks`): ``result[g]`` is seat ``seat[g]``'s result of game g
    and the other seat's is its negation; ``cards`` is the :class:`prefabs.CardSet` played."""
    games = len(result)
    if tally.held.shape[0] != games:
        raise ValueError(f"the tally counted {tally.held.shape[0]} games, the match has {games}")
    g = np.arange(games)
    reward = np.zeros((games, 2))
    reward[g, seat] = result
    reward[g, 1 - seat] = -np.asarray(result)
    wins = reward > 0
    deck_of = np.array([[pair[0], pair[1]] for pair in decks], dtype=str).reshape(games, 2)
    copies = {d.name: Counter(d.main) for d in cards.decks.values()}
    names = sorted({n for d in cards.decks.values() for n in d.main}, key=lambda n: cards.pool.id_of(n))
    rows = []
    for name in names:
        holding = [d for d, c in copies.items() if c[name]]
        for group in ([[d] for d in holding] if by_deck else [holding]):
            rows.append(_card_row(tally, wins, deck_of, cards, name, {d: copies[d][name] for d in group}))
    rows.sort(key=lambda r: (r["diff"] is None, -(r["diff"] or 0.0)))
    return rows


def _card_row(tally: CardTally, wins: np.ndarray, deck_of: np.ndarray, cards, name: str, decks: dict) -> dict:
    """The report's row of card ``name`` over the seat-games of ``decks`` ({deck: copies}). The
    win rates are compared within each deck and averaged over the decks weighted by their
    seat-games (decks where the card was always or never dealt are left out)."""
    cid = cards.pool.id_of(name)
    card = cards.pool[cid]
    in_deck = np.isin(deck_of, list(decks))
    n, n1 = int(in_deck.sum()), int((tally.opening[:, :, cid] & in_deck).sum())
    weight, rates, var = [], [], []
    for d in decks:
        mine = deck_of == d
        dealt = tally.opening[:, :, cid] & mine
        k, k1 = int(mine.sum()), int(dealt.sum())
        if 0 < k1 < k:
            wo, wn = float(wins[dealt].mean()), float(wins[mine & ~dealt].mean())
            weight.append(k)
            rates.append((wo, wn))
            var.append(wo * (1 - wo) / k1 + wn * (1 - wn) / (k - k1))
    win_opening = win_not = diff = se = None
    if weight:
        w = np.array(weight, np.float64) / sum(weight)
        win_opening, win_not = (float(x) for x in w @ np.array(rates))
        diff = win_opening - win_not
        se = float(np.sqrt(w ** 2 @ np.array(var)))
    playable, n_played = tally.playable[:, :, cid][in_deck].sum(), tally.plays[:, :, cid][in_deck].sum()
    return {
        "name": name, "type": card.type.name, "cost": int(card.cost), "decks": decks,
        "sides": n,
        "opening": n1 / n if n else None,
        "seen": float((tally.held[:, :, cid] & in_deck).sum() / n) if n else None,
        "plays": float(n_played / n) if n else None,
        "play_rate": float(n_played / playable) if playable else None,
        "win_opening": win_opening, "win_not": win_not, "diff": diff, "se": se,
    }


def format_card_report(rows: list[dict], width: int = 140) -> str:
    """The report as a table, one card a row (``-`` where no seat-game gives the figure)."""
    from rich.table import Table

    from .evaluate import _render

    def pct(x):
        return "-" if x is None else f"{x:.0%}"

    t = Table(title="Cards by what starting with them is worth (diff: win rate with the card in the opening hand "
                    "minus without, in points, \N{PLUS-MINUS SIGN} one standard error)",
              caption="sides: seat-games whose deck holds the card; opening: share of them that dealt it in the "
                      "opening hand; seen: share that held it at any decision; plays: per seat-game; play rate: "
                      "played / playable decisions. One bot's self-play; see docs/TRAINING.md, \"What each card is worth\".")
    for col in ("card", "type", "cost", "sides", "opening", "seen", "plays", "play rate", "win open", "win not",
                "diff", "decks (copies)"):
        t.add_column(col, justify="left" if col in ("card", "type", "decks (copies)") else "right")
    for r in rows:
        t.add_row(r["name"], r["type"].lower(), str(r["cost"]), str(r["sides"]), pct(r["opening"]), pct(r["seen"]),
                  "-" if r["plays"] is None else f"{r['plays']:.2f}", pct(r["play_rate"]), pct(r["win_opening"]),
                  pct(r["win_not"]), "-" if r["diff"] is None else f"{100 * r['diff']:+.1f}\N{PLUS-MINUS SIGN}{100 * r['se']:.1f}",
                  ", ".join(f"{d} {c}" for d, c in r["decks"].items()))
    return _render(t, width)
