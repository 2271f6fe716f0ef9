using LoraKit.Models;
using LoraKit.Quantization;

namespace LoraKit.Memory;

/// <summary>Storage of the frozen base weights.</summary>
public enum WeightPrecision { Float32, BFloat16, Float16, Int8, NF4 }

/// <summary>What the memory estimate assumes about the run.</summary>
public sealed record MemoryOptions
{
    public WeightPrecision BasePrecision { get; init; } = WeightPrecision.BFloat16;
    public int BatchSize { get; init; } = 1;
    public int SequenceLength { get; init; } = 512;

    /// <summary>Bytes per saved activation element: 2 under bf16/fp16 autocast, 4 in fp32 (CPU).</summary>
    public int ActivationBytes { get; init; } = 2;

    /// <summary>Keep only each layer's input and recompute the rest in backward.</summary>
    public bool GradientCheckpointing { get; init; }

    /// <summary>Fused (flash / SDPA) attention never materialises the s×s score matrix.</summary>
    public bool FusedAttention { get; init; } = true;

    /// <summary>Fixed cost of the runtime (CUDA context, allocator slack).</summary>
    public long OverheadBytes { get; init; } = 512L * 1024 * 1024;
}

/// <summary>An estimate of peak training memory, by part, in bytes.</summary>
public sealed record MemoryEstimate(long BaseWeights, long LoraWeights, long LoraGradients, long OptimizerState, long Activations, long Logits, long Overhead)
{
    public long Total => BaseWeights + LoraWeights + LoraGradients + OptimizerState + Activations + Logits + Overhead;

    public double TotalGiB => Total / (1024.0 * 1024 * 1024);
}

/// <summary>
/// Peak training-memory estimate for a LoRA run. The seed's rules show up in the arithmetic: a 4-bit
/// base still pays full-precision LoRA state (16 B per trainable parameter whatever the base
/// precision), and more targets or higher rank cost more.
/// </summary>
public static class MemoryEstimator
{
    /// <summary>
    /// The float32 logits one chunk of the chunked loss may hold (the runtime's <c>ChunkedCausalLmLoss</c>): 32 MiB, i.e.
    /// 170 tokens of a 49,152-token vocabulary, 65 of Llama 3's 128,256 — small against activations, large enough that
    /// each chunk is still one efficient matmul.
    /// </summary>
    public const long LossChunkBytes = 32L * 1024 * 1024;

    /// <summary>Tokens per chunk of the chunked loss for a vocabulary of <paramref name="vocab"/>: <see cref="LossChunkBytes"/> of float32 logits, at least 1.</summary>
    public static long LossChunkTokens(long vocab) => Math.Max(1, LossChunkBytes / (4 * Math.Max(1, vocab)));

    /// <summary>Bytes each trainable LoRA parameter costs: fp32 weight, fp32 gradient, AdamW's two fp32 moments.</summary>
    public const int BytesPerTrainableParameter = 4 + 4 + 8;

    public static MemoryEstimate Estimate(ModelShape model, LoraConfig config, MemoryOptions options)
    {
        if (options.BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(options), "BatchSize must be at least 1.");
        if (options.SequenceLength < 1) throw new ArgumentOutOfRangeException(nameof(options), "SequenceLength must be at least 1.");
        var count = ParameterCount.Compute(model, config);
        var trainable = count.TrainableParameters;
        return new MemoryEstimate(
            BaseWeights: BaseWeightBytes(model, options.BasePrecision),
            LoraWeights: trainable * 4,
            LoraGradients: trainable * 4,
            OptimizerState: trainable * 8,
            Activations: ActivationBytes(model, config, options),
            Logits: LogitBytes(model, options),
            Overhead: options.OverheadBytes);
    }

    public static long BaseWeightBytes(ModelShape model, WeightPrecision precision)
    {
        var total = model.TotalParameters;
        switch (precision)
        {
            case WeightPrecision.Float32: return total * 4;
            case WeightPrecision.BFloat16:
            case WeightPrecision.Float16: return total * 2;
        }
        // Quantised: linear weights (not the output head) in the quantised format, everything else bf16.
        long quantised = 0, perRowScales = 0;
        foreach (var l in model.Linears.Where(l => !l.IsOutputHead && !l.SharesWeight))
        {
            quantised += (long)l.InFeatures * l.OutFeatures * l.Count;
            perRowScales += (long)l.OutFeatures * l.Count;
        }
        var rest = total - quantised;
        var q = precision == WeightPrecision.Int8
            ? quantised + perRowScales * 4
            : Nf4.MemoryBytes(quantised); // packed codes + a float32 absmax per block of 64
        return q + rest * 2;
    }

    public static long ActivationBytes(ModelShape model, LoraConfig config, MemoryOptions o)
    {
        long b = o.BatchSize, s = o.SequenceLength;
        if (model.Llama is { } d)
        {
            long h = d.HiddenSize, kv = d.KeyValueDim, i = d.IntermediateSize, layers = d.Layers;
            long perLayer = b * s * (6 * h + 3 * kv + 4 * i);
            // Unfused attention keeps scores and probabilities, b·heads·s·keys each; a sliding window of W
            // keys bounds keys by min(s, W) in the layers that use it.
            long AttentionElements(int layer) => o.FusedAttention ? 0 : 2 * b * d.AttentionHeads * s * AttendedKeys(d, layer, s);
            long attention = 0, largestAttention = 0;
            for (var l = 0; l < d.Layers; l++)
            {
                attention += AttentionElements(l);
                largestAttention = Math.Max(largestAttention, AttentionElements(l));
            }
            long elements = o.GradientCheckpointing ? b * s * h * layers + perLayer + largestAttention : perLayer * layers + attention;
            // With checkpointing, the adapters' saved tensors are recomputed too: one layer's worth is live.
            var lora = LoraActivationBytes(model, config, o);
            return elements * o.ActivationBytes + (o.GradientCheckpointing ? lora / Math.Max(1, layers) : lora);
        }
        // Custom models: the input of each linear layer is kept for backward.
        long inputs = model.Linears.Sum(l => (long)l.InFeatures * l.Count);
        return b * s * inputs * o.ActivationBytes + LoraActivationBytes(model, config, o);
    }

    /// <summary>Keys a query of <paramref name="layer"/> attends to at most: the sequence, or the sliding window when smaller.</summary>
    public static long AttendedKeys(LlamaDimensions d, int layer, long sequence) =>
        d.AttentionWindow(layer) is > 0 and var w && w < sequence ? w : sequence;

    /// <summary>
    /// What backward keeps for the adapters (LoRA runs in fp32 whatever the base precision): each adapted
    /// module's r-dimensional A output (4 B); with dropout, the dropped fp32 input A multiplies (4 B × in)
    /// and the bool mask (1 B × in); without dropout under a 16-bit base, the fp32 copy of the input (4 B × in).
    /// </summary>
    public static long LoraActivationBytes(ModelShape model, LoraConfig config, MemoryOptions o)
    {
        long tokens = (long)o.BatchSize * o.SequenceLength;
        var match = TargetMatcher.Match(model, config.TargetModules);
        long perToken = 0;
        foreach (var m in match.Modules)
        {
            long input = m.InFeatures;
            perToken += 4L * config.Rank;
            if (config.Dropout > 0) perToken += 5 * input;
            else if (o.ActivationBytes != 4) perToken += 4 * input;
        }
        return tokens * perToken;
    }

    public static long LogitBytes(ModelShape model, MemoryOptions o) =>
        model.Llama is { } d ? (long)o.BatchSize * o.SequenceLength * d.VocabSize * 4 * 2 : 0;
}
