"""Per-card play diagnostics of a rollout: how often the learner plays each card when it can, and
the advantage those plays earned; and per primary action, how often it is chosen and its mean
advantage.

A card is *playable* at a decision when some legal tuple plays it from the hand (PLAY_UNIT,
PLAY_SPELL or ATTACH_WEAPON name the hand card in slot 1); it is *played* when the chosen tuple
does. Over the learner's decisions of an update, per card id:

    playable      decisions where the card was playable (several copies in hand count once)
    played        decisions where it was played
    adv_played    sum of the GAE advantages of those decisions
    adv_passed    sum of the GAE advantages of the decisions where it was playable and not played

``adv_played / played`` against ``adv_passed / (playable - played)`` says which way the policy
gradient pushes the card's play rate: PPO raises the probability of tuples with above-average
advantage. A card with a low play rate whose plays keep a higher mean advantage than its passes
is under-explored; one whose plays score lower is one the learner has (rightly or not) learned
to hold. The trainer sums these over ``card_stats_every`` updates and all ranks and writes
``cards/play_rate/<name>``, ``cards/adv_played/<name>`` and ``cards/adv_passed/<name>`` to
TensorBoard, and per primary ``actions/frac/<PRIMARY>`` (share of the learner's decisions) and
``actions/adv/<PRIMARY>`` (mean advantage of the decisions that chose it).

Everything is read off the observations (the hand's card ids are the acting seat's own
information) and the legal tuples, so nothing here decides legality.
"""
from __future__ import annotations

import numpy as np

from tcg_env.observation import ENTITY_FEATURES, view
from verification.spec import ACTION_SPEC, NUM_PRIMARIES, Primary

NUM_CARD_IDS = 128   # card ids fit the observation's int8 card_id feature
ROWS = ("playable", "played", "adv_played", "adv_passed")
_CARD_ID = ENTITY_FEATURES.index("card_id")
# the primaries whose slot 1 is the hand card being played
HAND_PRIMARIES = np.array([int(p) for p in Primary if ACTION_SPEC[p][0] == ACTION_SPEC[Primary.PLAY_UNIT][0]],
                          np.int64)


def playable_cards(cards: np.ndarray, legal: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (decision, card id) pairs where a legal tuple plays that card from the hand, each
    once (several copies in hand count once), for ``cards [M, entities]`` (the observations'
    card ids), ``legal [M, W, 4]`` and ``count [M]`` (rows past it are padding)."""
    width = int(np.max(count)) if len(count) else 0    # the columns past every row's count are padding
    legal = legal[:, :width]
    valid = np.arange(width)[None, :] < np.asarray(count)[:, None]
    m, w = np.nonzero(valid & np.isin(legal[..., 0], HAND_PRIMARIES))
    key = np.unique(m * NUM_CARD_IDS + cards[m, legal[m, w, 1].astype(np.int64)])
    return key // NUM_CARD_IDS, key % NUM_CARD_IDS


def card_play_stats(obs: np.ndarray, legal: np.ndarray, count: np.ndarray, actions: np.ndarray,
                    adv: np.ndarray) -> np.ndarray:
    """Per-card sums over decisions: float64 ``[len(ROWS), NUM_CARD_IDS]`` (rows as in ``ROWS``).

    ``obs [M, OBS_SIZE]``, ``legal [M, W, 4]`` (rows past ``count`` are padding), ``count [M]``,
    ``actions [M, 4]`` (each one of its row's legal tuples) and ``adv [M]``: one row per decision
    of the acting seat."""
    M = len(count)
    out = np.zeros((len(ROWS), NUM_CARD_IDS), np.float64)
    if M == 0:
        return out
    cards = view(obs, "entities")[..., _CARD_ID].astype(np.int64)            # [M, entities]
    adv = np.asarray(adv, np.float64)
    km, kc = playable_cards(cards, legal, count)
    played_row = np.isin(actions[:, 0], HAND_PRIMARIES)
    played_card = np.full(M, -1, np.int64)
    pr = np.nonzero(played_row)[0]
    played_card[pr] = cards[pr, actions[pr, 1].astype(np.int64)]
    out[0] = np.bincount(kc, minlength=NUM_CARD_IDS)
    out[1] = np.bincount(played_card[pr], minlength=NUM_CARD_IDS)
    out[2] = np.bincount(played_card[pr], weights=adv[pr], minlength=NUM_CARD_IDS)
    passed = played_card[km] != kc
    out[3] = np.bincount(kc[passed], weights=adv[km[passed]], minlength=NUM_CARD_IDS)
    return out


def primary_stats(actions: np.ndarray, adv: np.ndarray) -> np.ndarray:
    """Per primary: float64 ``[2, NUM_PRIMARIES]``, the number of decisions that chose it and the
    sum of their advantages (``actions [M, 4]``, ``adv [M]``)."""
    p = np.asarray(actions)[:, 0].astype(np.int64)
    return np.stack([np.bincount(p, minlength=NUM_PRIMARIES),
                     np.bincount(p, weights=np.asarray(adv, np.float64), minlength=NUM_PRIMARIES)]).astype(np.float64)


def primary_scalars(sums: np.ndarray) -> dict[str, float]:
    """TensorBoard scalars from summed :func:`primary_stats`: each chosen primary's share of the
    decisions and the mean advantage of the decisions that chose it."""
    total = sums[0].sum()
    return {k: v for p in np.nonzero(sums[0])[0]
            for k, v in ((f"actions/frac/{Primary(int(p)).name}", float(sums[0, p] / total)),
                         (f"actions/adv/{Primary(int(p)).name}", float(sums[1, p] / sums[0, p])))}


def tag_name(name: str) -> str:
    """A card or deck name as one TensorBoard tag part: spaces as '_', and '/' (which would nest
    the tag; a designer's own names may hold one) as '_' too."""
    return name.replace(" ", "_").replace("/", "_")


def card_scalars(sums: np.ndarray, names: dict[int, str]) -> dict[str, float]:
    """TensorBoard scalars from summed :func:`card_play_stats`: for each card that was playable,
    its play rate and the mean advantage of its plays and of its passes (absent when there were
    none). ``names`` maps card id to a name (an id without one is called ``card_<id>``)."""
    out = {}
    for c in np.nonzero(sums[0])[0]:
        n = tag_name(names.get(int(c), f"card_{int(c)}"))
        playable, played = sums[0, c], sums[1, c]
        out[f"cards/play_rate/{n}"] = float(played / playable)
        if played:
            out[f"cards/adv_played/{n}"] = float(sums[2, c] / played)
        if playable > played:
            out[f"cards/adv_passed/{n}"] = float(sums[3, c] / (playable - played))
    return out
