"""Property test over hand-built positions: the rows a user editing a puzzle position writes.

Random play only reaches positions that random play reaches. ``scenario.random_position`` deals
each player's own cards at random over the board (garden and alley, weapons attached, odd stats,
extra keywords, any ready/sick/moved/used flags), hand, discard, deck, IKZ area and IKZ deck;
some positions open in a response window (an attack declared on the leader or a garden unit, the
defender to answer), and some in a pending choice (a unit just played waiting for its on-play
target or mode, a modal spell just cast waiting for its mode). On each such position and on
every position of a random playout from it to the end of the game: the row checks accept it,
every invariant of ``check_invariants`` holds (cards conserved, legal list non-empty and
ordered, observation in bounds, clone and bytes round trips), and the enumerator agrees with the
independent explainer over the whole tuple product space. It runs in a subprocess, so that a
crash in a kernel is a failure, not the end of the test run."""
import subprocess
import sys
from pathlib import Path

PLAYOUTS = """
import sys
import numpy as np
root = sys.argv[1]
sys.path[:0] = [root, root + "/tests"]
from scenario import random_position
from tcg_env.selfcheck import check_invariants
from tcg_env.state import state_rows_problem
from verification.crosscheck import crosscheck_state, new_scratch
from verification.layout import PH_BLOCK, PH_CHOOSE_MODE, PH_CHOOSE_TARGET
legal, listed = new_scratch()
states = finished = 0
opened = {PH_BLOCK: 0, PH_CHOOSE_TARGET: 0, PH_CHOOSE_MODE: 0}
phases = set()
for seed in range(int(sys.argv[2])):
    rng = np.random.default_rng(seed)
    g = random_position(rng, block=0.4, pend=0.3)
    opened[g.phase] = opened.get(g.phase, 0) + 1
    assert state_rows_problem(g.row, g.pool) is None, (seed, state_rows_problem(g.row, g.pool))
    for step in range(600):
        bad = check_invariants(g)
        assert not bad, (seed, step, bad[:3])
        n, mismatches, f0, f1, f2, f3, order = crosscheck_state(g.row, g.pool.table, legal, listed)
        assert mismatches == 0 and order == 0, (seed, step, mismatches, (f0, f1, f2, f3), order)
        states += 1
        phases.add(g.phase)
        if g.done:
            finished += 1
            break
        lt = g.legal_tuples()
        g.apply(tuple(lt[rng.integers(len(lt))]))
print(states, finished, int(PH_BLOCK in phases), int(PH_CHOOSE_TARGET in phases), opened[PH_BLOCK],
      opened[PH_CHOOSE_TARGET], opened[PH_CHOOSE_MODE])
"""


def test_hand_built_positions_play_to_the_end_with_every_invariant_and_the_explainer_agreeing():
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-c", PLAYOUTS, str(root), "40"], capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, (res.returncode, res.stderr[-3000:])
    states, finished, blocks, targets, opened_in_block, opened_on_target, opened_on_mode = map(int, res.stdout.split())
    assert finished == 40                  # every playout reached the end of its game
    assert states > 40 * 10                # and had decisions to check on the way
    assert blocks and targets              # the response window and target choices were reached
    assert 5 <= opened_in_block <= 30      # some positions start in a response window
    assert opened_on_target >= 2 and opened_on_mode >= 2   # and some in a pending choice of each kind


def test_random_position_conserves_cards_and_varies():
    """The generator's own contract: each player keeps its decklist's cards and IKZ list's
    cards (a pending choice's card included: on the board or, a spell, in the discard), and the
    positions differ in what they put where."""
    import numpy as np
    from collections import Counter
    from scenario import random_position
    from verification.layout import (B_CARD, B_WEAPON, B_WIDTH, DECK_SIZE, IKZ_DECK_SIZE, P_BOARD, P_DECK,
                                     P_DECK_N, P_DECKLIST, P_DISC, P_DISC_N, P_HAND, P_HAND_N, P_IKZ, P_IKZ_N,
                                     P_IKZDECK, P_IKZDECK_N, P_IKZLIST)
    from verification.rules import pbase
    from verification.spec import BOARD_SLOTS
    from verification.layout import PH_CHOOSE_MODE, PH_CHOOSE_TARGET
    seen, pending = set(), set()
    for seed, pend in [(s, p) for s in range(12) for p in (0.0, 1.0)]:
        g = random_position(np.random.default_rng(seed), pend=pend)
        pending.add(g.phase if g.phase in (PH_CHOOSE_MODE, PH_CHOOSE_TARGET) else None)
        r = g.row
        for p in (0, 1):
            b = pbase(p)
            zones = [r[b + P_DECK:b + P_DECK + r[b + P_DECK_N]], r[b + P_HAND:b + P_HAND + r[b + P_HAND_N]],
                     r[b + P_DISC:b + P_DISC + r[b + P_DISC_N]]]
            board = r[b + P_BOARD:b + P_BOARD + BOARD_SLOTS * B_WIDTH].reshape(BOARD_SLOTS, B_WIDTH)
            held = [int(c) for z in zones for c in z] + [int(c) for c in board[:, B_CARD] if c] + \
                [int(c) for c in board[:, B_WEAPON] if c]
            assert Counter(held) == Counter(int(c) for c in r[b + P_DECKLIST:b + P_DECKLIST + DECK_SIZE])
            ikz = list(r[b + P_IKZ:b + P_IKZ + r[b + P_IKZ_N]]) + list(r[b + P_IKZDECK:b + P_IKZDECK + r[b + P_IKZDECK_N]])
            assert Counter(int(c) for c in ikz) == Counter(int(c) for c in r[b + P_IKZLIST:b + P_IKZLIST + IKZ_DECK_SIZE])
            seen.add((p, int((board[:, B_CARD] > 0).sum()), int(r[b + P_HAND_N]), int((board[:, B_WEAPON] > 0).sum() > 0)))
    assert len(seen) > 12
    assert pending == {None, PH_CHOOSE_MODE, PH_CHOOSE_TARGET}


def test_the_batched_env_plays_hand_built_positions_as_game_state_does():
    """``VecTCG.load_state`` takes a batch of hand-built positions; stepping them with random
    legal tuples gives, row by row, the legal lists, observations and states ``GameState``
    gives, and on the step a game ends, the same outcome: terminal or truncated, and +1/-1/0
    for the two seats as the winner says."""
    import numpy as np
    from scenario import random_position
    from tcg_env import GameState, VecTCG
    n = 24
    rng = np.random.default_rng(11)
    games = [random_position(rng, block=0.4, pend=0.3) for _ in range(n)]
    env = VecTCG(n, seed=3)
    env.load_state(np.stack([g.row for g in games]))
    live = np.ones(n, bool)
    ended = 0
    for _ in range(400):
        acts = np.zeros((n, 4), np.int32)
        for i in np.nonzero(live)[0]:
            g = games[i]
            legal = g.legal_tuples()
            assert np.array_equal(env.legal_tuples[i, :env.legal_count[i]], legal), i
            assert env.current_player[i] == g.current_player
            assert np.array_equal(env.observations[i], g.observation()), i
            assert np.array_equal(env.state[i], g.row), i
            acts[i] = legal[rng.integers(len(legal))]
        for i in np.nonzero(~live)[0]:   # rows already past their hand-built game: any legal tuple
            acts[i] = env.legal_tuples[i, rng.integers(env.legal_count[i])]
        env.step(acts)
        for i in np.nonzero(live)[0]:
            g = games[i].apply(tuple(int(x) for x in acts[i]))
            assert bool(env.terminals[i]) == g.terminated and bool(env.truncations[i]) == g.truncated, i
            if g.done:
                live[i] = False
                ended += 1
                want = [0.0, 0.0] if g.winner in (None, 2) else [1.0 if s == g.winner else -1.0 for s in (0, 1)]
                assert env.seat_rewards[i].tolist() == want, (i, g.winner)
        if not live.any():
            break
    assert ended == n
