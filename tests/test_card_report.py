"""The per-card balance report (training/card_report.py) and `tcg cards --games --bot --json`:
the tally's reading of hands and plays on hand-built decisions, the report's win rates on a
hand-built tally, and over real self-play games the invariants every game must keep (a card is
played only from a seen hand, the opening hand is five cards of the seat's own deck) and the
fair deal's opening-hand shares."""
import json
from math import comb
from types import SimpleNamespace

import numpy as np
import pytest

from prefabs import shipped_cards
from tcg_env.bots import HeuristicBot
from tcg_env.observation import OBS_SIZE, view
from training.card_report import COLUMNS, CardTally, card_report, format_card_report
from training.card_stats import _CARD_ID
from training.evaluate import match_decks, play_match
from verification.spec import ENT_MY_HAND, MAX_LEGAL, Primary

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EMBER, THORN, ANVIL = "Emberfang Rush", "Thornwall Bastion", "Anvil Vanguard"


def _env(hands, seats):
    """A stand-in for the env's buffers: one row per game, each seat's hand as card ids."""
    n = len(hands)
    obs = np.zeros((n, OBS_SIZE), np.int8)
    ent = view(obs, "entities")
    for i, hand in enumerate(hands):
        for k, c in enumerate(hand):
            ent[i, ENT_MY_HAND + k, _CARD_ID] = c
    legal = np.zeros((n, MAX_LEGAL, 4), np.int8)
    count = np.zeros(n, np.int32)
    return SimpleNamespace(observations=obs, current_player=np.array(seats, np.int32), legal_tuples=legal,
                           legal_count=count)


def _legal(env, row, tuples):
    env.legal_tuples[row, :len(tuples)] = tuples
    env.legal_count[row] = len(tuples)


def test_the_tally_reads_the_first_hand_as_the_opening_and_counts_plays_from_the_hand():
    t = CardTally(3)
    env = _env([[5, 7, 7], [9], [4, 4, 1, 1, 1, 1, 1, 1, 1, 30]], seats=[0, 1, 1])   # game 2: a full hand
    play_unit, play_spell = int(Primary.PLAY_UNIT), int(Primary.PLAY_SPELL)
    _legal(env, 0, [(play_unit, ENT_MY_HAND + 1, 0, 0), (play_unit, ENT_MY_HAND + 2, 1, 0),
                    (play_spell, ENT_MY_HAND, 0, 0), (int(Primary.END_TURN), 0, 0, 0)])
    _legal(env, 1, [(int(Primary.END_TURN), 0, 0, 0)])
    env.legal_tuples[1, 1] = (play_unit, ENT_MY_HAND, 0, 0)   # stale: past the count, not playable
    _legal(env, 2, [(play_spell, ENT_MY_HAND + 1, 0, 0)])
    acts = np.zeros((3, 4), np.int32)
    acts[0] = (play_unit, ENT_MY_HAND + 2, 1, 0)      # plays a card 7
    acts[1] = (int(Primary.END_TURN), 0, 0, 0)
    acts[2] = (play_spell, ENT_MY_HAND + 1, 0, 0)     # plays a card 4
    t(env, acts, np.array([0, 1, 2]))
    # the next decisions of the same seats, with other hands; game 2 is over (not in rows)
    env2 = _env([[7, 11], [9, 12], [3]], seats=[0, 1, 1])
    _legal(env2, 0, [(play_unit, ENT_MY_HAND + 1, 0, 0)])
    _legal(env2, 1, [(int(Primary.END_TURN), 0, 0, 0)])
    acts2 = np.zeros((3, 4), np.int32)
    acts2[0] = (play_unit, ENT_MY_HAND + 1, 0, 0)     # plays the card 11
    acts2[1] = (int(Primary.END_TURN), 0, 0, 0)
    t(env2, acts2, np.array([0, 1]))
    # the other seat of game 0 decides for the first time
    env3 = _env([[2], [], []], seats=[1, 0, 0])
    _legal(env3, 0, [(int(Primary.END_TURN), 0, 0, 0)])
    t(env3, np.zeros((3, 4), np.int32), np.array([0]))
    # game 0's first seat plays another card 7
    env4 = _env([[7], [], []], seats=[0, 0, 0])
    _legal(env4, 0, [(play_unit, ENT_MY_HAND, 2, 0)])
    acts4 = np.zeros((3, 4), np.int32)
    acts4[0] = (play_unit, ENT_MY_HAND, 2, 0)
    t(env4, acts4, np.array([0]))

    def ids(a):
        return {(g, s): sorted(np.nonzero(a[g, s])[0].tolist()) for g in range(3) for s in range(2) if a[g, s].any()}
    assert ids(t.opening) == {(0, 0): [5, 7], (0, 1): [2], (1, 1): [9], (2, 1): [1, 4, 30]}
    assert ids(t.held) == {(0, 0): [5, 7, 11], (0, 1): [2], (1, 1): [9, 12], (2, 1): [1, 4, 30]}
    assert t.decisions.tolist() == [[3, 1], [0, 2], [0, 1]]
    plays = {(g, s, c): int(t.plays[g, s, c]) for g, s, c in zip(*np.nonzero(t.plays))}
    assert plays == {(0, 0, 7): 2, (0, 0, 11): 1, (2, 1, 4): 1}
    # playable: card 7 and 5 at game 0's first decision (several copies count once), 4 in game 2,
    # 11 at game 0's second decision, 7 at its third; not game 1's stale tuple past its count
    playable = {(g, s, c): int(t.playable[g, s, c]) for g, s, c in zip(*np.nonzero(t.playable))}
    assert playable == {(0, 0, 5): 1, (0, 0, 7): 2, (0, 0, 11): 1, (2, 1, 4): 1}


def _row(rows, name):
    return next(r for r in rows if r["name"] == name)


def test_the_report_compares_the_seat_games_that_dealt_a_card_with_those_of_its_decks_that_did_not():
    cards = shipped_cards()
    drake, golem = cards.pool.id_of("Ember Drake"), cards.pool.id_of("Siege Golem")
    assert cards.decks[EMBER].main.count("Ember Drake") == 3 and "Ember Drake" not in cards.decks[THORN].main
    assert all("Siege Golem" not in cards.decks[d].main for d in (EMBER, THORN))
    decks = [(EMBER, THORN), (THORN, EMBER), (EMBER, EMBER), (THORN, THORN)]
    seat = np.array([0, 1, 0, 1], np.int32)
    result = np.array([1.0, 0.0, 1.0, 0.0], np.float32)
    # seat results: g0 Ember +1 / Thorn -1; g1 a draw (not a win); g2 +1 / -1; g3 a draw
    t = CardTally(4)
    for g, s in ((0, 0), (1, 1), (2, 0), (3, 0)):   # (3, 0) holds no Ember Drake: not counted
        t.opening[g, s, drake] = True
    t.held[:, :, drake] = True
    t.plays[0, 0, drake], t.plays[1, 1, drake], t.plays[3, 1, drake] = 2, 1, 5
    t.playable[0, 0, drake], t.playable[1, 1, drake], t.playable[3, 1, drake] = 5, 3, 9
    rows = card_report(t, result, decks, seat, cards)
    r = _row(rows, "Ember Drake")
    assert r["decks"] == {EMBER: 3} and r["type"] == "UNIT" and r["sides"] == 4
    # dealt: (0,0) won, (1,1) drew, (2,0) won; not dealt: (2,1) lost
    assert r["opening"] == 0.75 and r["win_opening"] == pytest.approx(2 / 3) and r["win_not"] == 0.0
    assert r["diff"] == pytest.approx(2 / 3) and r["se"] == pytest.approx(np.sqrt((2 / 3) * (1 / 3) / 3))
    assert r["seen"] == 1.0 and r["plays"] == 0.75 and r["play_rate"] == 3 / 8
    assert card_report(t, result, decks, seat, cards, by_deck=True)[0] == r   # in one deck only: the same row
    g = _row(rows, "Siege Golem")
    assert g["sides"] == 0 and all(g[k] is None for k in COLUMNS if k != "sides")
    # ordered by diff, the rows without one last
    diffs = [x["diff"] for x in rows]
    known = [d for d in diffs if d is not None]
    assert known == sorted(known, reverse=True) and diffs[:len(known)] == known
    assert rows[0]["name"] == "Ember Drake"
    names = {n for d in cards.decks.values() for n in d.main}
    assert {x["name"] for x in rows} == names and len(rows) == len(names)
    text = format_card_report(rows)
    head = next(line for line in text.splitlines() if "card" in line and "decks" in line)
    assert [c.strip() for c in head.strip("│┃ ").split("┃")] == [
        "card", "type", "cost", "sides", "opening", "seen", "plays", "play rate", "win open", "win not", "diff",
        "decks (copies)"]
    line = next(line for line in text.splitlines() if "Ember Drake" in line)
    assert [c.strip() for c in line.strip("│ ").split("│")] == [
        "Ember Drake", "unit", "3", "4", "75%", "100%", "0.75", "38%", "67%", "0%", "+66.7\N{PLUS-MINUS SIGN}27.2",
        "Emberfang Rush 3"]
    with pytest.raises(ValueError, match="the tally counted 4 games, the match has 3"):
        card_report(t, result[:3], decks[:3], seat[:3], cards)


def test_a_card_in_a_strong_and_a_weak_deck_is_compared_within_each_deck():
    """Gate Shieldbearer: 3 copies in Thornwall, 2 in Anvil. Here every Thornwall seat-game wins
    and every Anvil one loses, whatever was dealt: starting with the card is worth nothing. Raw
    pooling would read +27 points (dealt 2 of 3 won, not dealt 2 of 5), since the card is dealt
    more often in the strong deck's games."""
    cards = shipped_cards()
    gate = cards.pool.id_of("Gate Shieldbearer")
    assert (cards.decks[THORN].main.count("Gate Shieldbearer"), cards.decks[ANVIL].main.count("Gate Shieldbearer")) == (3, 2)
    decks, seat, result = [(THORN, ANVIL)] * 4, np.zeros(4, np.int32), np.ones(4, np.float32)
    t = CardTally(4)
    for g, s in ((0, 0), (1, 0), (0, 1)):
        t.opening[g, s, gate] = True
    r = _row(card_report(t, result, decks, seat, cards), "Gate Shieldbearer")
    assert r["sides"] == 8 and r["opening"] == 3 / 8
    assert r["win_opening"] == 0.5 and r["win_not"] == 0.5 and r["diff"] == 0.0 and r["se"] == 0.0
    by = {x["decks"].popitem()[0]: x for x in card_report(t, result, decks, seat, cards, by_deck=True)
          if x["name"] == "Gate Shieldbearer"}
    assert (by[THORN]["win_opening"], by[THORN]["win_not"], by[ANVIL]["win_opening"], by[ANVIL]["win_not"]) == (1, 1, 0, 0)
    # a deck where it was dealt in every seat-game (or none) says nothing, and is left out
    t.opening[2:, 0, gate] = True
    r = _row(card_report(t, result, decks, seat, cards), "Gate Shieldbearer")
    assert r["win_opening"] == 0.0 and r["win_not"] == 0.0 and r["diff"] == 0.0


def test_the_decks_rates_are_weighted_by_their_seat_games():
    """Gate Shieldbearer over 4 Thornwall and 2 Anvil seat-games: Thornwall dealt 2 (both won),
    not 2 (one won), Anvil dealt 1 (lost), not 1 (won). By seat-games (2/3, 1/3): win open
    2/3 * 1 + 1/3 * 0, win not 2/3 * 0.5 + 1/3 * 1, diff 0 (equal weights would say -0.25), and
    the error sqrt((2/3)^2 * (0 + 0.25/2) + (1/3)^2 * 0)."""
    cards = shipped_cards()
    gate = cards.pool.id_of("Gate Shieldbearer")
    decks, seat = [(THORN, EMBER)] * 4 + [(ANVIL, EMBER)] * 2, np.zeros(6, np.int32)
    result = np.array([1, 1, 1, -1, -1, 1], np.float32)
    t = CardTally(6)
    for g in (0, 1, 4):
        t.opening[g, 0, gate] = True
    r = _row(card_report(t, result, decks, seat, cards), "Gate Shieldbearer")
    assert r["sides"] == 6 and r["opening"] == 0.5
    assert r["win_opening"] == pytest.approx(2 / 3) and r["win_not"] == pytest.approx(2 / 3)
    assert r["diff"] == pytest.approx(0.0, abs=1e-12) and r["se"] == pytest.approx(np.sqrt(4 / 9 * 0.125))


@pytest.fixture(scope="module")
def selfplay():
    cards = shipped_cards()
    games = 640
    t = CardTally(games)
    res = play_match(HeuristicBot(3), "heuristic", games, seed=3, cards=cards, observe=t)
    decks, seat = match_decks(games, cards=cards)
    return cards, t, res, decks, seat


def test_over_real_games_a_card_is_played_only_from_a_seen_hand_of_its_own_deck(selfplay):
    cards, t, res, decks, seat = selfplay
    assert res["illegal_actions"] == 0 and (t.decisions > 0).all()
    assert not ((t.plays > 0) & ~t.held).any()
    assert not (t.opening & ~t.held).any()
    per_seat = t.opening.sum(axis=2)
    assert per_seat.min() >= 1 and per_seat.max() <= 5
    for g, pair in enumerate(decks):
        for s in range(2):
            own = {cards.pool.id_of(n) for n in cards.decks[pair[s]].main}
            assert set(np.nonzero(t.opening[g, s])[0]) <= set(np.nonzero(t.held[g, s])[0]) <= own
            assert set(np.nonzero(t.plays[g, s])[0]) <= own
    assert (t.decisions.sum(axis=1) == res["lengths"]).all()   # each game's decisions, none after it ended
    assert t.plays.sum() > 0 and not ((t.plays > 0) & (t.playable == 0)).any()
    assert (t.plays <= t.playable).all()   # one play per decision, at a decision where it was playable


def test_the_opening_hand_shares_are_those_of_a_fair_deal(selfplay):
    """A card with k copies in a 30-card deck is in a fair 5-card deal with probability
    1 - C(30-k, 5) / C(30, 5); the report's share must be within 5 standard errors of it."""
    cards, t, res, decks, seat = selfplay
    rows = card_report(t, res["results"], decks, seat, cards)
    for r in rows:
        sides = {d: 0 for d in r["decks"]}
        for pair in decks:
            for d in pair:
                if d in sides:
                    sides[d] += 1
        assert r["sides"] == sum(sides.values()) > 0
        p = sum(n * (1 - comb(30 - r["decks"][d], 5) / comb(30, 5)) for d, n in sides.items()) / r["sides"]
        assert abs(r["opening"] - p) <= 5 * np.sqrt(p * (1 - p) / r["sides"]), r
        assert r["diff"] == pytest.approx(r["win_opening"] - r["win_not"])
        assert 0 <= r["play_rate"] <= 1 and 0 < r["seen"] <= 1
    diffs = [r["diff"] for r in rows]
    assert diffs == sorted(diffs, reverse=True)


def test_a_single_deck_cards_row_is_its_seat_games_win_rates(selfplay):
    """Recounted from the tally and the results for each card only one deck holds."""
    cards, t, res, decks, seat = selfplay
    g = np.arange(len(seat))
    win = np.zeros((len(seat), 2), bool)
    win[g, seat] = res["results"] > 0
    win[g, 1 - seat] = res["results"] < 0
    deck_of = np.array(decks)
    checked = 0
    for r in card_report(t, res["results"], decks, seat, cards):
        if len(r["decks"]) != 1:
            continue
        mine = deck_of == next(iter(r["decks"]))
        dealt = t.opening[:, :, cards.pool.id_of(r["name"])] & mine
        wo, wn = win[dealt].mean(), win[mine & ~dealt].mean()
        assert (r["win_opening"], r["win_not"]) == (pytest.approx(wo), pytest.approx(wn))
        assert r["se"] == pytest.approx(np.sqrt(wo * (1 - wo) / dealt.sum() + wn * (1 - wn) / (mine & ~dealt).sum()))
        checked += 1
    assert checked > 30


def test_tcg_cards_json_reports_every_card_and_the_same_seed_gives_the_same_report(capsys):
    from training.cli import main
    assert main(["cards", "--games", "32", "--seed", "4", "--json"]) == 0
    first = capsys.readouterr().out
    data = json.loads(first)
    assert data["games"] == 32 and data["bot"] == "heuristic" and data["illegal_actions"] == 0
    assert data["cards"] == len(shipped_cards().pool) and set(data["decks"]) == set(shipped_cards().decks)
    assert {r["name"] for r in data["by_card"]} == {n for d in shipped_cards().decks.values() for n in d.main}
    assert set(data["by_pairing"]) == set(shipped_cards().decks)
    assert main(["cards", "--games", "32", "--seed", "4", "--json"]) == 0
    assert capsys.readouterr().out == first
    assert main(["cards", "--json"]) == 0   # no games: the cards and decks only
    assert set(json.loads(capsys.readouterr().out)) == {"cards", "by_type", "card_table_digest", "decks"}


def test_tcg_cards_on_the_example_files_and_with_a_seeded_random_bot(capsys):
    from prefabs import load_card_set
    from tcg_env.bots import RandomBot
    from training.cli import main
    ex = load_card_set("docs/examples/cards.toml", "docs/examples/decks.toml")
    assert main(["cards", "--cards", "docs/examples/cards.toml", "--decks-file", "docs/examples/decks.toml",
                 "--games", "16", "--json", "--by-deck"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["card_table_digest"] == ex.digest and set(data["by_pairing"]) == set(ex.decks)
    assert {(r["name"], d) for r in data["by_card"] for d in r["decks"]} == {
        (n, d.name) for d in ex.decks.values() for n in d.main}
    assert all(r["sides"] == 16 for r in data["by_card"])   # each deck: 8 games x both seats / 2 decks
    # the bot is seeded with --seed: the report is that of RandomBot(4) against itself
    assert main(["cards", "--games", "32", "--seed", "4", "--bot", "random", "--json"]) == 0
    t = CardTally(32)
    r = play_match(RandomBot(4), "random", 32, seed=4, cards=shipped_cards(), observe=t)
    want = card_report(t, r["results"], *match_decks(32, cards=shipped_cards()), shipped_cards())
    assert json.loads(capsys.readouterr().out)["by_card"] == json.loads(json.dumps(want))


def test_tcg_cards_refuses_a_bad_bot_and_by_deck_without_games(capsys):
    from training.cli import main
    for argv, says in ((["--bot", "bogus"], "unknown bot 'bogus'"),
                       (["--by-deck"], "--by-deck needs --games N"),
                       (["--games", "1"], "--games must be in 2..")):
        assert main(["cards", *argv]) == 2
        assert says in capsys.readouterr().err


def test_tcg_cards_plays_a_checkpoint_sampling_or_greedy(tmp_path, monkeypatch, capsys):
    import torch

    import training.evaluate as ev
    from policy import PolicyConfig, TCGPolicy
    from training.checkpoint import save_policy
    from training.cli import main
    torch.manual_seed(0)
    path = str(save_policy(TCGPolicy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32)), tmp_path / "p.pt"))
    seen = []
    real = ev.play_match

    def spy(policy, opponent, games, **kw):
        seen.append((opponent, kw.get("greedy"), kw.get("opponent_policy") is policy))
        return real(policy, opponent, games, **kw)
    monkeypatch.setattr(ev, "play_match", spy)
    for mode, greedy in (("", False), ("@sample", False), ("@greedy", True)):
        assert main(["cards", "--games", "4", "--json", "--bot", f"checkpoint:{path}{mode}"]) == 0
        assert json.loads(capsys.readouterr().out)["illegal_actions"] == 0
        assert seen.pop() == ("policy", greedy, True)


def test_tcg_cards_plays_a_checkpoint_against_itself_and_refuses_bad_bots(tmp_path, capsys):
    import torch

    from policy import PolicyConfig, TCGPolicy
    from training.checkpoint import save_policy
    from training.cli import main
    torch.manual_seed(0)
    path = str(save_policy(TCGPolicy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32)), tmp_path / "p.pt"))
    assert main(["cards", "--games", "16", "--bot", f"checkpoint:{path}@greedy"]) == 0
    out = capsys.readouterr().out
    assert f"checkpoint:{path}@greedy against itself, 16 games" in out and "Ember Drake" in out
    for bot, says in (("bogus", "unknown bot 'bogus'"), (f"checkpoint:{path}@x", "mode must be 'greedy' or 'sample'"),
                      (f"checkpoint:{tmp_path / 'none.pt'}", "does not exist")):
        assert main(["cards", "--games", "16", "--bot", bot]) == 2
        assert says in capsys.readouterr().err
    # tcg eval reads a checkpoint opponent's mode the same way
    assert main(["eval", "--checkpoint", path, "--opponent", f"checkpoint:{path}@x", "--games", "2"]) == 2
    assert "--opponent checkpoint mode must be 'greedy' or 'sample'" in capsys.readouterr().err
    # a policy plays only its own cards: not the example files' decks
    assert main(["cards", "--cards", "docs/examples/cards.toml", "--decks-file", "docs/examples/decks.toml",
                 "--games", "8", "--bot", f"checkpoint:{path}"]) == 2
    assert "was trained on the shipped cards" in capsys.readouterr().err


def test_the_rows_by_deck_add_up_to_the_rows_over_all_decks(selfplay):
    cards, t, res, decks, seat = selfplay
    pooled = {r["name"]: r for r in card_report(t, res["results"], decks, seat, cards)}
    split = card_report(t, res["results"], decks, seat, cards, by_deck=True)
    assert len(split) == sum(len(r["decks"]) for r in pooled.values()) > len(pooled)
    for name, r in pooled.items():
        parts = [x for x in split if x["name"] == name]
        assert sorted(d for x in parts for d in x["decks"]) == sorted(r["decks"])
        assert all(len(x["decks"]) == 1 and x["decks"].items() <= r["decks"].items() for x in parts)
        assert sum(x["sides"] for x in parts) == r["sides"]
        assert sum(x["opening"] * x["sides"] for x in parts) == pytest.approx(r["opening"] * r["sides"])
        assert sum(x["plays"] * x["sides"] for x in parts) == pytest.approx(r["plays"] * r["sides"])
        # the win rates: each deck's, averaged weighted by its seat-games (compared within decks)
        w = np.array([x["sides"] for x in parts]) / r["sides"]
        for k in ("win_opening", "win_not", "diff"):
            assert w @ [x[k] for x in parts] == pytest.approx(r[k])
        assert np.sqrt(w ** 2 @ [x["se"] ** 2 for x in parts]) == pytest.approx(r["se"])
    # the CLI's --by-deck rows are these, for its seed and games
    assert main_json(["--by-deck"])["by_card"] == json.loads(json.dumps(card_report(*_match(32, 4), by_deck=True)))


def _match(games, seed):
    cards = shipped_cards()
    t = CardTally(games)
    res = play_match(HeuristicBot(seed), "heuristic", games, seed=seed, cards=cards, observe=t)
    d, s = match_decks(games, cards=cards)
    return t, res["results"], d, s, cards


def main_json(extra):
    import io
    from contextlib import redirect_stdout

    from training.cli import main
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["cards", "--games", "32", "--seed", "4", "--json", *extra]) == 0
    return json.loads(buf.getvalue())
