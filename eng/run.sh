#!/usr/bin/env bash
# The main job on LoraKit's embedded default: fine-tune the builtin base model (a tiny byte-level Llama,
# created and pretrained by LoraKit on first use and cached in ~/.cache/lorakit) on the builtin
# adaptation task (ISO dates → English dates) with the default adapter (r=8, alpha=16, q_proj+v_proj),
# on CUDA when present, else CPU. Prints the base model's and the adapter's validation loss; writes
# lora-output/adapter/{adapter_config.json, adapter_model.safetensors, metrics.jsonl}.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet run --project src/LoraKit.Cli -c Release -- train --base builtin --data builtin \
  --max-steps 150 --lr 3e-3 --seq-len 64 --batch-size 16 --eval-every 50 "$@"
