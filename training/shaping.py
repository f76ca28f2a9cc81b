"""Potential-based reward shaping (Ng, Harada and Russell, 1999), computed from observations.

The game's only reward is the final result, given on a seat's last decision after ~50 of its
decisions. Shaping adds, to each learner decision of a seat, ``gamma * phi(next) - phi(now)``,
where ``now`` and ``next`` are that seat's consecutive decisions in the same game (the chain GAE
already follows, ``training.gae``), ``phi`` of an ended game is 0 and ``phi`` of a truncated
game or of the position after the rollout is taken from the seat's view of it. Along a whole
game the added terms telescope to ``-phi(first decision)``, which does not depend on what the
seat does afterwards, so the optimal policy is unchanged; what changes is *when* the signal
arrives: damage dealt or a unit lost shows up at the decision that caused it instead of only
in the final result. The value head then learns the shaped return (``V - phi``).

``phi`` reads only the seat's own observation (nothing hidden) and is antisymmetric between the
two seats' views of one position:

    phi = hp_coef    * (my leader health - opponent leader health) / 20
        + board_coef * (sum over my units of attack + health
                        - sum over the opponent's units of attack + health) / 20

(20 is a leader's starting health.) Every coefficient 0 (the default) turns shaping off.
``enemy_board_coef`` (default 0) adds ``- enemy_board_coef * (opponent's attack + health) / 20``:
the opponent's units then weigh more than one's own, so removing one is credited more than
deploying one of the same size. The potential is then no longer antisymmetric between the
seats (each seat's own shaping still telescopes, so the argument above holds per seat).
``hand_coef`` (default 0) adds ``hand_coef * (my hand count - opponent hand count) / 20``: card
advantage, the currency a control deck trades in (the search bot's evaluation weighs a card in
hand like a point of a unit's attack or health, ``tcg_env.bots.search.EVAL_WEIGHTS``). Both hand
counts are public.
"""
from __future__ import annotations

import numpy as np

from tcg_env.observation import ENTITY_FEATURES, GLOBAL_FEATURES, view
from verification.spec import BOARD_SLOTS, ENT_MY_BOARD, ENT_OPP_BOARD

SCALE = 20.0
_MY_HP = GLOBAL_FEATURES.index("my_hp")
_OPP_HP = GLOBAL_FEATURES.index("opp_hp")
_ATK = ENTITY_FEATURES.index("attack")
_HP = ENTITY_FEATURES.index("health")
_MY_HAND = GLOBAL_FEATURES.index("my_hand_count")
_OPP_HAND = GLOBAL_FEATURES.index("opp_hand_count")


def board_strength(obs: np.ndarray, first_entity: int) -> np.ndarray:
    """Sum of attack + health over the board entities ``first_entity .. + BOARD_SLOTS`` (absent
    rows are all zero), for observations ``[..., OBS_SIZE]``."""
    ent = view(obs, "entities")[..., first_entity:first_entity + BOARD_SLOTS, :]
    return ent[..., _ATK].astype(np.float32).sum(-1) + ent[..., _HP].astype(np.float32).sum(-1)


def potential(obs: np.ndarray, hp_coef: float, board_coef: float, enemy_board_coef: float = 0.0,
              hand_coef: float = 0.0) -> np.ndarray:
    """``phi`` of each observation ``[..., OBS_SIZE]`` (float32 ``[...]``; zeros when all
    coefficients are 0)."""
    out = np.zeros(obs.shape[:-1], np.float32)
    if hp_coef:
        g = view(obs, "globals")
        out += np.float32(hp_coef / SCALE) * (g[..., _MY_HP].astype(np.float32) - g[..., _OPP_HP])
    if board_coef:
        out += np.float32(board_coef / SCALE) * (board_strength(obs, ENT_MY_BOARD)
                                                 - board_strength(obs, ENT_OPP_BOARD))
    if enemy_board_coef:
        out -= np.float32(enemy_board_coef / SCALE) * board_strength(obs, ENT_OPP_BOARD)
    if hand_coef:
        g = view(obs, "globals")
        out += np.float32(hand_coef / SCALE) * (g[..., _MY_HAND].astype(np.float32) - g[..., _OPP_HAND])
    return out
