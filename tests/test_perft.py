"""Golden legal-tuple counts ("perft") along fixed seeded lines; regenerate only with
scripts/regen_perft.py when a rules change is intended."""
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _regen():
    spec = importlib.util.spec_from_file_location("regen_perft", ROOT / "scripts" / "regen_perft.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_perft_counts_match_golden():
    golden = json.loads((ROOT / "tests" / "golden" / "perft.json").read_text())
    mod = _regen()
    assert len(golden) == len(mod.LINES) >= 16
    for seed, d0, d1 in mod.LINES:
        key = f"{seed}:{d0}:{d1}"
        assert mod.perft_line(seed, d0, d1) == golden[key], f"perft line {key} changed"
