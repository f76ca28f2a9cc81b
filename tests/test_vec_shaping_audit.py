"""Second-round mutation audit of the native batched env (``tcg_env/vec.py`` and the fused
kernel it calls, ``engine.step_batch``) and of the shaping potential (``training/shaping.py``).
Each test pins one behaviour with values taken from hand-built positions (``scenario``), from
the module docstrings' buffer table, or from a second env built independently."""
import numpy as np
import pytest

import tcg_env.vec as vec
from prefabs import DeckError
from scenario import Scenario, attack
from tcg_env import VecTCG
from tcg_env.observation import OBS_SIZE
from training.shaping import potential
from verification.spec import HEAD_SIZES, MAX_LEGAL

NAMES = ("Emberfang Rush", "Thornwall Bastion", "Sagefire Circle")
ILLEGAL = (5, 31, 31, 1)   # in range for every head, legal nowhere in these games


def _first_legal(env):
    return env.legal_tuples[:, 0].astype(np.int32)


def _lethal_env(n=2, threads=1):
    """Games where the seat to move wins by attacking: seat 0 in even rows, seat 1 in odd ones
    (each has a ready unit in garden slot 0 and the enemy leader is at 1 health with nothing to
    block)."""
    rows = [Scenario(seed=3 + i).main_phase(active=i % 2).leader(1 - i % 2, hp=1).unit(i % 2, 0, "Rivet Sentry")
            .build().row for i in range(n)]
    env = VecTCG(n, seed=0, threads=threads)
    env.load_state(np.stack(rows))
    assert env.current_player.tolist() == [i % 2 for i in range(n)]
    return env


# ------------------------------------------------------------------ buffers and arguments
def test_buffers_have_the_documented_shapes_and_dtypes_and_views_share_the_observations():
    """Every buffer of the module docstring's table has its shape and dtype (the PufferLib
    contract: float32 rewards, bool flags and masks, int8 observations), and ``view()`` is a
    view of the observation buffer, so it shows each step's new observations."""
    n = 3
    env = VecTCG(n, seed=2)
    want = {"observations": ((n, OBS_SIZE), np.int8), "legal_tuples": ((n, MAX_LEGAL, 4), np.int8),
            "legal_count": ((n,), np.int32), "current_player": ((n,), np.int32), "actions": ((n, 4), np.int32),
            "rewards": ((n,), np.float32), "seat_rewards": ((n, 2), np.float32), "terminals": ((n,), np.bool_),
            "truncations": ((n,), np.bool_), "masks": ((n,), np.bool_), "illegal_counts": ((n,), np.int32),
            "final_observations": ((n, 2, OBS_SIZE), np.int8)}
    for name, (shape, dtype) in want.items():
        buf = getattr(env, name)
        assert buf.shape == shape and buf.dtype == dtype, (name, buf.shape, buf.dtype)
    g = env.view("globals")
    assert np.shares_memory(g, env.observations)
    env.step(_first_legal(env))
    assert np.array_equal(g, vec.view(env.observations, "globals"))


def test_decks_must_be_one_of_the_documented_forms():
    """A tuple of three deck names is not a pair, a list needs exactly one pair per game (not
    more), and each entry of that list must be a pair, not a triple."""
    with pytest.raises(DeckError, match=r"decks\[0\] = 'Emberfang Rush' is not a pair"):
        VecTCG(3, decks=NAMES)
    with pytest.raises(DeckError, match="got 3 pairs for 2 games"):
        VecTCG(2, decks=[NAMES[:2]] * 3)
    with pytest.raises(DeckError, match=r"decks\[1\] = .* is not a pair"):
        VecTCG(2, decks=[NAMES[:2], NAMES])


def test_num_games_may_be_exactly_the_cap(monkeypatch):
    """``num_games`` runs 1..MAX_GAMES inclusive (the cap is read when the env is built, so a
    small cap stands in for the 10 GB one)."""
    monkeypatch.setattr(vec, "MAX_GAMES", 3)
    assert VecTCG(3, seed=1).num_games == 3
    with pytest.raises(ValueError, match="num_games must be an integer in 1..3, got 4"):
        VecTCG(4, seed=1)


def test_threads_must_be_positive_and_threaded_illegal_counts_add_up():
    """threads=0 is refused; with three threads an illegal tuple in the first and in the last
    slice both count in the step's report."""
    with pytest.raises(ValueError, match="threads must be a positive integer, got 0"):
        VecTCG(2, threads=0)
    env = VecTCG(6, seed=1, threads=3)
    acts = _first_legal(env)
    acts[0] = acts[5] = ILLEGAL
    _, _, _, _, infos = env.step(acts)
    assert infos == [{"illegal_actions": 2, "illegal_rows": [0, 5]}]
    assert env.illegal_counts.tolist() == [1, 0, 0, 0, 0, 1]
    env.close()


def test_out_of_range_actions_raise_naming_the_cell_and_its_head_range():
    """A value equal to a head's size, or below 0, raises before anything is played; the message
    names the cell, its value and that head's range."""
    env = VecTCG(4, seed=0)
    before = env.state.copy()
    for k, size in enumerate(HEAD_SIZES):
        for bad in (size, -1):
            acts = _first_legal(env)
            acts[1, k] = bad
            with pytest.raises(ValueError, match=rf"^actions\[1, {k}\] = {bad} is out of range 0..{size - 1}$"):
                env.step(acts)
    assert np.array_equal(env.state, before) and not env.illegal_counts.any()


def test_game_returns_a_copy_of_the_row():
    """Playing on the GameState that ``game(i)`` returns leaves the env's row alone."""
    env = VecTCG(2, seed=4)
    before = env.state.copy()
    g = env.game(1)
    g.apply(tuple(g.legal_tuples()[0]))
    assert np.array_equal(env.state, before)
    assert not np.array_equal(g.row, before[1])


# ------------------------------------------------------------------ seeds
def test_reset_with_seed_zero_uses_seed_zero():
    """``reset(seed=0)`` switches to seed 0 (0 is a seed, not "keep the current one")."""
    env = VecTCG(3, seed=5)
    env.reset(seed=0)
    assert env.seed == 0
    assert np.array_equal(env.state, VecTCG(3, seed=0).state)


def test_seeds_differing_only_in_high_bits_choose_different_games():
    """Every 64-bit seed picks its own games: seeds that agree in their low 32 bits do not
    replay each other's games."""
    for a, b in ((0, 2 ** 32), (7, 7 + 2 ** 40), (2 ** 32 - 1, 2 ** 64 - 1)):
        ea, eb = VecTCG(2, seed=a), VecTCG(2, seed=b)
        assert not (vec.game_seeds(a, 4) == vec.game_seeds(b, 4)).any()
        assert all(not np.array_equal(ea.state[i], eb.state[i]) for i in range(2))


# ------------------------------------------------------------------ game ends, rewards, illegal steps
def test_a_won_game_pays_the_seat_that_acted_and_an_illegal_step_after_it_clears_every_result():
    """Row 0: seat 0 wins; row 1: seat 1 wins. ``rewards`` is +1 for the seat that acted in both
    rows, ``seat_rewards`` is (+1, -1) / (-1, +1), the step is a terminal (not a truncation).
    An illegal tuple on the next step of row 0 leaves its reward, flags and seat rewards at 0
    (nothing was played), while row 1 plays on normally."""
    env = _lethal_env()
    env.step(np.array([attack(0), attack(0)], np.int32))
    assert env.terminals.tolist() == [True, True] and not env.truncations.any()
    assert env.rewards.tolist() == [1.0, 1.0]
    assert env.seat_rewards.tolist() == [[1.0, -1.0], [-1.0, 1.0]]
    assert all(env.game(i).turn == 1 and not env.game(i).done for i in range(2))   # already reset
    acts = _first_legal(env)
    acts[0] = ILLEGAL
    _, rewards, terms, truncs, infos = env.step(acts)
    assert infos == [{"illegal_actions": 1, "illegal_rows": [0]}]
    assert rewards.tolist() == [0.0, 0.0] and not terms.any() and not truncs.any()
    assert not env.seat_rewards.any()


def test_threaded_stepping_reports_each_rows_own_game_end():
    """With three threads stepping slices of six ending games, every row's final views, rewards
    and illegal count are its own (the same as one thread's), the last slice's included."""
    acts = np.array([attack(0)] * 6, np.int32)
    acts[4] = ILLEGAL
    one, three = _lethal_env(6), _lethal_env(6, threads=3)
    one.step(acts)
    three.step(acts)
    assert one.terminals.tolist() == [True] * 4 + [False, True]
    for name in ("final_observations", "rewards", "seat_rewards", "terminals", "illegal_counts", "observations",
                 "state"):
        assert np.array_equal(getattr(one, name), getattr(three, name)), name
    three.close()


def test_repeated_illegal_tuples_in_one_row_are_all_counted_and_reported():
    """Each illegal tuple counts: two in a row make ``illegal_counts`` 2, and the second step
    reports the row again (its count moved)."""
    env = VecTCG(3, seed=2)
    for k in (1, 2):
        acts = _first_legal(env)
        acts[2] = ILLEGAL
        _, _, _, _, infos = env.step(acts)
        assert infos == [{"illegal_actions": 1, "illegal_rows": [2]}]
        assert env.illegal_counts.tolist() == [0, 0, k]


def test_illegal_rows_name_only_the_rows_of_this_step_after_counts_are_restored():
    """``infos``' ``illegal_rows`` are the rows whose tuple was illegal in this step, also after
    ``illegal_counts`` was set from outside (as a resumed Trainer sets it from a checkpoint)."""
    env = VecTCG(3, seed=0)
    env.illegal_counts[...] = [4, 0, 0]
    acts = _first_legal(env)
    acts[2] = ILLEGAL
    _, _, _, _, infos = env.step(acts)
    assert env.illegal_counts.tolist() == [4, 0, 1]
    assert infos == [{"illegal_actions": 1, "illegal_rows": [2]}]


def test_reset_after_a_game_end_and_an_illegal_step_starts_clean():
    """After a step where row 1 won and row 0 played an illegal tuple, ``reset()`` clears rewards,
    seat rewards and both flags, and an illegal tuple in row 0 after the reset is reported
    (its count starts again from 0)."""
    env = _lethal_env()
    env.step(np.array([ILLEGAL, attack(0)], np.int32))
    assert env.terminals.tolist() == [False, True] and env.rewards.tolist() == [0.0, 1.0]
    assert env.illegal_counts.tolist() == [1, 0]
    env.reset()
    assert not env.rewards.any() and not env.seat_rewards.any()
    assert not env.terminals.any() and not env.truncations.any()
    acts = _first_legal(env)
    acts[0] = ILLEGAL
    _, _, _, _, infos = env.step(acts)
    assert infos == [{"illegal_actions": 1, "illegal_rows": [0]}]


def test_tuples_off_the_legal_list_are_refused_stale_rows_past_the_count_included():
    """Rows past ``legal_count`` are never read: the stale tuple just past the count is refused
    like any unlisted one, and so is a listed tuple with any one slot changed (when the change
    is not itself listed). Each refused row is counted, reported and left unchanged."""
    n_games = 8
    env = VecTCG(n_games, seed=6)
    rng = np.random.default_rng(6)
    tried = dict.fromkeys(("stale", 0, 1, 2, 3), 0)
    for step in range(40):
        n = env.legal_count.copy()
        acts = env.legal_tuples[np.arange(n_games), rng.integers(0, n)].astype(np.int32)
        refused = []
        for i in range(n_games if step % 2 else 0):   # even steps play on, odd ones try off-list tuples
            listed = {tuple(t) for t in env.legal_tuples[i, :n[i]].tolist()}
            kind = (step // 2 + i) % 5
            if kind == 4 and n[i] < MAX_LEGAL:
                kind, cand = "stale", tuple(env.legal_tuples[i, n[i]].tolist())
            else:
                kind %= 4
                t = env.legal_tuples[i, rng.integers(n[i])].tolist()
                t[kind] = (t[kind] + 1) % HEAD_SIZES[kind]
                cand = tuple(t)
            if cand in listed:
                continue
            acts[i] = cand
            refused.append(i)
            tried[kind] += 1
        before = env.state.copy()
        counts = env.illegal_counts.copy()
        _, _, _, _, infos = env.step(acts)
        assert infos == ([{"illegal_actions": len(refused), "illegal_rows": refused}] if refused else [])
        assert np.array_equal(env.illegal_counts - counts, np.isin(np.arange(n_games), refused))
        for i in refused:
            assert np.array_equal(env.state[i], before[i])
    assert min(tried.values()) >= 5, tried


# ------------------------------------------------------------------ shaping potential
def _shaping_position():
    """Seat 0: leader 13 health, a 2/3 unit in garden slot 0, two cards in hand. Seat 1: leader
    17 health, a 3/6 unit in alley slot 9, one card in hand."""
    st = (Scenario(seed=3).main_phase(active=0).leader(0, hp=13).leader(1, hp=17)
          .unit(0, 0, "Rivet Sentry", atk=2, hp=3).unit(1, 9, "Rivet Sentry", atk=3, hp=6)
          .hand(0, ["Firebolt", "Wolf Pup"]).hand(1, ["Spark Jolt"]).build())
    return np.stack([st.observation(0), st.observation(1)])


def test_potential_adds_every_weighted_term_negative_weights_included():
    """phi is the weighted sum of the four documented terms, whatever the weights' signs (a
    config accepts any finite weight): seat 0's view has health (13 - 17) / 20, board
    (5 - 9) / 20, enemy board -9 / 20 and hand (2 - 1) / 20; seat 1's view the mirror, with
    enemy board -5 / 20. The result is float32."""
    obs = _shaping_position()
    terms = np.array([[-4, -4, -9, 1], [4, 4, -5, -1]], np.float64) / 20   # [seat, term]
    for w in ((-0.5, 0.0, 0.0, 0.0), (0.0, -0.5, 0.0, 0.0), (0.0, 0.0, -0.5, 0.0), (0.0, 0.0, 0.0, -0.5),
              (0.3, 0.2, 0.1, 0.05), (-0.5, 0.25, -0.75, -2.0)):
        phi = potential(obs, *w)
        assert phi.dtype == np.float32 and phi.shape == (2,)
        assert np.allclose(phi, terms @ np.array(w), atol=1e-6), (w, phi)
