"""The PettingZoo AEC face (tcg_env.aec): API conformance, seeding, agent selection in the
response window, per-agent observations, both action forms, illegal actions, endings."""
import warnings

import numpy as np
import pytest
from pettingzoo.test import api_test, seed_test

from prefabs import default_decks
from tcg_env import GameState
from tcg_env.aec import AGENTS, aec_env
from verification.errors import ActionOutOfRangeError, IllegalActionError
from verification.layout import G_ACTIVE, PH_BLOCK
from verification.spec import MAX_LEGAL, Primary

DECKS = list(default_decks())


def _random_index(rng, obs):
    return int(rng.integers(obs["legal_count"]))


def _play_until(env, rng, stop, max_steps=5000):
    """Step random legal indices until ``stop(env)`` is true or the game ends; True if stopped."""
    for _ in range(max_steps):
        if env.game.done:
            return False
        if stop(env):
            return True
        env.step(_random_index(rng, env.observe(env.agent_selection)))
    raise AssertionError("game did not end")


def _finish(env):
    """Step every finished agent with None until none is left."""
    while env.agents:
        _, _, term, trunc, _ = env.last()
        assert term or trunc
        env.step(None)


def test_api_test_passes():
    # the suite's only advice is about the Dict observation (documented: it carries the legal
    # list); any other warning (NaNs, a reward that is not a number, ...) fails the test
    advisory = {"Observation is not a NumPy array",
                "Observation space for each agent probably should be gymnasium.spaces.box or gymnasium.spaces.discrete"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        api_test(aec_env(), num_cycles=1000)
    assert {str(w.message) for w in caught} <= advisory


def test_seed_test_passes():
    seed_test(aec_env)


def test_same_seed_same_game_and_fixed_decks_match_gamestate():
    a, b = aec_env(), aec_env()
    a.reset(seed=7)
    b.reset(seed=7)
    assert a.game_seed == b.game_seed and np.array_equal(a.game.row, b.game.row)
    rng_a, rng_b = np.random.default_rng(0), np.random.default_rng(0)
    for _ in range(200):
        if a.game.done:
            break
        a.step(_random_index(rng_a, a.observe(a.agent_selection)))
        b.step(_random_index(rng_b, b.observe(b.agent_selection)))
        assert a.agent_selection == b.agent_selection and np.array_equal(a.game.row, b.game.row)
    a.reset(seed=8)
    b.reset(seed=7)
    assert a.game_seed != b.game_seed
    env = aec_env(deck0=DECKS[1], deck1=DECKS[2])
    env.reset(seed=3)
    assert np.array_equal(env.game.row, GameState.new(DECKS[1], DECKS[2], seed=env.game_seed).row)


def test_agent_selection_is_the_deciding_seat_and_the_defender_in_the_block_window():
    env = aec_env()
    rng = np.random.default_rng(5)
    windows = 0
    for game in range(40):
        env.reset(seed=game)
        while not env.game.done:
            assert env.agent_selection == AGENTS[env.game.current_player]
            if env.game.phase == PH_BLOCK:
                active = int(env.game.row[G_ACTIVE])
                assert env.agent_selection == AGENTS[1 - active], "the defender answers the attack"
                obs = env.observe(env.agent_selection)
                prims = {int(t[0]) for t in obs["legal_tuples"][:obs["legal_count"]]}
                assert prims <= {Primary.BLOCK, Primary.NO_BLOCK} and Primary.NO_BLOCK in prims
                assert env.observe(AGENTS[active])["legal_count"] == 0
                windows += 1
            env.step(_random_index(rng, env.observe(env.agent_selection)))
        if windows >= 5:
            break
    assert windows > 0, "no response window reached in random play"


def test_observe_per_agent_legal_lists_masks_and_hidden_info():
    env = aec_env()
    rng = np.random.default_rng(11)
    env.reset(seed=11)
    space = env.observation_space(AGENTS[0])
    steps = 0
    while not env.game.done:
        me = env.agent_selection
        other = AGENTS[1 - AGENTS.index(me)]
        mine, theirs = env.observe(me), env.observe(other)
        legal = env.game.legal_tuples()
        n = len(legal)
        assert mine["legal_count"] == n > 0
        assert np.array_equal(mine["legal_tuples"][:n], legal) and not mine["legal_tuples"][n:].any()
        assert mine["action_mask"].dtype == np.int8 and mine["action_mask"].shape == (MAX_LEGAL,)
        assert mine["action_mask"][:n].all() and not mine["action_mask"][n:].any()
        assert theirs["legal_count"] == 0
        assert not theirs["legal_tuples"].any() and not theirs["action_mask"].any()
        for seat, obs in enumerate((env.observe(AGENTS[0]), env.observe(AGENTS[1]))):
            assert np.array_equal(obs["observation"], env.game.observation(seat)), "each agent sees its own view"
            assert space.contains(obs)
        assert np.array_equal(mine["entities"].reshape(-1), mine["observation"][32:])
        env.step(_random_index(rng, mine))
        steps += 1
        if steps == 150:
            break
    # an observation stays valid after later steps (fresh arrays per observe): a new game, so a
    # step is always there to take
    env.reset(seed=12)
    snap = env.observe(env.agent_selection)
    kept = {k: np.copy(v) for k, v in snap.items()}
    before = env.game.decisions
    env.step(0)
    assert env.game.decisions == before + 1   # the step was taken
    assert all(np.array_equal(snap[k], kept[k]) for k in kept)


def test_tuple_form_matches_index_form():
    a, b = aec_env(), aec_env()
    a.reset(seed=21)
    b.reset(seed=21)
    rng = np.random.default_rng(21)
    for i in range(120):
        if a.game.done:
            break
        obs = a.observe(a.agent_selection)
        k = _random_index(rng, obs)
        a.step(k)
        t = obs["legal_tuples"][k]
        b.step(t if i % 3 == 0 else (tuple(int(x) for x in t) if i % 3 == 1 else [int(x) for x in t]))
        assert a.agent_selection == b.agent_selection and np.array_equal(a.game.row, b.game.row)
    a.reset(seed=21)
    a.step(np.int32(0))      # numpy integer indices are accepted (pettingzoo's action flexibility)
    a.step(np.array(0))


def test_illegal_tuple_and_index_raise_with_reason_and_change_nothing():
    env = aec_env()
    env.reset(seed=4)
    rng = np.random.default_rng(4)
    assert _play_until(env, rng, lambda e: e.game.phase != 0)   # past the mulligans
    row = env.game.row.copy()
    sel, cum = env.agent_selection, dict(env._cumulative_rewards)
    before = env.observe(sel)
    bad = (int(Primary.MULLIGAN), 0, 0, 0)
    with pytest.raises(IllegalActionError) as e:
        env.step(bad)
    assert e.value.reason == env.game.explain(bad) and "mulligan" in e.value.reason.lower()
    assert e.value.action == bad
    with pytest.raises(IllegalActionError, match="not a legal index"):
        env.step(before["legal_count"])
    with pytest.raises(ActionOutOfRangeError, match="outside the action space"):
        env.step(-1)
    with pytest.raises(ActionOutOfRangeError):
        env.step((99, 0, 0, 0))
    with pytest.raises(ActionOutOfRangeError):
        env.step(1.5)
    assert np.array_equal(env.game.row, row)
    assert env.agent_selection == sel and env._cumulative_rewards == cum
    assert not any(env.terminations.values()) and not any(env.truncations.values())
    after = env.observe(sel)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    env.step(0)   # still playable


@pytest.mark.parametrize("form", ["tuple", "index"])
def test_illegal_action_lose_ends_the_game(form):
    env = aec_env(illegal_action="lose")
    env.reset(seed=9)
    offender = env.agent_selection
    other = AGENTS[1 - AGENTS.index(offender)]
    env.step((int(Primary.ATTACK), 2, 1, 0) if form == "tuple" else MAX_LEGAL - 1)
    assert env.terminations == {offender: True, other: True}
    assert env.truncations == {offender: False, other: False}
    assert env.rewards == {offender: -1.0, other: 1.0}
    assert env.agent_selection == other   # the first selected after the end: not the last decider
    for a in AGENTS:
        assert env.infos[a]["winner"] == AGENTS.index(other)
        assert env.infos[a]["illegal_agent"] == offender and env.infos[a]["illegal_action"]
    seen = {}
    while env.agents:
        obs, r, term, trunc, info = env.last()
        assert term and not trunc and obs["legal_count"] == 0 and not obs["action_mask"].any()
        seen[env.agent_selection] = r
        env.step(None)
    assert seen == {offender: -1.0, other: 1.0}
    with pytest.raises(RuntimeError):
        env.step(None)


def test_random_games_finish_with_zero_sum_rewards_and_all_agents_removed():
    env = aec_env()
    rng = np.random.default_rng(2)
    endings = set()
    for game in range(30):
        env.reset(seed=1000 + game)
        final = {}
        for agent in env.agent_iter():
            obs, reward, term, trunc, info = env.last()
            if term or trunc:
                final[agent] = (reward, term, trunc, info)
                env.step(None)
            else:
                assert reward == 0
                env.step(_random_index(rng, obs))
        assert env.agents == [] and set(final) == set(AGENTS)
        assert sum(r for r, *_ in final.values()) == 0
        w = env.game.winner
        for seat, a in enumerate(AGENTS):
            r, term, trunc, info = final[a]
            assert info["winner"] == w
            assert term == env.game.terminated and trunc == env.game.truncated
            assert r == (0.0 if w in (None, 2) else (1.0 if w == seat else -1.0))
        endings.add(w)
    assert {0, 1} <= endings


def test_turn_cap_truncates_both_agents_with_zero_reward():
    env = aec_env()
    env.reset(seed=0)
    while not env.game.done:
        env.step(0)   # keep the opening hand, then always END_TURN: nobody is ever hurt
    assert env.game.truncated
    assert env.truncations == {a: True for a in AGENTS} and env.terminations == {a: False for a in AGENTS}
    assert env.rewards == {a: 0.0 for a in AGENTS}
    assert all(env.infos[a] == {"winner": None} for a in AGENTS)
    _finish(env)
    assert env.agents == []


def test_render_modes(capsys):
    env = aec_env(render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert isinstance(text, str) and "omniscient view" in text
    env = aec_env(render_mode="human")
    env.reset(seed=0)
    assert "Ikazuchi Duel" in capsys.readouterr().out
    with pytest.raises(ValueError, match="render_mode must be None, 'ansi' or 'human', got 'rgb_array'"):
        aec_env(render_mode="rgb_array")
    with pytest.raises(ValueError, match="illegal_action must be 'raise' or 'lose', got 'ignore'"):
        aec_env(illegal_action="ignore")


def test_observe_names_the_agents_and_needs_a_reset():
    env = aec_env()
    with pytest.raises(RuntimeError, match="call reset"):
        env.observe("player_0")
    env.reset(seed=1)
    with pytest.raises(ValueError, match="unknown agent 'player_2'; the agents are player_0, player_1"):
        env.observe("player_2")


def test_step_and_render_need_a_reset():
    import gymnasium
    env = aec_env(render_mode="ansi")
    with pytest.raises(gymnasium.error.ResetNeeded, match="before the first reset"):
        env.step(0)
    with pytest.raises(RuntimeError, match="no board yet"):
        env.render()
    env.reset(seed=2, options={"anything": 1})   # accepted and not read (PettingZoo's api_test passes one)
    assert "omniscient view" in env.render()


def test_a_draw_terminates_both_agents_with_zero_reward(monkeypatch):
    """Both leaders fall in the same draw step (fatigue, and the arriving Cinder IKZ burns the
    other leader): a draw pays both agents 0 and terminates (not truncates) both."""
    from scenario import Scenario, end_turn
    from tcg_env import engine
    st = (Scenario().main_phase(active=0).leader(0, hp=1).leader(1, hp=1)
          .deck(1, []).ikz_deck(1, ["Cinder IKZ"]).build())

    def deal(row, cards, deck0, deck1, seed):
        row[:] = st.row
    monkeypatch.setattr(engine, "reset_game", deal)
    env = aec_env()
    env.reset(seed=0)
    assert env.agent_selection == "player_0"
    env.step(np.array(end_turn()))
    assert env.game.terminated and env.game.winner == 2
    assert env.terminations == {a: True for a in AGENTS} and env.truncations == {a: False for a in AGENTS}
    assert env.agent_selection == "player_1"     # the agent that did not make the last decision
    seen = {}
    for agent in env.agent_iter():
        _, r, term, trunc, info = env.last()
        seen[agent] = (r, term, trunc, info["winner"])
        env.step(None)
    assert seen == {a: (0.0, True, False, 2) for a in AGENTS}


# ------------------------------------------------------------------ mutation audit (aec.py)
def _past_mulligans(seed=4, **kw):
    env = aec_env(**kw)
    env.reset(seed=seed)
    assert _play_until(env, np.random.default_rng(seed), lambda e: e.game.phase != 0)
    return env


def _refused_unchanged(env, action, error, match):
    """``env.step(action)`` raises ``error`` (matching ``match``) and changes nothing: state,
    selection, rewards, flags, or what the selected agent observes."""
    def books():
        return (env.game.row.copy(), env.agent_selection, dict(env.rewards), dict(env._cumulative_rewards),
                dict(env.terminations), dict(env.truncations), env.observe(env.agent_selection))
    before = books()
    with pytest.raises(error, match=match):
        env.step(action)
    after = books()
    assert np.array_equal(before[0], after[0]) and before[1:6] == after[1:6]
    assert all(np.array_equal(before[6][k], after[6][k]) for k in before[6])


@pytest.mark.parametrize("action,says", [
    (np.array([0.0, 0, 0, 0]), "4 integers"), (np.array([1.5, 0, 0, 0]), "4 integers"),
    (np.array([True, False, False, False]), "4 integers"), (np.zeros((1, 4), np.int64), "1-D array of 4 integers"),
    (None, "an index into the legal list"), ("0", "an index into the legal list"), (1.5, "an index into the legal list"),
    (np.float32(0), "an index into the legal list"), (np.array(0.0), "an index into the legal list"),
    (True, "an index into the legal list"), (np.array(True), "an index into the legal list"),
])
def test_non_integer_actions_raise_out_of_range_and_change_nothing(action, says):
    """A float or bool array, a 2-D array, None for a live agent, a string, a float or a bool is not an action:
    ActionOutOfRangeError (a scalar's names both accepted forms), nothing changes."""
    _refused_unchanged(_past_mulligans(), action, ActionOutOfRangeError, says)


def test_reset_without_a_seed_continues_the_seeded_stream():
    """reset() after reset(seed=s) draws from the same seeded generator: a seeded sequence of resets repeats."""
    runs = []
    for env in (aec_env(), aec_env()):
        env.reset(seed=5)
        runs.append([env.game_seed])
        for _ in range(3):
            env.reset()
            runs[-1].append(env.game_seed)
    assert runs[0] == runs[1] and len(set(runs[0])) == 4


def test_a_seat_without_a_deck_gets_a_prebuilt_deck_drawn_at_every_reset():
    """deck1=None: each reset deals seat 1 one of the prebuilt decks, drawn anew (not always the same one)."""
    env = aec_env(deck0=DECKS[1])
    drawn = set()
    for s in range(10):
        env.reset(seed=s)
        match = [d for d in DECKS if np.array_equal(env.game.row, GameState.new(DECKS[1], d, seed=env.game_seed).row)]
        assert len(match) == 1
        drawn.add(match[0])
    assert len(drawn) > 1


def test_observations_are_snapshots_and_the_named_parts_are_views_of_them():
    """Every observe() returns fresh arrays that later steps (and later observes) never change;
    'globals' and 'entities' are views of that call's 'observation' array."""
    env = aec_env()
    env.reset(seed=13)
    rng = np.random.default_rng(13)
    snaps = []
    for _ in range(60):
        if env.game.done:
            break
        for a in AGENTS:
            obs = env.observe(a)
            assert np.shares_memory(obs["globals"], obs["observation"])
            assert np.shares_memory(obs["entities"], obs["observation"])
            assert np.array_equal(obs["globals"], obs["observation"][:32])
            snaps.append((obs, {k: np.copy(v) for k, v in obs.items()}))
        env.step(_random_index(rng, env.observe(env.agent_selection)))
    assert len(snaps) > 20
    assert all(np.array_equal(obs[k], kept[k]) for obs, kept in snaps for k in kept)


def test_human_mode_prints_after_every_step_and_an_illegal_ending(capsys):
    """render_mode='human' prints the board after reset, after every step and after an illegal action that ends the game."""
    env = aec_env(render_mode="human", illegal_action="lose")
    env.reset(seed=0)
    assert capsys.readouterr().out.count("omniscient view") == 1
    for _ in range(3):
        env.step(0)
        assert capsys.readouterr().out.count("omniscient view") == 1
    env.step(MAX_LEGAL - 1)
    assert env.terminations == {a: True for a in AGENTS}
    assert capsys.readouterr().out.count("omniscient view") == 1


def test_render_without_a_mode_warns_and_returns_none(capsys):
    """render() with render_mode=None returns None with a warning and prints nothing."""
    env = aec_env()
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="without a render_mode"):
        assert env.render() is None
    assert capsys.readouterr().out == ""


def test_reset_after_an_illegal_ending_starts_afresh():
    """A reset after a game ended by an illegal action ('lose'), with or without the dead steps taken,
    starts both agents afresh: rewards 0, no flags, empty infos, and a legal list and mask with
    nothing left over from the old game's longer list."""
    for stepped_out in (False, True):
        env = aec_env(illegal_action="lose")
        env.reset(seed=8)   # longer legal lists than the 32 of the next game's first decision (a mulligan)
        assert _play_until(env, np.random.default_rng(1), lambda e: e.observe(e.agent_selection)["legal_count"] > 40)
        old_n = env.observe(env.agent_selection)["legal_count"]
        env.step(MAX_LEGAL - 1)
        if stepped_out:
            _finish(env)
        env.reset(seed=10)
        assert env.agents == list(AGENTS)
        assert env.rewards == env._cumulative_rewards == {a: 0.0 for a in AGENTS}
        assert env.terminations == env.truncations == {a: False for a in AGENTS}
        assert env.infos == {a: {} for a in AGENTS}
        obs, r, term, trunc, info = env.last()
        n = obs["legal_count"]
        assert (r, term, trunc, info) == (0.0, False, False, {}) and 0 < n < old_n
        assert np.array_equal(obs["legal_tuples"][:n], env.game.legal_tuples()) and not obs["legal_tuples"][n:].any()
        assert obs["action_mask"].tolist() == [1] * n + [0] * (MAX_LEGAL - n)


def test_a_finished_agent_accepts_only_none():
    """Once the game is over, the selected (dead) agent may only be stepped with None: anything else is a
    ValueError and removes nobody."""
    env = aec_env(illegal_action="lose")
    env.reset(seed=9)
    env.step(MAX_LEGAL - 1)
    for action in (0, (0, 0, 0, 0)):
        with pytest.raises(ValueError, match="only valid action is None"):
            env.step(action)
        assert env.agents == list(AGENTS)
    _finish(env)
    with pytest.raises(RuntimeError, match="no agents left"):
        env.step(None)


def test_an_illegal_index_error_reads_as_a_sentence_about_the_index():
    """An illegal index's IllegalActionError says which index and how many are legal, with no 'action None' prefix."""
    import re
    env = _past_mulligans()
    n = env.observe(env.agent_selection)["legal_count"]
    for k in (n, n + 5, MAX_LEGAL - 1):
        says = f"action index {k} is not a legal index: {env.agent_selection} has {n} legal tuples (indices 0..{n - 1})"
        _refused_unchanged(env, k, IllegalActionError, "^" + re.escape(says) + "$")


@pytest.mark.parametrize("mode", ["raise", "lose"])
def test_an_index_outside_the_action_space_is_out_of_range_in_both_modes(mode):
    """Discrete(MAX_LEGAL) holds 0..MAX_LEGAL-1: -1, MAX_LEGAL or 2**70 is not an action at all,
    so it is an ActionOutOfRangeError (as a tuple past a head's size is) that changes nothing,
    never an illegal move that loses the game under illegal_action="lose"."""
    import re
    env = _past_mulligans(illegal_action=mode)
    n = env.observe(env.agent_selection)["legal_count"]
    for k in (-1, MAX_LEGAL, 2 ** 70, np.int64(-5)):
        says = (f"action index {int(k)} is outside the action space: an index is 0..{MAX_LEGAL - 1} "
                f"({env.agent_selection} has {n} legal tuples, indices 0..{n - 1})")
        _refused_unchanged(env, k, ActionOutOfRangeError, re.escape(says))
    assert not any(env.terminations.values())


def test_writing_into_an_observation_changes_nothing_in_the_env():
    """The arrays observe() returns belong to the caller: scribbling over them (actor's or the other
    agent's) leaves the env's later observations and legal list as they were."""
    env = aec_env()
    env.reset(seed=3)
    before = {a: {k: np.copy(v) for k, v in env.observe(a).items()} for a in AGENTS}
    for a in AGENTS:
        for v in env.observe(a).values():
            if isinstance(v, np.ndarray):
                v[...] = 1
    for a in AGENTS:
        after = env.observe(a)
        assert all(np.array_equal(before[a][k], after[k]) for k in after), a
    env.step(0)   # the legal list it plays from is intact
