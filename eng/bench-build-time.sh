#!/usr/bin/env bash
# Build-time cost of LoraKit in a user project: the median no-op incremental `dotnet build` of a
# 200-file project with 20 [LoraAdapter]s referencing the freshly packed LoraKit package (analyzers,
# generator, targets), against the same project with the package's analyzers and generator excluded
# (ExcludeAssets="analyzers"), against a TorchSharp app of 200 files without LoraKit, and against
# 200 plain files. Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
runs="${1:-11}"
work="$(mktemp -d)"
version="0.1.0-bench.$(date +%s)"
# BENCH_KEEP=1 keeps the projects (and the packed version in the NuGet cache) for profiling.
cleanup() { if [ "${BENCH_KEEP:-}" = 1 ]; then echo "kept: $work" >&2; else rm -rf "$work" "${NUGET_PACKAGES:-$HOME/.nuget/packages}/lorakit/$version"; fi; }
trap cleanup EXIT

dotnet pack src/LoraKit.Build/LoraKit.Build.csproj -c Release -nologo -v:q -p:PackageVersion="$version" -o "$work/feed" >/dev/null

make_project() { # $1 = folder, $2 = with | off | torchsharp | plain
  local dir="$1"
  mkdir -p "$dir"
  echo '<Project />' > "$dir/Directory.Build.props"
  echo '<Project />' > "$dir/Directory.Build.targets"
  echo '<Project />' > "$dir/Directory.Packages.props"
  cat > "$dir/NuGet.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration><packageSources><clear /><add key="local" value="$work/feed" /><add key="nuget.org" value="https://api.nuget.org/v3/index.json" /></packageSources></configuration>
XML
  case "$2" in
    with|off)
      sed "s/LORAKIT_VERSION/$version/" "$repo/src/LoraKit.Build/snippets/LoraKitApp.csproj" > "$dir/App.csproj"
      # off: the same package without its analyzers and source generator.
      [ "$2" = off ] && sed -i 's|<PackageReference Include="LoraKit" Version="\([^"]*\)" />|<PackageReference Include="LoraKit" Version="\1" ExcludeAssets="analyzers" />|' "$dir/App.csproj"
      cat > "$dir/Model.cs" <<'CS'
using LoraKit;
[LoraModel(LoraArchitecture.Llama, HiddenSize = 256, IntermediateSize = 688, Layers = 4, AttentionHeads = 4, KeyValueHeads = 2, VocabSize = 259)]
public partial class BuiltinModel;
CS
      for k in $(seq 1 20); do
        printf 'using LoraKit;\n[LoraAdapter(typeof(BuiltinModel), Rank = 8, Alpha = 16, Dropout = 0.05, TargetModules = new[] { "q_proj", "v_proj" })]\npublic partial class Adapter%s;\n' "$k" > "$dir/Adapter$k.cs"
      done
      ;;
    torchsharp)
      printf '<Project Sdk="Microsoft.NET.Sdk"><PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><Nullable>enable</Nullable></PropertyGroup><ItemGroup><PackageReference Include="TorchSharp" Version="0.107.0" /><PackageReference Include="libtorch-cpu-linux-x64" Version="2.10.0" /></ItemGroup></Project>\n' > "$dir/App.csproj"
      ;;
    plain)
      printf '<Project Sdk="Microsoft.NET.Sdk"><PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><Nullable>enable</Nullable></PropertyGroup></Project>\n' > "$dir/App.csproj"
      ;;
  esac
  for i in $(seq 1 200); do
    printf 'namespace App.Area%s;\npublic sealed class Type%s\n{\n    private readonly System.Collections.Generic.List<int> _values = new();\n    public int Sum() { var s = 0; foreach (var v in _values) s += v * %s; return s; }\n}\n' "$((i % 17))" "$i" "$i" > "$dir/File$i.cs"
  done
  echo 'System.Console.WriteLine("ok");' > "$dir/Program.cs"
  (cd "$dir" && dotnet build -nologo -v:q >/dev/null)
}

# Interleaved no-op builds: each round builds every variant once (the order rotating), so drift in the
# machine's load hits them alike. Each variant is its own folder, built always with the same
# properties, so switching between them never invalidates an incremental build.
noop_ms() { # $1 = folder, $2 = extra build arguments
  local start end
  start=$(date +%s%N)
  (cd "$1" && dotnet build --no-restore -nologo -v:q ${2:-} >/dev/null)
  end=$(date +%s%N)
  echo $(( (end - start) / 1000000 ))
}
median() { sort -n | sed -n "$(( (runs + 1) / 2 ))p"; }

variants=(plain torchsharp off with)
for v in "${variants[@]}"; do make_project "$work/$v" "$v"; done
grep -q 'ExcludeAssets="analyzers"' "$work/off/App.csproj" || { echo "bench-build-time: could not exclude the analyzers in the 'off' variant" >&2; exit 1; }
for v in "${variants[@]}"; do noop_ms "$work/$v" >/dev/null; done # prime each variant
: > "$work/times"
n=${#variants[@]}
for r in $(seq 1 "$runs"); do
  for k in $(seq 0 $((n - 1))); do
    v="${variants[$(( (r + k) % n ))]}"
    echo "$v $(noop_ms "$work/$v")" >> "$work/times"
  done
done
ms() { awk -v v="$1" '$1 == v { print $2 }' "$work/times" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
plain_ms=$(ms plain); torch_ms=$(ms torchsharp); off_ms=$(ms off); with_ms=$(ms with)
echo "## Build-time cost (no-op incremental dotnet build, 200 files; median of $runs interleaved rounds)"
echo
echo "| project | no-op build (ms) | ratio to the TorchSharp app |"
echo "|---|---|---|"
echo "| 200 plain files (no TorchSharp, no LoraKit) | $plain_ms | $(ratio "$plain_ms" "$torch_ms") |"
echo "| 200 files, TorchSharp + libtorch-cpu, no LoraKit | $torch_ms | 1.00 |"
echo "| 200 files + 20 adapters, LoraKit package without its analyzers and generator (ExcludeAssets=\"analyzers\") | $off_ms | $(ratio "$off_ms" "$torch_ms") |"
echo "| 200 files + 20 adapters, LoraKit package (analyzers, generator, targets) | $with_ms | $(ratio "$with_ms" "$torch_ms") |"
echo
echo "analyzers + generator: $(ratio "$with_ms" "$off_ms")x the same project without them (target ≤ 1.05)"
