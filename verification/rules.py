"""Small numba accessors over a state row that legality and the engine both read.

These say what the state *is* (whose decision it is, a unit's attack with its weapon,
untapped IKZ); they decide nothing about legality. Legality is in ``legal.py`` and,
independently, in ``explain.py``.
"""
from numba import njit

from prefabs import table as T
from .layout import (B_ATK, B_CARD, B_KW, B_WIDTH, G_ACTIVE, G_MULL_PLAYER, G_PEND_PLAYER, G_PHASE, P0, P_BOARD,
                     P_IKZ_N, P_IKZ_TAPPED, PH_BLOCK, PH_CHOOSE_MODE, PH_CHOOSE_TARGET, PH_MAIN, PH_MULLIGAN,
                     PLAYER_WORDS, B_WEAPON)


@njit(cache=True)
def pbase(p):
    return P0 + p * PLAYER_WORDS


@njit(cache=True)
def sbase(p, slot):
    return P0 + p * PLAYER_WORDS + P_BOARD + slot * B_WIDTH


@njit(cache=True)
def actor(s):
    """The player who makes the next decision, or -1 when the game is over."""
    ph = s[G_PHASE]
    if ph == PH_MULLIGAN:
        return s[G_MULL_PLAYER]
    if ph == PH_MAIN:
        return s[G_ACTIVE]
    if ph == PH_BLOCK:
        return 1 - s[G_ACTIVE]
    if ph == PH_CHOOSE_TARGET or ph == PH_CHOOSE_MODE:
        return s[G_PEND_PLAYER]
    return -1


@njit(cache=True)
def untapped_ikz(s, p):
    b = pbase(p)
    return s[b + P_IKZ_N] - s[b + P_IKZ_TAPPED]


@njit(cache=True)
def unit_card(s, p, slot):
    return s[sbase(p, slot) + B_CARD]


@njit(cache=True)
def unit_attack(s, cards, p, slot):
    """Attack including the attached weapon's bonus."""
    b = sbase(p, slot)
    return s[b + B_ATK] + cards[s[b + B_WEAPON], T.C_ATK]


@njit(cache=True)
def unit_keywords(s, p, slot):
    return s[sbase(p, slot) + B_KW]
