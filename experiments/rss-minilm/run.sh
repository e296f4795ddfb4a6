#!/usr/bin/env bash
# Recurring span selection at small scale: does RSS pretraining of the MiniLM encoder (and its QASS
# head) help few-shot SQuAD? Regenerates the table in the README:
#
#   bash experiments/rss-minilm/run.sh [OUT]        (about an hour on a 2-core CPU with the defaults)
#
# 1. corpus: the distinct paragraphs of the shared SQuAD training splits (never the dev text);
# 2. continue pretraining `minilm` with recurring span selection on it (PRETRAIN_STEPS steps);
# 3. fine-tune both the plain and the pretrained encoder on the 16- and 128-example splits of all five
#    seeds with the same settings (FINETUNE_STEPS steps), evaluating on the fixed 314-question dev
#    slice data/demo/squad-dev-slice.jsonl.gz (every 35th MRQA SQuAD dev paragraph);
# 4. python -m splinter.report → OUT/table/results.md
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-outputs/rss-minilm}
SHARED=${SPLINTER_DATA_ROOT:-../shared/data}
PRETRAIN_STEPS=${PRETRAIN_STEPS:-200}
FINETUNE_STEPS=${FINETUNE_STEPS:-40}
PY=${PY:-.venv/bin/python}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled

$PY experiments/rss-minilm/make_corpus.py "$SHARED" "$OUT/corpus.txt"

if [ ! -f "$OUT/pretrain/model/model.safetensors" ]; then
  $PY train.py task=pretrain data=text "data.files=[$OUT/corpus.txt]" model=minilm logger=csv \
    data.max_seq_length=256 data.batch_size=16 data.num_workers=0 \
    task.max_steps="$PRETRAIN_STEPS" task.module.warmup_steps=0 task.module.warmup_ratio=0.1 \
    task.checkpoint_every_n_steps=100 trainer.enable_progress_bar=false hydra.run.dir="$OUT/pretrain"
fi

# The two arms run side by side, one thread each: on a small CPU two single-threaded runs use the cores
# better than two-thread runs one after the other (and never fight over OpenMP threads).
finetune() {  # $1: report row name, $2: checkpoint
  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
  $PY train.py -m model=minilm model.name="$1" model.checkpoint="$2" logger=csv \
    data.root="$SHARED" data.eval_file=data/demo/squad-dev-slice.jsonl.gz data.max_seq_length=256 \
    data.eval_batch_size=64 task.max_steps="$FINETUNE_STEPS" task.module.lr=1e-4 \
    trainer.enable_progress_bar=false trainer.enable_model_summary=false \
    data.shots=16,128 data.seed=42,43,44,45,46 hydra.sweep.dir="$OUT/finetune/$1"
}
finetune minilm minilm > "$OUT/finetune-minilm.log" 2>&1 &
baseline=$!
finetune minilm+rss "$OUT/pretrain/model" > "$OUT/finetune-minilm+rss.log" 2>&1
wait "$baseline"  # fails the script if the baseline arm failed

$PY -m splinter.report "$OUT/finetune" --out "$OUT/table"
