#!/usr/bin/env bash
# The main job on LoraKit's embedded default (the builtin model): today the budget and rule check of
# the default adapter; `lorakit train` on the builtin model and data replaces it when it lands.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet run --project src/LoraKit.Cli -c Release -- budget --model builtin "$@"
