"""Evaluation bookkeeping (training.evaluate) and the trainer's opponent pool, checked against
hand-made results: a draw is neither a win nor a loss anywhere, the per-deck and per-pairing
rates read from the measured side, illegal actions and game lengths are counted per game, the
league rates draws as ties and starts the bots from the prior, and the pool keeps and samples
its members as docs/TRAINING.md describes."""
import csv
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from prefabs import default_decks
from training.evaluate import (ANCHOR, match_decks, merge_blocks, play_match, summarize, update_league,
                               win_rates_by_deck, win_rates_by_pairing)
from verification.spec import HEAD_SIZES

EMBER, ANVIL = "Emberfang Rush", "Anvil Vanguard"


# ------------------------------------------------------------------ layout and summaries
def test_match_decks_alternate_seats_within_each_pairing():
    names = list(default_decks())
    decks, seat = match_decks(70)
    assert seat.tolist() == [i % 2 for i in range(70)]
    pairs = [(a, b) for a in names for b in names]
    assert decks == [pairs[(i // 2) % 16] for i in range(70)]
    decks, seat = match_decks(4, (EMBER, ANVIL))   # the measured side always holds the first deck
    assert decks == [(EMBER, ANVIL), (ANVIL, EMBER), (EMBER, ANVIL), (ANVIL, EMBER)]
    assert seat.tolist() == [0, 1, 0, 1]


def test_a_draw_is_neither_a_win_nor_a_loss_in_any_breakdown():
    decks, seat = match_decks(6, (EMBER, ANVIL))
    result = np.array([1, 0, 0, -1, 0, 1], np.float32)
    s = summarize(result, np.arange(1, 7, dtype=np.int32), 5, decks, seat)
    assert (s["games"], s["wins"], s["losses"], s["draws"]) == (6, 2, 1, 3)
    assert s["win_rate"] == pytest.approx(2 / 6) and s["score"] == pytest.approx((2 + 1.5) / 6)
    assert s["mean_decisions"] == pytest.approx(3.5) and s["illegal_actions"] == 5
    assert s["by_own_deck"] == {EMBER: {"games": 6, "win_rate": pytest.approx(2 / 6)}}
    assert s["by_opponent_deck"] == {ANVIL: {"games": 6, "win_rate": pytest.approx(2 / 6)}}
    assert s["by_pairing"] == {EMBER: {ANVIL: {"games": 6, "win_rate": pytest.approx(2 / 6)}}}


def test_deck_and_pairing_rates_read_from_the_measured_side():
    """Over the default layout, the measured side wins exactly the games where it holds
    Emberfang: its own-deck rate is 1 for Emberfang, 0 for the rest; its opponent-deck rates are
    the share of Emberfang games against each; draws everywhere else count for nothing."""
    decks, seat = match_decks(64)
    own = np.array([pair[s] for pair, s in zip(decks, seat)])
    result = np.where(own == EMBER, 1.0, 0.0).astype(np.float32)
    mine, theirs = win_rates_by_deck(result, decks, seat)
    assert {d: v["win_rate"] for d, v in mine.items()} == {d: float(d == EMBER) for d in default_decks()}
    assert all(v["games"] == 16 for v in mine.values()) and all(v["games"] == 16 for v in theirs.values())
    assert {d: v["win_rate"] for d, v in theirs.items()} == {d: 0.25 for d in default_decks()}
    by = win_rates_by_pairing(result, decks, seat)
    for a, row in by.items():
        assert {b: v["win_rate"] for b, v in row.items()} == {b: float(a == EMBER) for b in default_decks()}
        assert all(v["games"] == 4 for v in row.values())


# ------------------------------------------------------------------ play_match counting
class _IllegalFirst:
    """The heuristic bot, but the first ``k`` decisions it makes in each row are an illegal tuple."""

    def __init__(self, k: int):
        from tcg_env.bots import HeuristicBot
        self.k, self.bot, self.made = k, HeuristicBot(0), None

    def act_batch(self, state, cards, legal, legal_n, out=None, rows=None):
        if self.made is None:
            self.made = np.zeros(state.shape[0], np.int64)
        self.bot.act_batch(state, cards, legal, legal_n, out=out, rows=rows)
        for i in rows:
            if self.made[i] < self.k:   # an in-range tuple that is not on the row's legal list
                listed = {tuple(t) for t in legal[i, :legal_n[i]]}
                out[i] = next((p, 0, 0, 0) for p in range(HEAD_SIZES[0]) if (p, 0, 0, 0) not in listed)
                self.made[i] += 1
        return out


def test_play_match_counts_every_illegal_action_and_merges_the_blocks_counts():
    whole = play_match(_IllegalFirst(2), "heuristic", 6, seed=1)
    assert whole["illegal_actions"] == 2 * 6 and whole["games"] == 6
    parts = [play_match(_IllegalFirst(3), "heuristic", 6, seed=1, block=b) for b in ((0, 2), (2, 6))]
    assert [p["illegal_actions"] for p in parts] == [3 * 2, 3 * 4]
    assert merge_blocks(parts, 6)["illegal_actions"] == 3 * 6


def test_play_match_game_lengths_are_each_games_own():
    """A game's length is its own decisions, not the longest game's: each game played alone
    (a one-game block has the same seed, decks and seat) has the length the match reports."""
    from tcg_env.bots import HeuristicBot
    whole = play_match(HeuristicBot(0), "heuristic", 4, seed=2)
    alone = [play_match(HeuristicBot(0), "heuristic", 4, seed=2, block=(i, i + 1))["lengths"][0] for i in range(4)]
    assert whole["lengths"].tolist() == alone and len(set(alone)) > 1
    assert whole["mean_decisions"] == pytest.approx(np.mean(alone))


# ------------------------------------------------------------------ league
def _match(results) -> dict:
    r = np.array(results, np.float32)
    w, l = int((r > 0).sum()), int((r < 0).sum())
    return {"games": len(r), "wins": w, "losses": l, "draws": len(r) - w - l, "win_rate": w / len(r), "results": r}


def _trainer(out: Path, **ratings):
    tr = SimpleNamespace(ratings=dict(ratings), update=7, steps=700, out=str(out), _print=print)
    tr.elapsed = lambda: 120.0
    return tr


def test_league_rates_a_draw_as_a_tie(tmp_path):
    from openskill.models import PlackettLuce
    prior = PlackettLuce()
    tr = _trainer(tmp_path)
    update_league(tr, {ANCHOR: _match([0] * 10)})   # equal ratings, ten draws: mu stays
    mu, sigma = tr.ratings["learner"]
    assert mu == pytest.approx(prior.mu, abs=1e-6) and sigma < prior.sigma


def test_league_starts_the_bots_from_the_prior_and_a_snapshot_from_the_learner(tmp_path):
    from openskill.models import PlackettLuce
    prior = PlackettLuce()
    tr = _trainer(tmp_path, learner=(40.0, 2.0))
    update_league(tr, {"random": _match([1]), "self@7": _match([0]), "search:200": _match([0])})
    assert abs(tr.ratings["random"][0] - prior.mu) < 3.0          # moved from 25, not from 40
    assert abs(tr.ratings["search:200"][0] - prior.mu) < 3.0      # any bot, not only the built-in two
    assert abs(tr.ratings["self@7"][0] - 40.0) < 3.0              # a copy of the learner


def test_league_table_rows_hold_each_matchs_counts(tmp_path):
    tr = _trainer(tmp_path)
    update_league(tr, {"random": _match([1, 1, 1, -1, 0]), ANCHOR: _match([-1, -1, 1, 0, 0, 0])})
    rows = list(csv.DictReader((tmp_path / "league.csv").open()))
    got = [(r["opponent"], r["games"], r["wins"], r["losses"], r["draws"], r["update"], r["steps"], r["minutes"])
           for r in rows]
    assert got == [("random", "5", "3", "1", "1", "7", "700", "2.0"), (ANCHOR, "6", "1", "2", "3", "7", "700", "2.0")]
    assert float(rows[0]["win_rate"]) == 0.6 and float(rows[1]["win_rate"]) == round(1 / 6, 4)


# ------------------------------------------------------------------ the trainer's opponent pool
@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    from training.config import TrainConfig
    from training.ppo import Trainer
    out = tmp_path_factory.mktemp("pool")
    cfg = TrainConfig.from_dict(dict(num_envs=8, rollout_steps=8, d_model=16, n_layers=1, num_minibatches=2,
                                     update_epochs=2, eval_every=0, eval_games=4, checkpoint_every=1,
                                     pool_add_every=1, minutes=0.0, total_steps=10_000, torch_threads=1, nproc=1,
                                     pool_size=3, keep_checkpoints=2, out=str(out / "run")))
    tr = Trainer(cfg, quiet=True)
    yield tr
    tr.close()


def _fill_pool(tr, n):
    tr.pool.clear()
    tr.ratings.clear()
    for u in range(1, n + 1):
        tr.update = u
        tr._add_to_pool()


def test_pool_keeps_the_newest_pool_size_members(trainer):
    _fill_pool(trainer, 5)
    assert [m.name for m in trainer.pool] == ["self@3", "self@4", "self@5"]


def _draws(tr, n=3000, **cfg):
    for k, v in cfg.items():
        setattr(tr.cfg, k, v)
    return Counter(tr._choose_opponent() for _ in range(n))


def test_pool_opponents_follow_the_documented_sampling(trainer, monkeypatch):
    """Heuristic with bot_opponent_prob; else the latest with pool_latest_prob; else weighted
    (1 - w)^2 + 0.05 by the learner's smoothed win rate w against each member."""
    tr = trainer
    monkeypatch.setattr(tr.opp_policy, "load_state_dict", lambda sd: None)   # only the choice matters here
    saved = (tr.cfg.bot_opponent_prob, tr.cfg.pool_latest_prob)
    try:
        _fill_pool(tr, 3)
        seen = _draws(tr, bot_opponent_prob=0.0, pool_latest_prob=1.0, n=50)
        assert seen == {"self@3": 50}
        seen = _draws(tr, bot_opponent_prob=0.25, pool_latest_prob=1.0, n=2000)
        assert set(seen) == {"heuristic", "self@3"} and abs(seen["heuristic"] / 2000 - 0.25) < 0.04
        # the learner always beats self@1, never self@2, and self@3 half the time
        for m, (games, wins) in zip(tr.pool, ((98, 98.0), (98, 0.0), (98, 49.0))):
            m.games, m.learner_wins = games, wins
        w = np.array([(1 - m.learner_win_rate()) ** 2 + 0.05 for m in tr.pool])
        seen = _draws(tr, bot_opponent_prob=0.0, pool_latest_prob=0.0, n=3000)
        for m, p in zip(tr.pool, w / w.sum()):
            assert abs(seen[m.name] / 3000 - p) < 0.035, (seen, w / w.sum())
        assert seen["self@2"] > 10 * seen["self@1"]
    finally:
        tr.cfg.bot_opponent_prob, tr.cfg.pool_latest_prob = saved


def test_save_keeps_the_last_keep_checkpoints(trainer):
    tr = trainer
    for u in range(1, 6):
        tr.update = u
        tr.save()
    assert sorted(p.name for p in (tr.out / "checkpoints").iterdir()) == ["ckpt_000004.pt", "ckpt_000005.pt"]


def test_evaluation_faces_the_newest_pool_members(trainer, monkeypatch):
    import training.evaluate as ev
    tr = trainer
    _fill_pool(tr, 3)
    met = []

    def fake_eval(policy, name, games, **kw):
        met.append((name, kw["opponent_state_dict"] is not None))
        return {"win_rate": 0.5, "by_own_deck": {}, "by_opponent_deck": {}}

    def fake_league(trainer, results):
        trainer.ratings["learner"] = (25.0, 8.0)

    monkeypatch.setattr(ev, "evaluate_policy", fake_eval)
    monkeypatch.setattr(ev, "update_league", fake_league)
    monkeypatch.setattr(tr.cfg, "eval_pool_members", 2)
    tr.evaluate_now()
    assert met == [("random", False), ("heuristic", False), ("self@2", True), ("self@3", True)]


def test_rollout_tally_against_an_opponent_counts_the_learners_wins(trainer, monkeypatch):
    """The rollout's heuristic_wins (and a pool member's learner_wins, the same tally) count the
    games won by the seat the learner played, read off the rollout itself: in a pool game the
    learner acts only from its own seat."""
    tr = trainer
    monkeypatch.setattr(tr.cfg, "bot_opponent_prob", 1.0)
    games = wins = expected = 0
    seat_of = {}
    for _ in range(200):
        ro, st = tr.collect()
        assert tr.opponent == "heuristic"
        games, wins = games + st["heuristic_games"], wins + st["heuristic_wins"]
        for seats, learner, dones, rewards in zip(ro.seats, ro.learner, ro.dones, ro.seat_rewards):
            for i in np.nonzero(tr.pool_envs & learner)[0]:
                assert seat_of.setdefault(i, int(seats[i])) == int(seats[i])
            for i in np.nonzero(tr.pool_envs & dones)[0]:
                expected += float(rewards[i, seat_of[i]] > 0)
        if games >= 6:
            break
    assert games >= 6 and len(seat_of) == tr.pool_envs.sum()
    assert wins == expected < games   # an untrained learner loses most games to the heuristic


# ------------------------------------------------------------------ league: anchor, carry-over, table, plot
def test_league_holds_the_anchor_at_the_prior_and_wins_raise_the_learner(tmp_path):
    """A stale anchor rating (a run from before the anchor) is put back to the prior and never
    moves; beating it raises the learner above the prior's mu, losing to it lowers the learner.
    The table's ratings are openskill ordinals (mu - 3 sigma): the prior's is 25 - 3 * 25/3 = 0."""
    from openskill.models import PlackettLuce
    prior = PlackettLuce()
    won = _trainer(tmp_path / "won", heuristic=(10.0, 1.0))
    (tmp_path / "won").mkdir()
    update_league(won, {ANCHOR: _match([1] * 5)})
    assert won.ratings[ANCHOR] == (prior.mu, prior.sigma)
    mu, sigma = won.ratings["learner"]
    assert mu > prior.mu + 1.0 and sigma < prior.sigma
    row = next(csv.DictReader((tmp_path / "won" / "league.csv").open()))
    assert float(row["opponent_rating"]) == 0.0
    assert float(row["learner_mu"]) == round(mu, 3) and float(row["learner_sigma"]) == round(sigma, 3)
    assert float(row["learner_rating"]) == pytest.approx(mu - 3 * sigma, abs=2e-3) and float(row["learner_rating"]) > 0
    lost = _trainer(tmp_path / "lost")
    (tmp_path / "lost").mkdir()
    update_league(lost, {ANCHOR: _match([-1] * 5)})
    assert lost.ratings[ANCHOR] == (prior.mu, prior.sigma) and lost.ratings["learner"][0] < prior.mu - 1.0
    once = _trainer(tmp_path / "once")   # every game counts, the first too: one win is a rise
    (tmp_path / "once").mkdir()
    update_league(once, {ANCHOR: _match([1])})
    assert prior.mu < once.ratings["learner"][0] < mu


def test_league_ratings_and_table_carry_over_between_evaluations(tmp_path):
    """A second evaluation starts every rating where the first left it (the learner keeps
    climbing, a beaten bot keeps falling, certainty keeps growing), and the table is appended
    to: one header, the rows of both evaluations in order."""
    tr = _trainer(tmp_path)
    update_league(tr, {"random": _match([1] * 3), "self@7": _match([1, 0, 1])})
    first = dict(tr.ratings)
    tr.update = 8
    update_league(tr, {"random": _match([1] * 3), "self@7": _match([1, 0, 1])})
    assert tr.ratings["learner"][0] > first["learner"][0] and tr.ratings["learner"][1] < first["learner"][1]
    assert tr.ratings["random"][0] < first["random"][0] and tr.ratings["random"][1] < first["random"][1]
    assert tr.ratings["self@7"][0] < first["self@7"][0]
    lines = list(csv.reader((tmp_path / "league.csv").open()))
    assert lines[0][:4] == ["update", "steps", "minutes", "opponent"]
    assert [(r[0], r[3]) for r in lines[1:]] == [("7", "random"), ("7", "self@7"), ("8", "random"), ("8", "self@7")]


def test_league_snapshot_starts_from_the_learners_rating_before_this_evaluation(tmp_path):
    """A snapshot rated for the first time starts where the learner stood when the evaluation
    began, not where earlier games of the same evaluation moved it: after losing heavily to the
    random bot the learner sits far below 30, and one draw barely moves the snapshot from 30."""
    tr = _trainer(tmp_path, learner=(30.0, 5.0))
    update_league(tr, {"random": _match([-1] * 20), "self@7": _match([0])})
    assert tr.ratings["learner"][0] < 26.0
    assert abs(tr.ratings["self@7"][0] - 30.0) < 1.5


def test_league_resumed_table_keeps_its_older_header(tmp_path):
    """A table started before the learner_mu / learner_sigma columns keeps its header: the new
    rows fill the old columns only, every line has the header's width, and the plot still runs."""
    head = ["update", "steps", "minutes", "opponent", "games", "wins", "losses", "draws", "win_rate",
            "opponent_rating", "learner_rating"]
    (tmp_path / "league.csv").write_text(",".join(head) + "\n3,300,1.0,random,4,2,1,1,0.5,-1.0,1.5\n")
    tr = _trainer(tmp_path)
    update_league(tr, {"random": _match([1, 1, -1])})
    lines = list(csv.reader((tmp_path / "league.csv").open()))
    assert lines[0] == head and len(lines) == 3 and all(len(x) == len(head) for x in lines)
    assert lines[2][:9] == ["7", "700", "2.0", "random", "3", "2", "1", "0", "0.6667"]
    assert (tmp_path / "league.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_league_writes_a_png_and_a_failing_plot_never_stops_it(tmp_path, monkeypatch):
    import training.evaluate as ev
    tr = _trainer(tmp_path)
    update_league(tr, {"random": _match([1, -1])})
    assert (tmp_path / "league.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    def broken(csv_path, png_path):
        raise RuntimeError("no display")
    said = []
    monkeypatch.setattr(ev, "plot_league", broken)
    tr._print = said.append
    tr.update = 8
    update_league(tr, {"random": _match([1, 1])})
    assert len(list(csv.DictReader((tmp_path / "league.csv").open()))) == 2
    assert len(said) == 1 and "no display" in said[0]


def _plotted(monkeypatch, csv_path, png_path):
    """plot_league's figure, kept open: [win-rate axes, rating axes]."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from training.evaluate import plot_league
    figs = []
    monkeypatch.setattr(plt, "close", figs.append)
    plot_league(csv_path, png_path)
    monkeypatch.undo()
    assert len(figs) == 1 and png_path.exists()
    return figs[0].axes


def test_league_plot_draws_each_bots_win_rate_and_one_learner_point_per_evaluation(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    head = ("update,steps,minutes,opponent,games,wins,losses,draws,win_rate,opponent_rating,learner_rating,"
            "learner_mu,learner_sigma\n")
    rows = ["1,100,1.0,random,4,2,2,0,0.5,-3.0,18.0,24.0,2.0", "1,100,1.0,heuristic,4,1,3,0,0.25,0.0,18.0,24.0,2.0",
            "1,100,1.0,self@1,4,2,2,0,0.5,17.0,18.0,24.0,2.0", "2,200,2.5,random,4,3,1,0,0.75,-4.0,22.5,27.0,1.5",
            "2,200,2.5,heuristic,5,2,3,0,0.4,0.0,22.5,27.0,1.5"]
    (tmp_path / "league.csv").write_text(head + "\n".join(rows) + "\n")
    a1, a2 = _plotted(monkeypatch, tmp_path / "league.csv", tmp_path / "league.png")
    try:
        lines = {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in a1.get_lines()}
        assert lines == {"vs random": ([1.0, 2.5], [0.5, 0.75]), "vs heuristic": ([1.0, 2.5], [0.25, 0.4])}
        learner, anchor = a2.get_lines()
        assert list(learner.get_xdata()) == [1.0, 2.5] and list(learner.get_ydata()) == [24.0, 27.0]
        assert list(anchor.get_ydata()) == [25.0, 25.0]
        band = a2.collections[0].get_paths()[0].vertices[:, 1]   # mu +- 3 sigma: 18..30 and 22.5..31.5
        assert band.min() == pytest.approx(18.0) and band.max() == pytest.approx(31.5)
    finally:
        plt.close("all")


def test_league_plot_reads_an_older_table_by_its_ordinal(tmp_path, monkeypatch):
    """A table from before learner_mu / learner_sigma: the learner line is its ordinal, in time order."""
    import matplotlib.pyplot as plt
    head = "update,steps,minutes,opponent,games,wins,losses,draws,win_rate,opponent_rating,learner_rating\n"
    (tmp_path / "league.csv").write_text(head + "2,200,3.0,heuristic,4,2,2,0,0.5,0.0,1.0\n"   # out of order:
                                         "1,100,1.0,heuristic,4,1,3,0,0.25,0.0,-2.0\n")   # drawn in time order
    a1, a2 = _plotted(monkeypatch, tmp_path / "league.csv", tmp_path / "league.png")
    try:
        learner = a2.get_lines()[0]
        assert list(learner.get_xdata()) == [1.0, 3.0] and list(learner.get_ydata()) == [-2.0, 1.0]
        assert not a2.collections   # no band without sigma
    finally:
        plt.close("all")
