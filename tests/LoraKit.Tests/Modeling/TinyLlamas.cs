using System;
using System.Collections.Generic;
using System.Linq;
using LoraKit.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Tests.Modeling;

/// <summary>Tiny Llama-family dimensions for fast CPU tests, one per variant the model supports.</summary>
internal static class TinyLlamas
{
    /// <summary>Llama with grouped-query attention (4 heads, 2 kv heads) and an untied head.</summary>
    public static readonly LlamaDimensions UntiedGqa = new()
    {
        ModelType = "llama", HiddenSize = 32, IntermediateSize = 48, Layers = 2, AttentionHeads = 4, KeyValueHeads = 2,
        VocabSize = 50, RopeTheta = 10000.0, RmsNormEps = 1e-5, MaxPositionEmbeddings = 128,
    };

    /// <summary>Llama with tied embeddings and multi-head attention (kv heads / head_dim derived).</summary>
    public static readonly LlamaDimensions Tied = new()
    {
        ModelType = "llama", HiddenSize = 32, IntermediateSize = 40, Layers = 2, AttentionHeads = 4,
        VocabSize = 40, TieWordEmbeddings = true,
    };

    /// <summary>Qwen2-style: q/k/v biases, no o_proj bias, GQA, tied.</summary>
    public static readonly LlamaDimensions Qwen2 = new()
    {
        ModelType = "qwen2", HiddenSize = 32, IntermediateSize = 56, Layers = 2, AttentionHeads = 4, KeyValueHeads = 2,
        VocabSize = 60, QkvBias = true, TieWordEmbeddings = true, RopeTheta = 1000000.0,
    };

    /// <summary>Qwen3-style: q/k norms, head_dim 16 ≠ hidden/heads, GQA, untied.</summary>
    public static readonly LlamaDimensions Qwen3 = new()
    {
        ModelType = "qwen3", HiddenSize = 32, IntermediateSize = 48, Layers = 2, AttentionHeads = 4, KeyValueHeads = 2,
        HeadDim = 16, VocabSize = 50, QkNorm = true, RopeTheta = 1000000.0,
    };

    public static IEnumerable<object[]> Variants() => new[]
    {
        new object[] { nameof(UntiedGqa) }, new object[] { nameof(Tied) }, new object[] { nameof(Qwen2) }, new object[] { nameof(Qwen3) },
    };

    public static LlamaDimensions Get(string name) => name switch
    {
        nameof(UntiedGqa) => UntiedGqa,
        nameof(Tied) => Tied,
        nameof(Qwen2) => Qwen2,
        nameof(Qwen3) => Qwen3,
        _ => throw new System.ArgumentException(name),
    };

    public static Tensor Ids(int vocab, long seed, params long[] shape)
    {
        using var g = new torch.Generator((ulong)seed, torch.CPU);
        return torch.randint(0, vocab, shape, dtype: ScalarType.Int64, generator: g);
    }

    public static Tensor Randn(long seed, params long[] shape)
    {
        using var g = new torch.Generator((ulong)seed, torch.CPU);
        return torch.empty(shape, dtype: ScalarType.Float32).normal_(0.0, 1.0, g);
    }

    public static float[] Floats(Tensor t) => t.detach().to(ScalarType.Float32).contiguous().data<float>().ToArray();

    /// <summary>Same shape and bit-identical values (TorchSharp's Tensor.equal is element-wise).</summary>
    public static bool Identical(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>();

    /// <summary>
    /// Whether two tensors share storage: adds 1 to element [0, 0] of <paramref name="a"/> (no_grad), looks
    /// at <paramref name="b"/>, and undoes it. (Native modules hand out a new Parameter wrapper per property
    /// read, so reference identity says nothing.)
    /// </summary>
    public static bool SharesStorage(Tensor a, Tensor b)
    {
        using var noGrad = torch.no_grad();
        var before = b[0, 0].to(ScalarType.Float64).item<double>();
        a[0, 0].add_(1.0f);
        var after = b[0, 0].to(ScalarType.Float64).item<double>();
        a[0, 0].sub_(1.0f);
        return Math.Abs(after - before - 1.0) < 1e-2;
    }

    public static double MaxAbsDiff(Tensor a, Tensor b) =>
        (a.detach().to(ScalarType.Float64) - b.detach().to(ScalarType.Float64)).abs().max().item<double>();
}
