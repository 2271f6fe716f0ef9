#!/usr/bin/env bash
# LoraKit's CUDA path, checked against the real transformers and PEFT on a machine with an NVIDIA GPU and a
# Python PyTorch + transformers + peft (the lent GPU machine): exactness of eval on CUDA (transformers'
# losses in the fixtures), a CUDA-trained adapter scored by PEFT, greedy generation = transformers' tokens,
# QLoRA on CUDA, the bf16 benchmark, the builtin main job on CUDA and on that machine's CPU.
# Usage (GPU machine, repository root, .gpu/rt from eng/gpu/pack.sh beside it): bash eng/gpu/check.sh [torch lib dir]
# Everything it prints goes to $OUT/check.txt too; the PEFT comparison to $OUT/check.json.
mkdir -p "${OUT:-/tmp/lorakit-gpu}"; exec > >(tee -a "${OUT:-/tmp/lorakit-gpu}/check.txt") 2>&1
. "$(dirname "$0")/setup.sh"
cd $W
step "eval tiny-llama + peft-llama-r4 on cuda (held to transformers 5's losses in the fixtures by peft_check.py)"
timeout 120 $L eval --base $F/tiny-llama --adapter $F/peft-llama-r4 --data $F/data/tiny.jsonl --device cuda --json > $OUT/eval-ref.json; echo "rc=$?"
step "train tiny-llama on cuda (bf16), eval on cuda, generate on cuda"
timeout 120 $L train --base $F/tiny-llama --data $F/data/tiny.jsonl --device cuda --max-steps 60 --seq-len 64 --lr 0.003 --out $W/t-cuda; echo "rc=$?"
timeout 120 $L eval --base $F/tiny-llama --adapter $W/t-cuda --data $F/data/tiny.jsonl --device cuda --json > $W/eval-t.json; echo "rc=$?"
printf '%s\n' '{"prompt": "the cat met"}' '{"prompt": "date: 2004-04-23 ->"}' '{"prompt": "the other animal met the end o"}' > $W/prompts.jsonl
timeout 120 $L generate --base $F/tiny-llama --prompts $W/prompts.jsonl --max-new-tokens 32 --device cuda > $W/gen.jsonl; echo "rc=$?"; cat $W/gen.jsonl
step "outside check: PEFT loads the CUDA-trained adapter; transformers' greedy tokens"
cp $W/t-cuda/adapter_config.json $OUT/ 2>/dev/null
timeout 150 python3 $R/eng/gpu/peft_check.py $F $W/t-cuda $W/eval-t.json $W/gen.jsonl $OUT/eval-ref.json > $OUT/check.json; echo "rc=$?"; cat $OUT/check.json
step "QLoRA (nf4) train tiny-llama on cuda"
timeout 120 $L train --base $F/tiny-llama --data $F/data/tiny.jsonl --device cuda --quantize nf4 --max-steps 60 --seq-len 64 --lr 0.003 --out $W/q-cuda; echo "rc=$?"
step "gpu-training benchmark (bf16 tokens/s, MFU)"
timeout 240 $B gpu-training cuda 10 - full; echo "rc=$?"
step "train builtin defaults --device cuda"
timeout 150 $L train --device cuda --out $W/b-cuda; echo "rc=$?"
step "train builtin defaults --device cpu on this machine, for comparison"
timeout 150 $L train --device cpu --out $W/b-cpu; echo "rc=$?"
step done
