"""A designer's own card pool through every env face: the Gym and PettingZoo faces take
``pool=`` as ``GameState`` and ``VecTCG`` do, play its cards (their ids and printed stats reach
the observations, their names the rendering), and a pool that lacks the prebuilt decks' cards
asks for decks by name of the argument instead of failing on the first reset."""
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from pettingzoo.test import api_test

import tcg_env  # noqa: F401  (registers tcg_env/Duel-v0)
from prefabs import CardPool, Deck, DeckError, default_decks, default_pool, load_decks, load_pool
from prefabs.loader import card_raw, parse_cards
from tcg_env import VecTCG
from tcg_env.aec import AGENTS, aec_env
from tcg_env.bots import HeuristicBot
from tcg_env.gym_env import DuelEnv
from tcg_env.observation import ENTITY_FEATURES
from tcg_env.replay import result_line
from test_rules_turn import _chain_pool
from verification.layout import DECISION_CAP, G_DECISIONS
from verification.spec import BOARD_SLOTS, ENT_MY_BOARD, ENT_MY_HAND, HAND_MAX

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
NEW = "Test Colossus"
CARD_ID = ENTITY_FEATURES.index("card_id")


def _pool_with_a_new_unit():
    """The shipped cards plus one new 0-cost 7/9 unit, and Emberfang Rush with three of its
    Ember Whelps swapped for it: the prebuilt decks still fit the pool."""
    raw = [card_raw(c) for c in default_pool().cards]
    raw.append({"name": NEW, "type": "UNIT", "subtype": "CONSTRUCT", "cost": 0, "attack": 7, "health": 9})
    pool = CardPool(parse_cards(raw))
    base = default_decks()["Emberfang Rush"]
    main = [NEW if name == "Ember Whelp" else name for name in base.main]
    assert main.count(NEW) == 3
    return pool, Deck(name="Colossus Rush", plan="aggro", leader=base.leader, main=tuple(main), ikz=base.ikz)


def _holds_new_card(entities, pool):
    """Whether the new card is in this view's own hand or on its own board."""
    ids = entities[:, CARD_ID].astype(int)
    mine = np.r_[ENT_MY_HAND:ENT_MY_HAND + HAND_MAX, ENT_MY_BOARD:ENT_MY_BOARD + BOARD_SLOTS]
    return pool.id_of(NEW) in set(ids[mine].tolist())


def test_the_gym_face_plays_a_custom_pool_and_shows_its_cards():
    pool, deck = _pool_with_a_new_unit()
    assert pool.id_of(NEW) == len(default_pool()) + 1
    env = gym.make("tcg_env/Duel-v0", opponent="heuristic", deck=deck, pool=pool, render_mode="ansi")
    rng = np.random.default_rng(0)
    seen = rendered = False
    endings = set()
    for episode in range(6):
        obs, _ = env.reset(seed=episode)
        assert env.unwrapped.state.pool is pool
        done = False
        while not done:
            assert env.observation_space.contains(obs)
            seen |= _holds_new_card(obs["entities"], pool)
            if not rendered and NEW in env.render():
                rendered = True
            obs, reward, term, trunc, _ = env.step(obs["legal_tuples"][int(rng.integers(obs["legal_count"]))])
            done = term or trunc
        endings.add(reward)
    env.close()
    assert seen and rendered
    assert endings - {0.0}   # the games end with a winner


def test_the_aec_face_plays_a_custom_pool_and_passes_pettingzoos_api_test():
    pool, deck = _pool_with_a_new_unit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        api_test(aec_env(deck0=deck, deck1=deck, pool=pool), num_cycles=300)
    env = aec_env(deck0=deck, pool=pool)   # seat 1 draws prebuilt decks, which fit this pool
    rng = np.random.default_rng(1)
    seen = False
    for game in range(6):
        env.reset(seed=game)
        assert env.game.pool is pool
        for agent in env.agent_iter():
            obs, _, term, trunc, _ = env.last()
            if term or trunc:
                env.step(None)
                continue
            if agent == AGENTS[0]:
                seen |= _holds_new_card(obs["entities"], pool)
            env.step(int(rng.integers(obs["legal_count"])))
    assert seen


@pytest.mark.parametrize("face", ["gym", "aec", "vec"])
def test_a_pool_without_the_prebuilt_cards_asks_for_the_decks_by_argument(face):
    pool, deck = _chain_pool(2, 1)   # none of the prebuilt decks' cards, and a deck of its own
    make, decks_arg = {
        "gym": (lambda **kw: DuelEnv(pool=pool, **kw), ("deck", "opponent_deck")),
        "aec": (lambda **kw: aec_env(pool=pool, **kw), ("deck0", "deck1")),
        "vec": (lambda **kw: VecTCG(2, pool=pool, **kw), ("decks",)),
    }[face]
    # no deck, or (for the two-seat faces) one seat's only: the other seat draws prebuilt decks
    for kw in [{}] if face == "vec" else [{}, {decks_arg[0]: deck}]:
        with pytest.raises(DeckError) as err:
            make(**kw)
        text = str(err.value)
        assert "prebuilt deck 'Emberfang Rush' does not fit this card pool" in text
        assert "'Grask, Ember Warlord'" in text and f"give {decks_arg[0]}=" in text
    env = make(**{name: (deck, deck) if name == "decks" else deck for name in decks_arg})
    if face == "vec":
        assert (env.decks[:, :, 0] == pool.id_of("Chain Leader")).all()
    else:
        env.reset(seed=0)
        game = env.unwrapped.state if face == "gym" else env.game
        assert game.pool is pool and not game.done


@pytest.mark.parametrize("make", [lambda p: DuelEnv(pool=p), lambda p: aec_env(pool=p),
                                  lambda p: VecTCG(1, pool=p)], ids=["gym", "aec", "vec"])
@pytest.mark.parametrize("bad", ["cards.toml", default_pool().table, [1, 2]], ids=["path", "table", "list"])
def test_a_pool_that_is_not_a_cardpool_is_refused_by_type(make, bad):
    with pytest.raises(TypeError, match="pool must be a CardPool \\(prefabs.load_pool\\)"):
        make(bad)


def test_the_gym_face_ends_a_never_ending_custom_game_at_the_decision_cap_and_says_so():
    """The chain pool's turns run past any bound when both sides take every trade (RULES.md §11):
    through the Gym face the episode ends truncated, reward 0, at exactly DECISION_CAP decisions,
    and the rendering and the result line name the decision cap, not the turn cap."""
    pool, deck = _chain_pool(40, 2)
    env = DuelEnv(opponent="heuristic", deck=deck, opponent_deck=deck, pool=pool, render_mode="ansi")
    bot = HeuristicBot(7)
    env.reset(seed=0)
    steps, done = 0, False
    while not done:
        _, reward, term, trunc, _ = env.step(np.asarray(bot.act(env.state), np.int64))
        steps += 1
        done = term or trunc
    game = env.state
    assert trunc and not term and reward == 0.0 and game.truncated and game.winner is None
    assert int(game.row[G_DECISIONS]) == DECISION_CAP and game.turn <= 3 and steps < DECISION_CAP
    assert "Result: truncated (decision cap of 10,000 decisions reached, no winner)" in env.render()
    assert result_line(game) == "Result: truncated at the decision cap"


def test_the_example_cards_and_decks_in_the_docs_load_and_play_on_every_face():
    """docs/examples holds a cards file with none of the shipped cards and two decks of them (the
    README points designers at it): they load, and play through the Gym and AEC faces and, with
    the heuristic bot on both seats, through VecTCG, where each deck wins games."""
    pool = load_pool(EXAMPLES / "cards.toml")
    decks = load_decks(pool, EXAMPLES / "decks.toml")
    assert not set(pool.by_name) & {c.name for c in default_pool().cards} and len(decks) == 2
    reef, rip = decks["Reefwall"], decks["Riptide"]
    env = gym.make("tcg_env/Duel-v0", opponent="heuristic", deck=reef, opponent_deck=rip, pool=pool)
    rng = np.random.default_rng(3)
    for episode in range(3):
        obs, _ = env.reset(seed=episode)
        done = False
        while not done:
            obs, _, term, trunc, _ = env.step(obs["legal_tuples"][int(rng.integers(obs["legal_count"]))])
            done = term or trunc
    aec = aec_env(deck0=rip, deck1=reef, pool=pool)
    aec.reset(seed=0)
    for agent in aec.agent_iter():
        obs, _, term, trunc, _ = aec.last()
        aec.step(None if term or trunc else int(rng.integers(obs["legal_count"])))
    n = 64
    pairs = [(reef, rip) if i % 2 else (rip, reef) for i in range(n)]   # each deck in both seats
    vec = VecTCG(n, seed=0, decks=pairs, pool=pool)
    bot = HeuristicBot(0)
    wins = {"Reefwall": 0, "Riptide": 0}
    for _ in range(3000):
        _, _, term, _, _ = vec.step(bot.act_batch(vec.state, vec.cards, vec.legal_tuples, vec.legal_count))
        for i, seat in zip(*np.nonzero(term[:, None] & (vec.seat_rewards > 0))):
            wins[pairs[i][seat].name] += 1
    assert vec.illegal_counts.sum() == 0
    assert min(wins.values()) > 0 and sum(wins.values()) >= 20, wins
