using LoraKit.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Modeling;

/// <summary>SwiGLU feed-forward: down_proj(silu(gate_proj(x)) · up_proj(x)).</summary>
public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    public nn.Module<Tensor, Tensor> gate_proj;
    public nn.Module<Tensor, Tensor> up_proj;
    public nn.Module<Tensor, Tensor> down_proj;

    public LlamaMlp(LlamaDimensions dims, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(LlamaMlp))
    {
        gate_proj = nn.Linear(dims.HiddenSize, dims.IntermediateSize, hasBias: dims.MlpBias, device: device, dtype: dtype);
        up_proj = nn.Linear(dims.HiddenSize, dims.IntermediateSize, hasBias: dims.MlpBias, device: device, dtype: dtype);
        down_proj = nn.Linear(dims.IntermediateSize, dims.HiddenSize, hasBias: dims.MlpBias, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        var gated = nn.functional.silu(gate_proj.call(input)) * up_proj.call(input);
        return down_proj.call(gated).MoveToOuterDisposeScope();
    }
}
