#!/usr/bin/env bash
# Train the BeautyGAN teacher at 256 px on a GPU machine that has only torch, numpy, OpenCV and safetensors.
#
#   OUT=/some/folder [BATCH=16] [STEPS=N] [EXTRA_SETS="--set key=value ..."] bash scripts/train_gpu.sh [TRAIN_MINUTES] [BATCH_SIZES]
#
# The recipe is configs/teacher-gpu.toml (CONFIG=another.toml to change it); STEPS overrides its step count.
# Reads the prepared cache from .carry/cache (CACHE=another folder) and the perceptual VGG16 file from
# .carry/vgg.safetensors. INIT_FROM=weights/beautygan.safetensors starts a new run from shipped weights (the
# generator; the discriminators start afresh), as configs/teacher-gpu-real.toml does.
# Full checkpoints (weights, optimisers, RNG states) stay in runs/gpu, so calling the script again on the same
# (still warm) machine continues the run exactly. On a fresh machine without INIT_FROM, a weights-only checkpoint
# carried in .carry/init starts a new run from those weights (make it from a previous call's output:
#   cat run.tar.part-* | tar -xf - -C runs/gpu-weights
#   python -m makeup.train.pack runs/gpu-weights .carry/init --dtype bf16     # 30 MB, fits the carry limit).
# The first call measures training speed and picks the batch size with the most images per second.
# Into $OUT go (8 files at most): speed.json and speed_model_only.json (first call), log.jsonl, the latest
# sample grid, and the weights-only checkpoint (generator and both discriminators, fp32) as run.tar.part-NN
# pieces of at most 15 MiB; `makeup export runs/gpu-weights --name beautygan` ships the generator.
set -euo pipefail

PYTHON=${PYTHON:-/opt/torch/.venv/bin/python3}
OUT=${OUT:-runs/gpu-out}
RUN=${RUN:-runs/gpu}
BATCH_SIZES=${2:-1,8,16,32}
export PYTHONPATH=.
mkdir -p "$OUT" "$RUN"

WORKERS=$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))
CONFIG=${CONFIG:-configs/teacher-gpu.toml}
CACHE=${CACHE:-.carry/cache}
COMMON=(--config "$CONFIG" --set perceptual_weights_path=.carry/vgg.safetensors --set "num_workers=$WORKERS")
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PYTHON" -c 'import torch, cv2, numpy, safetensors; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'

INIT=()
SAVED_CONFIG=""
if [ -f "$RUN/config.json" ]; then
    SAVED_CONFIG="$RUN/config.json"
elif [ -n "${INIT_FROM:-}" ]; then
    # an explicit INIT_FROM wins over whatever .carry/init holds
    INIT=(--init-from "$INIT_FROM")
    echo "== starting from $INIT_FROM"
elif [ -f .carry/init/checkpoints/latest.json ]; then
    INIT=(--init-from .carry/init)
    SAVED_CONFIG=$(ls .carry/init/checkpoints/step_*/config.json | tail -n 1)
    echo "== starting from the weights in .carry/init"
fi
if [ -n "${BATCH:-}" ]; then
    # batch size given (speed already measured): spend the whole call training
    MINUTES=${1:-8.5}
elif [ -n "$SAVED_CONFIG" ]; then
    # a continuing run keeps its batch size and trains for all of this call's time
    BATCH=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["batch_size"])' "$SAVED_CONFIG")
    MINUTES=${1:-8.5}
else
    MINUTES=${1:-6.5}
    echo "== speed at 256 px (model only, random tensors), batch 1"
    "$PYTHON" -m makeup.train.speed --image-size 256 --batch-sizes 1 --steps 15 --warmup 5 \
        --json "$OUT/speed_model_only.json" "${COMMON[@]}"
    echo "== speed at 256 px on the cache (data loading and rendering included), batch sizes $BATCH_SIZES"
    "$PYTHON" -m makeup.train.speed --cache "$CACHE" --image-size 256 --batch-sizes "$BATCH_SIZES" \
        --steps 15 --warmup 5 --json "$OUT/speed.json" "${COMMON[@]}"
    BATCH=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["best_batch_size"])' "$OUT/speed.json")
fi

echo "== training at 256 px, batch $BATCH, for $MINUTES minutes"
"$PYTHON" -m makeup.train --cache "$CACHE" --out-dir "$RUN" --image-size 256 --batch-size "$BATCH" \
    ${STEPS:+--steps "$STEPS"} --max-minutes "$MINUTES" --resume ${INIT[@]+"${INIT[@]}"} "${COMMON[@]}" \
    --set checkpoint_every=250 --set sample_every=250 --set log_every=50 --set progress=false ${EXTRA_SETS:-}

echo "== packing weights into $OUT"
STAGE=$(mktemp -d)
"$PYTHON" -m makeup.train.pack "$RUN" "$STAGE" --shard-mb 15
tar -C "$STAGE" -cf - . | split -b 15M -d - "$OUT/run.tar.part-"
rm -rf "$STAGE"
cp "$RUN/log.jsonl" "$OUT/log.jsonl"
LAST_SAMPLE=$(ls "$RUN"/samples/*.png 2>/dev/null | tail -n 1 || true)
[ -n "$LAST_SAMPLE" ] && cp "$LAST_SAMPLE" "$OUT/latest_sample.png"
tail -n 3 "$RUN/log.jsonl"
ls -la "$OUT"
