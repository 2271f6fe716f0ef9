using LoraKit.Rules;

namespace LoraKit.Models;

/// <summary>
/// The dimensions of a Llama-family decoder (Llama, Mistral, Qwen2, Qwen3 naming), with Hugging
/// Face's config.json meanings. Zero for <see cref="KeyValueHeads"/>/<see cref="HeadDim"/> means "derive".
/// </summary>
public sealed record LlamaDimensions
{
    public int HiddenSize { get; init; }
    public int IntermediateSize { get; init; }
    public int Layers { get; init; }
    public int AttentionHeads { get; init; }
    public int KeyValueHeads { get; init; }
    public int VocabSize { get; init; }
    public int HeadDim { get; init; }
    public bool TieWordEmbeddings { get; init; }

    /// <summary>Biases on q/k/v (Llama attention_bias; always on in Qwen2).</summary>
    public bool QkvBias { get; init; }

    /// <summary>Bias on o_proj (Llama attention_bias; off in Qwen2).</summary>
    public bool OutputProjectionBias { get; init; }

    /// <summary>Biases on gate/up/down (Llama mlp_bias).</summary>
    public bool MlpBias { get; init; }

    /// <summary>Per-head RMSNorm on queries and keys (Qwen3).</summary>
    public bool QkNorm { get; init; }

    public double RopeTheta { get; init; } = 10000.0;
    public double RmsNormEps { get; init; } = 1e-6;
    public int MaxPositionEmbeddings { get; init; } = 2048;

    /// <summary>config.json rope_scaling (or rope_parameters) when it changes the rotary frequencies; null = plain RoPE.</summary>
    public RopeScaling? RopeScaling { get; init; }

    /// <summary>
    /// Sliding-window attention: query t sees keys t−W+1 … t (W keys) in the layers from
    /// <see cref="FirstSlidingLayer"/> on; 0 = every layer attends to every earlier key.
    /// </summary>
    public int SlidingWindow { get; init; }

    /// <summary>The first layer that uses <see cref="SlidingWindow"/> (Qwen2's max_window_layers; 0 for Mistral).</summary>
    public int FirstSlidingLayer { get; init; }

    /// <summary>The attention window of <paramref name="layer"/>: W, or 0 for full causal attention.</summary>
    public int AttentionWindow(int layer) => SlidingWindow > 0 && layer >= FirstSlidingLayer ? SlidingWindow : 0;

    /// <summary>Hugging Face model_type: llama, mistral, qwen2, qwen3.</summary>
    public string ModelType { get; init; } = "llama";

    public int EffectiveKeyValueHeads => KeyValueHeads > 0 ? KeyValueHeads : AttentionHeads;

    public int EffectiveHeadDim => HeadDim > 0 ? HeadDim : (AttentionHeads > 0 ? HiddenSize / AttentionHeads : 0);

    public int QueryDim => AttentionHeads * EffectiveHeadDim;

    public int KeyValueDim => EffectiveKeyValueHeads * EffectiveHeadDim;

    /// <summary>
    /// Checks every dimension; throws a LORA2xxx <see cref="ModelDescriptionException"/> naming
    /// <paramref name="source"/> and the field (with <paramref name="fieldName"/> mapping our names to the source's).
    /// </summary>
    public void Validate(string source, System.Func<string, string> fieldName)
    {
        RequirePositive(source, fieldName, nameof(HiddenSize), HiddenSize);
        RequirePositive(source, fieldName, nameof(IntermediateSize), IntermediateSize);
        RequirePositive(source, fieldName, nameof(Layers), Layers);
        RequirePositive(source, fieldName, nameof(AttentionHeads), AttentionHeads);
        RequirePositive(source, fieldName, nameof(VocabSize), VocabSize);
        RequireAtMostBound(source, fieldName, nameof(HiddenSize), HiddenSize);
        RequireAtMostBound(source, fieldName, nameof(IntermediateSize), IntermediateSize);
        RequireAtMostBound(source, fieldName, nameof(Layers), Layers);
        RequireAtMostBound(source, fieldName, nameof(AttentionHeads), AttentionHeads);
        RequireAtMostBound(source, fieldName, nameof(KeyValueHeads), KeyValueHeads);
        RequireAtMostBound(source, fieldName, nameof(VocabSize), VocabSize);
        RequireAtMostBound(source, fieldName, nameof(HeadDim), HeadDim);
        if (KeyValueHeads < 0)
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, fieldName(nameof(KeyValueHeads)),
                $"is {KeyValueHeads}", "set it to a positive divisor of the attention heads, or leave it out for multi-head attention");
        if (HeadDim < 0)
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, fieldName(nameof(HeadDim)),
                $"is {HeadDim}", "set a positive head dimension, or leave it out to use hidden size / heads");
        if (HeadDim == 0 && HiddenSize % AttentionHeads != 0)
            throw new ModelDescriptionException(DiagnosticIds.HeadsDoNotDivide, source, fieldName(nameof(AttentionHeads)),
                $"{AttentionHeads} heads do not divide hidden size {HiddenSize}",
                $"use a head count that divides {HiddenSize}, or give the head dimension explicitly");
        if ((long)AttentionHeads * EffectiveHeadDim > ModelSize.MaxWidth || (long)EffectiveKeyValueHeads * EffectiveHeadDim > ModelSize.MaxWidth)
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, fieldName(HeadDim > 0 ? nameof(HeadDim) : nameof(AttentionHeads)),
                $"gives attention projections {(long)AttentionHeads * EffectiveHeadDim} wide ({AttentionHeads} heads × head dimension {EffectiveHeadDim}), more than {ModelSize.MaxWidth}, far beyond any real model",
                "check the head count and head dimension against the model's published config");
        if (AttentionHeads % EffectiveKeyValueHeads != 0)
            throw new ModelDescriptionException(DiagnosticIds.HeadsDoNotDivide, source, fieldName(nameof(KeyValueHeads)),
                $"{EffectiveKeyValueHeads} key/value heads do not divide {AttentionHeads} attention heads",
                "grouped-query attention needs the attention heads to be a multiple of the key/value heads");
        ValidatePositions(source);
    }

    /// <summary>The position settings a hand-built description could get wrong (config.json's are checked as they are read).</summary>
    private void ValidatePositions(string source)
    {
        if (SlidingWindow < 0 || FirstSlidingLayer < 0)
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, "sliding_window",
                $"is {SlidingWindow} from layer {FirstSlidingLayer}", "give a positive window (0 = none) and a first layer of 0 or more");
        if (RopeScaling is not { } r) return;
        if (!(r.Factor > 0))
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, "rope_scaling.factor", $"is {r.Factor}", "give a positive factor");
        if (r.Type == RopeType.Llama3 && (r.OriginalMaxPositionEmbeddings <= 0 || !(r.HighFrequencyFactor > r.LowFrequencyFactor)))
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, "rope_scaling",
                "llama3 needs original_max_position_embeddings > 0 and high_freq_factor > low_freq_factor", "give the values of the model's config.json");
        var half = EffectiveHeadDim / 2;
        if (r.Type == RopeType.LongRope && (r.ShortFactor?.Count != half || r.LongFactor?.Count != half))
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, "rope_scaling",
                $"longrope needs short_factor and long_factor of {half} numbers (head_dim / 2)", "give both lists");
    }

    private static void RequireAtMostBound(string source, System.Func<string, string> fieldName, string name, int value)
    {
        if (ModelSize.BoundOf(name) is { } bound && value > bound)
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, fieldName(name),
                $"is {value}, more than {bound}, far beyond any real model (the parameter count would overflow or need terabytes)",
                "check the value against the model's published config");
    }

    private static void RequirePositive(string source, System.Func<string, string> fieldName, string name, int value)
    {
        if (value <= 0)
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, fieldName(name),
                value == 0 ? "is missing or 0" : $"is {value}", "give a positive integer");
    }
}
