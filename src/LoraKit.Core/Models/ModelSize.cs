using LoraKit.Rules;

namespace LoraKit.Models;

/// <summary>
/// Size sanity for a model description from a stranger: each dimension below a bound no real model comes near
/// (so the parameter arithmetic cannot overflow), and — before anything is allocated — the whole model within the
/// memory of the machine that is to hold it. The largest published decoders (Llama 3.1 405B: hidden 16384,
/// intermediate 53248, 126 layers; Gemma 3: vocabulary 262144) sit far below every bound.
/// </summary>
public static class ModelSize
{
    /// <summary>hidden_size, intermediate_size, head_dim, and heads × head_dim: 2^20.</summary>
    public const int MaxWidth = 1 << 20;

    /// <summary>vocab_size: 2^24.</summary>
    public const int MaxVocabulary = 1 << 24;

    /// <summary>num_hidden_layers: 2^14.</summary>
    public const int MaxLayers = 1 << 14;

    /// <summary>num_attention_heads, num_key_value_heads: 2^16.</summary>
    public const int MaxHeads = 1 << 16;

    /// <summary>A custom model's parameter count: 2^50 (about 10^15).</summary>
    public const long MaxParameters = 1L << 50;

    /// <summary>The bound of a <see cref="LlamaDimensions"/> property, or null when it has none.</summary>
    public static int? BoundOf(string property) => property switch
    {
        nameof(LlamaDimensions.HiddenSize) or nameof(LlamaDimensions.IntermediateSize) or nameof(LlamaDimensions.HeadDim) => MaxWidth,
        nameof(LlamaDimensions.VocabSize) => MaxVocabulary,
        nameof(LlamaDimensions.Layers) => MaxLayers,
        nameof(LlamaDimensions.AttentionHeads) or nameof(LlamaDimensions.KeyValueHeads) => MaxHeads,
        _ => null,
    };

    /// <summary>
    /// LORA2006 when <paramref name="shape"/>'s weights (<paramref name="bytesPerParameter"/> each) need more than
    /// <paramref name="machineBytes"/>, the memory of the machine that would hold them; <paramref name="machine"/>
    /// describes it ("31.2 GiB of RAM"). The key blamed is the dimension furthest above a 7B-class model's.
    /// </summary>
    public static void RequireFits(ModelShape shape, double bytesPerParameter, long machineBytes, string source, string machine)
    {
        if (shape is null) throw new ArgumentNullException(nameof(shape));
        var parameters = shape.TotalParameters;
        var bytes = parameters * bytesPerParameter;
        if (bytes <= machineBytes) return;
        string? key = null;
        var detail = "";
        if (shape.Llama is { } d)
        {
            // Llama-2-7B's dimensions as the yardstick: the key furthest above its value is the likely typo.
            var ratios = new[]
            {
                (Key: HfConfig.KeyFor(nameof(LlamaDimensions.HiddenSize)), Value: d.HiddenSize, Ratio: d.HiddenSize / 4096.0),
                (Key: HfConfig.KeyFor(nameof(LlamaDimensions.IntermediateSize)), Value: d.IntermediateSize, Ratio: d.IntermediateSize / 11008.0),
                (Key: HfConfig.KeyFor(nameof(LlamaDimensions.Layers)), Value: d.Layers, Ratio: d.Layers / 32.0),
                (Key: HfConfig.KeyFor(nameof(LlamaDimensions.VocabSize)), Value: d.VocabSize, Ratio: d.VocabSize / 32000.0),
            };
            var worst = ratios.OrderByDescending(r => r.Ratio).First();
            key = worst.Key;
            detail = $" ({string.Join(", ", ratios.Select(r => $"{r.Key} {r.Value.ToString(CultureInfo.InvariantCulture)}"))})";
        }
        throw new ModelDescriptionException(DiagnosticIds.ModelTooLarge, source, key,
            $"describes a model of {parameters.ToString("N0", CultureInfo.InvariantCulture)} parameters{detail}, {FormatBytes(bytes)} of weights, more than this machine's {machine}",
            "check the dimensions against the model's published config.json (a typo in one key multiplies the size), or use a machine with more memory");
    }

    /// <summary>"1.5 GiB", "3.2 TiB".</summary>
    public static string FormatBytes(double bytes)
    {
        string[] units = { "bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        var u = 0;
        while (bytes >= 1024 && u < units.Length - 1)
        {
            bytes /= 1024;
            u++;
        }
        return $"{bytes.ToString(u == 0 ? "0" : "0.#", CultureInfo.InvariantCulture)} {units[u]}";
    }
}
