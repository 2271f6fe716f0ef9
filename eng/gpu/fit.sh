#!/usr/bin/env bash
# Issue 22 on one GPU, one run of ~4 minutes on an H200: LoraKit's SmolLM2-135M-shaped LoRA step at 16 × 1,024 tokens
# (eng/bench.sh gpu-training: bf16 base, fp32 LoRA r=16 on q,k,v,o, AdamW, chunked loss) without, with and with offloaded
# gradient checkpointing, beside transformers + PEFT without and with gradient_checkpointing=True (eng/gpu/peft_bench.py);
# each in its own process with nvidia-smi sampling the GPU's memory every 20 ms (peak over the process: CUDA context and
# allocator cache included). Each LoraKit row prints Core's estimate for the same step: estimate ÷ nvidia-smi's peak is the
# check (goal 0.95–1.10); PEFT's lines give torch.cuda.max_memory_allocated / max_memory_reserved beside its nvidia-smi
# peak, which re-measures the overhead Core models (MemoryEstimator.CudaContextBytes, AllocatorCacheFraction).
# Usage (GPU machine, repository root, .gpu/rt from eng/gpu/pack.sh beside it): bash eng/gpu/fit.sh [rounds] [torch lib dir]
rounds=${1:-1}; [ $# -gt 0 ] && shift
mkdir -p "${OUT:-/tmp/lorakit-gpu}"; exec > >(tee -a "${OUT:-/tmp/lorakit-gpu}/fit.txt") 2>&1
. "$(dirname "$0")/setup.sh"
SAMPLED_TIMEOUT=120
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
cd $W
$B gpu-training-cases $W/cases || exit 3
for round in $(seq 1 "$rounds"); do
  for mode in none on offload; do
    sampled "round $round LoraKit smollm2 checkpointing $mode" $B gpu-training cuda 10 - full smollm2 $mode
  done
  sampled "round $round transformers+PEFT smollm2" python3 "$R/eng/gpu/peft_bench.py" $W/cases/smollm2.json
  sampled "round $round transformers+PEFT smollm2 gradient_checkpointing" python3 "$R/eng/gpu/peft_bench.py" $W/cases/smollm2.json --gradient-checkpointing
done
step "Core's fit table for the seed's job (Llama-3.1-8B QLoRA, r 16, all-linear, 24 GiB)"
$L budget --config $R/tests/LoraKit.Core.Tests/Configs/llama3.1-8b.json --rank 16 --targets all-linear --precision nf4 --gpu-memory 24 --seq-len 16384 --gradient-checkpointing
echo "=== done ($(date -u +%T))"
