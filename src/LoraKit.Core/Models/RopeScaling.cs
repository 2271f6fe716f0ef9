namespace LoraKit.Models;

/// <summary>The rope_type values of transformers' <c>ROPE_INIT_FUNCTIONS</c> that LoraKit computes.</summary>
public enum RopeType
{
    /// <summary>inv_freq[i] = 1 / theta^(2i/d).</summary>
    Default,

    /// <summary>Position interpolation: inv_freq / factor.</summary>
    Linear,

    /// <summary>Dynamic NTK: theta grows with the sequence once it exceeds max_position_embeddings.</summary>
    Dynamic,

    /// <summary>Llama 3.1: low frequencies divided by factor, high kept, a smooth band between.</summary>
    Llama3,

    /// <summary>YaRN: per-dimension ramp between interpolation and extrapolation, cos/sin scaled by the attention factor.</summary>
    Yarn,

    /// <summary>LongRoPE: per-dimension short/long factors, cos/sin scaled by the attention factor.</summary>
    LongRope,
}

/// <summary>
/// A config.json <c>rope_scaling</c> (or transformers 5's <c>rope_parameters</c>) as LoraKit honours it. Every
/// key the chosen type reads is here, with transformers' default filled in; keys it does not read are refused
/// by <see cref="HfConfig"/>. <see cref="RopeMath"/> turns it into inverse frequencies and an attention factor.
/// </summary>
public sealed record RopeScaling
{
    public RopeType Type { get; init; }

    /// <summary>factor (linear, dynamic, llama3, yarn; longrope's derived one).</summary>
    public double Factor { get; init; } = 1.0;

    /// <summary>llama3 low_freq_factor.</summary>
    public double LowFrequencyFactor { get; init; }

    /// <summary>llama3 high_freq_factor.</summary>
    public double HighFrequencyFactor { get; init; }

    /// <summary>
    /// The pre-training context: llama3 and yarn read rope_scaling.original_max_position_embeddings, longrope the
    /// top-level key; 0 = max_position_embeddings.
    /// </summary>
    public int OriginalMaxPositionEmbeddings { get; init; }

    /// <summary>yarn/longrope attention_factor when given (it multiplies cos and sin); null = the formula's.</summary>
    public double? AttentionFactor { get; init; }

    /// <summary>yarn beta_fast (default 32).</summary>
    public double BetaFast { get; init; } = 32;

    /// <summary>yarn beta_slow (default 1).</summary>
    public double BetaSlow { get; init; } = 1;

    /// <summary>yarn mscale (0 = not given).</summary>
    public double Mscale { get; init; }

    /// <summary>yarn mscale_all_dim (0 = not given).</summary>
    public double MscaleAllDim { get; init; }

    /// <summary>yarn truncate: floor/ceil the correction range (default true).</summary>
    public bool Truncate { get; init; } = true;

    /// <summary>longrope short_factor (head_dim/2 numbers), used up to the original context.</summary>
    public IReadOnlyList<double>? ShortFactor { get; init; }

    /// <summary>longrope long_factor (head_dim/2 numbers), used beyond the original context.</summary>
    public IReadOnlyList<double>? LongFactor { get; init; }

    /// <summary>The name config.json uses for <see cref="Type"/>.</summary>
    public static string NameOf(RopeType type) => type switch
    {
        RopeType.Default => "default",
        RopeType.Linear => "linear",
        RopeType.Dynamic => "dynamic",
        RopeType.Llama3 => "llama3",
        RopeType.Yarn => "yarn",
        RopeType.LongRope => "longrope",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    public bool Equals(RopeScaling? other) =>
        other is not null
        && Type == other.Type && Factor.Equals(other.Factor) && LowFrequencyFactor.Equals(other.LowFrequencyFactor)
        && HighFrequencyFactor.Equals(other.HighFrequencyFactor) && OriginalMaxPositionEmbeddings == other.OriginalMaxPositionEmbeddings
        && Nullable.Equals(AttentionFactor, other.AttentionFactor) && BetaFast.Equals(other.BetaFast) && BetaSlow.Equals(other.BetaSlow)
        && Mscale.Equals(other.Mscale) && MscaleAllDim.Equals(other.MscaleAllDim) && Truncate == other.Truncate
        && SameList(ShortFactor, other.ShortFactor) && SameList(LongFactor, other.LongFactor);

    public override int GetHashCode() => ((int)Type * 397) ^ Factor.GetHashCode() ^ OriginalMaxPositionEmbeddings;

    private static bool SameList(IReadOnlyList<double>? a, IReadOnlyList<double>? b) =>
        a is null ? b is null : b is not null && a.SequenceEqual(b);
}
