using LoraKit.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Modeling;

/// <summary>
/// Gated feed-forward: down_proj(act(gate) · up) with act SiLU (SwiGLU) or tanh-GELU (Gemma's GeGLU). gate and up
/// come from gate_proj and up_proj, or from Phi-3's fused gate_up_proj (output rows: gate, then up — transformers'
/// <c>chunk(2, dim=-1)</c>). The projections are fields named as their registered modules, so LoRA can replace them.
/// </summary>
public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    /// <summary>Null when the model fuses it into <see cref="gate_up_proj"/>.</summary>
    public nn.Module<Tensor, Tensor>? gate_proj;

    /// <summary>Null when the model fuses it into <see cref="gate_up_proj"/>.</summary>
    public nn.Module<Tensor, Tensor>? up_proj;

    /// <summary>Phi-3's fused gate and up projection [2·intermediate, hidden]; null otherwise.</summary>
    public nn.Module<Tensor, Tensor>? gate_up_proj;

    public nn.Module<Tensor, Tensor> down_proj;

    private readonly long _intermediate;
    private readonly bool _geluTanh;

    public LlamaMlp(LlamaDimensions dims, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(LlamaMlp))
    {
        _intermediate = dims.IntermediateSize;
        _geluTanh = dims.HiddenActivation == ModelFamily.GeluTanh;
        if (dims.Family.FusedProjections)
            gate_up_proj = nn.Linear(dims.HiddenSize, 2L * dims.IntermediateSize, hasBias: dims.MlpBias, device: device, dtype: dtype);
        else
        {
            gate_proj = nn.Linear(dims.HiddenSize, dims.IntermediateSize, hasBias: dims.MlpBias, device: device, dtype: dtype);
            up_proj = nn.Linear(dims.HiddenSize, dims.IntermediateSize, hasBias: dims.MlpBias, device: device, dtype: dtype);
        }
        down_proj = nn.Linear(dims.IntermediateSize, dims.HiddenSize, hasBias: dims.MlpBias, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        Tensor gate, up;
        if (gate_up_proj is not null)
        {
            var fused = gate_up_proj.call(input);
            gate = fused.narrow(-1, 0, _intermediate);
            up = fused.narrow(-1, _intermediate, _intermediate);
        }
        else
        {
            gate = gate_proj!.call(input);
            up = up_proj!.call(input);
        }
        var activated = _geluTanh ? gate.gelu(TorchSharp.Modules.GELU.Approximate.tanh) : nn.functional.silu(gate);
        return down_proj.call(activated * up).MoveToOuterDisposeScope();
    }
}
