using System;
using System.Linq;
using LoraKit.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraKit.Modeling;

/// <summary>The decoder stack (HF LlamaModel): embed_tokens, layers.{i}, norm.</summary>
public sealed class LlamaModel : nn.Module
{
    public Embedding embed_tokens;
    public ModuleList<LlamaDecoderLayer> layers;
    public LlamaRMSNorm norm;

    private readonly float[] _inverseFrequencies;

    public LlamaModel(LlamaDimensions dims, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(LlamaModel))
    {
        embed_tokens = nn.Embedding(dims.VocabSize, dims.HiddenSize, device: device, dtype: dtype);
        layers = nn.ModuleList(Enumerable.Range(0, dims.Layers).Select(_ => new LlamaDecoderLayer(dims, device, dtype)).ToArray());
        norm = new LlamaRMSNorm(dims.HiddenSize, dims.RmsNormEps, device, dtype);
        _inverseFrequencies = LlamaRotary.InverseFrequencies(dims.EffectiveHeadDim, dims.RopeTheta);
        RegisterComponents();
    }

    /// <summary>
    /// input_ids [batch, seq] → final hidden states [batch, seq, hidden] (after the final norm).
    /// <paramref name="attentionMask"/> [batch, seq] of 1 (token) / 0 (padding) or null; padding keys are
    /// never attended to. <paramref name="positionIds"/> [batch, seq] or [seq], default 0 … seq−1.
    /// With a <paramref name="cache"/>, <paramref name="inputIds"/> are the tokens after the cached ones: they
    /// take positions cache.Length …, attend to every cached token and causally to each other, and their keys
    /// and values are appended to the cache (no attention mask then).
    /// </summary>
    public Tensor forward(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null, KvCache? cache = null)
    {
        if (inputIds.dim() != 2)
            throw new ArgumentException($"input_ids must be [batch, seq], got [{string.Join(", ", inputIds.shape)}]", nameof(inputIds));
        using var scope = torch.NewDisposeScope();
        var seq = inputIds.shape[1];
        var hidden = embed_tokens.call(inputIds);
        if (cache is not null && attentionMask is not null)
            throw new ArgumentException("a forward with a KV cache takes no attention mask (one unpadded sequence per cache)", nameof(attentionMask));
        var past = cache?.Length ?? 0;
        var positions = positionIds ?? torch.arange(past, past + seq, dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0);
        var (cos, sin) = LlamaRotary.CosSin(positions, _inverseFrequencies, hidden.dtype);
        var attend = cache is not null ? cache.AttendMask(seq, inputIds.device) : attentionMask is null ? null : AttendMask(attentionMask, seq);
        for (var i = 0; i < layers.Count; i++)
            hidden = layers[i].forward(hidden, cos, sin, attend, cache?.Layer(i));
        cache?.Advance(seq);
        return norm.call(hidden).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Boolean [batch, 1, seq, seq]: query i may attend to key j when j ≤ i and key j is not padding. Every
    /// query may also attend to itself, so rows of padding queries (left padding) are never fully masked,
    /// which would give NaN; their outputs are meaningless and must be ignored by the loss (labels −100).
    /// </summary>
    public static Tensor AttendMask(Tensor attentionMask, long seq)
    {
        if (attentionMask.dim() != 2 || attentionMask.shape[1] != seq)
            throw new ArgumentException($"attention_mask must be [batch, {seq}], got [{string.Join(", ", attentionMask.shape)}]", nameof(attentionMask));
        using var scope = torch.NewDisposeScope();
        var device = attentionMask.device;
        var keys = attentionMask.to(ScalarType.Bool).view(attentionMask.shape[0], 1, 1, seq);
        var causal = torch.ones(seq, seq, dtype: ScalarType.Bool, device: device).tril().view(1, 1, seq, seq);
        var diagonal = torch.eye(seq, dtype: ScalarType.Bool, device: device).view(1, 1, seq, seq);
        return causal.logical_and(keys).logical_or(diagonal).MoveToOuterDisposeScope();
    }
}
