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
