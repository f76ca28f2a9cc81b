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
