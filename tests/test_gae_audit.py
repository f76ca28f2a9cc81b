"""Seat-chained GAE and the waiting-view targets on tiny games whose values are worked out by
hand in the comments (a mutation audit of ``training/gae.py``)."""
import numpy as np

from training.gae import seat_gae, waiting_value_targets


def _zeros(T, N):
    return (np.zeros((T, N), np.bool_), np.zeros((T, N, 2), np.float32), np.zeros((T, N), np.float32))


def test_two_games_side_by_side_each_use_their_own_ends_and_bootstraps():
    """N = 2, gamma = lambda = 0.5.

    Game 0: seats 0,1,0,1, values 1,2,3,4, no end; after the rollout V = (10, 20).
      t3 (seat 1): 0.5*20 - 4 = 6;  t2 (seat 0): 0.5*10 - 3 = 2
      t1 (seat 1): 0.5*4 - 2 + 0.25*6 = 1.5;  t0 (seat 0): 0.5*3 - 1 + 0.25*2 = 1
    Game 1: seats 1,0,1,0, values .5,.25,1,2; seat 0's move at t1 ends it (seat 0 wins: +1/-1),
    a new game runs on; after the rollout V = (6, 8).
      t3 (seat 0): 0.5*6 - 2 = 1;  t2 (seat 1): 0.5*8 - 1 = 3
      t1 (seat 0): 1 - 0.25 = 0.75;  t0 (seat 1): -1 - 0.5 = -1.5
    """
    values = np.array([[1, 0.5], [2, 0.25], [3, 1], [4, 2]], np.float32)
    seats = np.array([[0, 1], [1, 0], [0, 1], [1, 0]], np.int32)
    learner = np.ones((4, 2), np.bool_)
    dones, seat_rewards, phis = _zeros(4, 2)
    dones[1, 1] = True
    seat_rewards[1, 1] = (1.0, -1.0)
    final = np.zeros((4, 2, 2), np.float32)
    final[1, 1] = (0.9, -0.9)     # a terminal game's final views are not used
    last = np.array([[10, 20], [6, 8]], np.float32)
    adv, ret = seat_gae(values, seats, learner, dones, np.zeros((4, 2), np.bool_), seat_rewards, final, last, 0.5, 0.5,
                        phis, final, np.zeros((2, 2), np.float32))
    assert np.allclose(adv[:, 0], [1.0, 1.5, 2.0, 6.0])
    assert np.allclose(adv[:, 1], [-1.5, 0.75, 3.0, 1.0])
    assert np.allclose(ret, adv + values)
    assert adv.dtype == np.float32 and ret.dtype == np.float32


def test_a_truncated_game_is_bootstrapped_with_the_discount():
    """gamma = 0.5, lambda = 0.5. Seats 0,1; seat 1's move hits the turn cap (rewards 0), final
    views (0.4, -0.2); then a new game: seat 1 at t2, bootstrapped with V = (0, 1).
      t2 (seat 1): 0.5*1 - 0.3 = 0.2
      t1 (seat 1): 0.5*(-0.2) - 0.3 = -0.4;  t0 (seat 0): 0.5*0.4 - 0.1 = 0.1
    and with potentials 0.2 / -0.2 at t0 / t1, final potentials (0.6, -0.6):
      t1 gains 0.5*(-0.6) + 0.2 = -0.1;  t0 gains 0.5*0.6 - 0.2 = 0.1."""
    values = np.array([[0.1], [0.3], [0.3]], np.float32)
    seats = np.array([[0], [1], [1]], np.int32)
    dones = np.array([[False], [True], [False]])
    trunc = dones.copy()
    final_v = np.zeros((3, 1, 2), np.float32)
    final_v[1, 0] = (0.4, -0.2)
    z = np.zeros((3, 1, 2), np.float32)
    args = (values, seats, np.ones((3, 1), np.bool_), dones, trunc, z, final_v, np.array([[0.0, 1.0]], np.float32),
            0.5, 0.5)
    adv, ret = seat_gae(*args, np.zeros((3, 1), np.float32), z, np.zeros((1, 2), np.float32))
    assert np.allclose(adv[:, 0], [0.1, -0.4, 0.2])
    final_phi = np.zeros((3, 1, 2), np.float32)
    final_phi[1, 0] = (0.6, -0.6)
    adv, ret = seat_gae(*args, np.array([[0.2], [-0.2], [0.0]], np.float32), final_phi, np.zeros((1, 2), np.float32))
    assert np.allclose(adv[:, 0], [0.1 + 0.1, -0.4 - 0.1, 0.2])


def test_a_seat_that_acts_twice_in_a_row_chains_through_lambda():
    """gamma = 0.5, lambda = 0.5, one seat: values 1, 2, 4, V after = 8.
      t2: 0.5*8 - 4 = 0;  t1: 0.5*4 - 2 + 0.25*0 = 0;  t0: 0.5*2 - 1 + 0.25*0 = 0
    with values 1, 1, 1 and V after = 3:
      t2: 1.5 - 1 = 0.5;  t1: 0.5 - 1 + 0.25*0.5 = -0.375;  t0: -0.5 + 0.25*(-0.375) = -0.59375"""
    z = np.zeros((3, 1, 2), np.float32)
    ones = np.ones((3, 1), np.bool_)
    f = np.zeros((3, 1), np.bool_)

    def run(vals, after):
        adv, _ = seat_gae(np.array(vals, np.float32)[:, None], np.zeros((3, 1), np.int32), ones, f, f, z, z,
                          np.array([[after, -5.0]], np.float32), 0.5, 0.5, np.zeros((3, 1), np.float32), z,
                          np.zeros((1, 2), np.float32))
        return adv[:, 0]
    assert np.allclose(run([1, 2, 4], 8), [0, 0, 0])
    assert np.allclose(run([1, 1, 1], 3), [-0.59375, -0.375, 0.5])


def test_waiting_target_is_the_seats_first_decision_and_a_terminal_end_adds_no_final_view():
    """wait_seat 1 in every game, gamma = 0.8, wait_phi 0.1.

    Game 0: seat 1 decides at t0 and t2 (returns 0.3, 0.9; potentials 0.05, 0.2): the target is
      the first one, 0.3 + 0.05 - 0.1 = 0.25.
    Game 1: seat 1's first decision (t1) is a pool opponent's row, its second (t2) the learner's:
      no target.
    Game 2: seat 1 decides at t0, then the game ends at t1 (seat 1 lost): the decision is the
      stand-in, 0.3 + 0.05 - 0.1 = 0.25, not the result.
    Game 3: the game ends at t0 (a terminal win for seat 1) before seat 1 decides:
      1 / 0.8 - 0.1 = 1.15; the final views and potentials reported with the end are not added
      (only a truncated game is bootstrapped)."""
    T, N, g = 3, 4, 0.8
    seats = np.array([[1, 0, 1, 0],
                      [0, 1, 0, 1],
                      [1, 1, 1, 1]], np.int32)
    learner = np.ones((T, N), np.bool_)
    learner[1, 1] = False
    dones = np.zeros((T, N), np.bool_)
    dones[1, 2] = dones[0, 3] = True
    seat_rewards = np.zeros((T, N, 2), np.float32)
    seat_rewards[1, 2] = (1.0, -1.0)
    seat_rewards[0, 3] = (-1.0, 1.0)
    final_values = np.full((T, N, 2), 0.5, np.float32)
    final_phis = np.full((T, N, 2), 0.25, np.float32)
    returns = np.array([[0.3, 0.4, 0.3, 0.6],
                        [0.5, 0.7, 0.5, 0.2],
                        [0.9, 0.8, 0.9, 0.1]], np.float32)
    phis = np.array([[0.05, 0.0, 0.05, 0.0],
                     [0.0, 0.0, 0.0, 0.0],
                     [0.2, 0.2, 0.2, 0.2]], np.float32)
    tgt, ok = waiting_value_targets(np.ones(N, np.int32), np.full(N, 0.1, np.float32), np.ones(N, np.bool_), seats,
                                    learner, dones, np.zeros((T, N), np.bool_), seat_rewards, final_values,
                                    final_phis, returns, phis, g)
    assert ok.tolist() == [True, False, True, True]
    assert np.allclose(tgt[[0, 2, 3]], [0.25, 0.25, 1.15])
