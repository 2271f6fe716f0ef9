#!/usr/bin/env bash
# Builds the whole solution. Usage: eng/build.sh [Debug|Release]
set -euo pipefail
cd "$(dirname "$0")/.."
configuration="${1:-Release}"
dotnet build Toolchain.sln -c "$configuration" -nologo
