#!/usr/bin/env bash
# Runs LoraKit's benchmarks (speed and memory targets are measured here, never in timed tests).
# Usage: eng/bench.sh                      all benchmarks
#        eng/bench.sh checkpoint-io [MiB] [rounds]
#        eng/bench.sh training-step [steps]
#        eng/bench.sh memory-estimate [steps]
#        eng/bench.sh gpu-training [auto|cuda|cpu] [steps] [peak TFLOP/s|-] [full|small]
#                                  (bf16 tokens/s and MFU; needs a project referencing TorchSharp-cuda for a GPU)
#        eng/bench.sh build-time [runs]
#        eng/bench.sh analyzers
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
if [ "$what" = "all" ] || [ "$what" = "checkpoint-io" ]; then
  [ "$what" = "checkpoint-io" ] && shift || true
  dotnet run --project tests/LoraKit.Benchmarks -c Release -- checkpoint-io "$@"
fi
if [ "$what" = "all" ] || [ "$what" = "training-step" ]; then
  [ "$what" = "training-step" ] && shift || true
  dotnet run --project tests/LoraKit.Benchmarks -c Release -- training-step "$@"
fi
if [ "$what" = "all" ] || [ "$what" = "memory-estimate" ]; then
  [ "$what" = "memory-estimate" ] && shift || true
  dotnet run --project tests/LoraKit.Benchmarks -c Release -- memory-estimate "$@"
fi
if [ "$what" = "all" ] || [ "$what" = "gpu-training" ]; then
  [ "$what" = "gpu-training" ] && shift || true
  dotnet run --project tests/LoraKit.Benchmarks -c Release -- gpu-training "$@"
fi
if [ "$what" = "all" ] || [ "$what" = "build-time" ]; then
  [ "$what" = "build-time" ] && shift || true
  bash eng/bench-build-time.sh "$@"
fi
if [ "$what" = "all" ] || [ "$what" = "analyzers" ]; then
  echo "## Analyzer cost (500 files, 50 adapters; Roslyn's per-analyzer execution time vs bind + emit)"
  dotnet test tests/LoraKit.Analyzers.Tests -c Release --filter "Category=Benchmark" --logger "console;verbosity=detailed" 2>&1 \
    | grep -E "500 files, 50 adapters" | sed 's/^ *//'
  echo "## Generator cost (50 adapters)"
  dotnet test tests/LoraKit.Generators.Tests -c Release --filter "Category=Benchmark" --logger "console;verbosity=detailed" 2>&1 \
    | grep -E "generator, 50 adapters" | sed 's/^ *//'
fi
