using LoraKit.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Modeling;

/// <summary>
/// Rotary position embeddings in Hugging Face's rotate-half layout: the head dimension is split in two
/// halves (x1, x2) and feature i of the first half is rotated together with feature i of the second half by
/// the angle position · inv_freq[i], inv_freq[i] = 1 / theta^(2i/d) or a scaled variant (<see cref="RopeMath"/>).
/// HF checkpoints load without permutation.
/// </summary>
public static class LlamaRotary
{
    /// <summary>inv_freq[i] = 1 / theta^(2i / headDim), i = 0 … headDim/2 − 1, in float32 as transformers computes it.</summary>
    public static float[] InverseFrequencies(int headDim, double theta) => RopeMath.Default(headDim, theta);

    /// <summary>
    /// cos and sin of every position's angles, each [batch, seq, headDim] (the half-size angle vector
    /// concatenated with itself), computed in float32, multiplied by <paramref name="attentionFactor"/> (yarn and
    /// longrope scale cos and sin; 1 otherwise) and returned in <paramref name="dtype"/>, as transformers'
    /// rotary embeddings do.
    /// </summary>
    /// <param name="positionIds">[batch, seq] or [seq] integer positions.</param>
    public static (Tensor Cos, Tensor Sin) CosSin(Tensor positionIds, float[] inverseFrequencies, ScalarType dtype, double attentionFactor = 1.0)
    {
        using var scope = torch.NewDisposeScope();
        var invFreq = torch.tensor(inverseFrequencies, device: positionIds.device).view(1, -1);
        var (cos, sin) = CosSin(positionIds, invFreq, dtype, attentionFactor);
        return (cos.MoveToOuterDisposeScope(), sin.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// As <see cref="CosSin(Tensor, float[], ScalarType, double)"/> with float32 inverse frequencies per row,
    /// <paramref name="inverseFrequencies"/> [batch or 1, rotaryDim/2]: dynamic NTK and longrope give each row the
    /// frequencies of its own length.
    /// </summary>
    public static (Tensor Cos, Tensor Sin) CosSin(Tensor positionIds, Tensor inverseFrequencies, ScalarType dtype, double attentionFactor = 1.0)
    {
        using var scope = torch.NewDisposeScope();
        var positions = positionIds.dim() == 1 ? positionIds.unsqueeze(0) : positionIds;
        // [b, s, 1] * [b or 1, 1, d/2] → [b, s, d/2]
        var freqs = positions.to(ScalarType.Float32).unsqueeze(-1) * inverseFrequencies.unsqueeze(1);
        var emb = torch.cat(new[] { freqs, freqs }, dim: -1);
        var cos = emb.cos();
        var sin = emb.sin();
        if (attentionFactor != 1.0)
        {
            cos = cos * (float)attentionFactor;
            sin = sin * (float)attentionFactor;
        }
        cos = cos.to(dtype);
        sin = sin.to(dtype);
        return (cos.MoveToOuterDisposeScope(), sin.MoveToOuterDisposeScope());
    }

    /// <summary>rotate_half(x) = cat(−x2, x1) over the last dimension, x1/x2 its first/second halves.</summary>
    public static Tensor RotateHalf(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var half = x.shape[^1] / 2;
        var x1 = x.narrow(-1, 0, half);
        var x2 = x.narrow(-1, half, half);
        return torch.cat(new[] { x2.neg(), x1 }, dim: -1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// x·cos + rotate_half(x)·sin for x [batch, heads, seq, headDim] and cos/sin [batch, seq, rotaryDim]
    /// (broadcast over heads). With rotaryDim &lt; headDim (partial rotary) only the first rotaryDim features turn
    /// and the rest pass through, as transformers' apply_rotary_pos_emb does.
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = torch.NewDisposeScope();
        var c = cos.unsqueeze(1);
        var s = sin.unsqueeze(1);
        var rotary = cos.shape[^1];
        if (rotary == x.shape[^1])
            return (x * c + RotateHalf(x) * s).MoveToOuterDisposeScope();
        var turned = x.narrow(-1, 0, rotary);
        var passed = x.narrow(-1, rotary, x.shape[^1] - rotary);
        return torch.cat(new[] { turned * c + RotateHalf(turned) * s, passed }, -1).MoveToOuterDisposeScope();
    }
}
