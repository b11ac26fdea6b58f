# archlab — `make demo` and `make test` are the whole set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Marker file: the venv is (re)installed when pyproject.toml changes.
STAMP := $(VENV)/.installed
# Faster numpy/torch allocations (see ../shared/docs/PERF.md): keep freed memory instead of
# returning it to the OS after every large array.
export GLIBC_TUNABLES ?= glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184

.PHONY: demo test test-fast bench lint venv clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# torch first, pinned: the local CPU wheel (an unpinned torch pulls a multi-GB CUDA build)
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev,postgres]"
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/archlab demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_probes.py
	$(BIN)/python benchmarks/bench_mixers.py
	$(BIN)/python benchmarks/bench_search.py
	$(BIN)/python benchmarks/bench_dna.py
	$(BIN)/python benchmarks/bench_train.py

lint: $(STAMP)
	$(BIN)/ruff check archlab tests benchmarks
	$(BIN)/ruff format --check archlab tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
