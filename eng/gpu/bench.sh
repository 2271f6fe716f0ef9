#!/usr/bin/env bash
# LoraKit's bf16 LoRA training step (eng/bench.sh gpu-training) beside the same step in transformers + PEFT
# (eng/gpu/peft_bench.py) on one GPU, one case per process, rounds interleaved; the GPU's memory sampled by
# nvidia-smi every 20 ms beside each run (peak MiB over the process: CUDA context and allocator cache included).
# Usage (GPU machine, repository root, .gpu/rt from eng/gpu/pack.sh): bash eng/gpu/bench.sh [rounds] [torch lib dir]
rounds=${1:-2}; [ $# -gt 0 ] && shift
mkdir -p "${OUT:-/tmp/lorakit-gpu}"; exec > >(tee -a "${OUT:-/tmp/lorakit-gpu}/bench.txt") 2>&1
. "$(dirname "$0")/setup.sh"
SAMPLED_TIMEOUT=150
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
cd $W
$B gpu-training-cases $W/cases || exit 3   # the cases as LoraKit runs them, for peft_bench.py
for round in $(seq 1 "$rounds"); do
  for c in smollm2 tinyllama; do
    sampled "round $round LoraKit $c" $B gpu-training cuda 10 - full $c
    sampled "round $round transformers+PEFT $c" python3 "$R/eng/gpu/peft_bench.py" $W/cases/$c.json
  done
done
echo "=== done ($(date -u +%T))"
