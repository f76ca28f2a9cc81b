"""Tests from a second mutation audit of training/evaluate.py (update_league and plot_league
excluded) and the `tcg eval` path of training/cli.py: the policy's draws on the env's lists or
a given sub-list, greedy and generator threading, the pairing names, the named opponents and
the match's checks, a truncated game ending its row, the evaluation split between ranks, and
the tables as printed. Expected values are hand-built or come from another public path (a bot
object for a bot name, a block played alone), never from a copy of the code under test."""
import json

import numpy as np
import pytest
import torch

import training.evaluate as ev
from prefabs import DeckError
from tcg_env import VecTCG
from tcg_env.bots import HeuristicBot, RandomBot, make_bot
from training.evaluate import (format_pairings, format_table, match_decks, parse_pairing, play_match,
                               policy_actions)
from verification.layout import STATE_SIZE
from verification.spec import MAX_LEGAL

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EMBER, THORN, ANVIL, SAGE = "Emberfang Rush", "Thornwall Bastion", "Anvil Vanguard", "Sagefire Circle"


def _policy(seed=0):
    from policy import PolicyConfig, TCGPolicy
    torch.manual_seed(seed)
    return TCGPolicy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32))


@pytest.fixture(scope="module")
def pol():
    return _policy(0).eval()


@pytest.fixture(scope="module")
def env():
    """16 games a few random decisions in: legal lists of 1 to ~50 tuples, both seats to act."""
    e = VecTCG(16, seed=0)
    bot = RandomBot(1)
    for _ in range(6):
        e.step(bot.act_batch(e.state, e.cards, e.legal_tuples, e.legal_count))
    assert len(set(e.legal_count.tolist())) > 4 and e.legal_count.min() == 1
    return e


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _on_list(env, rows, acts):
    return all(tuple(a) in {tuple(t) for t in env.legal_tuples[i, :env.legal_count[i]]} for i, a in zip(rows, acts))


# ------------------------------------------------------------------ policy_actions
def test_policy_actions_without_a_list_draws_from_each_rows_whole_legal_list(pol, env):
    """Omitting legal/count is the same as passing the env's own lists: every row's whole list,
    the longest row's width (not the shortest's), each row's full count (its last tuple too)."""
    rows = np.arange(16)
    width = int(env.legal_count.max())
    for seed in range(3):
        own = policy_actions(pol, env, rows, "cpu", _gen(seed), greedy=False)
        given = policy_actions(pol, env, rows, "cpu", _gen(seed), greedy=False,
                               legal=env.legal_tuples[:, :width].copy(), count=env.legal_count.copy())
        assert own.shape == (16, 4) and own.dtype == np.int32 and _on_list(env, rows, own)
        assert np.array_equal(own, given), seed
    some = np.array([9, 1, 4])   # a few rows, in any order: each its own row's tuple
    acts = policy_actions(pol, env, some, "cpu", _gen(0), greedy=True)
    assert acts.shape == (3, 4) and _on_list(env, some, acts)
    assert policy_actions(pol, env, np.array([], np.int64), "cpu", _gen(0), greedy=True).shape == (0, 4)


def test_policy_actions_draws_only_from_a_given_sub_list(pol, env):
    rows = np.nonzero(env.legal_count > 1)[0]
    last = env.legal_tuples[rows, env.legal_count[rows] - 1]          # one tuple per row: it must be drawn
    for seed in range(3):
        acts = policy_actions(pol, env, rows, "cpu", _gen(seed), greedy=False, legal=last[:, None, :],
                              count=np.ones(len(rows), env.legal_count.dtype))
        assert np.array_equal(acts, last)
    two = env.legal_tuples[rows, :2]                                   # the first two of each row
    acts = policy_actions(pol, env, rows, "cpu", _gen(0), greedy=False, legal=two,
                          count=np.full(len(rows), 2, env.legal_count.dtype))
    assert all(tuple(a) in {tuple(t) for t in pair} for a, pair in zip(acts, two))


def test_policy_actions_takes_both_legal_and_count_or_neither(pol, env):
    rows = np.arange(4)
    for kw in ({"legal": env.legal_tuples[rows, :1]}, {"count": np.ones(4, env.legal_count.dtype)}):
        with pytest.raises(ValueError, match="give both legal and count"):
            policy_actions(pol, env, rows, "cpu", _gen(0), greedy=False, **kw)


def test_policy_actions_greedy_ignores_the_generator_and_sampling_follows_only_it(pol, env):
    rows = np.arange(16)
    greedy = [policy_actions(pol, env, rows, "cpu", _gen(s), greedy=True) for s in range(4)]
    assert all(np.array_equal(greedy[0], g) for g in greedy[1:])
    drawn = [policy_actions(pol, env, rows, "cpu", _gen(s), greedy=False) for s in range(4)]
    assert not all(np.array_equal(drawn[0], d) for d in drawn[1:])    # sampling: the draws vary with the seed
    torch.manual_seed(1)
    a = policy_actions(pol, env, rows, "cpu", _gen(7), greedy=False)
    torch.manual_seed(2)                                              # the global generator plays no part
    b = policy_actions(pol, env, rows, "cpu", _gen(7), greedy=False)
    assert np.array_equal(a, b)


# ------------------------------------------------------------------ pairings
def test_parse_pairing_errors_name_the_flag_and_the_bad_name_as_typed():
    with pytest.raises(DeckError) as e:
        parse_pairing("emberfang, Nope")
    assert str(e.value).startswith("--decks 'emberfang, Nope': ") and "unknown deck 'Nope';" in str(e.value)
    with pytest.raises(ValueError, match="^--decks takes one deck name"):
        parse_pairing("A,B,C")


def test_a_pairing_is_exactly_two_deck_names_and_is_resolved():
    for bad in ((EMBER, ANVIL, EMBER), (EMBER,), (), "EA"):
        with pytest.raises(ValueError, match="a pairing is two deck names"):
            match_decks(4, bad)
    decks, seat = match_decks(2, ("ember", "ANVIL"))   # any case or a unique part, as --decks reads them
    assert decks == [(EMBER, ANVIL), (ANVIL, EMBER)] and seat.tolist() == [0, 1]


# ------------------------------------------------------------------ play_match
def test_a_named_bot_opponent_is_that_bot_seeded_with_the_match_seed():
    for name in ("random", "heuristic"):
        named = play_match(HeuristicBot(0), name, 8, seed=5)
        built = play_match(HeuristicBot(0), make_bot(name, seed=5), 8, seed=5)
        assert np.array_equal(named["results"], built["results"]) and np.array_equal(named["lengths"], built["lengths"])
    other = play_match(HeuristicBot(0), RandomBot(6), 8, seed=5)      # the random bot's seed shows
    assert not np.array_equal(other["lengths"], play_match(HeuristicBot(0), "random", 8, seed=5)["lengths"])
    assert play_match(HeuristicBot(0), "random", 32, seed=5)["win_rate"] > 0.8   # "random" is the weak one


def test_a_builtin_bot_plays_each_game_the_same_in_any_block():
    """A built-in bot's draws follow the game id, not the row a block gives the game: random
    against random over 16 games equals the same match played as blocks of 3, 5 and 8 games
    (so a split evaluation does not depend on the number of ranks), a one-pairing match too
    (joined with its pairing), and a bot object used for
    a second match starts that match afresh."""
    from training.evaluate import merge_blocks
    whole = play_match(RandomBot(7), "random", 16, seed=5)
    parts = [play_match(RandomBot(7), "random", 16, seed=5, block=b) for b in ((0, 3), (3, 8), (8, 16))]
    _same(merge_blocks(parts, 16), whole)
    assert len(set(whole["lengths"].tolist())) > 4   # the games differ: the draws matter
    one = play_match(RandomBot(7), "random", 8, seed=5, pairing=(THORN, SAGE))   # one pairing, as two blocks
    _same(merge_blocks([play_match(RandomBot(7), "random", 8, seed=5, pairing=(THORN, SAGE), block=b)
                        for b in ((0, 4), (4, 8))], 8, pairing=(THORN, SAGE)), one)
    assert list(one["by_own_deck"]) == [THORN]
    bot = RandomBot(5)
    first = play_match(HeuristicBot(0), bot, 8, seed=5)
    _same(play_match(HeuristicBot(0), bot, 8, seed=5), first)


def test_a_search_bot_plays_each_game_the_same_in_any_block():
    """The search bot's seeds follow the game id too (its ``game_rng``, as the built-in bots'):
    a match against it split into blocks equals the whole match, whichever seat it measures; its
    per-row default generators are those of games 0..n-1."""
    from tcg_env.bots.search import SearchBot
    from training.evaluate import merge_blocks

    def bot():
        return SearchBot(5, simulations=8, horizon=3)
    whole = play_match(HeuristicBot(0), bot(), 6, seed=3)
    _same(merge_blocks([play_match(HeuristicBot(0), bot(), 6, seed=3, block=b) for b in ((0, 3), (3, 6))], 6), whole)
    measured = play_match(bot(), "heuristic", 6, seed=3)
    _same(merge_blocks([play_match(bot(), "heuristic", 6, seed=3, block=b) for b in ((0, 2), (2, 6))], 6), measured)
    assert np.array_equal(bot().game_rng(2, 3), bot().game_rng(0, 5)[2:])
    b = bot()
    b.act_batch(np.zeros((4, STATE_SIZE), np.int32), None, np.zeros((4, MAX_LEGAL, 4), np.int8), np.zeros(4, np.int32))
    assert np.array_equal(b._brng, bot().game_rng(0, 4))


def test_play_match_refuses_bad_opponents_and_blocks():
    with pytest.raises(ValueError, match="opponent must be 'random', 'heuristic', 'policy' or a bot object"):
        play_match(HeuristicBot(0), "heuristics", 2)
    with pytest.raises(ValueError, match="opponent 'policy' needs opponent_policy"):
        play_match(HeuristicBot(0), "policy", 2)
    for block in ((0, 5), (-1, 2), (3, 2)):
        with pytest.raises(ValueError, match="block must be"):
            play_match(HeuristicBot(0), "heuristic", 4, block=block)


class _Stop(Exception):
    pass


def _spy_sample(monkeypatch, stop_after=None):
    """Record (policy, generator seed, greedy) of every sampler call play_match makes."""
    seen = []
    real = ev.sample

    def spy(policy, enc, lt, lc, generator=None, greedy=False, **kw):
        seen.append((policy, None if generator is None else generator.initial_seed(), greedy))
        if stop_after is not None and len(seen) >= stop_after:
            raise _Stop
        return real(policy, enc, lt, lc, generator=generator, greedy=greedy, **kw)
    monkeypatch.setattr(ev, "sample", spy)
    return seen


def test_the_policies_draw_from_a_generator_seeded_with_the_match_seed(pol, monkeypatch):
    seen = _spy_sample(monkeypatch, stop_after=30)
    opp = _policy(1).eval()
    with pytest.raises(_Stop):
        play_match(pol, "policy", 4, seed=11, opponent_policy=opp)
    assert {p for p, _, _ in seen} == {pol, opp} and {s for _, s, _ in seen} == {11}


@pytest.mark.parametrize("greedy, opponent_greedy, expect", [
    (False, None, (False, False)), (True, None, (True, True)),
    (False, True, (False, True)), (True, False, (True, False))])
def test_greedy_sets_both_policies_and_opponent_greedy_the_opponent_alone(pol, monkeypatch, greedy, opponent_greedy,
                                                                         expect):
    seen = _spy_sample(monkeypatch, stop_after=30)
    opp = _policy(1).eval()
    with pytest.raises(_Stop):
        play_match(pol, "policy", 4, seed=0, greedy=greedy, opponent_policy=opp, opponent_greedy=opponent_greedy)
    assert {g for p, _, g in seen if p is pol} == {expect[0]} and {g for p, _, g in seen if p is opp} == {expect[1]}


def test_play_match_plays_the_policy_in_eval_mode_and_gives_its_mode_back():
    p = _policy(0)
    modes = []
    p.register_forward_pre_hook(lambda m, args: modes.append(m.training))
    p.train()
    play_match(p, "heuristic", 2, seed=0, block=(0, 1))
    assert modes and not any(modes) and p.training
    p.eval()
    play_match(p, "heuristic", 2, seed=0, block=(0, 1))
    assert not p.training


class _LastTuple:
    """Always the last tuple on the legal list: some of its games run to the turn cap."""

    def act_batch(self, state, cards, legal, legal_n, out=None, rows=None):
        for i in rows:
            out[i] = legal[i, legal_n[i] - 1]
        return out


def test_a_game_truncated_at_the_turn_cap_ends_its_row_with_no_result():
    """The row's first game is the one counted: a truncation ends it like a terminal (result 0,
    its own length), it does not run on into the row's next game. Reference: the env stepped
    by hand with the same deterministic choice for both seats."""
    n = 32
    decks, seat = match_decks(n)
    env = VecTCG(n, seed=0, decks=decks)
    length, result, cut = np.zeros(n, np.int64), np.full(n, np.nan), np.zeros(n, bool)
    done = np.zeros(n, bool)
    while not done.all():
        env.step(env.legal_tuples[np.arange(n), env.legal_count - 1].astype(np.int32))
        length[~done] += 1
        for i in np.nonzero((env.terminals | env.truncations) & ~done)[0]:
            result[i], cut[i], done[i] = env.seat_rewards[i, seat[i]], env.truncations[i], True
    assert cut.any() and (result[cut] == 0).all()
    res = play_match(_LastTuple(), _LastTuple(), n, seed=0)
    assert res["lengths"].tolist() == length.tolist() and res["results"].tolist() == result.tolist()
    assert res["draws"] == int((result == 0).sum()) >= int(cut.sum())


# ------------------------------------------------------------------ evaluate_policy split between ranks
def _ranks(monkeypatch, world, rank, reply=None):
    """Pretend to be ``rank`` of ``world`` ranks: gather_to_main records what this rank sends
    and answers ``reply(sent)``."""
    import training.distributed as D
    sent = []
    monkeypatch.setattr(D, "world_size", lambda: world)
    monkeypatch.setattr(D, "rank", lambda: rank)

    def gather(obj):
        sent.append(obj)
        return reply(obj) if reply else None
    monkeypatch.setattr(D, "gather_to_main", gather)
    return sent


def _same(a, b):
    assert np.array_equal(a["results"], b["results"]) and np.array_equal(a["lengths"], b["lengths"])
    for key in ("games", "wins", "losses", "draws", "by_own_deck", "by_opponent_deck", "by_pairing"):
        assert a[key] == b[key], key


def test_evaluate_policy_plays_the_match_seed_whole():
    from training.evaluate import evaluate_policy
    got = evaluate_policy(HeuristicBot(0), "random", 4, seed=5, split=True)   # one rank: the whole match
    _same(got, play_match(HeuristicBot(0), "random", 4, seed=5))
    assert not np.array_equal(got["lengths"], play_match(HeuristicBot(0), "random", 4, seed=0)["lengths"])


def test_evaluate_policy_split_plays_this_ranks_block_and_the_main_rank_joins_them(monkeypatch):
    """Games 0..5 on two ranks: rank 1 plays games 3..5 (decks, seats and seed as in the whole
    match) and returns None; rank 0 joins its block with rank 1's into the whole match."""
    from training.evaluate import evaluate_policy
    whole = play_match(HeuristicBot(0), "heuristic", 6, seed=5)
    second = play_match(HeuristicBot(0), "heuristic", 6, seed=5, block=(3, 6))
    won = [float(r > 0) for r in second["results"]]   # games 3, 4, 5: pairings 1, 2, 2 from seats 1, 0, 1
    assert second["by_pairing"] == {THORN: {EMBER: {"games": 1, "win_rate": won[0]}},
                                    EMBER: {ANVIL: {"games": 1, "win_rate": won[1]}},
                                    ANVIL: {EMBER: {"games": 1, "win_rate": won[2]}}}
    sent = _ranks(monkeypatch, 2, 1)
    assert evaluate_policy(HeuristicBot(0), "heuristic", 6, seed=5, split=True) is None
    assert len(sent) == 1
    _same(sent[0], second)
    sent = _ranks(monkeypatch, 2, 0, reply=lambda mine: [mine, second])
    got = evaluate_policy(HeuristicBot(0), "heuristic", 6, seed=5, split=True)
    assert len(sent) == 1 and sent[0]["games"] == 3
    _same(got, whole)
    # fewer games than ranks: rank 0's block is empty, it sends None and still joins
    one = play_match(HeuristicBot(0), "heuristic", 1, seed=5)
    sent = _ranks(monkeypatch, 2, 0, reply=lambda mine: [mine, one])
    got = evaluate_policy(HeuristicBot(0), "heuristic", 1, seed=5, split=True)
    assert sent == [None] and got["games"] == 1
    _same(got, one)


def test_evaluate_policy_builds_a_pool_opponent_with_its_weights_in_eval_mode(monkeypatch):
    from training.evaluate import evaluate_policy
    sd = _policy(2).state_dict()
    calls = []

    def fake_match(policy, opponent, games, seed=0, device="cpu", **kw):
        calls.append((opponent, games, seed, kw["opponent_policy"]))
        return {"games": games}
    monkeypatch.setattr(ev, "play_match", fake_match)
    assert evaluate_policy(HeuristicBot(0), "self@3", 4, seed=9, opponent_state_dict=sd,
                           opponent_builder=lambda: _policy(1)) == {"games": 4}
    [(kind, games, seed, opp)] = calls
    assert (kind, games, seed) == ("policy", 4, 9) and not opp.training
    assert all(torch.equal(v, sd[k]) for k, v in opp.state_dict().items())


# ------------------------------------------------------------------ tables
def _cells(text, first):
    """The cells of the table line whose first cell is ``first``."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.replace("┃", "│").split("│")[1:-1]]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in\n{text}")


def test_format_table_shows_each_matchs_counts_in_their_columns():
    name = "checkpoint:runs/policy.pt@greedy"   # fits the 80-column table, not a narrower one
    text = format_table({"random": {"games": 6, "wins": 4, "losses": 1, "draws": 1, "win_rate": 4 / 6},
                         name: {"games": 3, "wins": 0, "losses": 2, "draws": 1, "win_rate": 0.0}})
    assert _cells(text, "opponent") == ["opponent", "games", "wins", "losses", "draws", "win rate"]
    assert _cells(text, "random") == ["random", "6", "4", "1", "1", "66.7%"]
    assert _cells(text, name) == [name, "3", "0", "2", "1", "0.0%"]
    assert max(len(line) for line in text.splitlines()) <= 80


def test_format_pairings_shows_the_played_pairings_only_with_their_games():
    by = {EMBER: {ANVIL: {"games": 2, "win_rate": 0.5}}, ANVIL: {EMBER: {"games": 3, "win_rate": 1 / 3}}}
    text = format_pairings({"by_pairing": by})
    assert _cells(text, "own deck") == ["own deck", EMBER, ANVIL]        # no column for an unplayed deck
    assert THORN not in text and SAGE not in text
    assert _cells(text, EMBER) == [EMBER, "-", "50% (2)"]
    assert _cells(text, ANVIL) == [ANVIL, "33% (3)", "-"]


def test_format_pairings_lays_the_whole_matrix_out_in_100_columns():
    names = [EMBER, THORN, ANVIL, SAGE]
    by = {a: {b: {"games": 4, "win_rate": 0.25 * k} for k, b in enumerate(names)} for a in names}
    text = format_pairings({"by_pairing": by})
    assert _cells(text, "own deck") == ["own deck", *names]             # names whole, one row per deck
    for a in names:
        assert _cells(text, a) == [a, "0% (4)", "25% (4)", "50% (4)", "75% (4)"]
    assert 60 < max(len(line) for line in text.splitlines()) <= 100


# ------------------------------------------------------------------ tcg eval
@pytest.fixture()
def ckpt(tmp_path):
    from training.checkpoint import save_policy
    return str(save_policy(_policy(0), tmp_path / "p.pt"))


def _fake_match(monkeypatch):
    """Replace play_match for `tcg eval`: record its arguments, answer a hand-made result."""
    calls = []

    def fake(policy, opponent, games, **kw):
        calls.append({"opponent": opponent, "games": games, **kw})
        return {"games": games, "wins": 1, "losses": 1, "draws": 0, "win_rate": 0.5, "score": 0.5,
                "mean_decisions": 10.0, "illegal_actions": 0,
                "by_own_deck": {EMBER: {"games": 2, "win_rate": 0.5}},
                "by_opponent_deck": {ANVIL: {"games": 2, "win_rate": 0.5}},
                "by_pairing": {EMBER: {ANVIL: {"games": 2, "win_rate": 0.5}}},
                "results": np.array([1.0, -1.0], np.float32), "lengths": np.array([9, 11], np.int32)}
    monkeypatch.setattr(ev, "play_match", fake)
    return calls


def test_tcg_eval_passes_seed_greedy_and_the_checkpoint_opponents_mode(ckpt, monkeypatch, capsys):
    from training.cli import main
    calls = _fake_match(monkeypatch)
    for extra, mode, want in (([], "", (False, None)), (["--greedy"], "@sample", (True, False)),
                              ([], "@greedy", (False, True)), (["--greedy"], "", (True, None))):
        assert main(["eval", "--checkpoint", ckpt, "--opponent", f"checkpoint:{ckpt}{mode}", "--games", "2",
                     "--seed", "7", "--json", *extra]) == 0
        c = calls.pop()
        assert (c["greedy"], c["opponent_greedy"]) == want and c["seed"] == 7 and c["opponent"] == "policy"
        out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert out["opponent"] == f"checkpoint:{ckpt}{mode}" and out["checkpoint"] == ckpt
    assert main(["eval", "--checkpoint", ckpt, "--opponent", "search:8", "--games", "2", "--seed", "7", "--json"]) == 0
    assert calls.pop()["opponent"].seed == 7                             # the bot takes the seed too


def test_tcg_eval_prints_the_rates_by_own_and_by_opponents_deck(ckpt, monkeypatch, capsys):
    from training.cli import main
    _fake_match(monkeypatch)
    assert main(["eval", "--checkpoint", ckpt, "--opponent", "random", "--games", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"win rate by own deck: {EMBER} 50% (2)" in lines
    assert f"by opponent's deck: {ANVIL} 50% (2)" in lines
