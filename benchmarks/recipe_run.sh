#!/usr/bin/env bash
# One short fine-tuning run of the realism recipe search (issue #13): market-small initialised from the paper-recipe
# training state at step 40,378 (INIT; no longer in the tree, take it from the history:
#   git show d48fd37:checkpoints/market-small-train-state.pt > runs/paper-state-40378.pt), STEPS steps with the
# given config overrides, same seed and pair order for every variant, raw weights (no moving average, so runs of a few hundred steps compare cleanly). Exports the generator.
#
#   bash benchmarks/recipe_run.sh NAME [--set key=value ...]      (STEPS=1000 THREADS=1 by default)
#       -> runs/recipes/NAME/{latest.pt,generator.pt,log.csv,samples/}
#
# Score and compare the runs with benchmarks/score_recipes.py.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1; shift
STEPS=${STEPS:-1000}
THREADS=${THREADS:-1}
INIT=${INIT:-runs/paper-state-40378.pt}
dir=runs/recipes/$name
resume=()
[ -f "$dir/latest.pt" ] && resume=(--resume)
if [ ${#resume[@]} -eq 0 ]; then
    OMP_WAIT_POLICY=PASSIVE python -m posegan train --config configs/market-small.yaml --out "$dir" --max-steps "$STEPS" \
        --set train.init_from="$INIT" --set train.ema_half_life=0 --set train.threads="$THREADS" \
        --set train.sample_every=500 "$@"
else
    OMP_WAIT_POLICY=PASSIVE python -m posegan train --out "$dir" --resume --max-steps "$STEPS"
fi
python -m posegan export "$dir/latest.pt" "$dir/generator.pt"
