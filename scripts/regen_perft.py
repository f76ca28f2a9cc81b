#!/usr/bin/env python
"""Regenerate tests/golden/perft.json: legal-tuple counts along fixed seeded action
sequences. Run only when a rules change is intended, and say so in the commit."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prefabs import default_decks  # noqa: E402
from tcg_env import GameState  # noqa: E402

GOLDEN = ROOT / "tests" / "golden" / "perft.json"
LINES = [(seed, d0, d1) for seed, (d0, d1) in enumerate(
    [(a, b) for a in default_decks() for b in default_decks()])]
DECISIONS = 300


def perft_line(seed: int, d0: str, d1: str) -> list[int]:
    """Counts of legal tuples along the line that picks row (7919 * k + seed) mod count at decision k."""
    g = GameState.new(d0, d1, seed=seed)
    counts = []
    for k in range(DECISIONS):
        legal = g.legal_tuples()
        counts.append(len(legal))
        if g.done:
            break
        g.apply(legal[(7919 * k + seed) % len(legal)])
    return counts


def compute() -> dict:
    return {f"{seed}:{d0}:{d1}": perft_line(seed, d0, d1) for seed, d0, d1 in LINES}


if __name__ == "__main__":
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    data = compute()
    body = ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in data.items())
    GOLDEN.write_text("{\n" + body + "\n}\n")
    print(f"wrote {GOLDEN}")
