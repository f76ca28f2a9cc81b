"""The benchmark harness runs (a broken face must fail here, not print an error row).
Speed is never asserted: benchmarks measure it, tests do not."""
from tcg_env import bench


def test_env_bench_rows_run_on_every_face():
    rows = {
        "batched": bench.bench_batched(8, 200, repeats=1),
        "python": bench.bench_python(0.2),
        "gym": bench.bench_gym(0.2),
        "gym_unwrapped": bench.bench_gym(0.2, unwrapped=True),
        "gym_no_copy": bench.bench_gym(0.2, copy_obs=False),
        "aec": bench.bench_aec(0.2),
    }
    for name, row in rows.items():
        rate = row.get("decisions_per_s", row.get("steps_per_s"))
        assert rate is not None and rate > 0, (name, row)
    assert rows["batched"]["decisions_per_run"] == 200


def test_heuristic_agreement_diagnostic_runs_and_defers(tmp_path):
    """benchmarks/heuristic_agreement.py is not run by `make bench` (it needs a checkpoint):
    run it here on a small untrained policy, with and without deferring spells to the heuristic."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import torch

    from policy import PolicyConfig, TCGPolicy
    from training.checkpoint import save_policy
    torch.manual_seed(0)
    path = save_policy(TCGPolicy(PolicyConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64)), tmp_path / "p.pt")
    script = str(Path(__file__).resolve().parents[1] / "benchmarks" / "heuristic_agreement.py")
    out = {}
    for defer in ("", "PLAY_SPELL,LEADER_ABILITY"):
        p = subprocess.run([sys.executable, script, "--checkpoint", str(path), "--games", "8", "--defer", defer],
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        out[defer] = json.loads(p.stdout.strip().splitlines()[-1])
    plain, deferred = out[""], out["PLAY_SPELL,LEADER_ABILITY"]
    assert plain["deferred_decisions"] == 0 and deferred["deferred_decisions"] > 0
    assert deferred["defer"] == ["LEADER_ABILITY", "PLAY_SPELL"]
    assert 0.0 <= plain["tuple_agreement"] <= 1.0 and plain["decisions_with_a_choice"] > 0
    total = sum(v["decisions"] for v in plain["by_heuristic_primary"].values())
    assert total == plain["decisions_with_a_choice"]
    bad = subprocess.run([sys.executable, script, "--checkpoint", str(path), "--defer", "FIREBALL"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "unknown primary 'FIREBALL'" in bad.stderr
    # per spell: a cast table, and deferring named spells only
    spells = ("Spark Jolt", "Firebolt", "Secret Ledger", "Twin Fates", "Cinder Storm")
    p = subprocess.run([sys.executable, script, "--checkpoint", str(path), "--games", "32",
                        "--defer-cards", ",".join(spells)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    by_card = json.loads(p.stdout.strip().splitlines()[-1])
    assert by_card["defer_cards"] == sorted(spells) and by_card["deferred_decisions"] > 0
    table = by_card["spells_by_card"]
    assert table and all(v["castable"] > 0 and 0.0 <= v["policy_same_card"] <= 1.0 for v in table.values())
    assert sum(v["heuristic_casts"] for k, v in table.items() if k in spells) == by_card["deferred_decisions"]
    bad = subprocess.run([sys.executable, script, "--checkpoint", str(path), "--defer-cards", "Fireball"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "unknown spell(s) ['Fireball']" in bad.stderr
    # the policy casts the heuristic's spell but aims it itself
    p = subprocess.run([sys.executable, script, "--checkpoint", str(path), "--games", "32",
                        "--own-target-cards", ",".join(spells)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    own = json.loads(p.stdout.strip().splitlines()[-1])
    assert own["own_target_cards"] == sorted(spells) and own["deferred_decisions"] == 0
    assert own["own_target_decisions"] == sum(v["heuristic_casts"] for k, v in own["spells_by_card"].items()
                                              if k in spells) > 0
    # one pairing only: in the Thornwall mirror only Thornwall's spells are ever castable
    p = subprocess.run([sys.executable, script, "--checkpoint", str(path), "--games", "8",
                        "--decks", "Thornwall Bastion"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    mirror = json.loads(p.stdout.strip().splitlines()[-1])
    thornwall = {"Mending Light", "Twin Fates", "Secret Ledger", "Cinder Storm", "Unmake", "Grave Tide"}
    assert mirror["decks"] == "Thornwall Bastion" and mirror["spells_by_card"]
    assert set(mirror["spells_by_card"]) <= thornwall
    bad = subprocess.run([sys.executable, script, "--checkpoint", str(path), "--decks", "Nope Deck"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "unknown deck 'Nope Deck'; prebuilt decks: " in bad.stderr


def test_restricted_actions_sample_only_from_each_rows_sub_list():
    """heuristic_agreement.restricted_actions: the policy sampled over a sub-list of each row's
    legal tuples (here: the tuples that cast one chosen hand card) returns a tuple of that sub-list."""
    import importlib.util
    from pathlib import Path

    import numpy as np
    import torch

    from policy import PolicyConfig, TCGPolicy
    from tcg_env import VecTCG
    from tcg_env.bots import RandomBot
    from verification.spec import Primary
    spec = importlib.util.spec_from_file_location(
        "heuristic_agreement", Path(__file__).resolve().parents[1] / "benchmarks" / "heuristic_agreement.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.manual_seed(0)
    policy = TCGPolicy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32)).eval()
    env, bot, gen = VecTCG(64, seed=3), RandomBot(3), torch.Generator().manual_seed(0)
    checked = 0
    for _ in range(60):
        rows, lists = [], []
        for i in range(64):
            lst = env.legal_tuples[i, :env.legal_count[i]]
            spells = lst[lst[:, 0] == Primary.PLAY_SPELL]
            if len(spells):
                rows.append(i)
                lists.append(spells[spells[:, 1] == spells[-1, 1]])
        if rows:
            acts = mod.restricted_actions(policy, env, np.array(rows), lists, gen, False)
            for a, lst in zip(acts, lists):
                assert (lst == a).all(1).any(), (a, lst)
            checked += len(rows)
        env.step(bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count))
    assert checked > 20


def test_card_stats_report_bins_the_cards_scalars(tmp_path):
    """benchmarks/card_stats_report.py averages each cards/ scalar within bins of decisions and
    names what is wrong with its input."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from torch.utils.tensorboard import SummaryWriter
    w = SummaryWriter(str(tmp_path / "run" / "tb"))
    for step, rate, adv in ((100, 0.1, -0.2), (200, 0.3, 0.0), (1500, 0.5, 0.4)):
        w.add_scalar("cards/play_rate/Unmake", rate, step)
        w.add_scalar("cards/adv_played/Unmake", adv, step)
    w.add_scalar("cards/play_rate/Quick_Study", 0.9, 100)
    w.add_scalar("actions/frac/ATTACK", 0.25, 100)
    w.close()
    script = str(Path(__file__).resolve().parents[1] / "benchmarks" / "card_stats_report.py")

    def run(*extra):
        return subprocess.run([sys.executable, script, str(tmp_path / "run"), *extra],
                              capture_output=True, text=True, timeout=120)
    p = run("--bins", "0,1000,2000", "--cards", "Unmake")
    assert p.returncode == 0, p.stderr
    cards = json.loads(p.stdout)["cards"]
    assert list(cards) == ["Unmake"]
    assert cards["Unmake"]["play_rate"] == [0.2, 0.5]
    assert cards["Unmake"]["adv_played"] == [-0.1, 0.4] and cards["Unmake"]["adv_passed"] == [None, None]
    assert json.loads(p.stdout)["actions"] == {"ATTACK": {"frac": [0.25, None], "adv": [None, None]}}
    assert set(json.loads(run("--bins", "0,1000,2000").stdout)["cards"]) == {"Unmake", "Quick_Study"}
    bad = run("--cards", "Fireball")
    assert bad.returncode == 2 and "never playable in this run: ['Fireball']" in bad.stderr
    assert run("--bins", "5,1").returncode == 2


def test_league_bins_means_the_evaluations_per_bin(tmp_path):
    """benchmarks/league_bins.py averages one opponent's evaluations within bins of decisions or
    minutes, counts them, and names what is wrong with its input."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    run = tmp_path / "run"
    run.mkdir()
    head = "update,steps,minutes,opponent,games,wins,losses,draws,win_rate,opponent_rating,learner_rating\n"
    rows = [(10, 400_000, 1.0, "heuristic", 0.2), (10, 400_000, 1.0, "random", 0.9),
            (20, 800_000, 2.5, "heuristic", 0.3), (30, 900_000, 12.0, "heuristic", 0.5),
            (40, 2_500_000, 21.0, "heuristic", 0.6)]
    (run / "league.csv").write_text(head + "".join(f"{u},{s},{m},{o},100,0,0,0,{w},0,0\n" for u, s, m, o, w in rows))
    script = str(Path(__file__).resolve().parents[1] / "benchmarks" / "league_bins.py")

    def go(*extra):
        return subprocess.run([sys.executable, script, *extra], capture_output=True, text=True, timeout=120)
    p = go(str(run), "--bins", "0,0.5e6,1e6,2e6")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)["runs"][str(run)]
    assert r["bins"] == [{"mean": 0.2, "n": 1}, {"mean": 0.4, "n": 2}, {"mean": None, "n": 0}]
    assert r["last"] == {"steps": 2_500_000, "minutes": 21.0, "win_rate": 0.6}
    by_min = json.loads(go(str(run / "league.csv"), "--by", "minutes").stdout)["runs"][str(run / "league.csv")]
    assert [b["mean"] for b in by_min["bins"][:3]] == [0.25, 0.5, 0.6]
    assert json.loads(go(str(run), "--opponent", "random").stdout)["runs"][str(run)]["bins"][0] == \
        {"mean": 0.9, "n": 1}
    assert go(str(run), "--bins", "3,1").returncode == 2
    missing = go(str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "no league.csv" in missing.stderr
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    bad = go(str(tmp_path / "bad.csv"))
    assert bad.returncode == 2 and "not a league table" in bad.stderr
    none = go(str(run), "--opponent", "search")
    assert none.returncode == 1 and "no evaluations against 'search'" in none.stderr


def test_bootstrap_bias_compares_both_views_with_the_next_decision(tmp_path):
    """benchmarks/bootstrap_bias.py runs on a small untrained policy and reports the waiting and
    acting views' errors against the seat's next decision."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import torch

    from policy import PolicyConfig, TCGPolicy
    from training.checkpoint import save_policy
    torch.manual_seed(0)
    path = save_policy(TCGPolicy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32)), tmp_path / "p.pt")
    script = str(Path(__file__).resolve().parents[1] / "benchmarks" / "bootstrap_bias.py")
    p = subprocess.run([sys.executable, script, "--checkpoint", str(path), "--games", "8", "--steps", "40"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    for view in ("waiting", "acting"):
        assert 0 < out[view]["pairs"] < 8 * 40 and out[view]["rmse"] >= abs(out[view]["bias"])
    bad = subprocess.run([sys.executable, script, "--checkpoint", str(path), "--steps", "1"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--steps" in bad.stderr


def test_search_bench_runs_the_knowledge_free_search():
    """benchmarks/bench_search.py with --rollout random --horizon 0 --no-prior (a search with no
    hand-written knowledge, as RESULTS measures it) plays its games and says which search ran."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    script = str(Path(__file__).resolve().parents[1] / "benchmarks" / "bench_search.py")
    p = subprocess.run([sys.executable, script, "--games", "2", "--budget", "8", "--opponent", "random",
                        "--rollout", "random", "--horizon", "0", "--no-prior"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    row = json.loads(p.stdout.strip().splitlines()[-1])
    assert (row["rollout"], row["horizon"], row["prior"]) == ("random", 0, False)
    r = row["vs_random"]
    assert r["wins"] + r["losses"] + r["draws"] == 2 and r["mean_simulations"] == 8.0
    bad = subprocess.run([sys.executable, script, "--horizon", "-1"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--horizon must be >= 0" in bad.stderr


def test_policy_search_measurement_runs_searches_and_reproduces(tmp_path):
    """benchmarks/policy_search.py (needs a checkpoint, so not in `make bench`): on a small
    untrained policy, every decision with a choice is searched (--sure above 1), each rollout's
    tuples are legal (an illegal one stops the script), and the same seed plays the same games."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import torch

    from policy import PolicyConfig, TCGPolicy
    from training.checkpoint import save_policy
    torch.manual_seed(0)
    path = save_policy(TCGPolicy(PolicyConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64)), tmp_path / "p.pt")
    script = str(Path(__file__).resolve().parents[1] / "benchmarks" / "policy_search.py")
    small = ["--checkpoint", str(path), "--games", "4", "--part", "1/2", "--candidates", "2",
             "--determinizations", "2", "--horizon", "3", "--sure", "1.5"]

    def run(*extra):
        p = subprocess.run([sys.executable, script, *small, *extra], capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout.strip().splitlines()[-1])

    a, b, base = run(), run(), run("--no-search")
    assert a["games"] == 2 and a["wins"] + a["losses"] + a["draws"] + a["truncated"] == 2   # games 1 and 3
    assert a["searched"] > 0 and base["searched"] == 0 and base["search"] is False
    drop = ("seconds", "search_seconds", "mean_search_ms")
    assert {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}
    bad = subprocess.run([sys.executable, script, "--checkpoint", str(path), "--part", "2/2"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--part must be I/N" in bad.stderr
    oracle = save_policy(TCGPolicy(PolicyConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64, oracle_value=True)),
                         tmp_path / "oracle.pt")   # its value needs the opponent's view: refused, not NaN estimates
    bad = subprocess.run([sys.executable, script, "--checkpoint", str(oracle)], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 1 and "oracle critic" in bad.stderr


def test_learn_step_split_and_attention_kernels_run():
    """The two scripts RESULTS (twenty-second session) quotes besides bench_train:
    profile_learn.py --split times one minibatch's three parts, attention_kernels.py compares the
    two attention kernels, which compute the same attention; bad sizes are usage errors."""
    import json
    import re
    import subprocess
    import sys
    from pathlib import Path
    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    p = subprocess.run([sys.executable, str(bench / "profile_learn.py"), "--split", "2", "--set", "num_envs=16",
                        "--set", "rollout_steps=8"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    line = p.stdout.strip().splitlines()[-1]
    assert line.startswith("one minibatch of 16 rows (exact entropy of 4)"), line   # 128 decisions / 8 minibatches
    assert len(re.findall(r"(encode|heads_and_entropy|backward) \d+\.\d ms", line)) == 3, line
    p = subprocess.run([sys.executable, str(bench / "attention_kernels.py"), "--rows", "8", "--tokens", "5",
                        "--repeats", "2"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    row = json.loads(p.stdout.strip().splitlines()[-1])
    assert row["max_abs_diff"] < 1e-4 and all(row[f"{k}_{m}_ms"] > 0 for k in ("sdpa", "bmm")
                                               for m in ("train", "no_grad"))
    bad = subprocess.run([sys.executable, str(bench / "attention_kernels.py"), "--heads", "3"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--heads must divide --d-model" in bad.stderr


# ------------------------------------------------------------------ the harness's bookkeeping
class _Clock:
    """A stand-in for bench's ``time`` module: perf_counter returns start, start + step[0], ...,
    (the last step repeating), and notes ``count()`` at each read, so a test knows how many
    events happened between the first and the last read of the clock."""

    def __init__(self, steps, count=lambda: 0):
        self.steps, self.count, self.reads, self.counts, self.now = list(steps), count, [], [], 100.0

    def perf_counter(self):
        if self.reads:
            self.now += self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        self.reads.append(self.now)
        self.counts.append(self.count())
        return self.now

    def timed(self):
        """(events, seconds) between the first and the last read."""
        return self.counts[-1] - self.counts[0], self.reads[-1] - self.reads[0]


def test_batched_row_times_each_run_alone_and_reports_the_median(monkeypatch):
    """Three runs lasting 1, 4 and 8 clock seconds (the warm-up untimed), each of 12 steps of 4
    games: 48 decisions per run, rates 48, 12 and 6, median 12; finished games add up over runs."""
    import pytest
    calls = []

    def kernel(state, cards, legal, legal_n, obs, seat_rewards, actor, bot, steps):
        calls.append(steps)
        return state.shape[0] * steps, 2
    monkeypatch.setattr(bench.engine, "random_play_batch", kernel)
    clock = _Clock([1.0, 3.0, 4.0, 5.0, 8.0])   # reads: 100, 101 | 104, 108 | 113, 121
    monkeypatch.setattr(bench, "time", clock)
    row = bench.bench_batched(4, 50, repeats=3)
    assert calls[1:] == [12, 12, 12]   # after an untimed warm-up
    assert row["decisions_per_run"] == 48 and row["games_finished"] == 6
    assert row["runs"] == [48, 12, 6] and row["decisions_per_s"] == pytest.approx(12.0)


def test_thread_row_divides_all_decisions_by_the_time_spent_stepping(monkeypatch):
    """Each timed env.step lasts half a clock second: 8 games x 3 steps in 1.5 s is 16 decisions/s
    at every thread count."""
    import pytest
    monkeypatch.setattr(bench, "time", _Clock([0.5]))
    row = bench.bench_threads(8, 3, threads=(1, 2))
    assert row == {"threads_1": pytest.approx(16.0), "threads_2": pytest.approx(16.0)}


def _counting(monkeypatch, cls, name, tally, key, when=lambda *a, **k: True):
    import functools
    real = getattr(cls, name)

    @functools.wraps(real)
    def wrapped(*a, **k):
        if when(*a, **k):
            tally[key] += 1
        return real(*a, **k)
    monkeypatch.setattr(cls, name, wrapped)


def test_loop_rows_count_the_decisions_and_games_inside_the_timed_window(monkeypatch):
    """The Python, Gymnasium and AEC rows: decisions (or agent steps) per second is the number
    made between the first and last clock read over the clock time between them, and the games
    counted are those restarted in that window (at least one: each window holds ~600 steps)."""
    from collections import Counter

    import pytest

    from tcg_env.aec import raw_env
    from tcg_env.gym_env import DuelEnv
    from tcg_env.state import GameState
    tally = Counter()
    _counting(monkeypatch, GameState, "apply", tally, "apply")
    real_new = GameState.new.__func__
    monkeypatch.setattr(GameState, "new", classmethod(lambda cls, *a, **k: (tally.update(["new"]),
                                                                             real_new(cls, *a, **k))[1]))
    _counting(monkeypatch, DuelEnv, "step", tally, "step")
    _counting(monkeypatch, DuelEnv, "reset", tally, "reset")
    _counting(monkeypatch, raw_env, "step", tally, "decide", when=lambda self, action: action is not None)
    _counting(monkeypatch, raw_env, "reset", tally, "aec_reset")
    # (row, the event its rate counts, its rate field, the event its games count, its games field)
    for face, made, rate, restarted, games in (
            (bench.bench_python, "apply", "decisions_per_s", "new", "games_finished"),
            (bench.bench_gym, "step", "steps_per_s", "reset", "episodes"),
            (bench.bench_aec, "decide", "decisions_per_s", "aec_reset", "episodes")):
        for key in (made, restarted):
            clock = _Clock([1e-3], lambda key=key: tally[key])
            monkeypatch.setattr(bench, "time", clock)
            row = face(0.6)
            n, s = clock.timed()
            if key == made:
                assert n > 500 and row[rate] == pytest.approx(n / s), face.__name__
            else:
                assert n >= 1 and row[games] == n, face.__name__


def test_gym_rows_step_through_the_wrappers_or_around_them(monkeypatch):
    """gym_loop steps gymnasium.make's outermost wrapper; gym_loop_unwrapped steps the env
    itself, never the wrapper; gym_loop_no_copy builds the env with copy_obs=False."""
    from collections import Counter

    import gymnasium
    tally, made = Counter(), []
    real_make = gymnasium.make

    def make(*a, **k):
        env = real_make(*a, **k)
        made.append(env)
        step = env.step

        def counted(action):
            tally[id(env)] += 1
            return step(action)
        env.step = counted
        return env
    monkeypatch.setattr(gymnasium, "make", make)
    monkeypatch.setattr(bench, "time", _Clock([0.01]))
    bench.bench_gym(0.3)
    bench.bench_gym(0.3, unwrapped=True)
    bench.bench_gym(0.3, copy_obs=False)
    wrapped, bare, no_copy = made
    assert tally[id(wrapped)] > 20 and tally[id(bare)] == 0
    assert wrapped.unwrapped.copy_obs and not no_copy.unwrapped.copy_obs and tally[id(no_copy)] > 20


def test_env_bench_rows_are_named_and_sized_as_documented(monkeypatch):
    """run() with every face replaced by a recorder: the JSON row names the module docstring
    lists, the batched sizes (a quarter of the decisions for one game), the thread counts
    (1, 2 and all cores, here a made-up 8), and the quick and full budgets."""
    import json
    seen = {}

    def rec(name):
        return lambda *a, **k: seen.setdefault(name, []).append((a, k)) or {"face": name}
    for name in ("bench_batched", "bench_threads", "bench_python", "bench_gym", "bench_aec", "bench_bots"):
        monkeypatch.setattr(bench, name, rec(name))
    monkeypatch.setattr(bench, "bench_start", lambda: {"numba_cold_start_s": 9.0, "numba_warm_start_s": 1.0})
    monkeypatch.setattr(bench.os, "cpu_count", lambda: 8)
    res = json.loads(json.dumps(bench.run(quick=True)))
    assert set(res) == {"bench", "machine", "date", "batched_N1", "batched_N64", "batched_N1024", "vec_step_N4096",
                        "python_per_game", "gym_loop", "gym_loop_unwrapped", "gym_loop_no_copy", "aec_loop",
                        "heuristic_vs_random", "numba_cold_start_s", "numba_warm_start_s"}
    assert res["bench"] == "env" and res["numba_cold_start_s"] == 9.0
    assert [a for a, k in seen["bench_batched"]] == [(1, 50_000), (64, 200_000), (1024, 200_000)]
    (n, steps, threads), _ = seen["bench_threads"][0]
    assert (n, steps) == (4096, 50) and threads == (1, 2, 8) and res["machine"]["cores"] == 8
    assert [k for a, k in seen["bench_gym"]] == [{}, {"unwrapped": True}, {"copy_obs": False}]
    assert seen["bench_bots"] == [((200,), {})]
    seen.clear()
    res = bench.run(quick=False, start_times=False)
    assert "numba_cold_start_s" not in res and "numba_warm_start_s" not in res and "batched_N1" in res
    assert [a for a, k in seen["bench_batched"]] == [(1, 500_000), (64, 2_000_000), (1024, 2_000_000)]
    assert seen["bench_threads"][0][0][1] == 200 and seen["bench_bots"] == [((1000,), {})]
    assert [a for a, k in seen["bench_python"] + seen["bench_aec"]] == [(3.0,), (3.0,)]


def test_start_times_run_cold_in_an_empty_cache_then_warm_in_the_same_one(monkeypatch):
    """bench_start: the cold start sees an empty NUMBA_CACHE_DIR, the three warm starts the same
    folder the cold start filled; warm is their median. _start_time runs this interpreter with
    that cache folder and reads the last line it prints."""
    import os
    import sys
    from types import SimpleNamespace
    runs = []
    times = iter([5.0, 1.0, 2.0, 9.0])

    def start(d):
        runs.append((d, os.listdir(d)))
        open(os.path.join(d, "index.nbi"), "w").close()
        return next(times)
    monkeypatch.setattr(bench, "_start_time", start)
    assert bench.bench_start() == {"numba_cold_start_s": 5.0, "numba_warm_start_s": 2.0}
    assert len({d for d, _ in runs}) == 1 and [x for _, x in runs] == [[], ["index.nbi"], ["index.nbi"],
                                                                      ["index.nbi"]]
    monkeypatch.undo()
    got = []

    def fake_run(cmd, env=None, **kw):
        got.append((cmd, env))
        return SimpleNamespace(stdout="numba: compiling\n1.25\n", returncode=0)
    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    assert bench._start_time("/some/cache") == 1.25
    (cmd, env), = got
    assert cmd[0] == sys.executable and env["NUMBA_CACHE_DIR"] == "/some/cache"


def test_machine_names_the_cpu_from_cpuinfo(monkeypatch):
    import io
    import os
    info = "processor\t: 0\nvendor_id\t: Acme\nmodel name\t: Acme Core: 9 @ 3.00GHz\nflags\t: fpu\n"
    monkeypatch.setattr(bench, "open", lambda *a, **k: io.StringIO(info), raising=False)
    m = bench.machine()
    assert m["cpu"] == "Acme Core: 9 @ 3.00GHz" and m["cores"] == os.cpu_count()


def test_make_batch_deals_every_deck_pairing(monkeypatch):
    """make_batch(n) cycles through all pairings of the prebuilt decks: over 32 games each of the
    16 (seat 0 leader, seat 1 leader) combinations of the four decks' leaders is dealt."""
    from prefabs import default_decks, default_pool
    from verification.layout import P0, P_LEADER, PLAYER_WORDS
    pool = default_pool()
    leaders = {pool.id_of(d.leader) for d in default_decks().values()}
    assert len(leaders) == 4
    _, b = bench.make_batch(32)
    dealt = {(int(s[P0 + P_LEADER]), int(s[P0 + PLAYER_WORDS + P_LEADER])) for s in b["state"]}
    assert dealt == {(x, y) for x in leaders for y in leaders}
    again, other = bench.make_batch(32)[1]["state"], bench.make_batch(32, seed=1)[1]["state"]
    assert (again == b["state"]).all() and (other != b["state"]).any(1).all()   # the seed shuffles every game


def test_loop_rows_choose_among_all_legal_actions(monkeypatch):
    """The Python, Gymnasium and AEC rows play uniformly random legal actions, not always the
    first one listed: where there is a choice, most picks (a uniform pick, at least half) are
    not the first legal action."""
    from tcg_env.aec import raw_env
    from tcg_env.gym_env import DuelEnv
    from tcg_env.state import GameState
    picks = {"python": [], "gym": [], "aec": []}
    real_apply, real_step, real_reset, real_aec = GameState.apply, DuelEnv.step, DuelEnv.reset, raw_env.step

    def apply(self, t, *a, **k):
        legal = [tuple(x) for x in self.legal_tuples()]
        if len(legal) > 1:
            picks["python"].append(legal.index(tuple(t)) > 0)
        return real_apply(self, t, *a, **k)
    last = {}

    def remember(out):
        obs = out[0]
        last["legal"] = [tuple(x) for x in obs["legal_tuples"][:obs["legal_count"]]]
        return out

    def step(self, action):
        if len(last["legal"]) > 1:
            picks["gym"].append(last["legal"].index(tuple(action)) > 0)
        return remember(real_step(self, action))

    def aec_step(self, action):
        if action is not None and self.observe(self.agent_selection)["legal_count"] > 1:
            picks["aec"].append(action > 0)
        return real_aec(self, action)
    monkeypatch.setattr(GameState, "apply", apply)
    monkeypatch.setattr(DuelEnv, "step", step)
    monkeypatch.setattr(DuelEnv, "reset", lambda self, *a, **k: remember(real_reset(self, *a, **k)))
    monkeypatch.setattr(raw_env, "step", aec_step)
    monkeypatch.setattr(bench, "time", _Clock([1e-3]))
    bench.bench_python(0.3)
    bench.bench_gym(0.3)
    bench.bench_aec(0.3)
    for face, seen in picks.items():
        assert len(seen) > 50 and sum(seen) > 0.5 * len(seen), (face, len(seen), sum(seen))


def test_card_report_bench_runs_and_prints_one_json_line():
    """benchmarks/bench_card_report.py (run by `make bench`): a tiny match, one round."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    script = str(Path(__file__).resolve().parents[1] / "benchmarks" / "bench_card_report.py")
    p = subprocess.run([sys.executable, script, "--games", "32", "--rounds", "1"], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    row = json.loads(p.stdout.strip().splitlines()[-1])
    assert row["bench"] == "card_report" and row["games"] == 32 and row["cards"] == 55
    assert row["match_s"] > 0 and row["match_with_tally_s"] > 0 and row["tally_ratio"] > 0
    bad = subprocess.run([sys.executable, script, "--rounds", "0"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--rounds >= 1" in bad.stderr
