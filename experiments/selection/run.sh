#!/usr/bin/env bash
# Honest selection against the fixed protocol (issue 21): MiniLM on the 16- and 128-example SQuAD splits
# of seeds 42 and 43; per split an 8-trial Optuna study (lr and steps) on the 4-fold selection score,
# every trial also evaluated for the analysis (oracle gap, Spearman), and the fixed protocol beside it
# (the CPU protocol of experiments/head-init-minilm: 40 steps, lr 1e-4). Evaluation on the 314-question
# dev slice data/demo/squad-dev-slice.jsonl.gz, max_seq_length 256.
#
#   bash experiments/selection/run.sh [OUT]        (about 2 h on 2 CPU cores; results in README.md here)
#   SHOTS=16 SEEDS=42 TRIALS=2 bash experiments/selection/run.sh /tmp/sel-smoke   # a quick check
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-outputs/selection-minilm}
SHARED=${SPLINTER_DATA_ROOT:-../shared/data}
SHOTS=${SHOTS:-16 128}
SEEDS=${SEEDS:-42 43}
TRIALS=${TRIALS:-8}
PY=${PY:-.venv/bin/python}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled
mkdir -p "$OUT"
timed() { local start=$SECONDS; "$@"; echo "wall seconds: $((SECONDS - start))"; }

COMMON=(model=minilm logger=csv data.root="$SHARED" data.eval_file=data/demo/squad-dev-slice.jsonl.gz
        data.max_seq_length=256 data.eval_batch_size=64
        trainer.enable_progress_bar=false trainer.enable_model_summary=false)

# one split seed at a time, both sizes, so that a partial run already pairs 16 and 128 shots
for seed in $SEEDS; do
  for shots in $SHOTS; do
    # the fixed protocol: no selection
    timed $PY train.py -m "${COMMON[@]}" task.max_steps=40 task.module.lr=1e-4 \
      data.shots="$shots" data.seed="$seed" hydra.sweep.dir="$OUT/fixed/$shots-$seed" \
      > "$OUT/fixed-$shots-$seed.log" 2>&1
    # the study on the selection score only; lr and steps searched, warm-up and batch size fixed
    timed $PY train.py -m hparams_search=optuna selection=kfold "${COMMON[@]}" \
      hydra.sweeper.n_trials="$TRIALS" hydra.sweeper.sampler_seed=0 hydra.sweeper.evaluate_trials=true \
      hydra.sweeper.params.steps.low=10 hydra.sweeper.params.steps.high=60 hydra.sweeper.params.steps.step=10 \
      hydra.sweeper.params.lr.low=3e-5 hydra.sweeper.params.lr.high=3e-4 \
      hydra.sweeper.params.warmup=null hydra.sweeper.params.batch_size=null \
      data.shots="$shots" data.seed="$seed" hydra.sweep.dir="$OUT/study/$shots-$seed" \
      > "$OUT/study-$shots-$seed.log" 2>&1
  done
done

# tables (rows marked fixed / kfold) and the Selection section: selected vs fixed vs oracle, Spearman
$PY -m splinter.report "$OUT" --out "$OUT/table"
grep -H "wall seconds" "$OUT"/*.log || true
