using LoraKit.Models;

namespace LoraKit.Gguf;

/// <summary>
/// How one Hugging Face model_type is written for llama.cpp: the GGUF architecture name its loader knows
/// (llama.cpp's convert_hf_to_gguf.py registers MistralForCausalLM under LlamaModel, so Mistral is written as
/// <c>llama</c>), and whether q_proj/k_proj rows are permuted. llama.cpp's <c>llama</c> architecture rotates
/// adjacent pairs (LLAMA_ROPE_TYPE_NORM) where transformers rotates halves, so its converter reorders each head's
/// rows from [first half; second half] to interleaved pairs (<c>LlamaModel.permute</c>); <c>qwen2</c> rotates halves
/// (LLAMA_ROPE_TYPE_NEOX) and takes the rows as they are.
/// A new family is a new row here, with its tensor names in <see cref="TensorNames"/> and any key it needs in
/// <see cref="GgufExporter"/>'s metadata.
/// </summary>
public sealed record GgufArchitecture(string ModelType, string Name, bool PermuteQueryKey)
{
    public static readonly IReadOnlyList<GgufArchitecture> All = new[]
    {
        new GgufArchitecture("llama", "llama", PermuteQueryKey: true),
        new GgufArchitecture("mistral", "llama", PermuteQueryKey: true),
        new GgufArchitecture("qwen2", "qwen2", PermuteQueryKey: false),
    };

    /// <summary>The row for <paramref name="modelType"/>, or null when the exporter has none.</summary>
    public static GgufArchitecture? For(string modelType) => All.FirstOrDefault(a => a.ModelType == modelType);

    /// <summary>Hugging Face module names (after <c>model.layers.N.</c>) → llama.cpp's tensor names (after <c>blk.N.</c>), gguf-py's tensor_mapping.py.</summary>
    public static readonly IReadOnlyDictionary<string, string> TensorNames = new Dictionary<string, string>(StringComparer.Ordinal)
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
    public static string? GgufName(string hfName)
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
