#!/usr/bin/env bash
# The main job on LoraKit's embedded default: `lorakit train` with no options fine-tunes the builtin base model
# (a tiny byte-level Llama, created and pretrained by LoraKit on first use and cached in ~/.cache/lorakit) on the
# builtin adaptation task (ISO dates → English dates) with the default adapter (r=8, alpha=16, q_proj+v_proj) and
# the builtin run's defaults (TrainRequest.DefaultsFor), on CUDA when present, else CPU. Prints the base model's and
# the adapter's validation loss; writes lora-output/adapter/{adapter_config.json, adapter_model.safetensors, metrics.jsonl}.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet run --project src/LoraKit.Cli -c Release -- train "$@"
