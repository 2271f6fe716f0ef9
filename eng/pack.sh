#!/usr/bin/env bash
# Packs the single LoraKit NuGet package into a local folder feed.
# Usage: eng/pack.sh [Configuration] [Version] [OutputFolder]   (defaults: Release, 0.1.0-dev, artifacts/packages)
# `dotnet pack src/LoraKit.Build` does the work: LoraKitStagePackage (LoraKit.Build.csproj) builds the runtime,
# analyzers, code fixes, generator (when present) and trainer, stages them, and LoraKit.nuspec packs the stage.
set -euo pipefail
cd "$(dirname "$0")/.."
configuration="${1:-Release}"
version="${2:-0.1.0-dev}"
output="${3:-artifacts/packages}"
dotnet pack src/LoraKit.Build/LoraKit.Build.csproj -c "$configuration" -nologo -p:PackageVersion="$version" -o "$output"
echo "packed $output/LoraKit.$version.nupkg"
dotnet pack templates/LoraKit.Templates/LoraKit.Templates.csproj -c "$configuration" -nologo -p:PackageVersion="$version" -o "$output"
echo "packed $output/LoraKit.Templates.$version.nupkg"
