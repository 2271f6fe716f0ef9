#!/usr/bin/env bash
# Builds and runs every test project. TRX results go to artifacts/TestResults (read by .ci/run).
# Usage: eng/test.sh [extra dotnet test arguments]
#
# Projects run one after another: on a 2-core machine running them side by side (what
# `dotnet test Toolchain.sln` does) put 8-12 processes on 2 cores and the end-to-end tests' own
# timeouts fired. A test that hangs is stopped after LORAKIT_TEST_HANG (default 15m) with a hang
# dump and counts as failed, so the run always ends with a result instead of running out CI's clock.
set -uo pipefail
cd "$(dirname "$0")/.."
results="artifacts/TestResults"
rm -rf "$results"
mkdir -p "$results"
dotnet build Toolchain.sln -c Release -nologo || exit 1
hang="${LORAKIT_TEST_HANG:-15m}"
status=0
summary=()
for project in tests/*.Tests/*.Tests.csproj; do
  name=$(basename "$project" .csproj)
  start=$(date +%s)
  # Benchmarks (Category=Benchmark) measure speed and run from eng/bench.sh, not here.
  dotnet test "$project" -c Release --no-build -nologo --filter "Category!=Benchmark" \
    --blame-hang-timeout "$hang" \
    --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=normal" \
    --results-directory "$results" "$@"
  rc=$?
  [ "$rc" -eq 0 ] || status=1
  summary+=("$name: $(( $(date +%s) - start )) s, exit $rc")
done
printf '%s\n' "${summary[@]}"
exit $status
