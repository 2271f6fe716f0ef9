using LoraKit.Json;
using LoraKit.Rules;

namespace LoraKit.Models;

/// <summary>What LoraKit does with a config.json key.</summary>
public enum ConfigKeyRole
{
    /// <summary>Read and applied (possibly only with some values; others are refused).</summary>
    Honoured,

    /// <summary>Does not change the forward pass or the loss (token ids, dtype hints, bookkeeping).</summary>
    Irrelevant,

    /// <summary>Changes the math and is not implemented: a LORA2004 error unless the value is null.</summary>
    Refused,
}

/// <summary>One config.json key: its role, what it means, and for honoured keys the values LoraKit refuses.</summary>
/// <param name="Key">The config.json key.</param>
/// <param name="Role">What LoraKit does with it.</param>
/// <param name="Meaning">What the key means and why it has its role (with the transformers source where it matters).</param>
public sealed record ConfigKeyRule(string Key, ConfigKeyRole Role, string Meaning)
{
    /// <summary>(model_type, value) → the problem when LoraKit cannot honour this value, else null.</summary>
    internal Func<string, JsonValue, string?>? Refuse { get; init; }

    /// <summary>How to fix a refused value.</summary>
    internal string? Fix { get; init; }
}

/// <summary>
/// Every config.json key of the architectures LoraKit builds (llama, mistral, qwen2, qwen3, gemma2, phi3), classified once:
/// honoured, irrelevant to the math, or refused. <see cref="HfConfig.Parse"/> checks every key of a config
/// against it, so the runtime, <c>lorakit budget</c> and the analyzers (which compile this file in) refuse the
/// same configs.
/// <para>
/// Keys not in the table: a key whose name looks mathematical (<see cref="MathematicalNameParts"/>: rope, attn,
/// window, norm, scal, …) is refused, since it may change the forward pass in a way LoraKit does not know;
/// any other unknown key (a tool's bookkeeping such as "_name_or_path" or "speculators_version") is accepted
/// and has no effect.
/// </para>
/// </summary>
public static class HfConfigKeys
{
    /// <summary>Parts of a key name that mark an unknown key as possibly changing the math.</summary>
    public static readonly IReadOnlyList<string> MathematicalNameParts = new[]
    {
        "rope", "rotary", "theta", "attn", "attention", "window", "norm", "eps", "scal", "softcap", "multiplier",
        "factor", "bias", "dropout", "head", "expert", "moe", "quant", "layer", "embed", "mlp", "hidden", "position",
        "act", "proj", "qkv", "dim", "size", "vocab", "logit", "kv", "sparse", "alibi", "residual", "tie",
    };

    private const string OnlyDefault = "LoraKit implements only the value shown in the fix";

    public static readonly IReadOnlyList<ConfigKeyRule> All = new[]
    {
        // ---- shape ----
        Honoured("model_type", "the family: llama, mistral, qwen2, qwen3, gemma2, phi3 (others are refused)"),
        Honoured("architectures", "the transformers class; every entry must be the causal-LM class of model_type",
            HfConfig.CheckArchitectures, "use the causal-LM class of model_type: " + string.Join(", ", ModelFamily.All.Select(f => f.Architecture))),
        Honoured("hidden_size", "model width"),
        Honoured("intermediate_size", "MLP width"),
        Honoured("num_hidden_layers", "decoder layers"),
        Honoured("num_attention_heads", "query heads"),
        Honoured("num_key_value_heads", "key/value heads (grouped-query attention)"),
        Honoured("head_dim", "per-head width when not hidden/heads (transformers reads config.head_dim in every supported family but phi3, where 4.47 takes hidden/heads and a different value is refused)"),
        Honoured("vocab_size", "embedding rows and logits"),
        Honoured("tie_word_embeddings", "lm_head shares embed_tokens.weight"),
        Honoured("attention_bias", "q/k/v/o biases (llama, qwen3, gemma2); Mistral, Qwen2 and Phi-3 attention ignore it in transformers",
            (type, v) => type is "mistral" or "qwen2" or "phi3" && v.Kind == JsonKind.Boolean && v.AsBoolean()
                ? $"is true, but transformers' {type} attention has fixed biases and ignores it" : null,
            "remove it or set it to false"),
        Honoured("mlp_bias", "gate/up/down biases (llama); the other families' MLPs have none",
            (type, v) => type != "llama" && v.Kind == JsonKind.Boolean && v.AsBoolean()
                ? $"is true, but transformers' {type} MLP has no biases and ignores it" : null,
            "remove it or set it to false"),
        Honoured("rms_norm_eps", "RMSNorm epsilon"),
        Honoured("hidden_act", "MLP activation; silu (= swish) only; unread by transformers' Gemma 2 (it reads hidden_activation)",
            (type, v) => type == "gemma2" || v.Kind == JsonKind.String && v.AsString() is "silu" or "swish" ? null : $"is {Show(v)}; {OnlyDefault}",
            "\"hidden_act\": \"silu\" (other activations are not implemented)"),
        Honoured("hidden_activation", "Gemma 2's MLP activation: gelu_pytorch_tanh (default) or silu; other families do not read it",
            (type, v) => type == "gemma2" ? null : $"is {Show(v)}, but transformers' {type} reads hidden_act, not hidden_activation",
            "remove it and set hidden_act"),
        Honoured("query_pre_attn_scalar", "Gemma 2: attention scores scaled by query_pre_attn_scalar^-1/2 instead of head_dim^-1/2",
            (type, _) => type == "gemma2" ? null : $"is a Gemma 2 key that transformers' {type} does not read", "remove it"),
        Honoured("attn_logit_softcapping", "Gemma 2: attention scores become c·tanh(scores / c) before the mask (null = none)",
            (type, _) => type == "gemma2" ? null : $"is a Gemma 2 key that transformers' {type} does not read", "remove it"),
        Honoured("final_logit_softcapping", "Gemma 2: logits become c·tanh(logits / c) (null = none)",
            (type, _) => type == "gemma2" ? null : $"is a Gemma 2 key that transformers' {type} does not read", "remove it"),
        Honoured("use_bidirectional_attention", "Gemma embedding variants attend both ways; false only",
            (_, v) => v.Kind == JsonKind.Boolean && !v.AsBoolean() ? null : $"is {Show(v)}; LoraKit builds causal decoders",
            "remove it or set it to false"),
        Honoured("resid_pdrop", "Phi-3: dropout on the attention and MLP outputs while training; 0 only",
            (_, v) => v.Kind == JsonKind.Number && v.AsDouble() == 0 ? null : $"is {Show(v)}; LoraKit does not drop residual activations",
            "\"resid_pdrop\": 0.0"),
        Honoured("embd_pdrop", "Phi-3: dropout on the embeddings while training; 0 only",
            (_, v) => v.Kind == JsonKind.Number && v.AsDouble() == 0 ? null : $"is {Show(v)}; LoraKit does not drop embeddings",
            "\"embd_pdrop\": 0.0"),
        Honoured("attention_dropout", "dropout on attention probabilities while training (transformers applies it in train mode); 0 only",
            (_, v) => v.Kind == JsonKind.Number && v.AsDouble() == 0 ? null : $"is {Show(v)}; LoraKit does not drop attention probabilities",
            "\"attention_dropout\": 0.0"),

        // ---- positions ----
        Honoured("rope_theta", "RoPE base"),
        Honoured("rope_scaling", "RoPE scaling: default, linear, dynamic, llama3, yarn, longrope (keyed by rope_type or the legacy type)"),
        Honoured("rope_parameters", "transformers 5's rope_theta + rope_scaling in one object"),
        Honoured("max_position_embeddings", "context length; dynamic NTK and yarn/longrope read it"),
        Honoured("original_max_position_embeddings", "longrope's pre-training context (top level, as Phi-3 writes it)"),
        Honoured("partial_rotary_factor", "fraction of head_dim that is rotated: phi3 any fraction in (0, 1] (the first features rotate, the rest pass), other families 1 only",
            (type, v) => type == "phi3" || v.Kind == JsonKind.Number && v.AsDouble() == 1 ? null : $"is {Show(v)}; {OnlyDefault}",
            "\"partial_rotary_factor\": 1.0 (partial rotary embeddings are implemented for phi3 only)"),
        Honoured("rope_interleaved", "SmolLM2's marker of rotate-half (false) vs interleaved (true) rotary pairs; false only",
            (_, v) => v.Kind == JsonKind.Boolean && !v.AsBoolean() ? null : $"is {Show(v)}; LoraKit rotates halves as transformers' Llama does",
            "\"rope_interleaved\": false"),
        Honoured("use_mrope", "Qwen2-VL multimodal RoPE; false only",
            (_, v) => v.Kind == JsonKind.Boolean && !v.AsBoolean() ? null : $"is {Show(v)}; multimodal RoPE is not implemented",
            "\"use_mrope\": false"),

        // ---- sliding window ----
        Honoured("sliding_window", "window W of sliding-window attention (mistral: every layer; qwen2/qwen3: with use_sliding_window); null = off",
            (type, v) => type == "llama" && v.Kind != JsonKind.Null
                ? "is set, but transformers' Llama has no sliding-window attention and ignores it" : null,
            "remove it (or set it to null), or use model_type mistral for a windowed model"),
        Honoured("use_sliding_window", "qwen2/qwen3: turns the window on for the layers from max_window_layers on"),
        Honoured("max_window_layers", "qwen2/qwen3: layers below it attend fully, the rest use the window"),
        Honoured("layer_types", "per-layer full_attention / sliding_attention (transformers 4.53+)"),
        Irrelevant("sliding_window_size", "Gemma 2's early name for its window, not read by transformers (it reads sliding_window)"),
        Irrelevant("cache_implementation", "Gemma 2's generation cache (hybrid); the same logits as without it"),

        // ---- irrelevant to the math ----
        Irrelevant("_name_or_path", "where the config was loaded from"),
        Irrelevant("transformers_version", "version that wrote the file"),
        Irrelevant("torch_dtype", "storage dtype of the checkpoint; LoraKit reads each tensor's own dtype"),
        Irrelevant("dtype", "transformers 5's name for torch_dtype"),
        Irrelevant("bos_token_id", "tokenizer id"),
        Irrelevant("eos_token_id", "tokenizer id"),
        Irrelevant("pad_token_id", "tokenizer id"),
        Irrelevant("sep_token_id", "tokenizer id"),
        Irrelevant("decoder_start_token_id", "tokenizer id"),
        Irrelevant("use_cache", "KV cache at generation; same logits"),
        Irrelevant("initializer_range", "std of random initialisation; checkpoints bring their weights"),
        Irrelevant("pretraining_tp", "Llama 2's tensor-parallel slicing: transformers' Llama modeling code before 4.48 split q/k/v/o, the MLP and lm_head into pretraining_tp slices whose partial products were concatenated or summed (the same product up to float rounding); since the 4.48 attention refactor it is not read at all"),
        Irrelevant("is_llama_config", "SmolLM2 marker"),
        Irrelevant("tokenizer_class", "tokenizer hint"),
        Irrelevant("output_attentions", "return attention maps"),
        Irrelevant("output_hidden_states", "return hidden states"),
        Irrelevant("return_dict", "Python return type"),
        Irrelevant("use_return_dict", "Python return type"),
        Irrelevant("torchscript", "export flag"),
        Irrelevant("id2label", "classification labels"),
        Irrelevant("label2id", "classification labels"),
        Irrelevant("problem_type", "classification heads"),
        Irrelevant("_attn_implementation_autoset", "kernel choice (eager/sdpa/flash give the same math)"),
        Irrelevant("attn_implementation", "kernel choice (eager/sdpa/flash give the same math)"),
        Irrelevant("_commit_hash", "hub revision"),
        Irrelevant("base_model_tp_plan", "tensor-parallel plan"),
        Irrelevant("base_model_pp_plan", "pipeline-parallel plan"),
        Irrelevant("tie_encoder_decoder", "encoder-decoder models only"),
        Irrelevant("is_decoder", "encoder-decoder models only"),
        Irrelevant("is_encoder_decoder", "encoder-decoder models only"),
        Irrelevant("add_cross_attention", "encoder-decoder models only; false in decoders"),
        Irrelevant("chunk_size_feed_forward", "memory chunking of the feed-forward; same result"),
        Irrelevant("task_specific_params", "generation presets"),
        Irrelevant("finetuning_task", "bookkeeping"),
        Irrelevant("prefix", "generation prompt prefix"),
        Irrelevant("temperature", "generation default"),
        Irrelevant("top_p", "generation default"),
        Irrelevant("top_k", "generation default"),
        Irrelevant("do_sample", "generation default"),
        Irrelevant("max_length", "generation default"),
        Irrelevant("min_length", "generation default"),
        Irrelevant("num_beams", "generation default"),
        Irrelevant("repetition_penalty", "generation default"),
        Irrelevant("length_penalty", "generation default"),
        Irrelevant("no_repeat_ngram_size", "generation default"),
        Irrelevant("early_stopping", "generation default"),
        Irrelevant("num_return_sequences", "generation default"),
        Irrelevant("bad_words_ids", "generation default"),

        // ---- refused: they change the math and LoraKit does not implement them ----
        Honoured("quantization_config", "a quantized checkpoint: bitsandbytes 4-bit NF4 with uint8 storage is loaded (Nf4Checkpoint); GPTQ, AWQ, 8-bit and FP4 are refused",
            (_, v) => QuantizationProblem(v),
            "use a bitsandbytes NF4 checkpoint (lorakit quantize writes one) or the full-precision checkpoint (LoraKit quantizes on load)"),
        Honoured("auto_map", "custom modeling code shipped with the checkpoint: refused, except on phi3, whose published checkpoints ship code for the Phi3ForCausalLM that transformers builds natively (without trust_remote_code it ignores auto_map)",
            (type, _) => type == "phi3" ? null : "names custom modeling code shipped with the checkpoint, which LoraKit does not run",
            "use a checkpoint of a supported family without custom code"),
        Refused("embedding_multiplier", "scaled embeddings (Granite)", "not implemented; use a supported family"),
        Refused("residual_multiplier", "scaled residuals (Granite)", "not implemented; use a supported family"),
        Refused("attention_multiplier", "attention scale (Granite)", "not implemented; use a supported family"),
        Refused("logits_scaling", "scaled logits (Granite)", "not implemented; use a supported family"),
        Refused("no_rope_layers", "layers without RoPE (SmolLM3, Llama 4)", "not implemented; use a supported family"),
    };

    private static readonly Dictionary<string, ConfigKeyRule> ByKey = All.ToDictionary(r => r.Key, StringComparer.Ordinal);

    /// <summary>The rule for <paramref name="key"/>, if the table has one.</summary>
    public static bool TryGet(string key, out ConfigKeyRule rule) => ByKey.TryGetValue(key, out rule!);

    /// <summary>Whether an unknown key's name suggests it changes the math (so it is refused, not ignored).</summary>
    public static bool LooksMathematical(string key)
    {
        var k = key.ToLowerInvariant();
        return MathematicalNameParts.Any(p => k.IndexOf(p, StringComparison.Ordinal) >= 0);
    }

    /// <summary>Checks every top-level key of a config of <paramref name="modelType"/>; throws LORA2004 for the first refused one.</summary>
    internal static void CheckAll(JsonValue root, string modelType, string source)
    {
        foreach (var member in root.Members)
        {
            var key = member.Key;
            var value = member.Value;
            if (!ByKey.TryGetValue(key, out var rule))
            {
                if (LooksMathematical(key) && value.Kind != JsonKind.Null)
                    throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, key,
                        $"is not a key LoraKit knows for {modelType}, and its name suggests it changes the model's math",
                        $"remove it if transformers' {modelType} class ignores it too; supported keys: {SupportedKeysText}", value.Line);
                continue;
            }
            if (rule.Role == ConfigKeyRole.Refused && value.Kind != JsonKind.Null)
                throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, key,
                    $"asks for {rule.Meaning}, which LoraKit does not implement", rule.Fix!, value.Line);
            if (rule.Refuse is not null && value.Kind != JsonKind.Null && rule.Refuse(modelType, value) is { } problem)
                throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, key, problem, rule.Fix!, value.Line);
        }
    }

    /// <summary>The honoured keys, for error messages.</summary>
    public static string SupportedKeysText => string.Join(", ", All.Where(r => r.Role == ConfigKeyRole.Honoured).Select(r => r.Key));

    private static string Show(JsonValue v) => v.Kind switch
    {
        JsonKind.String => $"\"{v.AsString()}\"",
        JsonKind.Number => v.RawNumber,
        JsonKind.Boolean => v.AsBoolean() ? "true" : "false",
        _ => $"a {v.Kind.ToString().ToLowerInvariant()}",
    };

    /// <summary>Why LoraKit cannot load a quantization_config, or null for bitsandbytes 4-bit NF4 in uint8 storage.</summary>
    private static string? QuantizationProblem(JsonValue q)
    {
        if (q.Kind != JsonKind.Object) return $"is {Show(q)}, not an object";
        string? Text(string key) => q[key] is { Kind: JsonKind.String } t ? t.AsString() : null;
        bool Flag(string key) => q[key] is { Kind: JsonKind.Boolean } b && b.AsBoolean();
        if (Text("quant_method") is var method && method != "bitsandbytes")
            return $"has quant_method {(method is null ? "missing" : "\"" + method + "\"")}; LoraKit loads bitsandbytes 4-bit checkpoints only";
        if (!Flag("load_in_4bit") && !Flag("_load_in_4bit"))
            return "is not 4-bit (load_in_4bit is not true); LoraKit does not load 8-bit checkpoints";
        if ((Text("bnb_4bit_quant_type") ?? "fp4") != Quantization.Nf4.QuantType)
            return $"has bnb_4bit_quant_type \"{Text("bnb_4bit_quant_type") ?? "fp4"}\"; only \"{Quantization.Nf4.QuantType}\" is supported";
        if ((Text("bnb_4bit_quant_storage") ?? "uint8") != "uint8")
            return $"has bnb_4bit_quant_storage \"{Text("bnb_4bit_quant_storage")}\"; only uint8 storage is supported";
        if (q["llm_int8_skip_modules"] is { Kind: JsonKind.Array } skip && skip.Items.Count > 0)
            return "lists llm_int8_skip_modules; LoraKit loads checkpoints with every decoder linear quantized and the head not";
        return null;
    }

    private static ConfigKeyRule Honoured(string key, string meaning, Func<string, JsonValue, string?>? refuse = null, string? fix = null) =>
        new(key, ConfigKeyRole.Honoured, meaning) { Refuse = refuse, Fix = fix };

    private static ConfigKeyRule Irrelevant(string key, string meaning) => new(key, ConfigKeyRole.Irrelevant, meaning);

    private static ConfigKeyRule Refused(string key, string meaning, string fix) => new(key, ConfigKeyRole.Refused, meaning) { Fix = fix };
}
