"""numba kernels for single-agent play against a built-in bot (the Gymnasium face)."""
from numba import njit

from verification.layout import DONE_NO, DONE_TERMINAL, G_DONE, G_WINNER
from verification.legal import enumerate_legal, is_listed
from verification.rules import actor

from .bots.builtin import bot_index
from .engine import apply_action
from .observation import write_obs


@njit(cache=True)
def run_opponent(s, cards, agent, opp_kind, opp_rng, legal):
    """Let the built-in opponent decide until the agent must act or the game ends.
    Returns the legal count of the agent's decision (0 when over)."""
    n = enumerate_legal(s, cards, legal)
    while s[G_DONE] == DONE_NO and actor(s) != agent:
        k = bot_index(opp_kind, s, cards, legal, n, opp_rng, 0)
        apply_action(s, cards, legal[k, 0], legal[k, 1], legal[k, 2], legal[k, 3])
        n = enumerate_legal(s, cards, legal)
    return n


@njit(cache=True)
def fill_agent_view(legal, n, prev_n, legal_out, mask_out):
    """Copy the legal list into the observation's zero-padded copy (clearing rows the last
    list used) and derive the primary mask from it."""
    for r in range(n):
        for j in range(4):
            legal_out[r, j] = legal[r, j]
    for r in range(n, prev_n):
        for j in range(4):
            legal_out[r, j] = 0
    mask_out[:] = 0
    for r in range(n):
        mask_out[legal[r, 0]] = 1


@njit(cache=True)
def duel_step(s, cards, a0, a1, a2, a3, agent, opp_kind, opp_rng, legal, legal_n, obs):
    """Apply the agent's tuple (if listed), run the opponent, refresh the agent's view.
    Returns (status, reward, legal count): status -1 illegal (nothing changed), 0 running,
    1 terminated, 2 truncated; reward from the agent's point of view."""
    if not is_listed(legal, legal_n, a0, a1, a2, a3):
        return -1, 0.0, legal_n
    apply_action(s, cards, a0, a1, a2, a3)
    n = 0
    if opp_kind >= 0:
        n = run_opponent(s, cards, agent, opp_kind, opp_rng, legal)
    else:
        n = enumerate_legal(s, cards, legal)
    write_obs(s, cards, agent, obs)
    if s[G_DONE] == DONE_NO:
        return 0, 0.0, n
    w = s[G_WINNER]
    r = 0.0
    if w == agent:
        r = 1.0
    elif w == 1 - agent:
        r = -1.0
    return (1 if s[G_DONE] == DONE_TERMINAL else 2), r, n
