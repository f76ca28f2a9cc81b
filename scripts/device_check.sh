#!/usr/bin/env bash
# The GPU and 16-core measurements of issue 5 as one prepared run, for a session that is lent a
# device machine (one H100/H200, 16 cores, no network; see DEVELOPERS.md). Each step has its own
# time limit and a failed step does not stop the next, so one call (at most BUDGET seconds,
# 9.5 minutes) brings back everything that worked; the files land in $OUT:
#
#   machine.txt    GPU, driver, torch / numba / numpy versions, cores
#   results.jsonl  one JSON line per benchmark: env stepping at 1-16 threads (rollout scaling),
#                  bench_train with the gpu config (learner decisions/s, collect and learn s)
#   train.log      `tcg train --config gpu --minutes $MINUTES` (console lines and final table)
#   league.csv, league.png   that run's evaluations
#   check.log      this script's own trace, with each step's exit status
#
# On this machine first:   bash scripts/device_wheels.sh      (the wheels the image lacks -> .whl/)
# Then the device call:    run(command="bash scripts/device_check.sh", carry=[".whl"], timeout_s=600)
# Dry run without a GPU:   DEVICE=cpu PY=.venv/bin/python MINUTES=0.5 \
#                          SETS="--set num_envs=64 --set rollout_steps=8 --set policy_size=small" \
#                          bash scripts/device_check.sh
#
# Settings (environment): PY (python with torch; default python3), DEVICE (cuda), MINUTES (4:
# the training run, cut to what is left of BUDGET), SETS (extra --set flags for the gpu config),
# BUDGET (570: seconds for the whole script, inside the call's 600), OUT (default /tmp/device_check).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
MINUTES=${MINUTES:-4}
SETS=${SETS:-}
BUDGET=${BUDGET:-570}
OUT=${OUT:-/tmp/device_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-/tmp/tcg_numba_cache}
exec > >(tee -a "$OUT/check.log") 2>&1

step() {   # step NAME SECONDS CMD...: run CMD under a time limit (cut to what is left of BUDGET)
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS left=$((BUDGET - SECONDS - 10))
    (( limit > left )) && limit=$left
    if (( limit < 5 )); then echo "== $name: skipped, BUDGET spent" >&2; return; fi
    echo "== $name (limit ${limit}s)" >&2
    timeout --signal=INT --kill-after=10 "$limit" "$@"
    echo "== $name: rc=$? in $((SECONDS - t0))s" >&2
}

if compgen -G ".whl/*.whl" > /dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/tcg_site .whl/*.whl \
        || echo "== wheel install failed"
    export PYTHONPATH=/tmp/tcg_site:$PWD
else
    export PYTHONPATH=$PWD
fi

{
    date -u
    nvidia-smi -L 2>/dev/null || echo "nvidia-smi: none"
    echo "cores: $(nproc)"
    "$PY" - <<'EOF'
import sys
import numba, numpy, torch
print("python", sys.version.split()[0], "torch", torch.__version__, "numba", numba.__version__, "numpy", numpy.__version__)
print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
EOF
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

# compile the engine once (numba caches to NUMBA_CACHE_DIR), so the timed steps do not pay for it
step compile 150 "$PY" -c "
from tcg_env import VecTCG
e = VecTCG(8, seed=0)
e.step(e.legal_tuples[:, 0].astype('int32'))
"

# rollout scaling: VecTCG.step on 4,096 games at 1..all threads (numba nogil slices)
step env_threads 60 "$PY" -c "
import json, os, time
from tcg_env.bench import bench_threads
n = os.cpu_count() or 1
ks = tuple(k for k in (1, 2, 4, 8, 16, 32) if k <= n)
r = bench_threads(4096, 200, ks)
print(json.dumps({'bench': 'env_threads', 'games': 4096, 'steps': 200, 'cores': n,
                  'date': time.strftime('%Y-%m-%d'), 'steps_per_s': r}))
" | tee -a "$OUT/results.jsonl"

# the tests that need CUDA (pinned copies, bf16), and the trainer's tests on this machine
step gpu_tests 120 "$PY" -m pytest -q -x -p no:cacheprovider tests/test_train.py -k "pin_memory or pinned or ratio_check"

# end-to-end training throughput of the gpu config (rollout + PPO update), 3 timed updates
step bench_train_gpu 120 "$PY" benchmarks/bench_train.py --config gpu --updates 3 --set device="$DEVICE" $SETS \
    | tee -a "$OUT/results.jsonl"

# a short training run of the gpu config: curves, SPS in practice, the final table
rm -rf /tmp/tcg_gpu_run
# the run gets what is left of BUDGET seconds (the device call's limit, less a margin), with ~2
# minutes of it kept for start-up and the final evaluation table
read -r MIN LIMIT < <("$PY" -c "left = $BUDGET - $SECONDS - 15; print(max(0.5, min(float('$MINUTES'), (left - 120) / 60)), max(60, left))")
step train_gpu "$LIMIT" "$PY" -m training.cli train --config gpu --minutes "$MIN" --seed 1 --no-progress \
    --set device="$DEVICE" $SETS --out /tmp/tcg_gpu_run > "$OUT/train.log" 2>&1
tail -n 12 "$OUT/train.log"
cp /tmp/tcg_gpu_run/league.csv /tmp/tcg_gpu_run/league.png "$OUT/" 2>/dev/null || echo "== no league files"
echo "== done"
