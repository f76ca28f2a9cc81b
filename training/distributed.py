"""torchrun / DistributedDataParallel helpers. Without torchrun everything is a no-op.

Each rank runs its own envs (seeded by rank); gradients are all-reduced by DDP; scalar
stats are averaged across ranks; only rank 0 writes checkpoints and logs. The backend is
NCCL on CUDA and gloo on CPU.
"""
from __future__ import annotations

import hashlib
import os
import sys
from typing import NoReturn

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


def init() -> None:
    """Join the process group if torchrun started us (WORLD_SIZE > 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and os.environ.get("TCG_DIST_BACKEND") != "gloo" else "gloo"
        dist.init_process_group(backend=backend)
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def local_device(requested: str) -> str:
    if requested.startswith("cuda") and active():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return requested


def wrap(module: nn.Module) -> nn.Module:
    """DDP-wrap ``module`` when distributed. The module must put every parameter in each step's
    graph (``training.losses.ReplayModule`` does with ``touch_all``): DDP runs without
    ``find_unused_parameters`` and its per-step search of the autograd graph."""
    if not active():
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP
    dev = next(module.parameters()).device
    return DDP(module, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=False)


def all_reduce_min(x: int) -> int:
    if not active():
        return x
    t = torch.tensor([x], dtype=torch.long)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t.item())


def all_reduce_sum(x: int) -> int:
    if not active():
        return x
    t = torch.tensor([x], dtype=torch.long)
    dist.all_reduce(t)
    return int(t.item())


def all_reduce_mean(x: float) -> float:
    if not active():
        return x
    t = torch.tensor([float(x)], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / world_size()


def all_reduce_sum_array(x: np.ndarray) -> np.ndarray:
    """The element-wise sum of ``x`` over ranks (float64); ``x`` itself without torchrun."""
    if not active():
        return x
    t = torch.as_tensor(np.asarray(x, np.float64)).clone()
    dist.all_reduce(t)
    return t.numpy()


SUMMED_STATS = ("illegal_actions", "decisions", "heuristic_games", "heuristic_wins")


class StatsMismatchError(RuntimeError):
    """The ranks tried to reduce different sets of stats (a rank-dependent key is a bug)."""


def reduce_stats(stats: dict) -> dict:
    """Average numeric stats over ranks (sums for the counts in ``SUMMED_STATS``).

    Every rank must pass the same keys: the values travel as one tensor in key order, so a
    key present on one rank only would shift the others (gloo then aborts the process). The
    key sets are compared first and a difference raises :class:`StatsMismatchError`."""
    if not active():
        return stats
    keys = sorted(k for k, v in stats.items() if isinstance(v, (int, float)))
    digest = int.from_bytes(hashlib.sha256("\n".join(keys).encode()).digest()[:6], "little")
    check = torch.tensor([digest, -digest], dtype=torch.long)
    dist.all_reduce(check, op=dist.ReduceOp.MAX)
    if int(check[0]) != -int(check[1]):
        raise StatsMismatchError(f"rank {rank()}: the ranks reduce different stats; this rank has {keys}")
    t = torch.tensor([float(stats[k]) for k in keys], dtype=torch.float64)
    dist.all_reduce(t)
    out = dict(stats)
    for k, v in zip(keys, t.tolist()):
        out[k] = v if k in SUMMED_STATS else v / world_size()
    return out


def torchrun_prefix(nproc: int) -> list[str]:
    """The command that starts ``nproc`` ranks of what follows it on this machine."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]


def rank_threads_and_env(nproc: int, torch_threads: int, device: str) -> tuple[int, dict]:
    """(torch threads per rank, environment) for ranks started by :func:`torchrun_prefix`:
    ``torch_threads`` if set, else the cores split between the ranks; gloo unless on CUDA."""
    threads = torch_threads or max(1, (os.cpu_count() or 1) // nproc)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    if not device.startswith("cuda"):
        env["TCG_DIST_BACKEND"] = "gloo"
    return threads, env


def gather_to_main(obj):
    """Every rank's ``obj`` as a list on rank 0 (None on the others); ``[obj]`` without torchrun.
    All ranks must call it. The objects travel between this job's own processes only."""
    if not active():
        return [obj]
    out = [None] * world_size() if rank() == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def barrier() -> None:
    if active():
        dist.barrier()


def shutdown() -> None:
    """Leave the process group together: rank 0 may still be evaluating or saving, and a rank
    that tears its group down first can abort the job. A rank that ends after this should
    end through :func:`finish`."""
    if active():
        dist.barrier()
        dist.destroy_process_group()


def finish(code: int = 0) -> NoReturn:
    """End this process as a torchrun rank: :func:`shutdown` (only when ``code`` is 0: a rank
    that failed alone must not wait in a barrier the others never reach; they see it leave),
    flush stdout and stderr, then ``os._exit(code)``. Whatever the rank writes (TensorBoard,
    checkpoints, files) must be closed first.

    Python's own teardown is skipped on purpose. A DDP wrapper still alive then holds the gloo
    group through its Reducer, which pybind11 frees holding the GIL; the group's destructor
    joins gloo's worker threads, and a worker still freeing the last collective's work (its
    tensors have Python objects) waits for that GIL. Both wait for ever: seen about once in 30
    two-rank runs, with ``~Reducer`` -> ``~ProcessGroupGloo`` -> ``thread::join`` on the main
    thread (pytorch/pytorch#56297). Freeing the wrapper first is not enough: once DDP has been
    built, destroying the group no longer joins its threads, so some later free still does."""
    if code == 0:
        shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # closed, or a broken pipe: nothing more can reach it
            pass
    os._exit(code)
