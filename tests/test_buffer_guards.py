"""What a user's Python can do to the arrays the kernels index by, and what it may not.

The numba kernels trust their rows and buffers (no bounds checks): a hand count of 99999
written into a state row, or a short array bound where a buffer was, made them read or write
out of bounds (a segfault, or a corrupted heap). Each face now refuses these before any
kernel runs, and the refused call changes nothing:

- ``VecTCG``: no buffer can be rebound; ``state``, ``decks``, ``cards`` (and the legal lists)
  are read-only views; values written into ``actions`` are range-checked by ``step()``.
- ``GameState``: a row written from outside is checked (``state_rows_problem``) once before
  the next kernel reads it; rows the engine wrote are not checked again.
- Gymnasium ``env.state`` and PettingZoo ``env.game`` are copies, so nothing done to them
  moves the env or leaves its legal list stale.
- The shipped card table is read-only.
"""
import re

import numpy as np
import pytest

from prefabs import default_pool
from prefabs.table import C_TOKEN as T_TOKEN
from scenario import end_turn
from tcg_env import GameState, StateFormatError
from tcg_env import state as state_module
from tcg_env.bots import HeuristicBot, RandomBot
from tcg_env.vec import VecTCG
from verification import layout as L

HAND_N = L.P0 + L.P_HAND_N   # player 0's hand count: the kernels index the hand by it

BUFFERS = ("cards", "state", "decks", "observations", "legal_tuples", "legal_count", "current_player", "actions",
           "rewards", "seat_rewards", "terminals", "truncations", "masks", "illegal_counts", "final_observations")


def _play(env: VecTCG, steps: int) -> None:
    bot = RandomBot(7)
    for _ in range(steps):
        env.step(bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count))


def test_no_vec_buffer_can_be_rebound_and_the_games_go_on_as_before():
    """``env.terminals = short`` made the kernel write past the new array's end, and
    ``env.actions = np.int64 array`` compiled a new kernel or misread it. Every buffer refuses
    rebinding with an AttributeError that names it and says what to do instead; the env then
    plays exactly the games of an untouched one."""
    env, twin = VecTCG(3, seed=5), VecTCG(3, seed=5)
    _play(env, 5)
    _play(twin, 5)
    for name in BUFFERS:
        old = getattr(env, name)
        with pytest.raises(AttributeError, match=rf"^VecTCG\.{name} is a buffer the kernels use in place and "
                                                 r"cannot be rebound; ") as e:
            setattr(env, name, np.zeros(2, np.int32))
        assert getattr(env, name) is old
        if old.flags.writeable:
            assert f"env.{name}[...] = ..." in str(e.value)
        else:
            assert "read-only" in str(e.value) and ("env.load_state(rows)" in str(e.value)) == (name == "state")
    _play(env, 20)
    _play(twin, 20)
    assert np.array_equal(env.state, twin.state) and np.array_equal(env.observations, twin.observations)


def test_game_rows_decks_and_cards_are_read_only_views():
    """The rows, decks and card table are what the kernels index by: writing a word refuses
    (numpy's read-only error) and changes nothing. Saved games go in with ``load_state``,
    which checks them."""
    env = VecTCG(2, seed=1)
    state, decks = env.state.copy(), env.decks.copy()
    for name, where in (("state", (0, HAND_N)), ("decks", (1, 0, 3)), ("cards", (5, 2))):
        with pytest.raises(ValueError, match="read-only"):
            getattr(env, name)[where] = 99999
    assert np.array_equal(env.state, state) and np.array_equal(env.decks, decks)
    assert not default_pool().table.flags.writeable
    rows = env.state.copy()
    rows[0, HAND_N] = 99999
    with pytest.raises(StateFormatError, match=r"row 0: player 0 hand count .* is 99999"):
        env.load_state(rows)
    assert np.array_equal(env.state, state)


def test_values_written_into_the_actions_buffer_are_range_checked_like_an_array_handed_in():
    """``env.actions[...] = ...; env.step()`` is the buffer contract's way to act. A value
    outside its head's range was counted as one more illegal action there while an array
    handed to ``step`` raised; both now raise the same ValueError, before anything changes."""
    env = VecTCG(2, seed=3)
    state = env.state.copy()
    env.actions[:] = env.legal_tuples[:, 0]
    env.actions[1, 0] = 99
    with pytest.raises(ValueError, match=r"^actions\[1, 0\] = 99 \(written into the actions buffer\) is out of "
                                         r"range 0\.\.12$"):
        env.step()
    env.actions[1, 0] = -1
    with pytest.raises(ValueError, match=r"^actions\[1, 0\] = -1 \(written into the actions buffer\)"):
        env.step()
    assert np.array_equal(env.state, state) and not env.illegal_counts.any()
    env.actions[1] = env.legal_tuples[1, 0]
    env.step()
    assert not env.illegal_counts.any() and not np.array_equal(env.state, state)


def test_a_masked_action_array_is_refused_rather_than_played_under_its_mask():
    """``np.asarray`` drops a masked array's mask, so the values it hides were played."""
    env = VecTCG(2, seed=3)
    state = env.state.copy()
    acts = np.ma.masked_array(env.legal_tuples[:, 0].astype(np.int32), mask=[[1, 1, 1, 1], [0, 0, 0, 0]])
    with pytest.raises(ValueError, match="not a masked array"):
        env.step(acts)
    assert np.array_equal(env.state, state)


@pytest.mark.parametrize("use", ["legal_tuples", "explain", "observation", "apply", "apply_unchecked"])
def test_a_game_row_written_from_outside_is_checked_before_a_kernel_reads_it(use):
    """``GameState.row`` stays writable (scenarios set positions up by hand), but a word no
    game can hold (a hand count of 99999) reached the kernels, which read and wrote by it:
    a checked ``apply`` segfaulted. Now every method that hands the row to a kernel checks a
    row written from outside first and raises StateFormatError naming the word; the row is
    left as it was, and once mended the game goes on."""
    g = GameState.new(seed=4)
    legal = g.legal_tuples()
    g.row[HAND_N] = 99999
    row = g.row.copy()
    calls = {"legal_tuples": lambda: g.legal_tuples(), "explain": lambda: g.explain(tuple(legal[0])),
             "observation": lambda: g.observation(0), "apply": lambda: g.apply(tuple(legal[0])),
             "apply_unchecked": lambda: g.apply_unchecked(tuple(legal[0]))}
    with pytest.raises(StateFormatError, match=r"player 0 hand count \(word \d+\) is 99999, outside 0\.\.10"):
        calls[use]()
    assert np.array_equal(g.row, row)
    g.row[HAND_N] = GameState.new(seed=4).row[HAND_N]
    assert np.array_equal(g.legal_tuples(), legal)
    calls[use]()


def test_a_row_handed_to_the_constructor_is_checked_and_a_bad_row_rebinding_refused():
    good = GameState.new(seed=4).row
    bad = good.copy()
    bad[L.P0 + L.PLAYER_WORDS + L.P_DECK_N] = -3
    g = GameState(bad)
    with pytest.raises(StateFormatError, match=r"player 1 deck count .* is -3"):
        g.legal_tuples()
    with pytest.raises(StateFormatError, match=r"a state row is int32\[\d+\], got int64"):
        g.row = good.astype(np.int64)
    g.row = good.copy()
    assert len(g.legal_tuples()) > 0
    with pytest.raises(TypeError, match="pool must be a CardPool"):
        GameState(good.copy(), pool="default")


def test_rows_the_engine_wrote_are_not_checked_again(monkeypatch):
    """The full row check costs milliseconds; a game played move by move, its clones and the
    vector env's copies run it never. A word written from outside costs one check, then none."""
    calls = []
    real = state_module.state_rows_problem

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(state_module, "state_rows_problem", counting)
    g = GameState.new(seed=9)
    bot = HeuristicBot(0)
    for _ in range(30):
        if g.done:
            break
        g.apply(bot.act(g))
        g.clone().observation()
    env = VecTCG(2, seed=2)
    env.game(1).legal_tuples()
    assert calls == []
    g.row[L.G_TURN] = g.row[L.G_TURN]   # written from outside, same value: nothing to check
    g.legal_tuples()
    assert calls == []
    t = g.row[L.P0 + L.P_HP]
    g.row[L.P0 + L.P_HP] = max(int(t) - 1, 1)
    g.legal_tuples()
    g.legal_tuples()
    g.clone().legal_tuples()
    assert calls == [1]


def test_gym_state_is_a_copy_whose_changes_do_not_move_the_env():
    """``env.state`` was the live game: a move applied to it left the env's legal list stale
    (its next step played a tuple no longer legal), and a word written into its row reached
    the env's kernels. Now it is a copy."""
    from tcg_env.gym_env import DuelEnv
    env = DuelEnv(opponent="random")
    obs, _ = env.reset(seed=11)
    before = env.state.row.copy()
    s = env.state
    s.apply(tuple(s.legal_tuples()[0]))
    s.row[HAND_N] = 99999
    assert np.array_equal(env.state.row, before)
    obs, *_ = env.step(obs["legal_tuples"][0])
    assert env.state.decisions > int(before[L.G_DECISIONS])


def test_a_callable_opponent_gets_a_copy_it_may_change():
    """The callable opponent sees the true state, as a copy: searching on it in place, or
    writing into its row, does not move the env."""
    from tcg_env.gym_env import DuelEnv

    def scribbler(state):
        move = tuple(int(x) for x in state.legal_tuples()[0])
        state.apply(move)            # plays its own move on what it was given
        state.row[HAND_N] = 99999    # and leaves garbage behind
        return move

    env = DuelEnv(opponent=scribbler)
    obs, _ = env.reset(seed=2)
    for _ in range(40):
        obs, _, term, trunc, _ = env.step(obs["legal_tuples"][0])
        if term or trunc:
            break
    assert env.state.decisions > 5 and GameState.from_bytes(env.state.to_bytes()) == env.state


def test_aec_game_is_a_copy_and_last_before_reset_says_so():
    from tcg_env.aec import raw_env
    from tcg_env.gym_env import ResetNeededError
    env = raw_env()
    with pytest.raises(ResetNeededError, match=r"last\(\) before the first reset\(\)"):
        env.last()
    env.reset(seed=3)
    before = env.game.row.copy()
    g = env.game
    g.apply(tuple(g.legal_tuples()[0]))
    g.row[HAND_N] = 99999
    assert np.array_equal(env.game.row, before)
    env.step(0)
    assert env.game.decisions == int(before[L.G_DECISIONS]) + 1


def test_flat_observation_helpers_name_a_wrong_shape():
    from tcg_env.puffer import seat, unpack
    for bad in (np.int8(3), np.zeros((2, 5), np.int8)):
        for f in (seat, unpack):
            with pytest.raises(ValueError, match="expected flat observations with a last axis of 6544"):
                f(bad)


def test_end_turn_still_plays_on_a_checked_scenario_row():
    """Hand-built positions the checks accept play as before (one check after the edits)."""
    from scenario import Scenario
    st = Scenario().main_phase(active=0).hand(0, ["Siege Golem"]).build()
    st.apply(end_turn())
    assert st.current_player == 1


def test_hand_built_positions_stay_readable_move_after_move():
    """Property: a hand-built position the kernels can read (``hand_built=True``), however far
    from a real game, never makes them write a row they cannot read. Random conserving positions
    (``random_position``, response windows and pending choices among them) get 1-6 random words
    set to random values within their ranges (extra cards, gaps, odd flags, phases, counts up to
    a zone's size); those the kernel check accepts are played by random legal moves. Each move's
    row is checked before the next kernel call (the GameState does it), so a move that wrote a
    word out of range fails here by name, and one that wrote outside the row crashes the test."""
    from scenario import random_position
    from tcg_env.state import _row_checks, state_rows_problem
    pool = default_pool()
    checks = _row_checks(len(pool))
    rng = np.random.default_rng(2026)
    played = moves = unreachable = 0
    for _ in range(60):
        g = random_position(rng, pool, block=0.3, pend=0.3)
        for _ in range(int(rng.integers(1, 7))):
            _, cols, lo, hi = checks[int(rng.integers(len(checks)))]
            g.row[cols[int(rng.integers(len(cols)))]] = int(rng.integers(lo, hi + 1))
        if state_rows_problem(g.row, pool, hand_built=True) is not None:
            continue
        played += 1
        unreachable += state_rows_problem(g.row, pool) is not None
        for _ in range(25):
            legal = g.legal_tuples()
            if g.done or len(legal) == 0:
                break
            g.apply(tuple(legal[int(rng.integers(len(legal)))]))
            moves += 1
    assert played >= 40 and unreachable >= 25 and moves >= 600, (played, unreachable, moves)   # 55, 42, 905


@pytest.mark.parametrize("make", [lambda: HeuristicBot(0), lambda: __import__("tcg_env.bots.search", fromlist=["x"])
                                  .SearchBot(1, simulations=4)], ids=["builtin", "search"])
def test_a_bots_act_batch_refuses_shapes_and_indices_it_would_read_or_write_past(make):
    """``act_batch`` takes arrays: a row index past the batch wrote past ``out``, a count past
    MAX_LEGAL read past the legal list, and a mismatched batch read past the shorter arrays.
    Each is a ValueError naming the argument, and ``out`` is left as it was."""
    env = VecTCG(3, seed=4)
    bot = make()
    args = (env.state, env.cards, env.legal_tuples, env.legal_count)
    out = np.full((3, 4), 7, np.int32)
    counts = np.array(env.legal_count)
    counts[1] = 5000
    for kw, says in ((dict(rows=[0, 3]), r"rows must be indices in 0\.\.2, got 0\.\.3"),
                     (dict(rows=[-1]), r"rows must be indices in 0\.\.2, got -1\.\.-1"),
                     (dict(rows=[[0, 1]]), "rows must be a list of row indices"),
                     (dict(rows=[0.5]), "rows must be a list of row indices"),
                     (dict(out=np.zeros((2, 4), np.int32)), r"out must be an array of shape \[3, 4\], got \[2, 4\]"),
                     (dict(rng=np.ones(2, np.uint64)), r"rng must be an array of shape \[3\]"),
                     (dict(legal_n=counts), r"legal_n holds a count outside 0\.\.1435"),
                     (dict(legal=env.legal_tuples[:2]), r"legal must be an array of shape \[3, 1435, 4\]"),
                     (dict(state=env.state[:, :10]), r"state must be an array of shape \[3, \d+\]")):
        a = dict(zip(("state", "cards", "legal", "legal_n"), args))
        a.update({k: v for k, v in kw.items() if k in a})
        extra = {k: v for k, v in kw.items() if k not in a}
        extra.setdefault("out", out)
        with pytest.raises(ValueError, match="act_batch: " + says):
            bot.act_batch(a["state"], a["cards"], a["legal"], a["legal_n"], **extra)
        assert (out == 7).all()
    got = bot.act_batch(*args, out=out, rows=np.array([2], np.int32))
    assert (got[:2] == 7).all() and env.game(2).explain(tuple(int(x) for x in got[2])) is None


def test_each_place_holds_its_kind_of_card():
    """Found by a bounds-checked fuzz of hand-built rows: the checks took any card id in range
    anywhere. A spell with a chosen target (Blessing of Might) on top of an IKZ deck arrived as
    an IKZ card and resolved its effect with no target, on its owner's own discard (ids past the
    count, id 94 where the table ends at 92: the search bot then wrote outside its arrays); a
    spell as the leader gave the next game of a VecTCG row 0 health. Both checks now refuse a
    card of the wrong kind where the engine reads its abilities or stats by where it is; the
    full check also refuses one where no game puts it (a token in a deck, an IKZ card in a hand).
    And the engine resolves nothing on a target that never came."""
    from scenario import Scenario
    from tcg_env import engine
    from verification.spec import Primary
    pool = default_pool()
    spell = pool.id_of("Blessing of Might")
    st = Scenario().main_phase(active=0).build()
    b1 = L.P0 + L.PLAYER_WORDS
    top = b1 + L.P_IKZDECK + int(st.row[b1 + L.P_IKZDECK_N]) - 1
    assert state_module.state_rows_problem(st.row, pool) is None
    row = st.row.copy()
    row[top] = spell
    says = f"player 1 IKZ deck (word {top}) holds card id {spell}, a SPELL; it holds IKZ cards only"
    for hand_built in (False, True):
        assert state_module.state_rows_problem(row, pool, name_row=False, hand_built=hand_built) == says
    with pytest.raises(StateFormatError, match=re.escape(says)):
        GameState(row.copy(), pool).legal_tuples()
    raw = row.copy()   # the kernel itself, on the refused row: the arrival resolves on no unit
    engine.apply_action(raw, pool.table, int(Primary.END_TURN), 0, 0, 0)
    disc = b1 + L.P_DISC
    assert np.array_equal(raw[disc:disc + L.DISCARD_MAX], row[disc:disc + L.DISCARD_MAX])

    row = st.row.copy()
    row[b1 + L.P_LEADER] = spell
    with pytest.raises(StateFormatError, match=re.escape(f"player 1 leader (word {b1 + L.P_LEADER}) holds card id "
                                                         f"{spell}, a SPELL; it holds a LEADER card only")):
        GameState(row, pool).legal_tuples()
    token = int(np.flatnonzero(pool.table[:, T_TOKEN])[0])
    ikz = int(st.row[L.P0 + L.P_IKZLIST])
    assert int(st.row[L.P0 + L.P_DECK_N]) >= 2
    for where, card, holds in ((L.P0 + L.P_DECK, token, "token"), (L.P0 + L.P_DECK + 1, ikz, "IKZ")):
        row = st.row.copy()
        row[where] = card
        problem = state_module.state_rows_problem(row, pool, name_row=False)
        assert problem.endswith("it holds units, weapons and spells (no token) only") and holds in problem
        assert state_module.state_rows_problem(row, pool, hand_built=True) is None   # readable: it plays on
    row = st.row.copy()
    row[L.P0 + L.P_IKZ_TAPPED] = int(row[L.P0 + L.P_IKZ_N]) + 1   # the observation's untapped count went negative
    assert "tapped IKZ but" in state_module.state_rows_problem(row, pool, hand_built=True)
