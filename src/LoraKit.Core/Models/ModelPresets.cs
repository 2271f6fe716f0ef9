namespace LoraKit.Models;

/// <summary>
/// Dimensions of well-known public models, transcribed from their Hugging Face config.json files,
/// so a budget can be checked without the checkpoint.
/// </summary>
public static class ModelPresets
{
    /// <summary>The name of LoraKit's embedded default model (created by LoraKit itself, no download).</summary>
    public const string Builtin = Run.TrainRequest.BuiltinSpec;

    private static readonly Dictionary<string, LlamaDimensions> Presets = new(StringComparer.OrdinalIgnoreCase)
    {
        // LoraKit's embedded tiny Llama over UTF-8 bytes (256 bytes + pad, bos, eos = 259 ids): small enough
        // to pretrain and fine-tune on a CPU in minutes, and wide enough (hidden 256) that the default adapter
        // (r=8 on q_proj, v_proj: 28,672 parameters = 0.945 % of 3,034,880) sits inside the seed's budget.
        [Builtin] = new() { ModelType = "llama", HiddenSize = 256, IntermediateSize = 688, Layers = 4, AttentionHeads = 4, KeyValueHeads = 2, VocabSize = 259, RmsNormEps = 1e-5, MaxPositionEmbeddings = 512 },
        // meta-llama/Llama-2-7b-hf
        ["llama2-7b"] = new() { ModelType = "llama", HiddenSize = 4096, IntermediateSize = 11008, Layers = 32, AttentionHeads = 32, KeyValueHeads = 32, VocabSize = 32000, RmsNormEps = 1e-5, MaxPositionEmbeddings = 4096 },
        // meta-llama/Llama-2-13b-hf
        ["llama2-13b"] = new() { ModelType = "llama", HiddenSize = 5120, IntermediateSize = 13824, Layers = 40, AttentionHeads = 40, KeyValueHeads = 40, VocabSize = 32000, RmsNormEps = 1e-5, MaxPositionEmbeddings = 4096 },
        // meta-llama/Meta-Llama-3-8B
        ["llama3-8b"] = new() { ModelType = "llama", HiddenSize = 4096, IntermediateSize = 14336, Layers = 32, AttentionHeads = 32, KeyValueHeads = 8, VocabSize = 128256, RopeTheta = 500000, RmsNormEps = 1e-5, MaxPositionEmbeddings = 8192 },
        // mistralai/Mistral-7B-v0.1
        ["mistral-7b"] = new() { ModelType = "mistral", HiddenSize = 4096, IntermediateSize = 14336, Layers = 32, AttentionHeads = 32, KeyValueHeads = 8, VocabSize = 32000, RmsNormEps = 1e-5, MaxPositionEmbeddings = 32768, SlidingWindow = 4096 },
        // TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T
        ["tinyllama"] = new() { ModelType = "llama", HiddenSize = 2048, IntermediateSize = 5632, Layers = 22, AttentionHeads = 32, KeyValueHeads = 4, VocabSize = 32000, RmsNormEps = 1e-5 },
        // HuggingFaceTB/SmolLM2-135M
        ["smollm2-135m"] = new() { ModelType = "llama", HiddenSize = 576, IntermediateSize = 1536, Layers = 30, AttentionHeads = 9, KeyValueHeads = 3, VocabSize = 49152, TieWordEmbeddings = true, RopeTheta = 100000, RmsNormEps = 1e-5, MaxPositionEmbeddings = 8192 },
        // Qwen/Qwen2.5-0.5B
        ["qwen2.5-0.5b"] = new() { ModelType = "qwen2", HiddenSize = 896, IntermediateSize = 4864, Layers = 24, AttentionHeads = 14, KeyValueHeads = 2, VocabSize = 151936, TieWordEmbeddings = true, QkvBias = true, RopeTheta = 1000000, RmsNormEps = 1e-6, MaxPositionEmbeddings = 32768 },
    };

    public static IReadOnlyList<string> Names => Presets.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();

    public static bool TryGet(string name, out LlamaDimensions dimensions) => Presets.TryGetValue(name, out dimensions!);

    public static ModelShape GetShape(string name) =>
        TryGet(name, out var d)
            ? ModelShape.FromLlama(name, d)
            : throw new ArgumentException($"Unknown model preset '{name}'. Known presets: {string.Join(", ", Names)}.", nameof(name));
}
