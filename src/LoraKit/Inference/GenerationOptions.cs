namespace LoraKit.Inference;

/// <summary>
/// How <see cref="LoraKitModel"/> generates. Greedy (the most likely token each step, as transformers'
/// <c>do_sample=False</c>) unless a <see cref="Temperature"/> above 0, a <see cref="TopK"/> or a <see cref="TopP"/>
/// is set; sampling then applies transformers' warpers in its order — temperature, top-k, top-p — and draws from
/// a generator of its own seeded with <see cref="Seed"/>, so a seed gives the same text on every run.
/// </summary>
public sealed record GenerationOptions
{
    public const int DefaultMaxNewTokens = 128;

    /// <summary>Tokens to generate at most (EOS and stop strings end earlier).</summary>
    public int MaxNewTokens { get; init; } = DefaultMaxNewTokens;

    /// <summary>Divides the logits before sampling; null or 0 with no top-k/top-p: greedy. Sampling without it uses 1.</summary>
    public double? Temperature { get; init; }

    /// <summary>Sample among the k most likely tokens (ties at the k-th score kept, as transformers does).</summary>
    public int? TopK { get; init; }

    /// <summary>Nucleus sampling: the smallest set of most likely tokens whose probability reaches p (at least one).</summary>
    public double? TopP { get; init; }

    /// <summary>Seed of the sampling generator (0 when null).</summary>
    public long? Seed { get; init; }

    /// <summary>Generation stops when the text contains one of these; the text ends before it.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = Array.Empty<string>();

    /// <summary>End-of-sequence ids; null: the model's (generation_config.json, config.json, else the tokenizer's).</summary>
    public IReadOnlyList<int>? EosTokenIds { get; init; }

    /// <summary>Reuse keys and values of earlier tokens (<see cref="Modeling.KvCache"/>); false recomputes the whole sequence every step.</summary>
    public bool UseCache { get; init; } = true;

    public bool IsGreedy => (Temperature is null or 0) && TopK is null && TopP is null;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting and its valid range.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 1) throw new ArgumentException($"max new tokens must be ≥ 1, not {MaxNewTokens}");
        if (Temperature is < 0 or double.NaN) throw new ArgumentException($"temperature must be ≥ 0, not {Temperature}");
        if (Temperature == 0 && (TopK is not null || TopP is not null))
            throw new ArgumentException("temperature 0 means greedy decoding, which top-k/top-p do not apply to; drop them or give a temperature above 0");
        if (TopK is < 1) throw new ArgumentException($"top-k must be ≥ 1, not {TopK}");
        if (TopP is not null && !(TopP > 0 && TopP <= 1)) throw new ArgumentException($"top-p must be in (0, 1], not {TopP}");
        foreach (var s in StopStrings)
            if (string.IsNullOrEmpty(s)) throw new ArgumentException("a stop string must not be empty");
    }
}

/// <summary>Why generation ended.</summary>
public enum StopReason
{
    /// <summary>An end-of-sequence token (not part of the text).</summary>
    EndOfSequence,

    /// <summary>A stop string appeared (the text ends before it).</summary>
    StopString,

    /// <summary><see cref="GenerationOptions.MaxNewTokens"/> reached.</summary>
    MaxNewTokens,
}

/// <summary>What one generation produced: the prompt's ids, the new ids (the EOS that ended it included), the text and why it stopped.</summary>
public sealed record GenerationResult(IReadOnlyList<int> PromptIds, IReadOnlyList<int> NewIds, string Text, StopReason StopReason);
