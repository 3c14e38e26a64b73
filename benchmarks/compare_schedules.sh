#!/usr/bin/env bash
# Short comparative runs for the training schedule (issue #6): the paper's recipe (GAN loss from step 0) against a
# reconstruction-only warm-up (nearest-neighbour loss alone, no D, for WARMUP steps), both market-small from scratch
# with the same seed and pair order, STEPS steps each and no moving average. The first LIMIT test pairs are scored
# for each and compared pair by pair (benchmarks/compare_per_pair.py, warm-up minus GAN-from-start).
#
#   bash benchmarks/compare_schedules.sh [STEPS=2000] [WARMUP=1000] [LIMIT=1000]
#       -> runs/schedules-STEPS/{gan-from-start,warmup-WARMUP}/ (checkpoints, samples, evaluations), and in
#          results/schedules-stepSTEPS/ each run's log.csv, metrics.json and table.md plus warmupWARMUP-vs-gan.json
#
# THREADS (default 1) sets torch threads per training, so it can run on the core a longer training leaves free.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-2000}
WARMUP=${2:-1000}
LIMIT=${3:-1000}
THREADS=${THREADS:-1}
out=runs/schedules-$STEPS
results=results/schedules-step$STEPS

for run in "gan-from-start 0" "warmup-$WARMUP $WARMUP"; do
    read -r name adversarial_start <<< "$run"
    dir=$out/$name
    python -m posegan train --config configs/market-small.yaml --out "$dir" --max-steps "$STEPS" \
        --set train.adversarial_start="$adversarial_start" --set train.ema_half_life=0 --set train.threads="$THREADS"
    python -m posegan export "$dir/latest.pt" "$dir/generator.pt"
    python -m posegan evaluate --checkpoint "$dir/generator.pt" --metrics ssim,mask_ssim,lpips,l1 \
        --limit "$LIMIT" --out "$dir/eval"
    mkdir -p "$results/$name"
    cp "$dir/log.csv" "$dir/eval/metrics.json" "$dir/eval/table.md" "$results/$name/"
done

python benchmarks/compare_per_pair.py "$out/warmup-$WARMUP/eval/per_pair.csv:ours" \
    "$out/gan-from-start/eval/per_pair.csv:ours" --out "$results/warmup$WARMUP-vs-gan.json"
