using LoraKit.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Modeling;

/// <summary>
/// Pre-norm decoder block: x + attn(norm(x)), then h + mlp(norm(h)). Gemma 2 adds a norm on each branch's output
/// (sandwich norms): x + post_attention_layernorm(attn(input_layernorm(x))), then
/// h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h))) — there post_attention_layernorm is the
/// attention output's norm, not the MLP's input norm as in Llama.
/// </summary>
public sealed class LlamaDecoderLayer : nn.Module
{
    public LlamaAttention self_attn;
    public LlamaMlp mlp;
    public LlamaRMSNorm input_layernorm;
    public LlamaRMSNorm post_attention_layernorm;

    /// <summary>Gemma 2: the MLP's input norm; null otherwise.</summary>
    public LlamaRMSNorm? pre_feedforward_layernorm;

    /// <summary>Gemma 2: the MLP output's norm; null otherwise.</summary>
    public LlamaRMSNorm? post_feedforward_layernorm;

    public LlamaDecoderLayer(LlamaDimensions dims, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(LlamaDecoderLayer))
    {
        var family = dims.Family;
        self_attn = new LlamaAttention(dims, device, dtype);
        mlp = new LlamaMlp(dims, device, dtype);
        input_layernorm = new LlamaRMSNorm(dims.HiddenSize, dims.RmsNormEps, device, dtype, family.UnitOffsetNorm);
        post_attention_layernorm = new LlamaRMSNorm(dims.HiddenSize, dims.RmsNormEps, device, dtype, family.UnitOffsetNorm);
        if (family.SandwichNorms)
        {
            pre_feedforward_layernorm = new LlamaRMSNorm(dims.HiddenSize, dims.RmsNormEps, device, dtype, family.UnitOffsetNorm);
            post_feedforward_layernorm = new LlamaRMSNorm(dims.HiddenSize, dims.RmsNormEps, device, dtype, family.UnitOffsetNorm);
        }
        RegisterComponents();
    }

    public Tensor forward(Tensor hidden, Tensor cos, Tensor sin, Tensor? attendMask, LayerKvCache? cache = null)
    {
        using var scope = torch.NewDisposeScope();
        Tensor output;
        if (pre_feedforward_layernorm is not null)
        {
            var h = hidden + post_attention_layernorm.call(self_attn.forward(input_layernorm.call(hidden), cos, sin, attendMask, cache));
            output = h + post_feedforward_layernorm!.call(mlp.call(pre_feedforward_layernorm.call(h)));
        }
        else
        {
            var h = hidden + self_attn.forward(input_layernorm.call(hidden), cos, sin, attendMask, cache);
            output = h + mlp.call(post_attention_layernorm.call(h));
        }
        return output.MoveToOuterDisposeScope();
    }
}
