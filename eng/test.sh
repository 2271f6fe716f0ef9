#!/usr/bin/env bash
# Builds and runs every test project. TRX results go to artifacts/TestResults (read by .ci/run).
# Usage: eng/test.sh [extra dotnet test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
results="artifacts/TestResults"
rm -rf "$results"
mkdir -p "$results"
dotnet build Toolchain.sln -c Release -nologo
# Benchmarks (Category=Benchmark) measure speed and run from eng/bench.sh, not here.
dotnet test Toolchain.sln -c Release --no-build -nologo --filter "Category!=Benchmark" \
  --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" "$@"
