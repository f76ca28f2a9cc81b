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
