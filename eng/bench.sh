#!/usr/bin/env bash
# Runs LoraKit's benchmarks (speed and memory targets are measured here, never in timed tests).
# Usage: eng/bench.sh [benchmark] [options]   e.g. eng/bench.sh checkpoint-io 1024 5
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet run --project tests/LoraKit.Benchmarks -c Release -- "$@"
