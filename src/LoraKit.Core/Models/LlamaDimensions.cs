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

    /// <summary>
    /// The sliding window alternates with full attention (Gemma 2: layers 0, 2, 4, … slide, the odd ones attend
    /// fully — transformers 4.47's <c>is_sliding = not bool(layer_idx % 2)</c>); <see cref="FirstSlidingLayer"/> is 0 then.
    /// </summary>
    public bool AlternatingWindow { get; init; }

    /// <summary>The attention window of <paramref name="layer"/>: W, or 0 for full causal attention.</summary>
    public int AttentionWindow(int layer) =>
        SlidingWindow > 0 && layer >= FirstSlidingLayer && (!AlternatingWindow || layer % 2 == 0) ? SlidingWindow : 0;

    /// <summary>Hugging Face model_type: llama, mistral, qwen2, qwen3, gemma, gemma2, phi3.</summary>
    public string ModelType { get; init; } = "llama";

    /// <summary>
    /// The MLP activation: <c>silu</c> (SwiGLU; every family but Gemma) or <c>gelu_pytorch_tanh</c> (Gemma's
    /// GeGLU, GELU with the tanh approximation). See <see cref="ModelFamily.Activations"/>.
    /// </summary>
    public string HiddenActivation { get; init; } = ModelFamily.Silu;

    /// <summary>The attention scores are multiplied by query_pre_attn_scalar^−½ (Gemma 2) instead of head_dim^−½; 0 = head_dim.</summary>
    public double QueryPreAttentionScalar { get; init; }

    /// <summary>Gemma 2's attn_logit_softcapping c: scores become c·tanh(scores / c) before the mask; 0 = none.</summary>
    public double AttentionLogitSoftcap { get; init; }

    /// <summary>Gemma 2's final_logit_softcapping c: logits become c·tanh(logits / c); 0 = none.</summary>
    public double FinalLogitSoftcap { get; init; }

    /// <summary>
    /// The fraction of each head's features that is rotated (Phi-3 configs that set partial_rotary_factor); the
    /// first head_dim·factor features rotate, the rest pass through. 1 = all.
    /// </summary>
    public double PartialRotaryFactor { get; init; } = 1.0;

    /// <summary>The family's structural traits (norm form, fused projections, extra norms), from <see cref="ModelType"/>.</summary>
    public ModelFamily Family => ModelFamily.Of(ModelType);

    /// <summary>The number of head features the rotary embedding turns: head_dim · partial_rotary_factor (transformers' int()).</summary>
    public int RotaryDim => (int)(EffectiveHeadDim * PartialRotaryFactor);

    /// <summary>The factor the attention scores are scaled by: query_pre_attn_scalar^−½ when set, else head_dim^−½.</summary>
    public double AttentionScale => 1.0 / Math.Sqrt(QueryPreAttentionScalar > 0 ? QueryPreAttentionScalar : EffectiveHeadDim);

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
        if (!ModelFamily.Activations.Contains(HiddenActivation))
            throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, "hidden_act",
                $"is \"{HiddenActivation}\"", $"use one of: {string.Join(", ", ModelFamily.Activations)}");
        if (QueryPreAttentionScalar < 0 || AttentionLogitSoftcap < 0 || FinalLogitSoftcap < 0)
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, "query_pre_attn_scalar",
                "or a soft-capping value is negative", "give positive values (0 or absent = none)");
        if (!(PartialRotaryFactor > 0 && PartialRotaryFactor <= 1) || RotaryDim < 2 || RotaryDim % 2 != 0)
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, "partial_rotary_factor",
                $"is {PartialRotaryFactor}, which rotates {RotaryDim} of {EffectiveHeadDim} head features", "give a factor in (0, 1] that rotates an even number of features");
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
        var half = RotaryDim / 2;
        if (r.Type == RopeType.LongRope && (r.ShortFactor?.Count != half || r.LongFactor?.Count != half))
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, "rope_scaling",
                $"longrope needs short_factor and long_factor of {half} numbers (rotary dim / 2)", "give both lists");
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
