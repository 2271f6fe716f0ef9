using LoraKit.Models;

namespace LoraKit.Gguf;

/// <summary>
/// How one Hugging Face model_type is written for llama.cpp: the GGUF architecture name its loader knows
/// (llama.cpp's convert_hf_to_gguf.py registers MistralForCausalLM under LlamaModel, so Mistral is written as
/// <c>llama</c>), whether q_proj/k_proj rows are permuted, and the tensor names of its modules. llama.cpp's
/// <c>llama</c> architecture rotates adjacent pairs (LLAMA_ROPE_TYPE_NORM) where transformers rotates halves, so its
/// converter reorders each head's rows from [first half; second half] to interleaved pairs (<c>LlamaModel.permute</c>);
/// <c>qwen2</c>, <c>gemma2</c> and <c>phi3</c> rotate halves (LLAMA_ROPE_TYPE_NEOX) and take the rows as they are.
/// A new family is a new row here, with any key it needs in <see cref="GgufExporter"/>'s metadata and its refusals in
/// <see cref="GgufExporter.CheckModel"/>.
/// </summary>
public sealed record GgufArchitecture(string ModelType, string Name, bool PermuteQueryKey)
{
    /// <summary>
    /// Hugging Face module names (after <c>model.layers.N.</c>) → llama.cpp's tensor names (after <c>blk.N.</c>),
    /// gguf-py's tensor_mapping.py.
    /// </summary>
    public IReadOnlyDictionary<string, string> TensorNames { get; private init; } = LlamaTensorNames;

    /// <summary>
    /// The RMSNorm weights are written + 1: Gemma's norm computes x̂·(1 + w) where llama.cpp's computes x̂·w
    /// (convert_hf_to_gguf.py's Gemma2Model adds 1 to every <c>*norm.weight</c>). A LoRA adapter never touches a norm.
    /// </summary>
    public bool NormPlusOne { get; private init; }

    /// <summary>
    /// llama.cpp's sliding-window period for this architecture (llama_hparams::set_swa_pattern(n, dense_first = false):
    /// layer il slides when il % n &lt; n − 1); 0 = no layer slides (llama and qwen2 have no window, phi3's loader turns
    /// the file's off: "Phi SWA is currently disabled").
    /// </summary>
    public int SlidingPeriod { get; private init; }

    /// <summary>The window llama.cpp gives <paramref name="layer"/> of the model described by <paramref name="d"/> (0 = full attention).</summary>
    public int LlamaCppWindow(int layer, LlamaDimensions d) => SlidingPeriod > 0 && layer % SlidingPeriod < SlidingPeriod - 1 ? d.SlidingWindow : 0;

    /// <summary>The RoPE scalings llama.cpp computes as transformers does for this architecture (plain RoPE always).</summary>
    public IReadOnlyList<RopeType> RopeScalings { get; private init; } = new[] { RopeType.Default, RopeType.Linear };

    private static readonly Dictionary<string, string> LlamaTensorNames = new(StringComparer.Ordinal)
    {
        ["input_layernorm"] = "attn_norm",
        ["self_attn.q_proj"] = "attn_q",
        ["self_attn.k_proj"] = "attn_k",
        ["self_attn.v_proj"] = "attn_v",
        ["self_attn.o_proj"] = "attn_output",
        ["post_attention_layernorm"] = "ffn_norm",
        ["mlp.gate_proj"] = "ffn_gate",
        ["mlp.up_proj"] = "ffn_up",
        ["mlp.down_proj"] = "ffn_down",
    };

    private static Dictionary<string, string> LlamaNamesWith(params (string Hf, string? Gguf)[] changes)
    {
        var names = new Dictionary<string, string>(LlamaTensorNames, StringComparer.Ordinal);
        foreach (var (hf, gguf) in changes)
        {
            if (gguf is null) names.Remove(hf);
            else names[hf] = gguf;
        }
        return names;
    }

    public static readonly IReadOnlyList<GgufArchitecture> All = new[]
    {
        // Llama 3.x RoPE travels as rope_freqs, which llama.cpp's llama architecture reads.
        new GgufArchitecture("llama", "llama", PermuteQueryKey: true) { RopeScalings = new[] { RopeType.Default, RopeType.Linear, RopeType.Llama3 } },
        new GgufArchitecture("mistral", "llama", PermuteQueryKey: true) { RopeScalings = new[] { RopeType.Default, RopeType.Linear, RopeType.Llama3 } },
        new GgufArchitecture("qwen2", "qwen2", PermuteQueryKey: false),
        // Gemma 2 (llama.cpp src/models/gemma2*.cpp): four norms per layer; post_attention_layernorm is the norm of the
        // attention output there (tensor_mapping's gemma2 entry), not the pre-MLP norm.
        new GgufArchitecture("gemma2", "gemma2", PermuteQueryKey: false)
        {
            NormPlusOne = true,
            SlidingPeriod = 2,
            RopeScalings = new[] { RopeType.Default },
            TensorNames = LlamaNamesWith(
                ("post_attention_layernorm", "post_attention_norm"),
                ("pre_feedforward_layernorm", "ffn_norm"),
                ("post_feedforward_layernorm", "post_ffw_norm")),
        },
        // Phi-3 (llama.cpp src/models/phi3.cpp): fused attn_qkv (rows q, k, v) and ffn_up holding gate then up, which
        // llama.cpp's LLM_FFN_SWIGLU splits as silu(first half) · second half, transformers' chunk(2) order.
        new GgufArchitecture("phi3", "phi3", PermuteQueryKey: false)
        {
            RopeScalings = new[] { RopeType.Default, RopeType.LongRope },
            TensorNames = LlamaNamesWith(
                ("self_attn.q_proj", null), ("self_attn.k_proj", null), ("self_attn.v_proj", null), ("mlp.gate_proj", null),
                ("self_attn.qkv_proj", "attn_qkv"),
                ("mlp.up_proj", null), ("mlp.gate_up_proj", "ffn_up")),
        },
    };

    /// <summary>The row for <paramref name="modelType"/>, or null when the exporter has none.</summary>
    public static GgufArchitecture? For(string modelType) => All.FirstOrDefault(a => a.ModelType == modelType);

    /// <summary>Top-level Hugging Face tensors → llama.cpp names.</summary>
    public static readonly IReadOnlyDictionary<string, string> GlobalTensorNames = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["model.embed_tokens.weight"] = "token_embd.weight",
        ["model.norm.weight"] = "output_norm.weight",
        ["lm_head.weight"] = "output.weight",
    };

    /// <summary>
    /// The GGUF name of a Hugging Face tensor (<c>model.layers.3.self_attn.q_proj.weight</c> → <c>blk.3.attn_q.weight</c>),
    /// or null when it has none.
    /// </summary>
    public string? GgufName(string hfName)
    {
        if (GlobalTensorNames.TryGetValue(hfName, out var g)) return g;
        const string prefix = "model.layers.";
        if (!hfName.StartsWith(prefix, StringComparison.Ordinal)) return null;
        var rest = hfName[prefix.Length..];
        var dot = rest.IndexOf('.');
        if (dot <= 0 || !int.TryParse(rest[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out var layer)) return null;
        var module = rest[(dot + 1)..];
        var kind = module.EndsWith(".weight", StringComparison.Ordinal) ? ".weight" : module.EndsWith(".bias", StringComparison.Ordinal) ? ".bias" : null;
        if (kind is null || !TensorNames.TryGetValue(module[..^kind.Length], out var name)) return null;
        return $"blk.{layer.ToString(CultureInfo.InvariantCulture)}.{name}{kind}";
    }

    /// <summary>Whether <paramref name="hfName"/> is an RMSNorm weight (<c>*norm.weight</c>, as Gemma2Model.modify_tensors tests it).</summary>
    public static bool IsNormWeight(string hfName) => hfName.EndsWith("norm.weight", StringComparison.Ordinal);

    /// <summary>
    /// llama.cpp's row order for q_proj (<paramref name="heads"/> = attention heads) or k_proj (key/value heads) of a
    /// <c>llama</c> model: within each head of <paramref name="headDim"/> rows, row i·2 + j of the output is row
    /// j·headDim/2 + i of the input (convert_hf_to_gguf.py's reshape(heads, 2, headDim/2, …).swapaxes(1, 2)).
    /// Applied to the rows of a weight, a bias, or a LoRA B (rows = output features).
    /// </summary>
    public static float[] PermuteRows(float[] values, int rows, int columns, int heads)
    {
        if (rows % heads != 0 || rows / heads % 2 != 0)
            throw new ArgumentException($"{rows} rows do not split into {heads} heads of an even size");
        var headDim = rows / heads;
        var half = headDim / 2;
        var result = new float[values.Length];
        for (var h = 0; h < heads; h++)
            for (var i = 0; i < half; i++)
                for (var j = 0; j < 2; j++)
                {
                    var to = h * headDim + i * 2 + j;
                    var from = h * headDim + j * half + i;
                    Array.Copy(values, (long)from * columns, result, (long)to * columns, columns);
                }
        return result;
    }

    /// <summary>The heads a q_proj / k_proj row permutation splits by (null for other modules).</summary>
    public static int? PermutationHeads(string module, LlamaDimensions d) => module switch
    {
        "self_attn.q_proj" => d.AttentionHeads,
        "self_attn.k_proj" => d.EffectiveKeyValueHeads,
        _ => null,
    };
}
