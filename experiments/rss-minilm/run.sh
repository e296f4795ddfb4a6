#!/usr/bin/env bash
# Recurring span selection at small scale: does RSS pretraining of the MiniLM encoder (and its QASS
# head) help few-shot SQuAD more than plain continued pretraining (BERT's masked LM) on the same text?
# Regenerates the table in the README:
#
#   bash experiments/rss-minilm/run.sh [OUT]     (about 1.5 h on an idle 2-core CPU with the defaults)
#
# 1. corpus: the distinct paragraphs of the shared SQuAD training splits (never the dev text);
# 2. three arms, each fine-tuned on the 16- and 128-example splits of all five seeds with the same
#    settings (FINETUNE_STEPS steps), evaluated on the fixed 314-question dev slice
#    data/demo/squad-dev-slice.jsonl.gz (every 35th MRQA SQuAD dev paragraph):
#      minilm       the MiniLM encoder as released, fresh QASS head;
#      minilm+mlm   after PRETRAIN_STEPS steps of masked-LM pretraining on the corpus, fresh QASS head;
#      minilm+rss   after PRETRAIN_STEPS steps of recurring span selection on the corpus, with the
#                   QASS head that pretraining trained;
#    both pretraining runs share the corpus, passages (≤ 256 tokens), batch 16, lr 1e-4 with 10 %
#    warm-up and linear decay, and data seed;
# 3. python -m splinter.report → OUT/table/ (results.md, results.csv, learning_curve.png), with the
#    paired comparisons RSS − MLM and MLM − plain MiniLM (--compare: per-seed differences, intervals,
#    sign-flip p, question-level bootstrap) → OUT/table/comparison.md/.csv/.png; the per-run records →
#    OUT/table/runs/ (experiments/rss-minilm/collect_runs.py). From the committed records alone:
#    python -m splinter.report experiments/rss-minilm/results/runs/finetune --out experiments/rss-minilm/results \
#      --compare minilm+rss minilm+mlm --compare minilm+mlm minilm
#
# The arms run side by side, one thread each (on a small CPU, single-threaded runs in parallel use the
# cores better than multi-threaded runs one after the other, and never fight over OpenMP threads).
# ARMS="minilm+mlm" runs a subset. An arm whose ten fine-tuning results already exist is not run
# again, nor is a pretraining run whose model exists: delete OUT (or the arm's folders) to redo them.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-outputs/rss-minilm}
SHARED=${SPLINTER_DATA_ROOT:-../shared/data}
PRETRAIN_STEPS=${PRETRAIN_STEPS:-200}
FINETUNE_STEPS=${FINETUNE_STEPS:-40}
ARMS=${ARMS:-minilm minilm+mlm minilm+rss}
PY=${PY:-.venv/bin/python}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

$PY experiments/rss-minilm/make_corpus.py "$SHARED" "$OUT/corpus.txt"

pretrain() {  # $1: objective (rss | mlm), $2: output directory
  if [ -f "$2/model/model.safetensors" ]; then
    echo "$2/model exists: pretraining not run again"
    return
  fi
  $PY train.py task=pretrain task.objective="$1" data=text "data.files=[$OUT/corpus.txt]" model=minilm \
    logger=csv data.max_seq_length=256 data.batch_size=16 data.num_workers=0 \
    task.max_steps="$PRETRAIN_STEPS" task.module.warmup_ratio=0.1 \
    task.checkpoint_every_n_steps=100 trainer.enable_progress_bar=false hydra.run.dir="$2"
}

finetune() {  # $1: report row name, $2: checkpoint
  local done=0
  if [ -d "$OUT/finetune/$1" ]; then
    done=$(find "$OUT/finetune/$1" -name results.json | wc -l)
  fi
  if [ "$done" -ge 10 ]; then
    echo "$OUT/finetune/$1 has $done results: fine-tuning not run again"
    return
  fi
  $PY train.py -m model=minilm model.name="$1" model.checkpoint="$2" logger=csv \
    data.root="$SHARED" data.eval_file=data/demo/squad-dev-slice.jsonl.gz data.max_seq_length=256 \
    data.eval_batch_size=64 task.max_steps="$FINETUNE_STEPS" task.module.lr=1e-4 \
    trainer.enable_progress_bar=false trainer.enable_model_summary=false \
    data.shots=16,128 data.seed=42,43,44,45,46 hydra.sweep.dir="$OUT/finetune/$1"
}

arm() {  # $1: arm name
  case "$1" in
    minilm) finetune minilm minilm ;;
    minilm+mlm) pretrain mlm "$OUT/pretrain-mlm" && finetune minilm+mlm "$OUT/pretrain-mlm/model" ;;
    minilm+rss) pretrain rss "$OUT/pretrain" && finetune minilm+rss "$OUT/pretrain/model" ;;
    *) echo "unknown arm $1 (valid: minilm, minilm+mlm, minilm+rss)" >&2; return 2 ;;
  esac
}

pids=()
for name in $ARMS; do
  arm "$name" > "$OUT/$name.log" 2>&1 &
  pids+=("$!")
  echo "arm $name: log $OUT/$name.log"
done
failed=0
for pid in "${pids[@]}"; do
  wait "$pid" || failed=1
done
[ "$failed" = 0 ] || { echo "an arm failed: see its log under $OUT" >&2; exit 1; }

$PY -m splinter.report "$OUT/finetune" --out "$OUT/table" --compare minilm+rss minilm+mlm --compare minilm+mlm minilm
$PY experiments/rss-minilm/collect_runs.py "$OUT" "$OUT/table/runs"
