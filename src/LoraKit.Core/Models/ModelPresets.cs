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
        // google/gemma-2-2b
        ["gemma2-2b"] = Gemma2(hidden: 2304, intermediate: 9216, layers: 26, heads: 8, kvHeads: 4),
        // google/gemma-2-9b
        ["gemma2-9b"] = Gemma2(hidden: 3584, intermediate: 14336, layers: 42, heads: 16, kvHeads: 8),
        // microsoft/Phi-3-mini-4k-instruct
        ["phi3-mini-4k"] = Phi3Mini with { MaxPositionEmbeddings = 4096, SlidingWindow = 2047 },
        // microsoft/Phi-3-mini-128k-instruct and microsoft/Phi-3.5-mini-instruct: the same shapes with a longrope
        // context of 131072 (their factor lists change no parameter count and are left out here).
        ["phi3-mini-128k"] = Phi3Mini with { MaxPositionEmbeddings = 131072, SlidingWindow = 262144 },
        ["phi3.5-mini"] = Phi3Mini with { MaxPositionEmbeddings = 131072, SlidingWindow = 262144 },
        // Qwen/Qwen2.5-0.5B
        ["qwen2.5-0.5b"] = new() { ModelType = "qwen2", HiddenSize = 896, IntermediateSize = 4864, Layers = 24, AttentionHeads = 14, KeyValueHeads = 2, VocabSize = 151936, TieWordEmbeddings = true, QkvBias = true, RopeTheta = 1000000, RmsNormEps = 1e-6, MaxPositionEmbeddings = 32768 },
    };

    /// <summary>Gemma 2's published configs: head_dim 256, query_pre_attn_scalar 256, soft-capping 50/30, window 4096 on even layers, tied head.</summary>
    private static LlamaDimensions Gemma2(int hidden, int intermediate, int layers, int heads, int kvHeads) => new()
    {
        ModelType = "gemma2", HiddenSize = hidden, IntermediateSize = intermediate, Layers = layers, AttentionHeads = heads, KeyValueHeads = kvHeads,
        HeadDim = 256, VocabSize = 256000, TieWordEmbeddings = true, RmsNormEps = 1e-6, MaxPositionEmbeddings = 8192,
        HiddenActivation = ModelFamily.GeluTanh, QueryPreAttentionScalar = 256, AttentionLogitSoftcap = 50, FinalLogitSoftcap = 30,
        SlidingWindow = 4096, AlternatingWindow = true,
    };

    /// <summary>Phi-3-mini's shapes: hidden 3072, 32 layers of 32 heads (no GQA), fused projections, vocab 32064, untied head.</summary>
    private static LlamaDimensions Phi3Mini => new()
    {
        ModelType = "phi3", HiddenSize = 3072, IntermediateSize = 8192, Layers = 32, AttentionHeads = 32, KeyValueHeads = 32, VocabSize = 32064, RmsNormEps = 1e-5,
    };

    public static IReadOnlyList<string> Names => Presets.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();

    public static bool TryGet(string name, out LlamaDimensions dimensions) => Presets.TryGetValue(name, out dimensions!);

    public static ModelShape GetShape(string name) =>
        TryGet(name, out var d)
            ? ModelShape.FromLlama(name, d)
            : throw new ArgumentException($"Unknown model preset '{name}'. Known presets: {string.Join(", ", Names)}.", nameof(name));
}
