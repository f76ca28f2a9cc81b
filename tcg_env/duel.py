"""numba kernels for single-agent play against a built-in bot (the Gymnasium face).

One Python step is one call here: apply the agent's tuple, let the built-in opponent
play until the agent must decide again, enumerate the agent's legal list and build
its observation into the env's persistent buffers (which the env copies unless
``copy_obs=False``).
"""
from numba import njit

from verification.layout import DONE_NO, DONE_TERMINAL, G_DONE, G_WINNER
from verification.legal import enumerate_legal, is_listed
from verification.rules import actor
from verification.spec import HEAD_SIZES

from .bots.builtin import bot_index
from .engine import apply_action
from .observation import write_obs

H0, H1, H2, H3 = HEAD_SIZES
OUT_OF_RANGE = -2
ILLEGAL = -1


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
def _turn(s, cards, act, agent, opp_kind, opp_rng, legal, legal_n):
    """Apply the agent's tuple ``act`` (if in range and listed), run the opponent, enumerate
    the agent's next list. Returns (status, reward, legal count): status OUT_OF_RANGE or
    ILLEGAL (nothing changed), 0 running, 1 terminated, 2 truncated; reward from the agent's
    point of view. ``opp_kind`` < 0 means the opponent is played outside (a callable)."""
    a0 = act[0]
    a1 = act[1]
    a2 = act[2]
    a3 = act[3]
    if not (0 <= a0 < H0 and 0 <= a1 < H1 and 0 <= a2 < H2 and 0 <= a3 < H3):
        return OUT_OF_RANGE, 0.0, legal_n
    if not is_listed(legal, legal_n, a0, a1, a2, a3):
        return ILLEGAL, 0.0, legal_n
    apply_action(s, cards, a0, a1, a2, a3)
    if opp_kind >= 0:
        n = run_opponent(s, cards, agent, opp_kind, opp_rng, legal)
    else:
        n = enumerate_legal(s, cards, legal)
    if s[G_DONE] == DONE_NO:
        return 0, 0.0, n
    w = s[G_WINNER]
    r = 0.0
    if w == agent:
        r = 1.0
    elif w == 1 - agent:
        r = -1.0
    return (1 if s[G_DONE] == DONE_TERMINAL else 2), r, n


@njit(cache=True)
def view_into(s, cards, agent, legal, n, prev_n, obs, legal_out, mask_out):
    """Write the agent's observation, the zero-padded legal list (clearing only the rows
    the previous list used, ``prev_n``) and the primary mask derived from the list."""
    write_obs(s, cards, agent, obs)
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
def step_into(s, cards, act, agent, opp_kind, opp_rng, legal, legal_n, prev_n, obs, legal_out, mask_out):
    """One agent step writing its view into persistent buffers. Returns (status, reward, n)."""
    status, reward, n = _turn(s, cards, act, agent, opp_kind, opp_rng, legal, legal_n)
    view_into(s, cards, agent, legal, n, prev_n, obs, legal_out, mask_out)
    return status, reward, n
