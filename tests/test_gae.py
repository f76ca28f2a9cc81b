"""Seat-chained GAE on a tiny alternating-turn game with known values."""
import numpy as np

from training.gae import seat_gae, waiting_value_targets


def _run(values, seats, dones, trunc, seat_rewards, final_values, last, gamma=1.0, lam=1.0, learner=None,
         phis=None, final_phis=None, last_phis=(0.0, 0.0)):
    values = np.asarray(values, np.float32)[:, None]
    T = values.shape[0]
    seats = np.asarray(seats, np.int32)[:, None]
    learner = np.ones((T, 1), np.bool_) if learner is None else np.asarray(learner, np.bool_)[:, None]
    dones = np.asarray(dones, np.bool_)[:, None]
    trunc = np.asarray(trunc, np.bool_)[:, None]
    sr = np.zeros((T, 1, 2), np.float32)
    fv = np.zeros((T, 1, 2), np.float32)
    for t, r in seat_rewards.items():
        sr[t, 0] = r
    for t, v in final_values.items():
        fv[t, 0] = v
    ph = np.zeros((T, 1), np.float32) if phis is None else np.asarray(phis, np.float32)[:, None]
    fph = np.zeros((T, 1, 2), np.float32)
    for t, v in (final_phis or {}).items():
        fph[t, 0] = v
    adv, ret = seat_gae(values, seats, learner, dones, trunc, sr, fv, np.asarray([last], np.float32), gamma, lam,
                        ph, fph, np.asarray([last_phis], np.float32))
    return adv[:, 0], ret[:, 0]


def test_alternating_seats_get_their_own_final_reward():
    # decisions: seat0, seat1, seat0, seat1(wins: game ends). lambda=gamma=1, so each return is
    # that seat's final reward: seat1 +1, seat0 -1, regardless of the other seat's values.
    values = [0.1, 0.2, 0.3, 0.4]
    adv, ret = _run(values, [0, 1, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0], {3: (-1.0, 1.0)}, {}, (0, 0))
    assert np.allclose(ret, [-1, 1, -1, 1])
    assert np.allclose(adv, np.array([-1, 1, -1, 1]) - values)


def test_td0_links_each_seat_to_its_own_next_decision():
    # lambda = 0: the advantage is r + gamma * V(same seat's next decision) - V.
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    seats = [0, 1, 1, 0, 1]     # seat 1 acts twice in a row (a response, then its turn)
    adv, ret = _run(values, seats, [0] * 5, [0] * 5, {}, {}, (10.0, 20.0), gamma=0.5, lam=0.0)
    assert np.allclose(ret, [0.5 * 4.0, 0.5 * 3.0, 0.5 * 5.0, 0.5 * 10.0, 0.5 * 20.0])


def test_games_do_not_leak_across_a_reset():
    # game 1: seat0, seat1 (seat 1's decision ends it, seat 0 wins); game 2: seat1, seat0
    values = [0.0, 0.0, 0.5, 0.5]
    seats = [0, 1, 1, 0]
    adv, ret = _run(values, seats, [0, 1, 0, 0], [0, 0, 0, 0], {1: (1.0, -1.0)}, {}, (0.7, 0.9))
    assert np.allclose(ret, [1.0, -1.0, 0.9, 0.7])


def test_truncation_is_bootstrapped_from_the_final_views():
    values = [0.0, 0.0]
    adv, ret = _run(values, [0, 1], [0, 1], [0, 1], {1: (0.0, 0.0)}, {1: (0.25, -0.5)}, (0, 0))
    assert np.allclose(ret, [0.25, -0.5])


def test_opponent_rows_are_skipped():
    # seat1 is a pool opponent: its rows are not trained and do not break seat0's chain
    values = [0.2, 9.0, 0.4, 9.0]
    adv, ret = _run(values, [0, 1, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0], {3: (1.0, -1.0)}, {}, (0, 0),
                    gamma=0.9, lam=1.0, learner=[1, 0, 1, 0])
    assert adv[1] == 0 and adv[3] == 0
    assert np.isclose(ret[2], 1.0) and np.isclose(ret[0], 0.9)


def test_matches_a_brute_force_lambda_return():
    rng = np.random.default_rng(0)
    T = 40
    seats = rng.integers(0, 2, T)
    values = rng.normal(size=T).astype(np.float32)
    dones = np.zeros(T, bool)
    dones[[9, 25]] = True
    srs = {9: (1.0, -1.0), 25: (-1.0, 1.0)}
    last = (0.3, -0.2)
    gamma, lam = 0.97, 0.8
    adv, ret = _run(values, seats, dones, [0] * T, srs, {}, last, gamma, lam)
    # compute expected via explicit recursion instead
    exp_adv = np.zeros(T)
    for t in range(T - 1, -1, -1):
        s = seats[t]
        # find game end (if any) at or after t, and next same-seat decision before it
        end = next((k for k in range(t, T) if dones[k]), None)
        nxt = next((k for k in range(t + 1, (end + 1) if end is not None else T) if seats[k] == s), None)
        if nxt is not None and (end is None or nxt <= end):
            delta = gamma * values[nxt] - values[t]
            exp_adv[t] = delta + gamma * lam * exp_adv[nxt]
        elif end is not None:
            exp_adv[t] = srs[end][s] - values[t]
        else:
            exp_adv[t] = gamma * last[s] - values[t]
    assert np.allclose(adv, exp_adv, atol=1e-5)


def test_shaping_telescopes_to_the_final_reward_minus_the_first_potential():
    # gamma = lambda = 1: each seat's shaped return is its final reward + phi(terminal) = 0 -
    # phi(its own decision): the potentials of its later decisions cancel, the other seat's
    # potentials never enter its chain.
    values = [0.0] * 6
    seats = [0, 1, 0, 1, 0, 1]
    phis = [0.1, -0.1, 0.4, -0.4, 0.9, -0.9]
    adv, ret = _run(values, seats, [0, 0, 0, 0, 0, 1], [0] * 6, {5: (1.0, -1.0)}, {}, (0, 0), phis=phis)
    assert np.allclose(ret, np.array([1, -1, 1, -1, 1, -1]) - np.array(phis))


def test_shaping_rewards_the_decision_that_changed_the_potential():
    # lambda = 0: the advantage of a decision is r + gamma * (V + phi)(next) - (V + phi)(now)
    values = [0.0, 0.0, 0.0, 0.0]
    seats = [0, 1, 0, 1]
    phis = [0.0, 0.0, 0.5, -0.5]     # seat 0's first decision gained 0.5 (seat 1 lost as much)
    adv, ret = _run(values, seats, [0] * 4, [0] * 4, {}, {}, (0.0, 0.0), gamma=0.9, lam=0.0, phis=phis,
                    last_phis=(0.5, -0.5))
    assert np.allclose(adv, [0.9 * 0.5, 0.9 * -0.5, 0.9 * 0.5 - 0.5, 0.9 * -0.5 + 0.5])


def test_shaping_bootstraps_a_truncated_game_from_the_final_potentials():
    adv, ret = _run([0.0, 0.0], [0, 1], [0, 1], [0, 1], {1: (0.0, 0.0)}, {1: (0.25, -0.5)}, (0, 0),
                    phis=[0.1, -0.1], final_phis={1: (0.3, -0.3)})
    assert np.allclose(ret, [0.25 + 0.3 - 0.1, -0.5 - 0.3 + 0.1])


def test_potential_reads_health_and_board_and_is_antisymmetric_between_the_seats():
    from tcg_env import VecTCG
    from tcg_env.observation import GLOBAL_FEATURES, view
    from training.shaping import board_strength, potential
    from verification.spec import ENT_MY_BOARD, ENT_OPP_BOARD

    env = VecTCG(16, seed=3)
    rng = np.random.default_rng(0)
    seen_board = seen_hand = False
    for _ in range(120):      # random legal play until boards and health differ
        pick = rng.integers(0, env.legal_count)
        env.step(env.legal_tuples[np.arange(16), pick].astype(np.int32))
        o0 = env.observe(np.zeros(16, np.int32))
        o1 = env.observe(np.ones(16, np.int32))
        g0 = view(o0, "globals").astype(np.float32)
        hp = (g0[:, GLOBAL_FEATURES.index("my_hp")] - g0[:, GLOBAL_FEATURES.index("opp_hp")]) / 20
        assert np.allclose(potential(o0, 1.0, 0.0), hp)
        b = (board_strength(o0, ENT_MY_BOARD) - board_strength(o0, ENT_OPP_BOARD)) / 20
        assert np.allclose(potential(o0, 0.0, 1.0), b)
        assert np.allclose(potential(o0, 0.5, 0.3), -potential(o1, 0.5, 0.3))
        assert not potential(o0, 0.0, 0.0).any()
        # the enemy-board term weighs the opponent's units only, from each seat's own view
        assert np.allclose(potential(o0, 0.0, 0.0, 0.5), -0.5 * board_strength(o0, ENT_OPP_BOARD) / 20)
        assert np.allclose(potential(o1, 1.0, 0.5, 0.5) - potential(o1, 1.0, 0.5),
                           -0.5 * board_strength(o0, ENT_MY_BOARD) / 20)
        # the hand term: public hand counts, antisymmetric like the health term
        hand = (g0[:, GLOBAL_FEATURES.index("my_hand_count")] - g0[:, GLOBAL_FEATURES.index("opp_hand_count")]) / 20
        assert np.allclose(potential(o0, 0.0, 0.0, 0.0, 0.5), 0.5 * hand)
        assert np.allclose(potential(o0, 1.0, 0.5, 0.0, 0.5), -potential(o1, 1.0, 0.5, 0.0, 0.5))
        seen_board |= bool((b != 0).any())
        seen_hand |= bool((hand != 0).any())
    assert seen_board and seen_hand


def test_waiting_view_targets_stand_in_for_the_seats_next_decision_or_the_game_end():
    """waiting_value_targets: the waiting seat's view at a rollout's start gets the return and
    potential of that seat's next decision (no discount between them), or the final result if
    the game ends first (reward / gamma, plus the final views on truncation), as seat_gae credits
    the chain it bootstrapped; no target where the seat neither decides nor sees its game end."""
    T, N, g = 3, 6, 0.9
    seats = np.array([[0, 1, 1, 0, 0, 0],
                      [0, 1, 0, 0, 1, 1],
                      [1, 0, 0, 0, 0, 0]], np.int32)
    wait_seat = np.array([1, 0, 0, 1, 1, 0], np.int32)
    seat_ok = np.array([True, True, True, True, True, False])
    learner = np.ones((T, N), np.bool_)
    learner[1, 4] = False
    dones = np.zeros((T, N), np.bool_)
    truncated = np.zeros((T, N), np.bool_)
    dones[1, 1] = True                        # game 1 ends on seat 1's move, before seat 0 decides
    dones[0, 2] = truncated[0, 2] = True      # game 2 hits the turn cap on seat 1's move
    seat_rewards = np.zeros((T, N, 2), np.float32)
    seat_rewards[1, 1] = (-1.0, 1.0)
    final_values = np.zeros((T, N, 2), np.float32)
    final_phis = np.zeros((T, N, 2), np.float32)
    final_values[0, 2] = (0.25, -0.25)
    final_phis[0, 2] = (0.1, -0.1)
    returns = np.arange(T * N, dtype=np.float32).reshape(T, N) / 10
    phis = np.full((T, N), 0.05, np.float32)
    wait_phi = np.array([0.2, 0.3, -0.1, 0.0, 0.0, 0.0], np.float32)
    tgt, ok = waiting_value_targets(wait_seat, wait_phi, seat_ok, seats, learner, dones, truncated, seat_rewards,
                                    final_values, final_phis, returns, phis, g)
    assert ok.tolist() == [True, True, True, False, False, False]
    assert np.isclose(tgt[0], returns[2, 0] + 0.05 - 0.2)      # game 0: seat 1 decides at t=2
    assert np.isclose(tgt[1], -1.0 / g - 0.3)                   # game 1: the loss, before it decides
    assert np.isclose(tgt[2], 0.0 / g + 0.25 + 0.1 + 0.1)       # game 2: truncated, its final view
    # game 3: seat 1 never decides; game 4: its decision is an opponent's row; game 5: not the learner's seat


def test_waiting_view_target_matches_the_bootstrap_it_replaces():
    """Bootstrapping the first of two rollouts with the target (as V of the waiting view) gives the
    waiting seat's last decision the TD error against its next decision in the second rollout:
    the same as if both rollouts were one chain."""
    rng = np.random.default_rng(0)
    T, g, lam = 12, 0.95, 0.9
    seats = np.array([[0, 0, 1, 1, 1, 0, 1, 0, 0, 1, 0, 1]], np.int32).T    # one game, 12 steps
    values = rng.normal(size=(T, 1)).astype(np.float32)
    phis = rng.normal(size=(T, 1)).astype(np.float32) * 0.1
    z = np.zeros((T, 1), np.bool_)
    zr, zv = np.zeros((T, 1, 2), np.float32), np.zeros((T, 1, 2), np.float32)
    last_v = rng.normal(size=(1, 2)).astype(np.float32)
    last_phi = rng.normal(size=(1, 2)).astype(np.float32) * 0.1
    k = 5                  # the second rollout starts at step 5, where seat 0 is to move and seat 1 waits
    assert seats[k, 0] == 0
    adv2, ret2 = seat_gae(values[k:], seats[k:], ~z[k:], z[k:], z[k:], zr[k:], zv[k:], last_v, g, lam, phis[k:],
                          zv[k:], last_phi)
    wait_phi = np.array([0.07], np.float32)
    tgt, ok = waiting_value_targets(np.array([1], np.int32), wait_phi, np.array([True]), seats[k:], ~z[k:], z[k:],
                                    z[k:], zr[k:], zv[k:], zv[k:], ret2, phis[k:], g)
    assert ok[0]
    # first rollout: seat 1's chain bootstraps from (V, phi) of its waiting view = (tgt, wait_phi);
    # seat 0's from its own next decision (the acting view at step k)
    boot_v = np.array([[values[k, 0], tgt[0]]], np.float32)
    boot_phi = np.array([[phis[k, 0], wait_phi[0]]], np.float32)
    adv1, _ = seat_gae(values[:k], seats[:k], ~z[:k], z[:k], z[:k], zr[:k], zv[:k], boot_v, g, 1.0, phis[:k],
                       zv[:k], boot_phi)
    # seat 1's last decision of the first rollout (step 4) gets the one-step error against the
    # stand-in: gamma * (return + phi at its next decision) - phi - V
    last1 = 4
    want = phis[last1, 0] * -1 + g * (ret2[seats[k:, 0] == 1][0] + phis[k:][seats[k:, 0] == 1][0]) - values[last1, 0]
    assert np.isclose(adv1[last1, 0], want, atol=1e-5)


def test_a_finished_game_is_not_bootstrapped_and_its_potential_ends_at_zero():
    # game 1: seat0, seat1 (ends it, terminal: seat 0 wins); game 2: seat1, seat0 (runs on).
    # The final views of a *terminal* game are not used (only a truncated one is bootstrapped),
    # and phi after a terminal step is 0: neither game 1's final views nor game 2's potentials may
    # reach game 1's decisions. gamma = lambda = 1: each return is the final reward (or the
    # bootstrap) minus the decision's own potential.
    phis = [0.1, -0.1, 0.6, -0.3]
    adv, ret = _run([0.0, 0.0, 0.5, 0.5], [0, 1, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0], {1: (1.0, -1.0)},
                    {1: (0.8, -0.8)}, (0.7, 0.9), phis=phis, final_phis={1: (0.4, -0.4)})
    assert np.allclose(ret, [1.0 - 0.1, -1.0 + 0.1, 0.9 - 0.6, 0.7 + 0.3])


def test_potential_counts_every_board_slot_garden_and_alley():
    """The board term sums attack + health over all of each side's board slots (garden 0-4 and
    alley 5-9), read from a hand-made position with units in the first and last slots."""
    from scenario import Scenario
    from training.shaping import potential

    st = (Scenario(seed=3).main_phase(active=0)
          .unit(0, 0, "Rivet Sentry", atk=2, hp=3).unit(0, 9, "Rivet Sentry", atk=4, hp=5)
          .unit(1, 4, "Rivet Sentry", atk=1, hp=1).unit(1, 9, "Rivet Sentry", atk=3, hp=6)
          .build())
    o0, o1 = st.observation(0), st.observation(1)
    assert np.isclose(potential(o0, 0.0, 1.0), ((2 + 3 + 4 + 5) - (1 + 1 + 3 + 6)) / 20)
    assert np.isclose(potential(o1, 0.0, 1.0), -potential(o0, 0.0, 1.0))
    assert np.isclose(potential(o0, 0.0, 0.0, 1.0), -(1 + 1 + 3 + 6) / 20)
    assert np.isclose(potential(o1, 0.0, 0.0, 1.0), -(2 + 3 + 4 + 5) / 20)
