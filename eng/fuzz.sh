#!/usr/bin/env bash
# Longer fuzzing than CI's: the property tests of tests/LoraKit.Tests/Hardening/FuzzTests.cs with another seed and more inputs.
# Usage: eng/fuzz.sh [seed] [iterations per family]     (CI runs seed 25 with 150–400 inputs per family)
# A failure prints the family, case, seed and the input in base64: keep it under
# tests/LoraKit.Tests/Fixtures/hostile/ as a regression case.
set -euo pipefail
cd "$(dirname "$0")/.."
seed="${1:-$RANDOM$RANDOM}"
iterations="${2:-5000}"
echo "fuzzing with LORAKIT_FUZZ_SEED=$seed, $iterations inputs per family"
dotnet build tests/LoraKit.Tests -c Release -nologo -v quiet
LORAKIT_FUZZ_SEED="$seed" LORAKIT_FUZZ_ITERATIONS="$iterations" \
  dotnet test tests/LoraKit.Tests -c Release --no-build -nologo --filter "FullyQualifiedName~LoraKit.Tests.Hardening.FuzzTests" \
  --logger "console;verbosity=normal"
