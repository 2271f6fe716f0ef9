#!/usr/bin/env bash
# Build-time cost of LoraKit in a user project: the median no-op incremental `dotnet build` of a
# 200-file project with 20 [LoraAdapter]s referencing the freshly packed LoraKit package (analyzers,
# generator, targets), against the same 200 files without LoraKit. Prints a markdown row.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
runs="${1:-11}"
work="$(mktemp -d)"
version="0.1.0-bench.$(date +%s)"
cleanup() { rm -rf "$work" "${NUGET_PACKAGES:-$HOME/.nuget/packages}/lorakit/$version"; }
trap cleanup EXIT

dotnet pack src/LoraKit.Build/LoraKit.Build.csproj -c Release -nologo -v:q -p:PackageVersion="$version" -o "$work/feed" >/dev/null

make_project() { # $1 = folder, $2 = with|without
  local dir="$1"
  mkdir -p "$dir"
  echo '<Project />' > "$dir/Directory.Build.props"
  echo '<Project />' > "$dir/Directory.Build.targets"
  echo '<Project />' > "$dir/Directory.Packages.props"
  cat > "$dir/NuGet.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration><packageSources><clear /><add key="local" value="$work/feed" /><add key="nuget.org" value="https://api.nuget.org/v3/index.json" /></packageSources></configuration>
XML
  if [ "$2" = with ]; then
    sed "s/LORAKIT_VERSION/$version/" "$repo/src/LoraKit.Build/snippets/LoraKitApp.csproj" > "$dir/App.csproj"
    cat > "$dir/Model.cs" <<'CS'
using LoraKit;
[LoraModel(LoraArchitecture.Llama, HiddenSize = 256, IntermediateSize = 688, Layers = 4, AttentionHeads = 4, KeyValueHeads = 2, VocabSize = 259)]
public partial class BuiltinModel;
CS
    for k in $(seq 1 20); do
      printf 'using LoraKit;\n[LoraAdapter(typeof(BuiltinModel), Rank = 8, Alpha = 16, Dropout = 0.05, TargetModules = new[] { "q_proj", "v_proj" })]\npublic partial class Adapter%s;\n' "$k" > "$dir/Adapter$k.cs"
    done
  else
    printf '<Project Sdk="Microsoft.NET.Sdk"><PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><Nullable>enable</Nullable></PropertyGroup></Project>\n' > "$dir/App.csproj"
  fi
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

make_project "$work/with" with
make_project "$work/without" without
cp -r "$work/with" "$work/off"
rm -rf "$work/off/obj" "$work/off/bin"
(cd "$work/off" && dotnet build -nologo -v:q -p:RunAnalyzers=false >/dev/null)
variants=(without off with)
args=("" "-p:RunAnalyzers=false" "")
for v in 0 1 2; do noop_ms "$work/${variants[$v]}" "${args[$v]}" >/dev/null; done # prime each variant
: > "$work/times"
for r in $(seq 1 "$runs"); do
  for k in 0 1 2; do
    v=$(( (r + k) % 3 ))
    echo "${variants[$v]} $(noop_ms "$work/${variants[$v]}" "${args[$v]}")" >> "$work/times"
  done
done
without_ms=$(awk '$1 == "without" { print $2 }' "$work/times" | median)
off_ms=$(awk '$1 == "off" { print $2 }' "$work/times" | median)
with_ms=$(awk '$1 == "with" { print $2 }' "$work/times" | median)
ratio=$(awk -v a="$with_ms" -v b="$without_ms" 'BEGIN { printf "%.2f", a / b }')
off_ratio=$(awk -v a="$off_ms" -v b="$without_ms" 'BEGIN { printf "%.2f", a / b }')
share=$(awk -v a="$with_ms" -v b="$off_ms" 'BEGIN { printf "%.2f", a / b }')
echo "## Build-time cost (no-op incremental dotnet build, 200 files; median of $runs interleaved rounds)"
echo
echo "| project | no-op build (ms) | ratio |"
echo "|---|---|---|"
echo "| 200 files, no LoraKit | $without_ms | 1.00 |"
echo "| 200 files + 20 adapters, LoraKit package, analyzers and generator off (RunAnalyzers=false) | $off_ms | $off_ratio |"
echo "| 200 files + 20 adapters, LoraKit package (analyzers, generator, targets) | $with_ms | $ratio |"
echo
echo "analyzers + generator: ${share}x the same project with them off (target ≤ 1.05)"
