#!/usr/bin/env python
"""Engine and env-face throughput; prints one JSON line (see tcg_env/bench.py for the rows).

    python benchmarks/bench_env.py [--quick]      # same as: tcg bench env --json
"""
import json
import sys

from tcg_env.bench import run

if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv)))
