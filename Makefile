# Every target sets itself up on first use: `make test` on a fresh machine creates .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PUFFER_STAMP := $(VENV)/.pufferlib-stamp
# numba does not notice edits to functions called from another module, so the cache is
# keyed by a hash of the engine sources.
export NUMBA_CACHE_DIR := $(CURDIR)/.numba_cache/$(shell cat prefabs/*.py verification/*.py tcg_env/*.py tcg_env/bots/*.py 2>/dev/null | md5sum | cut -c1-12)
# nvcc must stay off PATH for source builds; the venv comes first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help setup test bench verify play train puffer clean

help:
	@echo "make test    set up .venv (first use) and run the test suite, one worker per core"
	@echo "make bench   run the benchmarks (each prints one JSON line)"
	@echo "make verify  cross-check the legal enumerator against explain on 5000 random states"
	@echo "make play    play against the heuristic bot in this terminal"
	@echo "make puffer  build the optional PufferLib dependency against the installed torch"
	@echo "make train   train a bot with the embedded cpu config and print an evaluation table"

# torch is installed first and pinned: 2.13.0 is the CPU build on this machine's local index
# (unpinned torch resolves to a ~5 GB CUDA build). Override with TORCH_VERSION=... on a GPU box.
TORCH_VERSION ?= 2.13.0

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==$(TORCH_VERSION)"
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

# make test also builds the optional PufferLib dependency once, for its integration test.
# The suite runs in one pytest-xdist worker per core: most tests use one core, so on 2 cores
# this halves the wall time. Work stealing keeps both busy to the end (the slowest tests,
# 30-100 s subprocess runs, come late in file order). TEST_WORKERS=0 runs it in a single process.
TEST_WORKERS ?= auto
test: $(STAMP) $(PUFFER_STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "# $$b" >&2; $(PY) $$b || exit 1; done

verify: $(STAMP)
	$(VENV)/bin/tcg verify --states 5000 --seed 0

play: $(STAMP)
	$(VENV)/bin/tcg play

# PufferLib is optional: pufferlib-core 3.0.10 built from its sdist against the installed
# torch (recipe in DEVELOPERS.md). The stamp makes it a one-time cost.
$(PUFFER_STAMP): $(STAMP) scripts/install_pufferlib.sh
	bash scripts/install_pufferlib.sh $(VENV)
	touch $(PUFFER_STAMP)

puffer: $(PUFFER_STAMP)

# Trains with the embedded cpu config (training/configs/cpu.toml) for a few minutes and ends with an
# evaluation table. Pass ARGS=... for more flags, e.g. make train ARGS="--minutes 10"; the cpu config is
# tcg train's default, so make train ARGS="--resume runs/latest --minutes 10" continues that run.
train: $(STAMP)
	$(VENV)/bin/tcg train $(ARGS)

clean:
	rm -rf $(VENV) .numba_cache .pytest_cache
