#!/usr/bin/env bash
# Packs LoraKit into a local folder feed: the LoraKit package, the `lorakit` .NET tool (LoraKit.Cli) and the templates.
# Works as the first command after `git clone` (each pack restores what it builds).
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
dotnet pack src/LoraKit.Cli/LoraKit.Cli.csproj -c "$configuration" -nologo -p:PackageVersion="$version" -o "$output"
echo "packed $output/LoraKit.Cli.$version.nupkg (dotnet tool install LoraKit.Cli --add-source $output --version $version)"
dotnet pack templates/LoraKit.Templates/LoraKit.Templates.csproj -c "$configuration" -nologo -p:PackageVersion="$version" -o "$output"
echo "packed $output/LoraKit.Templates.$version.nupkg"
