using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraKit.Modeling;

/// <summary>
/// Root-mean-square layer norm as in Hugging Face's LlamaRMSNorm: normalises in float32, casts back to the
/// input dtype, then scales by <c>weight</c> (registered as <c>weight</c>, initialised to ones). With
/// <c>unitOffset</c> it is Gemma2RMSNorm instead: x̂ · (1 + weight) computed in float32, then cast back
/// (weight initialised to zeros).
/// </summary>
public sealed class LlamaRMSNorm : nn.Module<Tensor, Tensor>
{
    /// <summary>The learned scale, one per feature. Field name = Hugging Face parameter name.</summary>
    public Parameter weight;

    public LlamaRMSNorm(long size, double eps, Device? device = null, ScalarType dtype = ScalarType.Float32, bool unitOffset = false)
        : base(nameof(LlamaRMSNorm))
    {
        Eps = eps;
        UnitOffset = unitOffset;
        weight = new Parameter(unitOffset ? torch.zeros(size, dtype: dtype, device: device) : torch.ones(size, dtype: dtype, device: device));
        RegisterComponents();
    }

    public double Eps { get; }

    /// <summary>Gemma's form: the scale is 1 + weight, applied in float32 before the cast back.</summary>
    public bool UnitOffset { get; }

    public override Tensor forward(Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        var inputType = input.dtype;
        var x = input.to(ScalarType.Float32);
        var variance = x.pow(2).mean(new long[] { -1 }, keepdim: true);
        x = x * (variance + Eps).rsqrt();
        if (UnitOffset)
            return (x * (weight.to(ScalarType.Float32) + 1.0)).to(inputType).MoveToOuterDisposeScope();
        return (weight * x.to(inputType)).MoveToOuterDisposeScope();
    }
}
