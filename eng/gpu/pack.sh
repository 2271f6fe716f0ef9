#!/usr/bin/env bash
# Packs what the GPU checks (eng/gpu/check.sh, eng/gpu/bench.sh) run on a machine that has an NVIDIA GPU, a
# Python PyTorch with CUDA and no .NET: the .NET runtime of this machine, and framework-dependent builds of
# the CLI and the benchmarks whose libtorch files are empty placeholders (check.sh links them to that
# PyTorch's libtorch; TorchSharp's CUDA packages are not needed). Writes .gpu/rt (ignored by git, ~40 MB).
# Usage: eng/gpu/pack.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(dirname "$(readlink -f "$(command -v dotnet)")")
rm -rf .gpu/publish .gpu/pkg .gpu/rt && mkdir -p .gpu/pkg .gpu/rt
for app in cli:src/LoraKit.Cli bench:tests/LoraKit.Benchmarks; do
  name=${app%%:*}; project=${app#*:}
  dotnet publish "$project" -c Release -o ".gpu/publish/$name" --nologo -v q
  mkdir -p ".gpu/pkg/$name/runtimes/linux-x64/native"
  tar -C ".gpu/publish/$name" --exclude=./runtimes -cf - . | tar -C ".gpu/pkg/$name" -xf -
  for f in ".gpu/publish/$name/runtimes/linux-x64/native/"*; do
    n=$(basename "$f")
    case $n in
      libLibTorchSharp.so|libSkiaSharp.so|libHarfBuzzSharp.so) cp "$f" ".gpu/pkg/$name/runtimes/linux-x64/native/" ;;
      *) : > ".gpu/pkg/$name/runtimes/linux-x64/native/$n" ;;   # libtorch: linked to the GPU machine's own
    esac
  done
done
runtime=$(ls -d "$root"/shared/Microsoft.NETCore.App/*/ | sort -V | tail -1)
tar -C "$root" -cf - dotnet host/fxr "shared/Microsoft.NETCore.App/$(basename "$runtime")" | xz -T2 -6 > .gpu/rt/dotnet-runtime.tar.xz
tar -C .gpu/pkg -cf - . | xz -T2 -6 > .gpu/rt/apps.tar.xz
rm -rf .gpu/publish .gpu/pkg
ls -la .gpu/rt
