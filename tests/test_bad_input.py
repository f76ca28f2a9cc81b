"""Bad input gets a typed error naming what was wrong, and loses nothing."""
import os

import numpy as np
import pytest

from prefabs import Deck, DeckError, default_decks, default_pool
from tcg_env import ActionOutOfRangeError, GameState, IllegalActionError, StateFormatError, engine
from tcg_env.bench import make_batch
from verification.spec import HEAD_SIZES, Primary


def _main_phase_state(seed=0):
    g = GameState.new(None, None, seed=seed)
    g.apply((Primary.MULLIGAN, 0, 0, 0)).apply((Primary.MULLIGAN, 0, 0, 0))
    return g


@pytest.mark.parametrize("action,fragment", [
    ((13, 0, 0, 0), "primary=13 is out of range 0..12"),
    ((-1, 0, 0, 0), "primary=-1"),
    ((0, 32, 0, 0), "sub1=32 is out of range 0..31"),
    ((0, 0, 0, 2), "sub3=2 is out of range 0..1"),
    ((0, 0, 0), "4 values"),
    ("end", "4 integers"),
    # never rounded or parsed into a legal tuple: the first main-phase tuple is (1, 0, 0, 0)-like
    ((1.7, 0.7, 0.7, 0.7), "4 integers"),
    ((1.0, 0, 0, 0), "4 integers"),
    (("1", "0", "0", "0"), "4 integers"),
    ((True, False, False, False), "4 integers"),
    (np.array([1.0, 0, 0, 0]), "4 integers"),
    # not read as some other tuple: bytes, a set (reordered), a dict (its keys), a generator, a 2-D array
    (b"\x01\x00\x00\x00", "got bytes"),
    ({3, 1, 2, 0}, "got set"),
    ({1: "a", 0: "b", 2: "c", 3: "d"}, "got dict"),
    ((x for x in (1, 0, 0, 0)), "got generator"),
    (np.array([[1, 0, 0, 0]]), "1-D array"),
])
def test_out_of_range_raises_and_changes_nothing(action, fragment):
    g = _main_phase_state()
    before = g.row.copy()
    with pytest.raises(ActionOutOfRangeError) as e:
        g.apply(action)
    assert fragment in str(e.value)
    assert np.array_equal(g.row, before)


def test_illegal_tuples_raise_with_reason_and_change_nothing():
    g = _main_phase_state(1)
    legal = {tuple(r) for r in g.legal_tuples().tolist()}
    before = g.row.copy()
    cases = [
        ((Primary.MULLIGAN, 0, 0, 0), "not allowed in the main phase"),
        ((Primary.END_TURN, 1, 0, 0), "sub1 is unused by END_TURN and must be 0"),
        ((Primary.PLAY_UNIT, 31, 0, 0), "is not a card in your hand"),
        ((Primary.ATTACK, 2, 1, 0), "not one of your units"),
        ((Primary.BLOCK, 2, 0, 0), "not allowed in the main phase"),
        ((Primary.CHOOSE_MODE, 0, 0, 0), "not allowed"),
    ]
    for action, fragment in cases:
        assert tuple(action) not in legal
        with pytest.raises(IllegalActionError) as e:
            g.apply(action)
        assert fragment in e.value.reason, (action, e.value.reason)
        assert g.explain(action) == e.value.reason
        assert np.array_equal(g.row, before)


def test_every_unlisted_tuple_is_rejected_on_sampled_states():
    rng = np.random.default_rng(4)
    g = GameState.new(None, None, seed=77)
    for _ in range(60):
        legal = {tuple(r) for r in g.legal_tuples().tolist()}
        for _ in range(40):
            a = tuple(int(rng.integers(h)) for h in HEAD_SIZES)
            if a in legal:
                continue
            before = g.row.copy()
            with pytest.raises(IllegalActionError):
                g.apply(a)
            assert np.array_equal(g.row, before)
        g.apply(list(legal)[rng.integers(len(legal))])
        if g.done:
            break


def test_game_over_rejects_everything():
    g = GameState.new(None, None, seed=2)
    rng = np.random.default_rng(0)
    while not g.done:
        legal = g.legal_tuples()
        g.apply(legal[rng.integers(len(legal))])
    with pytest.raises(IllegalActionError, match="game is over"):
        g.apply((0, 0, 0, 0))


def test_batch_kernel_counts_illegal_and_leaves_game_unchanged():
    pool, b = make_batch(3)
    n = 3
    actions = np.zeros((n, 4), np.int32)
    for i in range(n):
        actions[i] = b["legal"][i, 0]
    actions[1] = (Primary.ATTACK, 31, 31, 1)   # never legal
    before = b["state"].copy()
    obs_before = b["obs"][1].copy()
    rewards = np.zeros(n, np.float32)
    term = np.zeros(n, np.bool_)
    trunc = np.zeros(n, np.bool_)
    illegal = np.zeros(n, np.int32)
    bad = engine.step_batch(b["state"], pool.table, actions, b["legal"], b["legal_n"], b["obs"], rewards,
                            b["seat_rewards"], term, trunc, b["actor"], illegal,
                                np.zeros((b["obs"].shape[0], 2, b["obs"].shape[1]), np.int8))
    assert bad == 1
    assert illegal.tolist() == [0, 1, 0]
    assert np.array_equal(b["state"][1], before[1])
    assert np.array_equal(b["obs"][1], obs_before)
    assert not np.array_equal(b["state"][0], before[0])


def test_malformed_decks_raise_deck_error():
    pool = default_pool()
    good = next(iter(default_decks().values()))
    with pytest.raises(DeckError, match="unknown deck 'Nope'"):
        GameState.new("Nope", None)
    short = Deck(name="short", plan="x", leader=good.leader, main=good.main[:29], ikz=good.ikz)
    with pytest.raises(DeckError, match="exactly 30"):
        GameState.new(short, None)
    bad_leader = Deck(name="bl", plan="x", leader=good.main[0], main=good.main, ikz=good.ikz)
    with pytest.raises(DeckError, match="not a leader"):
        GameState.new(bad_leader, None)
    assert pool is default_pool()


def test_seed_out_of_range():
    with pytest.raises(ValueError, match="seed"):
        GameState.new(None, None, seed=-1)


def test_seeds_are_integers_never_rounded():
    """A seed of 1.9 or True played seed 1 before; every face now refuses it, as it refuses a
    float action."""
    from tcg_env import VecTCG
    for bad in (1.9, True, "3", -1, 2 ** 64):
        with pytest.raises(ValueError, match="seed must be"):
            GameState.new(None, None, seed=bad)
        with pytest.raises(ValueError, match="seed must be"):
            VecTCG(1, seed=bad)
    env = VecTCG(1, seed=3)
    with pytest.raises(ValueError, match="seed must be"):
        env.reset(2.5)
    assert env.seed == 3
    assert GameState.new(None, None, seed=np.uint64(2 ** 64 - 1)) == GameState.new(None, None, seed=2 ** 64 - 1)
    # the Gym and AEC faces seed through Gymnasium, which takes True for 1: they check it first
    from tcg_env.aec import aec_env
    from tcg_env.gym_env import DuelEnv
    for make in (DuelEnv, aec_env):
        env = make()
        for bad in (True, np.bool_(False), 1.9, -1, 2 ** 64):
            with pytest.raises(ValueError, match="seed must be"):
                env.reset(seed=bad)
        env.reset(seed=np.int64(3))   # a NumPy integer is an integer


def test_batch_env_arguments_get_typed_errors():
    """num_games, decks, game() and view() name what they accept instead of a raw TypeError,
    IndexError or KeyError (or wrapping: game(-1) was the last game)."""
    from tcg_env import VecTCG
    from tcg_env.vec import MAX_GAMES
    for bad in (0, True, 2.0, MAX_GAMES + 1):
        with pytest.raises(ValueError, match="num_games must be an integer in 1"):
            VecTCG(bad)
    for bad, says in ((5, "give None"), (["x", "y"], r"decks\[0\] = 'x' is not a pair"),
                      ([("Nope", "Nope")] * 2, "unknown deck 'Nope'"), ([(None, None)], "got 1 pairs for 2 games")):
        with pytest.raises(DeckError, match=says):
            VecTCG(2, decks=bad)
    env = VecTCG(2, seed=1, decks=("ember", "THORNWALL BASTION"))   # any case or a unique prefix
    names = list(default_decks())
    assert env.decks[0, 1, 0] == default_pool().id_of(default_decks()[names[1]].leader)
    for bad in (2, -1, 1.0):
        with pytest.raises(IndexError, match=r"game index must be an integer in 0..1"):
            env.game(bad)
    with pytest.raises(ValueError, match="unknown observation view 'nope'; views: globals, entities"):
        env.view("nope")
    with pytest.raises(DeckError, match="given by name"):
        GameState.new(5)


def test_corrupt_state_bytes_raise_state_format_error():
    g = _main_phase_state()
    data = g.to_bytes()
    assert GameState.from_bytes(data) == g
    with pytest.raises(StateFormatError, match="expected"):
        GameState.from_bytes(data[:-4])
    with pytest.raises(StateFormatError, match="magic"):
        GameState.from_bytes(b"XXXX" + data[4:])
    wrong_version = bytearray(data)
    wrong_version[4] ^= 0xFF
    with pytest.raises(StateFormatError, match="versions"):
        GameState.from_bytes(bytes(wrong_version))
    wrong_pool = bytearray(data)
    wrong_pool[12] ^= 0xFF
    with pytest.raises(StateFormatError, match="card pool"):
        GameState.from_bytes(bytes(wrong_pool))


def test_observations_are_asked_for_a_seat_0_or_1():
    """An observation for seat 2 (or -1) read past the state's player rows (a segfault in the
    kernel) or fell back to seat 0: both are refused, for one game and for the batch."""
    from tcg_env import VecTCG
    g = GameState.new(None, None, seed=1)
    for bad in (2, -1, 1000000, 1.0, True):
        with pytest.raises(ValueError, match="player must be a seat, 0 or 1"):
            g.observation(bad)
    assert not np.array_equal(g.observation(0), g.observation(1))
    env = VecTCG(2, seed=1)
    for bad in ([2, 2], [0, 100000], [-1, 0], [0], [0.0, 1.0]):
        with pytest.raises(ValueError, match="integer seats, each 0 or 1"):
            env.observe(bad)
    assert np.array_equal(env.observe([0, 1])[1], env.game(1).observation(1))


def test_batch_actions_must_be_integers():
    """A float action array is refused, not truncated onto a legal tuple."""
    from tcg_env import VecTCG
    env = VecTCG(2, seed=1)
    before = env.state.copy()
    with pytest.raises(ValueError, match="integer array"):
        env.step(env.legal_tuples[:, 0] + 0.9)
    assert np.array_equal(env.state, before)


def test_the_batch_env_checks_actions_against_its_own_legal_lists():
    """legal_tuples / legal_count / current_player are read-only views: an edited list let an
    illegal tuple through (and a count of 10**9 segfaulted). load_state derives them again."""
    from tcg_env import VecTCG
    env = VecTCG(2, seed=0)
    for name, value in (("legal_tuples", (1, 0, 0, 1)), ("legal_count", 10 ** 9), ("current_player", 1)):
        with pytest.raises(ValueError, match="read-only"):
            getattr(env, name)[0] = value
    other = VecTCG(2, seed=5)
    for _ in range(12):
        other.step(other.legal_tuples[:, 0].astype(np.int32))
    env.load_state(other.state)
    assert np.array_equal(env.legal_count, other.legal_count)
    assert np.array_equal(env.current_player, other.current_player)
    assert np.array_equal(env.observations, other.observations)
    for i in range(2):
        n = env.legal_count[i]
        assert np.array_equal(env.legal_tuples[i, :n], other.legal_tuples[i, :n])
    with pytest.raises(ValueError, match=r"state must be int32\[2, "):
        env.load_state(other.state.astype(np.int64))


def test_state_rows_from_outside_are_checked_before_the_kernels_read_them():
    """A state from bytes or a checkpoint whose counts, slots, card ids, stats or flags no game
    can hold (a hand of 99 cards, card 500, a leader at 150 health) is refused by name: the
    kernels index by some of those words, and an observation would clip the others. No state
    of real play is refused (property over random games, finished ones included)."""
    from tcg_env import VecTCG
    from tcg_env.state import state_rows_problem
    from verification.layout import B_READY, G_PEND_SLOT, G_TURN, P0, P_BOARD, P_HAND_N, P_HP
    env = VecTCG(64, seed=7)
    rng = np.random.default_rng(7)
    for _ in range(300):
        assert state_rows_problem(env.state, env.pool) is None
        k = rng.integers(0, np.maximum(env.legal_count, 1))
        env.step(env.legal_tuples[np.arange(64), k].astype(np.int32))
    g = GameState.new(None, None, seed=3)
    while not g.done:
        g.apply(tuple(g.legal_tuples()[rng.integers(len(g.legal_tuples()))]))
    assert GameState.from_bytes(g.to_bytes()) == g   # a finished game round-trips
    data = bytearray(_main_phase_state().to_bytes())
    header = len(data) - 4 * env.state.shape[1]
    for word, value, says in ((P0 + P_HAND_N, 99, "player 0 hand count"), (P0 + P_BOARD, 500, "board card id"),
                              (G_PEND_SLOT, 40, "pending slot"), (P0 + P_HP, 150, "player 0 leader health"),
                              (P0 + P_BOARD + B_READY, 2, "player 0 board ready flag"), (G_TURN, 0, "turn")):
        bad = bytearray(data)
        bad[header + 4 * word:header + 4 * word + 4] = int(value).to_bytes(4, "little", signed=True)
        # one row: the message names no "row 0"
        with pytest.raises(StateFormatError, match=f"can hold: (player 0 )?{says} .* is {value}, outside"):
            GameState.from_bytes(bytes(bad))
    rows = env.state.copy()
    rows[5, P0 + P_HAND_N] = -1
    before = env.state.copy()
    with pytest.raises(StateFormatError, match="row 5: player 0 hand count"):
        env.load_state(rows)
    assert np.array_equal(env.state, before)


def test_deck_choice_is_the_one_reading_of_a_decks_setting():
    """`decks` in a train config and `tcg demos --decks` share one parser: 'all' in any case is
    every pairing (None), a name in any case or a unique part of one is that deck, anything else
    a DeckError that lists the decks and says 'all' is allowed too."""
    from prefabs import deck_choice
    from training.config import TrainConfig
    for text in ("all", " ALL ", "All"):
        assert deck_choice(text) is None
        assert TrainConfig.from_dict({"decks": text}).decks == "all"
    assert deck_choice("thorn") == deck_choice("THORNWALL BASTION") == "Thornwall Bastion"
    assert TrainConfig.from_dict({"decks": "thorn"}).decks == "Thornwall Bastion"
    for bad in ("nope", "alll", 3):
        with pytest.raises(DeckError, match=r"prebuilt decks: .*\(or 'all': every pairing\)"):
            deck_choice(bad)
    with pytest.raises(ValueError, match=r"config: decks: unknown deck 'nope'.*or 'all'"):
        TrainConfig.from_dict({"decks": "nope"})


def test_set_values_are_read_as_toml_would_and_the_last_set_wins(tmp_path, capsys, monkeypatch):
    """`--set KEY=VALUE`: true/false in any case are booleans, integers (underscores allowed)
    ints, 1e-3 a float, anything else a string; a key given twice takes its last value. Read
    wrongly, a good --set is refused as the wrong type (or a bad one wins) before any work."""
    from training.cli import main, parse_sets, parse_value
    for text, want in (("true", True), ("False", False), ("TRUE", True), ("3", 3), ("1_000", 1000), ("-2", -2),
                       ("1e-3", 1e-3), ("0.5", 0.5), ("2.", 2.0), ("cpu", "cpu"), ("thorn=2", "thorn=2")):
        got = parse_value(text)
        assert got == want and type(got) is type(want), (text, got)
    assert parse_sets(["a=1", "b=x=y", "a=2"]) == {"a": 2, "b": "x=y"}
    with pytest.raises(ValueError, match="--set expects key=value"):
        parse_sets(["novalue"])
    monkeypatch.chdir(tmp_path)
    # every --set below is good (num_envs ends at 8): only --final-eval-games is refused
    assert main(["train", "--set", "anneal_lr=False", "--set", "learning_rate=1e-3", "--set", "num_envs=2000000",
                 "--set", "num_envs=8", "--final-eval-games", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tcg train: --final-eval-games must be in 2.."), err
    assert list(tmp_path.iterdir()) == []


def test_named_config_and_sets_checks_the_overrides_together():
    """The benchmarks' reading of --config/--set: typed overrides, or a usage error (exit 2)
    naming the setting before anything runs, for a bad type and for a value out of range."""
    import argparse
    from training.cli import named_config_and_sets
    from training.config import TrainConfig
    ap = argparse.ArgumentParser(prog="bench")
    base, sets = named_config_and_sets(ap, "cpu", ["num_envs=8", "learning_rate=1e-3", "anneal_lr=false"])
    assert base == TrainConfig.named("cpu").to_dict()
    assert sets == {"num_envs": 8, "learning_rate": 1e-3, "anneal_lr": False}
    for name, items in (("cpu", ["num_envs=0"]), ("cpu", ["num_envs=many"]), ("cpu", ["wings=3"]),
                        ("nope", []), ("cpu", ["minutes=-1"])):
        with pytest.raises(SystemExit) as e:
            named_config_and_sets(ap, name, items)
        assert e.value.code == 2


def test_cli_eval_and_demos_flags_are_checked_with_clear_errors(tmp_path, capsys):
    """tcg eval refuses fewer than 2 games and a checkpoint opponent's unknown mode; tcg demos
    refuses an --out that is a folder: exit 2 with the flag named, never a traceback."""
    import torch
    from policy import PolicyConfig, TCGPolicy
    from training.checkpoint import save_policy
    from training.cli import main
    torch.manual_seed(0)
    ckpt = str(save_policy(TCGPolicy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32)), tmp_path / "p.pt"))
    for argv, says in ((["eval", "--checkpoint", ckpt, "--games", "1"], "--games must be in 2.."),
                       (["eval", "--checkpoint", ckpt, "--games", "0"], "--games must be in 2.."),
                       (["eval", "--checkpoint", ckpt, "--games", "2", "--opponent", f"checkpoint:{ckpt}@fast"],
                        "must be 'greedy' or 'sample'"),
                       (["demos", "--games", "2", "--out", str(tmp_path)], "is a folder; give a file path"),
                       (["demos", "--games", "2", "--out", str(tmp_path), "--append"], "is a folder; give a file path")):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err, (argv, err)
    assert sorted(os.listdir(tmp_path)) == ["p.pt"]


def test_constructor_arguments_of_the_wrong_type_are_named():
    """from_bytes of something that is not bytes, a VecTCG pool that is not a CardPool and a
    copy_obs that is not a bool were a bare TypeError, an AttributeError deep in the env, and
    "no" read as True."""
    from tcg_env import VecTCG
    from tcg_env.gym_env import DuelEnv
    for bad in (None, 5, "x" * 2092, [0] * 2092):
        with pytest.raises(StateFormatError, match="a saved state is bytes"):
            GameState.from_bytes(bad)
    g = GameState.new(None, None, seed=3)
    assert GameState.from_bytes(bytearray(g.to_bytes())) == g == GameState.from_bytes(memoryview(g.to_bytes()))
    with pytest.raises(TypeError, match="pool must be a CardPool"):
        VecTCG(2, pool=5)
    for bad in ("no", 0, None):
        with pytest.raises(TypeError, match="copy_obs must be True or False"):
            DuelEnv(copy_obs=bad)
    assert DuelEnv(copy_obs=np.bool_(False)).copy_obs is False
