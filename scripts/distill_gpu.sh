#!/usr/bin/env bash
# Distil students with all three distillation terms (kd,cd,srp) for their recipes' full length on a GPU machine
# that has only torch, numpy, OpenCV and safetensors. On 2 CPU cores one such run takes about 5 hours.
#
#   OUT=/some/folder [STUDENTS="slim-s slim-m"] [MINUTES=4] [STEPS=N] bash scripts/distill_gpu.sh
#
# Each student trains with configs/<student>-cpu.toml (its shipped recipe; only the distillation terms differ),
# relation matrices pooled to 32x32 positions as in the ablation, from the teacher in weights/. Reads the 128 px
# cache from .carry/cache (copy cache/faces-128 there, 8 MB). MINUTES caps each student's training; calling the
# script again on the same (still warm) machine continues where it stopped (--resume). Into $OUT goes one tar per
# student: its exported fp16 weights with card and manifest entry, and its log.jsonl. Evaluate them with
# `makeup eval --models DIR/<student>.safetensors` on a machine with the 256 px cache.
set -euo pipefail

PYTHON=${PYTHON:-/opt/torch/.venv/bin/python3}
OUT=${OUT:-runs/gpu-out}
STUDENTS=${STUDENTS:-slim-s slim-m}
MINUTES=${MINUTES:-4}
CACHE=${CACHE:-.carry/cache}
export PYTHONPATH=.
mkdir -p "$OUT"
WORKERS=$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

for student in $STUDENTS; do
    run=runs/gpu-$student-all
    echo "== $student: kd,cd,srp, at most $MINUTES minutes"
    "$PYTHON" -m makeup train student --arch "$student" --methods kd,cd,srp --config "configs/$student-cpu.toml" \
        --cache "$CACHE" --out-dir "$run" --resume --set distill_max_side=32 --set "max_minutes=$MINUTES" \
        --set "num_workers=$WORKERS" --set checkpoint_every=500 --set sample_every=1000 --set log_every=50 \
        ${STEPS:+--set "steps=$STEPS"}
    stage=$(mktemp -d)
    "$PYTHON" -m makeup export "$run" --name "$student" --weights-dir "$stage"
    cp "$run/log.jsonl" "$stage/log.jsonl"
    tar -C "$stage" -cf "$OUT/$student-all.tar" .
    rm -rf "$stage"
    tail -n 1 "$run/log.jsonl"
done
ls -la "$OUT"
