#!/usr/bin/env python
"""Policy + sequential sampler throughput; prints one JSON line (same as: tcg bench sampler --json)."""
import json
import sys

from training.bench import run

if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv)))
