using LoraKit.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Modeling;

/// <summary>Pre-norm decoder block: x + attn(norm(x)), then h + mlp(norm(h)).</summary>
public sealed class LlamaDecoderLayer : nn.Module
{
    public LlamaAttention self_attn;
    public LlamaMlp mlp;
    public LlamaRMSNorm input_layernorm;
    public LlamaRMSNorm post_attention_layernorm;

    public LlamaDecoderLayer(LlamaDimensions dims, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(LlamaDecoderLayer))
    {
        self_attn = new LlamaAttention(dims, device, dtype);
        mlp = new LlamaMlp(dims, device, dtype);
        input_layernorm = new LlamaRMSNorm(dims.HiddenSize, dims.RmsNormEps, device, dtype);
        post_attention_layernorm = new LlamaRMSNorm(dims.HiddenSize, dims.RmsNormEps, device, dtype);
        RegisterComponents();
    }

    public Tensor forward(Tensor hidden, Tensor cos, Tensor sin, Tensor? attendMask, LayerKvCache? cache = null)
    {
        using var scope = torch.NewDisposeScope();
        var h = hidden + self_attn.forward(input_layernorm.call(hidden), cos, sin, attendMask, cache);
        var output = h + mlp.call(post_attention_layernorm.call(h));
        return output.MoveToOuterDisposeScope();
    }
}
