namespace LoraKit.Models;

/// <summary>
/// The structural traits of a model_type that LoraKit builds, as transformers 4.47's modeling code fixes them (they
/// are not config.json keys): the RMSNorm form, the embedding scale, the extra Gemma 2 norms, Phi-3's fused
/// projections and each family's module names. One home for "which family does what", read by Core's shapes and
/// counts, the analyzers and the runtime model alike.
/// </summary>
public sealed record ModelFamily
{
    /// <summary>SwiGLU's activation (transformers' <c>silu</c>; <c>swish</c> is its alias).</summary>
    public const string Silu = "silu";

    /// <summary>Gemma's activation: GELU with the tanh approximation (transformers' <c>gelu_pytorch_tanh</c>).</summary>
    public const string GeluTanh = "gelu_pytorch_tanh";

    /// <summary>The activations LoraKit computes.</summary>
    public static readonly IReadOnlyList<string> Activations = new[] { Silu, GeluTanh };

    /// <summary>Hugging Face model_type.</summary>
    public string ModelType { get; private init; } = "llama";

    /// <summary>The transformers causal-LM class.</summary>
    public string Architecture { get; private init; } = "LlamaForCausalLM";

    /// <summary>The [LoraModel] architecture that describes it.</summary>
    public LoraArchitecture LoraArchitecture { get; private init; } = LoraArchitecture.Llama;

    /// <summary>
    /// Gemma 2: RMSNorm computes x̂·(1 + w) in float32 and casts back (Llama casts x̂ back, then multiplies by w); its
    /// weights start at 0.
    /// </summary>
    public bool UnitOffsetNorm { get; private init; }

    /// <summary>Gemma 2: the embeddings are multiplied by √hidden_size, rounded to the model dtype.</summary>
    public bool ScalesEmbeddings { get; private init; }

    /// <summary>
    /// Gemma 2: four norms per layer — input_layernorm before attention, post_attention_layernorm on the attention
    /// output, pre_feedforward_layernorm before the MLP, post_feedforward_layernorm on its output.
    /// </summary>
    public bool SandwichNorms { get; private init; }

    /// <summary>Phi-3: one <c>qkv_proj</c> (rows q, k, v) and one <c>gate_up_proj</c> (rows gate, up) instead of separate projections.</summary>
    public bool FusedProjections { get; private init; }

    /// <summary>The attention projections' leaf names, in model order.</summary>
    public IReadOnlyList<string> AttentionProjections => FusedProjections ? new[] { "qkv_proj", "o_proj" } : new[] { "q_proj", "k_proj", "v_proj", "o_proj" };

    /// <summary>The MLP projections' leaf names, in model order.</summary>
    public IReadOnlyList<string> MlpProjections => FusedProjections ? new[] { "gate_up_proj", "down_proj" } : new[] { "gate_proj", "up_proj", "down_proj" };

    /// <summary>RMSNorms per decoder layer (qk-norms aside).</summary>
    public int NormsPerLayer => SandwichNorms ? 4 : 2;

    /// <summary>The families by model_type.</summary>
    public static readonly IReadOnlyList<ModelFamily> All = new[]
    {
        new ModelFamily { ModelType = "llama", Architecture = "LlamaForCausalLM" },
        new ModelFamily { ModelType = "mistral", Architecture = "MistralForCausalLM" },
        new ModelFamily { ModelType = "qwen2", Architecture = "Qwen2ForCausalLM" },
        new ModelFamily { ModelType = "qwen3", Architecture = "Qwen3ForCausalLM" },
        new ModelFamily { ModelType = "gemma2", Architecture = "Gemma2ForCausalLM", LoraArchitecture = LoraArchitecture.Gemma2, UnitOffsetNorm = true, ScalesEmbeddings = true, SandwichNorms = true },
        new ModelFamily { ModelType = "phi3", Architecture = "Phi3ForCausalLM", LoraArchitecture = LoraArchitecture.Phi3, FusedProjections = true },
    };

    /// <summary>The family of <paramref name="modelType"/>; an unknown type is an error (HfConfig refuses it first, naming the file).</summary>
    public static ModelFamily Of(string modelType) =>
        All.FirstOrDefault(f => f.ModelType == modelType)
        ?? throw new ArgumentException($"model type \"{modelType}\" is not one LoraKit builds ({string.Join(", ", All.Select(f => f.ModelType))})", nameof(modelType));

    /// <summary>The model_type a [LoraModel] architecture describes (Llama → llama); null for Custom.</summary>
    public static string? ModelTypeOf(LoraArchitecture architecture) => architecture switch
    {
        LoraArchitecture.Custom => null,
        LoraArchitecture.Llama => "llama",
        _ => All.FirstOrDefault(f => f.LoraArchitecture == architecture)?.ModelType,
    };

    /// <summary>
    /// A misspelt or unfused target's fused name: on a model with <see cref="FusedProjections"/>, q_proj/k_proj/v_proj
    /// live in qkv_proj and gate_proj/up_proj in gate_up_proj (the names PEFT targets on Phi-3). Null otherwise.
    /// </summary>
    public static string? FusedNameOf(string leaf) => leaf switch
    {
        "q_proj" or "k_proj" or "v_proj" => "qkv_proj",
        "gate_proj" or "up_proj" => "gate_up_proj",
        _ => null,
    };
}
