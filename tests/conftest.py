import os
import sys
from pathlib import Path

# Tests run against the working tree even without `pip install -e .`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".numba_cache" / "tests"))


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small torch ops: one intra-op thread is faster and immune to a busy machine's cores.
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
