#!/usr/bin/env bash
# What the head initialisation is worth: model.head_init=zero against =paper (a fresh QASS head's scoring
# weights zeroed, or left N(0, initializer_range)), MiniLM, the five released 128-example SQuAD splits,
# the same settings and steps as the fine-tuning arm of experiments/rss-minilm (40 steps, lr 1e-4,
# max_seq_length 256, the 314-question dev slice data/demo/squad-dev-slice.jsonl.gz).
#
#   bash experiments/head-init-minilm/run.sh [OUT]      (about 15 minutes on a 2-core CPU)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-outputs/head-init-minilm}
SHARED=${SPLINTER_DATA_ROOT:-../shared/data}
SHOTS=${SHOTS:-128}
PY=${PY:-.venv/bin/python}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled
mkdir -p "$OUT"

finetune() {  # $1: head_init (also the report row)
  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
  $PY train.py -m model=minilm model.name="minilm-head-$1" model.head_init="$1" logger=csv \
    data.root="$SHARED" data.eval_file=data/demo/squad-dev-slice.jsonl.gz data.max_seq_length=256 \
    data.eval_batch_size=64 task.max_steps=40 task.module.lr=1e-4 \
    trainer.enable_progress_bar=false trainer.enable_model_summary=false \
    data.shots="$SHOTS" data.seed=42,43,44,45,46 hydra.sweep.dir="$OUT/finetune/$1"
}
# side by side, one thread each (see experiments/rss-minilm/run.sh)
finetune zero > "$OUT/zero.log" 2>&1 &
zero=$!
finetune paper > "$OUT/paper.log" 2>&1
wait "$zero"

$PY -m splinter.report "$OUT/finetune" --out "$OUT/table"
