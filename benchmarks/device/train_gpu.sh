#!/usr/bin/env bash
# What a lent GPU machine runs (README "Training on a lent GPU", issue #13): the realism recipe fine-tuned from the
# bundle (.device/: `python -m posegan device-bundle`) with a big batch under bf16 autocast for MAX_MINUTES, then
# stopped by itself. $OUT gets what comes back, refreshed after every checkpoint (CKPT_MINUTES) so that a run cut off
# by the tool's time limit still returns its last one: generator.pt (exported, float16), weights.pt (G, its moving
# average, D in float16: `--set train.init_from=weights.pt` continues here), log.csv, samples.png, loss.png, train.log.
#
#   bash benchmarks/device/train_gpu.sh [--cpu-dry-run] [--set key=value ...]    (the device tool sets $OUT)
#   defaults: BATCH=64 LR=0.0002 MAX_MINUTES=7 CKPT_MINUTES=2 WORKERS=12 THREADS=4 RUN=runs/device PYTHON=python3
#
# --cpu-dry-run trains on the CPU with tiny settings (batch 2, half a minute, 2 loader workers, 1 thread), to test
# the script without a GPU; without it, no GPU is an error (a CPU run would waste the lent time).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?set OUT to the folder that comes back}"
device=cuda
if [ "${1:-}" = --cpu-dry-run ]; then
    shift
    device=cpu BATCH=${BATCH:-2} MAX_MINUTES=${MAX_MINUTES:-0.5} CKPT_MINUTES=${CKPT_MINUTES:-0.2}
    WORKERS=${WORKERS:-2} THREADS=${THREADS:-1}
fi
# Batch 16x the recipe's 4 at the recipe's Adam lr: Adam's step does not grow with the batch (it divides by the
# gradients' RMS), so the big batch buys cleaner gradients at the same step length. The linear scaling rule is SGD's;
# 16x (3.2e-3) would shake a GAN fine-tuned from a converged state, and GAN recipes keep 1e-4..4e-4 at batches of 32
# to 2,048 (SPADE, BigGAN). The moving average keeps its half-life of 1,000 steps: the jitter it smooths is per step.
BATCH=${BATCH:-64} LR=${LR:-0.0002} MAX_MINUTES=${MAX_MINUTES:-7} CKPT_MINUTES=${CKPT_MINUTES:-2}
WORKERS=${WORKERS:-12} THREADS=${THREADS:-4}  # 16 cores: the loader workers; the training process only feeds the GPU
RUN=${RUN:-runs/device} PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"

if [ "$device" = cuda ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "warning: nvidia-smi failed"
    "$PYTHON" -c "import sys, torch; ok = torch.cuda.is_available()
print('torch', torch.__version__, 'on', torch.cuda.get_device_name(0) if ok else 'no CUDA device'); sys.exit(not ok)" \
        || { echo "error: torch sees no GPU; nothing trained (--cpu-dry-run tests the script on a CPU)"; exit 1; }
else
    echo "warning: --cpu-dry-run: training on the CPU with tiny settings, not a real run"
fi
[ -f .device/init.pt ] || { echo "error: no bundle at .device (python -m posegan device-bundle; carry .device)"; exit 1; }
# The slim tree has no checkpoints/: the losses' VGG19 comes from the bundle (float16), never over a shipped file.
[ -f checkpoints/vgg19_caffe_relu4_1.pth ] || { mkdir -p checkpoints && cp .device/vgg19_caffe_relu4_1.pth checkpoints/; }
# Loader workers hand batches over in /dev/shm, about 1.7 MB a pair and 2 batches in flight per worker; a container's
# small /dev/shm would kill them with a bus error, so use as many as fit.
shm_mb=$(df -Pm /dev/shm 2>/dev/null | awk 'NR == 2 {print $4}')
per_worker_mb=$((2 * BATCH * 2))
if [ -n "$shm_mb" ] && [ $((WORKERS * per_worker_mb)) -gt "$shm_mb" ]; then
    WORKERS=$((shm_mb / per_worker_mb))
    echo "warning: /dev/shm has $shm_mb MB free: $WORKERS loader workers"
fi
echo "batch $BATCH, lr $LR, $MAX_MINUTES min, checkpoint every $CKPT_MINUTES min, $WORKERS workers, $THREADS threads"

# The sample grids show the samples split: its 36 pairs travel in the bundle, the test split does not.
"$PYTHON" -m posegan train --config configs/market-small-resizeconv-snhinge-style.yaml \
    --out "$RUN" --device "$device" --sample-split samples --max-minutes "$MAX_MINUTES" \
    --set train.init_from=.device/init.pt --set data.root=.device/data --set train.batch_size="$BATCH" \
    --set train.lr="$LR" --set train.workers="$WORKERS" --set train.threads="$THREADS" \
    --set train.checkpoint_minutes="$CKPT_MINUTES" "$@" > "$OUT/train.log" 2>&1 &
train=$!
# The trainer stops itself after MAX_MINUTES of steps; should start-up hang, SIGTERM (it checkpoints after its step)
# two minutes later, SIGKILL one more minute on. A signal to the whole command (the device tool's time limit) reaches
# the trainer as well: this script then waits for it to checkpoint and stop, and collects once more.
limit_s=$(awk "BEGIN {print int($MAX_MINUTES * 60 + 120)}")
trap 'echo "signal: waiting for the training to checkpoint and stop"' TERM INT
collect() {
    "$PYTHON" -m posegan device-collect "$RUN" "$OUT" || echo "warning: collecting $RUN failed"
    if [ -f "$RUN/log.csv" ]; then tail -n 1 "$RUN/log.csv" | awk -F, '{print "step " $1 ", " $3 " s/step"}'; fi
    if [ "$device" = cuda ]; then
        nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader || true
    fi
}
while kill -0 "$train" 2>/dev/null; do
    sleep 5 || true  # a signal to the command ends the sleep too
    if [ "$SECONDS" -gt $((limit_s + 60)) ]; then kill -KILL "$train" 2>/dev/null || true
    elif [ "$SECONDS" -gt "$limit_s" ] && [ -z "${stopping:-}" ]; then
        stopping=1 && echo "training past $limit_s s: SIGTERM" && kill -TERM "$train" 2>/dev/null || true
    fi
    if [ -f "$RUN/latest.pt" ] && [ "$RUN/latest.pt" -nt "$OUT/weights.pt" ]; then collect; fi
done
rc=0
wait "$train" || rc=$?
if [ -f "$RUN/latest.pt" ]; then collect; fi  # again: the final checkpoint and sample grid
# The trainer's messages (and any traceback) without the progress bar's redraws, then the bar's last state.
tr '\r' '\n' < "$OUT/train.log" | grep -Ev '^\s*$|[0-9]+/[0-9]+ \[' | tail -n 20 || true
tr '\r' '\n' < "$OUT/train.log" | grep -E '[0-9]+/[0-9]+ \[' | tail -n 1 || true
echo "training exit code $rc; $OUT holds: $(ls "$OUT" | tr '\n' ' ')"
exit "$rc"
