using System.Globalization;
using System.Linq;
using LoraKit.Models;

namespace LoraKit.Benchmarks;

/// <summary>
/// The FLOPs of one LoRA training step, counted from the shapes: forward 2·N·T + 2·L·T + A; backward
/// through the frozen weights (activation gradients only) 2·N·T, through attention 2·A, and the LoRA
/// matrices' weight and input gradients 4·L·T. N = every linear weight including the head, L = the
/// LoRA parameters, T = tokens, A = attention's QKᵀ and AV, 4·b·s²·(heads·head_dim)·layers, counted
/// in full although a causal kernel may skip the masked half (so the rate is not flattered).
/// </summary>
internal sealed record StepFlops(long LinearWeights, long LoraParameters, long Tokens, double Attention)
{
    public static StepFlops For(LlamaDimensions dims, LoraConfig lora, int batch, int sequence)
    {
        var shape = ModelShape.FromLlama("bench", dims);
        long n = shape.Linears.Sum(l => (long)l.InFeatures * l.OutFeatures * l.Count);
        var loraTerms = ParameterCount.Compute(shape, lora).LoraParameters;
        var queryWidth = (double)dims.AttentionHeads * (dims.HeadDim > 0 ? dims.HeadDim : dims.HiddenSize / dims.AttentionHeads);
        var attention = 4.0 * batch * sequence * (double)sequence * queryWidth * dims.Layers;
        return new StepFlops(n, loraTerms, (long)batch * sequence, attention);
    }

    public double Forward => 2.0 * LinearWeights * Tokens + 2.0 * LoraParameters * Tokens + Attention;

    public double Backward => 2.0 * LinearWeights * Tokens + 2.0 * Attention + 4.0 * LoraParameters * Tokens;

    public double Total => Forward + Backward;

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"FLOPs per LoRA step = forward (2·N·T + 2·L·T + A) + backward (2·N·T + 2·A + 4·L·T), with N = linear weights incl. lm_head ({LinearWeights:N0}), " +
        $"L = LoRA parameters ({LoraParameters:N0}), T = tokens ({Tokens}), A = attention 4·b·s²·(heads·head_dim)·layers ({Attention:N0}) = {Total / 1e9:0.0} GFLOP");
}
