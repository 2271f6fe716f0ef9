# Sourced by eng/gpu/check.sh and eng/gpu/bench.sh on the GPU machine: unpacks .gpu/rt (eng/gpu/pack.sh) into
# $W, links the apps' libtorch placeholders to this machine's PyTorch (its torch/lib, or the folder given as
# $1), and sets $L (the lorakit CLI), $B (the benchmarks), $F (the test fixtures), $R (the repository), $OUT.
set -u
R=$(pwd); F=$R/tests/LoraKit.Tests/Fixtures/hf-reference
OUT=${OUT:-/tmp/lorakit-gpu}; mkdir -p "$OUT"
W=/tmp/lorakit-gpu-work; rm -rf $W; mkdir -p $W/dotnet $W/app
tar -C $W/dotnet -xJf .gpu/rt/dotnet-runtime.tar.xz && tar -C $W/app -xJf .gpu/rt/apps.tar.xz \
  || { echo "eng/gpu: .gpu/rt is missing or broken; run eng/gpu/pack.sh first (and carry .gpu/rt)" >&2; exit 3; }
TL=${1:-$(python3 -c 'import torch,os;print(os.path.join(os.path.dirname(torch.__file__),"lib"))')}
for N in $W/app/*/runtimes/linux-x64/native; do
  for f in $N/*; do n=$(basename $f); [ -s $f ] && continue; [ -e $TL/$n ] && ln -sf $TL/$n $f; done
done
export DOTNET_ROOT=$W/dotnet PATH=$W/dotnet:$PATH LD_LIBRARY_PATH=$TL DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
L="dotnet $W/app/cli/LoraKit.Cli.dll"; B="dotnet $W/app/bench/LoraKit.Benchmarks.dll"
step() { echo; echo "=== $* ($(date -u +%T))"; }
sampled() {   # sampled LABEL COMMAND...: runs the command (at most $SAMPLED_TIMEOUT s) with the GPU's memory sampled beside it
  local label=$1; shift
  echo "=== $label ($(date -u +%T))"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 20 > $W/memory.txt & local sampler=$!
  timeout "${SAMPLED_TIMEOUT:-150}" "$@"; echo "rc=$?"
  kill $sampler; wait $sampler 2>/dev/null
  echo "nvidia-smi peak MiB ($label): $(sort -n $W/memory.txt | tail -1)"
}
echo "libtorch: $TL"; nvidia-smi -L 2>/dev/null
python3 -c 'import torch;print("PyTorch",torch.__version__,"CUDA available:",torch.cuda.is_available())' 2>/dev/null
step "ldd -r LibTorchSharp against this libtorch (undefined symbols = ABI gaps)"
ldd -r $W/app/cli/runtimes/linux-x64/native/libLibTorchSharp.so 2>&1 | grep -c 'undefined symbol'
ldd -r $W/app/cli/runtimes/linux-x64/native/libLibTorchSharp.so 2>&1 | grep 'undefined symbol' | head -30
