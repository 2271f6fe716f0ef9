#!/usr/bin/env bash
# Runs LoraKit's benchmarks (speed and memory targets are measured here, never in timed tests).
# Usage: eng/bench.sh                      all benchmarks
#        eng/bench.sh checkpoint-io [MiB] [rounds]
#        eng/bench.sh training-step [steps]
#        eng/bench.sh memory-estimate [steps]
#        eng/bench.sh generation [new tokens]  (tokens/s with/without KV cache, decode at 512 ÷ 64 context, eval vs training forward)
#        eng/bench.sh gpu-training [auto|cuda|cpu] [steps] [peak TFLOP/s|-] [full|small] [all|smollm2|tinyllama]
#                                  (bf16 tokens/s, MFU, Core's memory estimate; on a GPU: TorchSharp-cuda, or eng/gpu/ with a Python PyTorch)
#        eng/bench.sh qlora [rounds] [steps] [threads]  (peak memory of a QLoRA / bf16 / fp32 LoRA step vs Core's estimate, interleaved
#                                  step-time ratios, why bf16 is slow on this CPU, Core's Llama-3.1-8B estimate)
#        eng/bench.sh gguf [rounds] [new tokens]  (GGUF export time ÷ a raw write of the same bytes; Q8_0 decode tokens/s in
#                                  LLamaSharp ÷ LoraKit's generate, SmolLM2-135M shape, same CPU and threads)
#        eng/bench.sh hostile-templates [rounds]  (time for the chat-template sandbox to stop each hostile template of the regression corpus)
#        eng/bench.sh fit [rounds] [part]  (gradient checkpointing, chunked loss, documents packing; Core's estimate ÷ measured peak,
#                                  8 configurations, and 4 on Gemma 2 / Phi-3 shapes: part families)
#        eng/bench.sh build-time [runs]
#        eng/bench.sh analyzers
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
[ $# -gt 0 ] && shift
case "$what" in
  all|checkpoint-io|training-step|memory-estimate|gpu-training|generation|qlora|gguf|hostile-templates|fit|build-time|analyzers) ;;
  *) echo "eng/bench.sh: unknown benchmark '$what'; known: all, checkpoint-io, training-step, memory-estimate, gpu-training, generation, qlora, gguf, hostile-templates, fit, build-time, analyzers" >&2; exit 2 ;;
esac
# The in-process benchmarks (tests/LoraKit.Benchmarks); options after the name go to the one named.
for bench in checkpoint-io training-step memory-estimate gpu-training generation qlora gguf hostile-templates fit; do
  if [ "$what" = "all" ]; then
    dotnet run --project tests/LoraKit.Benchmarks -c Release -- "$bench"
  elif [ "$what" = "$bench" ]; then
    dotnet run --project tests/LoraKit.Benchmarks -c Release -- "$bench" "$@"
  fi
done
if [ "$what" = "all" ]; then
  bash eng/bench-build-time.sh
elif [ "$what" = "build-time" ]; then
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
