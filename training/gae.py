"""Generalised advantage estimation chained per seat.

A turn-based game interleaves both seats' decisions in one stream per game (the
defender even answers during the attacker's turn). GAE here links each decision of a
seat to *that same seat's* next decision in the same game; rewards are 0 until the game
ends, when each seat receives its own final reward (+1/-1/0) on its last decision. A
truncated game is bootstrapped with the value of the seat's view of the final position;
a terminal one with 0. At the end of a rollout each seat's chain is bootstrapped with the
value of that seat's view of the current position.

Optional potential-based shaping (``training.shaping``): with potentials ``phis`` of each
decision, the reward of a decision gains ``gamma * phi(the seat's next decision) - phi(it)``,
with ``phi = 0`` after a terminal step and ``final_phis`` / ``last_phis`` for a truncated game
and the position after the rollout (the same places ``final_values`` / ``last_values`` are
used). All-zero potentials give plain GAE.

Inputs are time-major ``[T, N]``. ``learner[t, i]`` marks decisions that belong to the
learner (rows played by a pool opponent are skipped; their seat's chain is not trained).
"""
import numpy as np
from numba import njit


@njit(cache=True)
def seat_gae(values, seats, learner, dones, truncated, seat_rewards, final_values, last_values, gamma, lam,
             phis, final_phis, last_phis):
    """Advantages and returns ``[T, N]``.

    values [T,N] V of each decision; seats [T,N] acting seat; learner [T,N] bool;
    dones [T,N] bool (the decision ended its game); truncated [T,N] bool (ended by the turn cap);
    seat_rewards [T,N,2] final rewards of both seats at an ending step; final_values [T,N,2]
    V of each seat's view of an ended game's final position (used on truncation);
    last_values [N,2] V of each seat's view of the position after the rollout; phis [T,N],
    final_phis [T,N,2], last_phis [N,2]: shaping potentials laid out like values, final_values
    and last_values (zeros: no shaping)."""
    T, N = values.shape
    adv = np.zeros((T, N), np.float32)
    for i in range(N):
        next_v = np.empty(2, np.float32)
        next_phi = np.empty(2, np.float32)
        next_a = np.zeros(2, np.float32)
        pend_r = np.zeros(2, np.float32)
        for p in range(2):
            next_v[p] = last_values[i, p]
            next_phi[p] = last_phis[i, p]
        for t in range(T - 1, -1, -1):
            if dones[t, i]:
                for p in range(2):
                    next_v[p] = final_values[t, i, p] if truncated[t, i] else 0.0
                    next_phi[p] = final_phis[t, i, p] if truncated[t, i] else 0.0
                    next_a[p] = 0.0
                    pend_r[p] = seat_rewards[t, i, p]
            if not learner[t, i]:
                continue
            s = seats[t, i]
            shaped = pend_r[s] + gamma * next_phi[s] - phis[t, i]
            delta = shaped + gamma * next_v[s] - values[t, i]
            a = delta + gamma * lam * next_a[s]
            adv[t, i] = a
            next_v[s] = values[t, i]
            next_phi[s] = phis[t, i]
            next_a[s] = a
            pend_r[s] = 0.0
    returns = adv + values
    return adv, returns


@njit(cache=True)
def waiting_value_targets(wait_seat, wait_phi, seat_ok, seats, learner, dones, truncated, seat_rewards, final_values,
                          final_phis, returns, phis, gamma):
    """Value targets for the waiting seat's view of each game's position at the start of a rollout.

    At the end of a rollout, the chain of the seat that is *not* to move is bootstrapped with V of
    its own view of the position (``last_values``), a view the value head otherwise never trains
    on: it learns only from the acting seat's rows. This gives that view a target from the next
    rollout, which starts from the same position: the seat's next decision stands in for it, so
    ``V(view) + phi(view)`` should equal ``return + phi`` at that decision (the same own-decision
    clock, so no discount between them). If the game ends first, the stand-in is the final
    result: ``reward / gamma`` (plus ``final_value + final_phi`` for a truncated game), as
    ``seat_gae`` credits it.

    wait_seat [N] the seat not to move at the rollout's start, wait_phi [N] its view's potential,
    seat_ok [N] whether that seat is the learner's in game i; the rest as in :func:`seat_gae`,
    with ``returns`` its output. Returns (target [N] float32, ok [N] bool): games where the seat
    neither decides (as the learner) nor sees its game end within the rollout get no target."""
    T, N = seats.shape
    target = np.zeros(N, np.float32)
    ok = np.zeros(N, np.bool_)
    for i in range(N):
        if not seat_ok[i]:
            continue
        p = wait_seat[i]
        for t in range(T):
            if seats[t, i] == p:
                if learner[t, i]:
                    target[i] = returns[t, i] + phis[t, i] - wait_phi[i]
                    ok[i] = True
                break
            if dones[t, i]:
                u = seat_rewards[t, i, p] / gamma
                if truncated[t, i]:
                    u += final_values[t, i, p] + final_phis[t, i, p]
                target[i] = u - wait_phi[i]
                ok[i] = True
                break
    return target, ok
