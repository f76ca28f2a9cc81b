"""Second mutation audit of the league table (``training.evaluate.update_league`` and
``plot_league``), the trainer's evaluation bookkeeping (``Trainer.evaluate_now``, the closing
evaluation, ratings in checkpoints) and the benchmark harnesses (``tcg_env/bench.py``,
``training/bench.py``).

78 one-line mutants (26+1 of evaluate.py's league code, 12 of the trainer's evaluation bookkeeping,
22 of tcg_env/bench.py, 17 of training/bench.py); 59 survived the existing tests (among them
every training/bench.py mutant: only the CLI test, with ``run`` faked, touched that file).
The tests below kill 50 of them, each test's docstring naming its mutants (e.g. e06 = minutes
to one decimal, b03 = the bot's act timed with the step, t04 = overhead as forward / sample).

Equivalent (5):
- e14 sigma read back clamped at the prior's: openskill never stores a sigma above the prior's;
- e16 ``games`` as len(results): a match's games are its results' length by construction;
- e17 rate (opponent, learner) with the ranks reversed: Plackett-Luce with two teams is symmetric
  (the exact reference test below passes on it);
- e18 the learner's rating kept only when there are rows: an evaluation always has rows;
- e26 win-rate lines matched by a name's first four letters: league opponents are ``random``,
  ``heuristic`` and ``self@N`` only.
Not equivalent, left untested here (4):
- e20 a zero-byte league.csv treated as new: the mutant was the fix of a defect the audit
  found (rows appended with no header to an empty table), now made and tested in test_train.py
  with the other defect it found (a run resumed after a kill between an evaluation and its
  checkpoint wrote that update's league rows twice);
- b20 every restarted game of the Python row from seed 0: no docstring says which games it plays;
- t16 no CUDA synchronize after sampling: on CPU the sync is a no-op (GPU only);
- t17 the sampler bench's states taken at the opening instead of after 40 random decisions:
  undocumented.

Benchmark figures are checked for consistency with a faked clock, never against a speed."""
import csv
import time as _time_module
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tcg_env import bench
from training import bench as tbench
from training.evaluate import ANCHOR, update_league

from test_evaluate import _plotted   # plot_league's figure, kept open


# ------------------------------------------------------------------ helpers
def _match(results) -> dict:
    r = np.array(results, np.float32)
    w, l = int((r > 0).sum()), int((r < 0).sum())
    return {"games": len(r), "wins": w, "losses": l, "draws": len(r) - w - l, "win_rate": w / len(r), "results": r}


def _trainer(out: Path, elapsed: float = 120.0, **ratings):
    tr = SimpleNamespace(ratings=dict(ratings), update=7, steps=700, out=str(out), _print=print)
    tr.elapsed = lambda: elapsed
    return tr


class _Clock:
    """A stand-in for a benchmark's ``time`` module: ``perf_counter`` returns ``now``, which only
    moves when a test advances it (``tick``) or, with ``step``, by ``step`` at every read after
    the first. ``count`` is noted at each read."""

    def __init__(self, step: float = 0.0, count=lambda: 0):
        self.now, self.step, self.count, self.reads, self.counts = 100.0, step, count, [], []

    def perf_counter(self):
        if self.reads:
            self.now += self.step
        self.reads.append(self.now)
        self.counts.append(self.count())
        return self.now

    def tick(self, dt):
        self.now += dt

    @staticmethod
    def strftime(fmt):
        return _time_module.strftime(fmt, _time_module.struct_time((2026, 3, 9, 12, 0, 0, 0, 68, 0)))


# ------------------------------------------------------------------ league table
def test_league_ratings_and_rows_are_openskills_game_by_game_updates(tmp_path):
    """(e05 e08 e10) The ratings equal openskill's Plackett-Luce updates made one game at a time in
    the order played (learner first, the anchor held at the prior, a snapshot starting from the
    learner's rating before the evaluation, a bot from its stored rating), and the table's ordinals
    and mu / sigma are those values rounded to 3 decimals."""
    from openskill.models import PlackettLuce
    model = PlackettLuce()
    start = {"learner": (31.0, 4.0), "random": (12.5, 6.5)}
    res = {"random": [1, 1, -1, 0, 1], ANCHOR: [-1, 1, 0, -1], "self@5": [1, -1, -1, 0, 0, 1]}
    tr = _trainer(tmp_path, **start)
    update_league(tr, {k: _match(v) for k, v in res.items()})

    learner = model.rating(mu=31.0, sigma=4.0)
    want, ordinals = {}, {}
    for name, games in res.items():
        opp = model.rating(*({"random": (12.5, 6.5), ANCHOR: (model.mu, model.sigma),
                              "self@5": (31.0, 4.0)}[name]))
        for g in games:
            ranks = [0, 1] if g > 0 else [1, 0] if g < 0 else [0, 0]
            [[learner], [moved]] = model.rate([[learner], [opp]], ranks=ranks)
            if name != ANCHOR:
                opp = moved
        want[name] = (opp.mu, opp.sigma)
        ordinals[name] = opp.mu - 3 * opp.sigma
    want["learner"] = (learner.mu, learner.sigma)
    assert set(tr.ratings) == set(want)
    for k, (mu, sigma) in want.items():
        assert tr.ratings[k] == (pytest.approx(mu, abs=1e-9), pytest.approx(sigma, abs=1e-9)), k
    rows = list(csv.DictReader((tmp_path / "league.csv").open()))
    assert [r["opponent"] for r in rows] == list(res)
    for r in rows:
        assert float(r["opponent_rating"]) == pytest.approx(ordinals[r["opponent"]], abs=5.01e-4)
        assert float(r["learner_mu"]) == round(learner.mu, 3)
        assert float(r["learner_sigma"]) == round(learner.sigma, 3)
        assert float(r["learner_rating"]) == pytest.approx(learner.mu - 3 * learner.sigma, abs=5.01e-4)
        for col in ("opponent_rating", "learner_rating", "learner_mu", "learner_sigma"):
            assert len(r[col].partition(".")[2]) <= 3, (col, r[col])


def test_every_row_of_an_evaluation_carries_the_learners_rating_after_it(tmp_path):
    """(e09) The learner columns are the same on every row of one evaluation: its rating after all
    of that evaluation's games, not left empty on the earlier opponents' rows."""
    tr = _trainer(tmp_path)
    update_league(tr, {"random": _match([1, 1]), ANCHOR: _match([1, -1, 1]), "self@3": _match([0, 1])})
    mu, sigma = tr.ratings["learner"]
    rows = list(csv.DictReader((tmp_path / "league.csv").open()))
    assert len(rows) == 3
    for r in rows:
        assert r["learner_mu"] != "" and float(r["learner_mu"]) == round(mu, 3)
        assert float(r["learner_sigma"]) == round(sigma, 3)
        assert float(r["learner_rating"]) == pytest.approx(mu - 3 * sigma, abs=5.01e-4)


def test_league_minutes_are_the_elapsed_time_in_minutes_to_two_decimals(tmp_path):
    """(e06 e07) ``minutes`` is the run's elapsed seconds / 60 rounded to 2 decimals (125 s is
    2.08 minutes, 3599 s 59.98), not truncated to whole minutes or to one decimal."""
    for secs, want in ((125.0, "2.08"), (3599.0, "59.98")):
        d = tmp_path / str(int(secs))
        d.mkdir()
        update_league(_trainer(d, elapsed=secs), {"random": _match([1])})
        row = next(csv.DictReader((d / "league.csv").open()))
        assert row["minutes"] == want



def test_league_plot_writes_the_png_it_is_given_with_its_axes_named(tmp_path, monkeypatch):
    """(e21 e24 e25) plot_league writes the file named by ``png_path`` (any name, not the CSV's
    name with .png), its win-rate axes span 0..1 and both panels are plotted against minutes."""
    import matplotlib.pyplot as plt
    head = ("update,steps,minutes,opponent,games,wins,losses,draws,win_rate,opponent_rating,learner_rating,"
            "learner_mu,learner_sigma\n")
    (tmp_path / "league.csv").write_text(head + "1,100,1.0,random,4,1,3,0,0.25,-3.0,18.0,24.0,2.0\n")
    png = tmp_path / "elsewhere" / "curve.png"
    png.parent.mkdir()
    a1, a2 = _plotted(monkeypatch, tmp_path / "league.csv", png)
    try:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not (tmp_path / "league.png").exists()
        assert a1.get_ylim() == (0.0, 1.0)
        assert a1.get_xlabel() == "minutes" and a2.get_xlabel() == "minutes"
        assert a1.get_ylabel() == "win rate" and "rating" in a2.get_ylabel()
    finally:
        plt.close("all")


def test_league_plot_keeps_two_evaluations_made_at_the_same_update(tmp_path, monkeypatch):
    """(e22) One learner point per evaluation: a table holding two evaluations at the same update
    (a run resumed from a checkpoint older than its last evaluation plays that update again, at a
    later minute) plots both, in time order."""
    import matplotlib.pyplot as plt
    head = ("update,steps,minutes,opponent,games,wins,losses,draws,win_rate,opponent_rating,learner_rating,"
            "learner_mu,learner_sigma\n")
    (tmp_path / "league.csv").write_text(head + "4,400,2.0,heuristic,4,2,2,0,0.5,0.0,1.0,26.0,1.0\n"
                                                "4,400,3.5,heuristic,4,3,1,0,0.75,0.0,2.0,27.0,1.0\n")
    a1, a2 = _plotted(monkeypatch, tmp_path / "league.csv", tmp_path / "league.png")
    try:
        learner = a2.get_lines()[0]
        assert list(learner.get_xdata()) == [2.0, 3.5] and list(learner.get_ydata()) == [26.0, 27.0]
    finally:
        plt.close("all")


# ------------------------------------------------------------------ the trainer's evaluation bookkeeping
_DECKS = ("Emberfang Rush", "Anvil Vanguard")


def _eval_result(win_rate: float, games: int, shift: float) -> dict:
    wins = int(round(win_rate * games))
    r = _match([1] * wins + [-1] * (games - wins))
    r["by_own_deck"] = {d: {"games": games // 2, "win_rate": shift + 0.1 * i} for i, d in enumerate(_DECKS)}
    r["by_opponent_deck"] = {d: {"games": games // 2, "win_rate": shift + 0.2 + 0.3 * i} for i, d in enumerate(_DECKS)}
    return r


def _fake_evaluating_trainer(tmp_path, monkeypatch, eval_games=1, members=("self@2", "self@4", "self@6"), keep=2):
    import training.evaluate as ev
    from training.ppo import PoolMember, Trainer
    calls = []

    def fake_evaluate_policy(policy, name, games, seed, device=None, opponent_state_dict=None, **kw):
        calls.append({"name": name, "games": games, "seed": seed, "sd": opponent_state_dict})
        return _eval_result({"random": 0.9, ANCHOR: 0.4}.get(name, 0.5), 10,
                            {"random": 0.0, ANCHOR: 0.05}.get(name, 0.6))
    monkeypatch.setattr(ev, "evaluate_policy", fake_evaluate_policy)
    cfg = SimpleNamespace(eval_pool_members=keep, eval_games=eval_games, seed=3)
    pool = [PoolMember(n, int(n.split("@")[1]), {"w": n}) for n in members]
    tr = SimpleNamespace(cfg=cfg, pool=pool, policy=object(), device="cpu", is_main=True, update=9, steps=900,
                         out=str(tmp_path), ratings={}, _print=print, elapsed=lambda: 60.0, cards=None)
    return tr, calls, lambda: Trainer.evaluate_now(tr)


def test_evaluate_now_plays_the_documented_opponents_in_order_with_their_own_weights(tmp_path, monkeypatch):
    """(p07 p10 p11 p12) random, heuristic, then the newest eval_pool_members pool members, in
    that order (the learner's rating moves game by game, so the order is the table's), each
    member with its own weights, every match eval_games games from seed * 31 + update (a new
    seed at each update)."""
    tr, calls, run = _fake_evaluating_trainer(tmp_path, monkeypatch)
    run()
    assert [c["name"] for c in calls] == ["random", ANCHOR, "self@4", "self@6"]
    assert [c["sd"] for c in calls] == [None, None, {"w": "self@4"}, {"w": "self@6"}]
    assert all(c["games"] == 1 and c["seed"] == 3 * 31 + 9 for c in calls)
    rows = list(csv.DictReader((tmp_path / "league.csv").open()))
    assert [r["opponent"] for r in rows] == ["random", ANCHOR, "self@4", "self@6"]
    calls.clear()
    tr.update = 10
    run()
    assert {c["seed"] for c in calls} == {3 * 31 + 10}


def test_evaluate_now_reports_each_opponents_rate_and_the_heuristic_by_deck(tmp_path, monkeypatch):
    """(p05 p06 p08) The returned eval/ scalars: the win rate against every opponent (pool members
    too), the rate against the heuristic by the learner's own deck and by the opponent's deck
    each from its own breakdown, and the learner's rating after this evaluation."""
    tr, calls, run = _fake_evaluating_trainer(tmp_path, monkeypatch)
    out = run()
    assert out["eval/win_rate_vs_random"] == 0.9 and out[f"eval/win_rate_vs_{ANCHOR}"] == 0.4
    assert out["eval/win_rate_vs_self@4"] == 0.5 and out["eval/win_rate_vs_self@6"] == 0.5
    assert out["eval/heuristic_by_own_deck/Emberfang_Rush"] == pytest.approx(0.05)
    assert out["eval/heuristic_by_own_deck/Anvil_Vanguard"] == pytest.approx(0.15)
    assert out["eval/heuristic_by_opponent_deck/Emberfang_Rush"] == pytest.approx(0.25)
    assert out["eval/heuristic_by_opponent_deck/Anvil_Vanguard"] == pytest.approx(0.55)
    assert (out["eval/learner_rating_mu"], out["eval/learner_rating_sigma"]) == tr.ratings["learner"]


TINY = dict(num_envs=8, rollout_steps=8, d_model=16, n_layers=1, num_minibatches=2, update_epochs=1,
            eval_every=0, eval_games=2, checkpoint_every=0, pool_add_every=0, minutes=0.0, total_steps=64,
            torch_threads=1, nproc=1, pool_fraction=0.0)


def test_ratings_survive_a_checkpoint_and_the_closing_evaluation_reaches_tensorboard(tmp_path):
    """(p01 p02 p03 p09) A run whose only evaluation is the closing one writes its eval/ scalars
    (win rates, the learner's rating) to TensorBoard as well as the league table; its checkpoint
    holds every rating, the learner's included, mu and sigma each in its place, and a load puts
    them back (a resumed run's league goes on from them)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from training.config import TrainConfig
    from training.ppo import Trainer
    cfg = TrainConfig.from_dict({**TINY, "out": str(tmp_path / "run")})
    tr = Trainer(cfg, quiet=True)
    try:
        tr.train()
        assert tr.update == 1
        ea = EventAccumulator(str(tmp_path / "run" / "tb"))
        ea.Reload()
        tags = set(ea.Tags()["scalars"])
        assert {"eval/win_rate_vs_random", f"eval/win_rate_vs_{ANCHOR}", "eval/learner_rating_mu",
                "eval/learner_rating_sigma"} <= tags, tags
        assert ea.Scalars("eval/learner_rating_mu")[-1].value == pytest.approx(tr.ratings["learner"][0], abs=1e-4)
        tr.ratings.update({"learner": (27.5, 3.25), "self@1": (24.0, 6.5)})
        path = tr.save()
        saved = dict(tr.ratings)
        tr.ratings = {}
        tr.load(path)
        assert tr.ratings == saved
    finally:
        tr.close()


# ------------------------------------------------------------------ tcg_env/bench.py
def test_batched_row_plays_at_least_one_step_per_game(monkeypatch):
    """(b01) A decision budget below the batch size still plays one decision in every game: the
    row reports the decisions it timed, never a zero rate."""
    calls = []

    def kernel(state, cards, legal, legal_n, obs, seat_rewards, actor, bot, steps):
        calls.append(steps)
        return state.shape[0] * steps, 0
    monkeypatch.setattr(bench.engine, "random_play_batch", kernel)
    monkeypatch.setattr(bench, "time", _Clock(step=2.0))
    row = bench.bench_batched(8, 4, repeats=1)
    assert calls[1:] == [1] and row["decisions_per_run"] == 8 and row["decisions_per_s"] == pytest.approx(4.0)


def test_thread_row_builds_each_thread_count_and_times_only_the_step(monkeypatch):
    """(b02 b03 b04) bench_threads builds VecTCG with each thread count it reports, makes one
    untimed step first, and times env.step alone: a bot taking 7 s a call and a step taking 0.5 s
    give n / 0.5 decisions per second whatever the bot costs."""
    from tcg_env import vec
    from tcg_env.bots import RandomBot
    clock = _Clock()
    built, steps = [], Counter()
    real_init, real_step, real_act = vec.VecTCG.__init__, vec.VecTCG.step, RandomBot.act_batch

    def init(self, *a, **k):
        built.append(k.get("threads"))
        real_init(self, *a, **k)

    def step(self, actions, *a, **k):
        steps["step"] += 1
        clock.tick(0.5)
        return real_step(self, actions, *a, **k)

    def act(self, *a, **k):
        clock.tick(7.0)
        return real_act(self, *a, **k)
    monkeypatch.setattr(vec.VecTCG, "__init__", init)
    monkeypatch.setattr(vec.VecTCG, "step", step)
    monkeypatch.setattr(RandomBot, "act_batch", act)
    monkeypatch.setattr(bench, "time", clock)
    row = bench.bench_threads(8, 3, threads=(1, 2))
    assert built == [1, 2]
    assert row == {"threads_1": pytest.approx(16.0), "threads_2": pytest.approx(16.0)}
    assert sum(steps.values()) == 2 * (3 + 1)   # one untimed step per env, then the timed ones
    assert len(clock.reads) == 2 * 3 * 2


def test_loop_rows_compile_before_the_clock_starts(monkeypatch):
    """(b11 b12 b13) The Python, Gymnasium and AEC rows make their first decisions (the compile)
    before the timed window opens."""
    from tcg_env.aec import raw_env
    from tcg_env.gym_env import DuelEnv
    from tcg_env.state import GameState
    tally = Counter()
    for cls, name, key, when in ((GameState, "apply", "python", None), (DuelEnv, "step", "gym", None),
                                 (raw_env, "step", "aec", lambda self, action: action is not None)):
        real = getattr(cls, name)

        def wrapped(*a, _real=real, _key=key, _when=when, **k):
            if _when is None or _when(*a, **k):
                tally[_key] += 1
            return _real(*a, **k)
        monkeypatch.setattr(cls, name, wrapped)
    for face, key in ((bench.bench_python, "python"), (bench.bench_gym, "gym"), (bench.bench_aec, "aec")):
        clock = _Clock(step=0.01, count=lambda key=key: tally[key])
        monkeypatch.setattr(bench, "time", clock)
        face(0.1)
        assert clock.counts[0] >= 1, key
        assert clock.counts[-1] > clock.counts[0], key


def test_loop_rows_pick_the_last_legal_action_too(monkeypatch):
    """(b05 b06 b07) A uniform pick among all legal actions: where there are exactly two, the
    second (the last) is taken about half the time in every loop row, not never."""
    from tcg_env.aec import raw_env
    from tcg_env.gym_env import DuelEnv
    from tcg_env.state import GameState
    picks = {"python": [], "gym": [], "aec": []}
    real_apply, real_step, real_reset, real_aec = GameState.apply, DuelEnv.step, DuelEnv.reset, raw_env.step
    last = {}

    def apply(self, t, *a, **k):
        legal = [tuple(x) for x in self.legal_tuples()]
        if len(legal) == 2:
            picks["python"].append(legal.index(tuple(t)))
        return real_apply(self, t, *a, **k)

    def remember(out):
        obs = out[0]
        last["legal"] = [tuple(x) for x in obs["legal_tuples"][:obs["legal_count"]]]
        return out

    def step(self, action):
        if len(last["legal"]) == 2:
            picks["gym"].append(last["legal"].index(tuple(action)))
        return remember(real_step(self, action))

    def aec_step(self, action):
        if action is not None and self.observe(self.agent_selection)["legal_count"] == 2:
            picks["aec"].append(int(action))
        return real_aec(self, action)
    monkeypatch.setattr(GameState, "apply", apply)
    monkeypatch.setattr(DuelEnv, "step", step)
    monkeypatch.setattr(DuelEnv, "reset", lambda self, *a, **k: remember(real_reset(self, *a, **k)))
    monkeypatch.setattr(raw_env, "step", aec_step)
    monkeypatch.setattr(bench, "time", _Clock(step=1e-3))
    bench.bench_python(1.0)
    bench.bench_gym(1.0)
    bench.bench_aec(1.0)
    for face, seen in picks.items():
        assert len(seen) >= 20 and 0.2 * len(seen) < sum(seen) < 0.8 * len(seen), (face, len(seen), sum(seen))


def test_bot_row_is_the_heuristics_match_against_random_with_its_time(monkeypatch):
    """(b08 b09 b10) heuristic_vs_random: bots.match("heuristic", "random") over the games asked
    for, both seats, and the seconds it took to 2 decimals."""
    import tcg_env.bots as bots
    got = []

    def match(bot0, bot1, games, seed=0, **kw):
        got.append((bot0, bot1, games, kw.get("both_seats", True)))
        clock.tick(3.456)
        return {"games": games, "wins": games - 1, "win_rate": (games - 1) / games}
    monkeypatch.setattr(bots, "match", match)
    clock = _Clock()
    monkeypatch.setattr(bench, "time", clock)
    res = bench.bench_bots(20)
    assert got == [("heuristic", "random", 20, True)]
    assert res == {"games": 20, "wins": 19, "win_rate": 0.95, "seconds": 3.46}


def test_machine_falls_back_to_the_platforms_processor_without_cpuinfo(monkeypatch):
    """(b14) With no /proc/cpuinfo, machine() names the CPU platform.processor() gives."""
    def no_file(*a, **k):
        raise OSError("no cpuinfo")
    monkeypatch.setattr(bench, "open", no_file, raising=False)
    monkeypatch.setattr(bench.platform, "processor", lambda: "Acme 9000")
    assert bench.machine()["cpu"] == "Acme 9000"


def test_env_bench_budgets_date_and_thread_counts_in_both_modes(monkeypatch):
    """(b15 b16 b17 b18 b19) run(): every loop row's seconds (1 quick, 3 full: the Python path,
    the three Gymnasium rows, AEC), the date as YYYY-MM-DD, and thread counts 1 and 2 where the
    core count is unknown (os.cpu_count() is None)."""
    seen = {}

    def rec(name):
        return lambda *a, **k: seen.setdefault(name, []).append((a, k)) or {"face": name}
    for name in ("bench_batched", "bench_threads", "bench_python", "bench_gym", "bench_aec", "bench_bots"):
        monkeypatch.setattr(bench, name, rec(name))
    monkeypatch.setattr(bench, "time", _Clock())
    monkeypatch.setattr(bench.os, "cpu_count", lambda: None)
    for quick, secs in ((True, 1.0), (False, 3.0)):
        seen.clear()
        res = bench.run(quick=quick, start_times=False)
        assert res["date"] == "2026-03-09"
        assert [a for a, k in seen["bench_python"] + seen["bench_gym"] + seen["bench_aec"]] == [(secs,)] * 5
        assert seen["bench_threads"][0][0][2] == (1, 2)


# ------------------------------------------------------------------ training/bench.py
def test_sampler_timer_warms_up_then_reports_the_median_run(monkeypatch):
    """(t01 t02) _time: one untimed call, then the median of ``reps`` timed calls (a slow
    first call and one slow repeat do not move it)."""
    clock = _Clock()
    durations = iter([100.0, 1.0, 9.0, 2.0])
    calls = []

    def fn():
        calls.append(1)
        clock.tick(next(durations))
    monkeypatch.setattr(tbench, "time", clock)
    assert tbench._time(fn, 3) == pytest.approx(2.0) and len(calls) == 4


def test_sampler_row_measures_the_documented_work_per_decision(monkeypatch):
    """(t03 t04 t05 t06 t07 t08 t09 t10 t15) bench_one: decisions/s is the batch over the median
    call time; ``forward`` evaluates all four heads, ``sample`` samples with the sampled-prefix
    entropy, ``evaluate_exact`` replays with the exact entropy, all on the named policy size in
    eval mode over ``batch`` states; the overhead is sample's time / forward's - 1, to 3 decimals."""
    from policy import PolicyConfig, TCGPolicy
    seen = {"heads": 0, "sample": [], "evaluate": []}
    real_heads, real_sample, real_eval = TCGPolicy.head_logits, tbench.sample, tbench.evaluate

    def heads(self, *a, **k):
        seen["heads"] += 1
        return real_heads(self, *a, **k)

    def sample(policy, enc, lt, lc, **k):
        seen["sample"].append((policy.config.d_model, policy.training, lt.shape[0], k.get("entropy")))
        return real_sample(policy, enc, lt, lc, **k)

    def evaluate(policy, enc, lt, lc, acts, **k):
        seen["evaluate"].append((lt.shape[0], k.get("entropy")))
        return real_eval(policy, enc, lt, lc, acts, **k)
    times = {"fwd": 0.5, "smp": 0.65, "ev": 1.3}
    heads_in_fwd = []

    def fake_time(fn, reps):
        before = seen["heads"]
        fn()
        if fn.__name__ == "fwd":
            heads_in_fwd.append(seen["heads"] - before)
        return times[fn.__name__]
    monkeypatch.setattr(TCGPolicy, "head_logits", heads)
    monkeypatch.setattr(tbench, "sample", sample)
    monkeypatch.setattr(tbench, "evaluate", evaluate)
    monkeypatch.setattr(tbench, "_time", fake_time)
    row = tbench.bench_one("large", 65, "cpu", 3)
    assert row == {"forward": 130, "sample": 100, "evaluate_exact": 50, "overhead_sample_vs_forward": 0.3}
    assert heads_in_fwd == [4]
    large = PolicyConfig.named("large").d_model
    assert large != PolicyConfig.named("small").d_model
    assert seen["sample"][-1] == (large, False, 65, "sampled")
    assert seen["evaluate"] == [(65, "exact")]


def test_sampler_bench_rows_cover_each_device_size_and_batch(monkeypatch):
    """(t11 t12 t13 t14) run(): rows named device/size/Bbatch for CPU and, when present, CUDA;
    batch 1024 repeated 3 times, the others 10; --quick leaves out the CPU's large and batch-1024
    rows only."""
    got = []
    monkeypatch.setattr(tbench, "bench_one", lambda size, batch, device, reps: got.append((device, size, batch, reps))
                        or {"forward": 1})
    monkeypatch.setattr(tbench.torch.cuda, "is_available", lambda: True)
    full = tbench.run(quick=False)
    names = [f"{d}/{s}/B{b}" for d in ("cpu", "cuda") for s in ("small", "large") for b in (1, 64, 1024)]
    assert list(full["rows"]) == names and full["bench"] == "sampler"
    assert all(reps == (3 if b == 1024 else 10) for d, s, b, reps in got)
    got.clear()
    quick = tbench.run(quick=True)
    assert list(quick["rows"]) == ["cpu/small/B1", "cpu/small/B64"] + names[6:]
