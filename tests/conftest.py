import os
import sys
from pathlib import Path

# Tests run against the working tree even without `pip install -e .`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".numba_cache" / "tests"))
