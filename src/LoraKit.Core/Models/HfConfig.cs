using System.IO;
using LoraKit.Json;
using LoraKit.Rules;

namespace LoraKit.Models;

/// <summary>
/// Reads a Hugging Face <c>config.json</c> of a Llama-family model into <see cref="LlamaDimensions"/>.
/// Defaults follow the transformers config classes of each model_type. Every key is checked against
/// <see cref="HfConfigKeys"/>: a key that changes the math and is not implemented is a LORA2004 error.
/// </summary>
public static partial class HfConfig
{
    /// <summary>The model_type values LoraKit builds, all Llama-shaped decoders (see <see cref="ModelFamily"/>).</summary>
    public static readonly IReadOnlyList<string> SupportedModelTypes = ModelFamily.All.Select(f => f.ModelType).ToArray();

    private static readonly Dictionary<string, string> ArchitectureToModelType =
        ModelFamily.All.ToDictionary(f => f.Architecture, f => f.ModelType, StringComparer.Ordinal);

    /// <summary>Our property names → config.json keys, so errors name the key the user wrote.</summary>
    public static string KeyFor(string property) => property switch
    {
        nameof(LlamaDimensions.HiddenSize) => "hidden_size",
        nameof(LlamaDimensions.IntermediateSize) => "intermediate_size",
        nameof(LlamaDimensions.Layers) => "num_hidden_layers",
        nameof(LlamaDimensions.AttentionHeads) => "num_attention_heads",
        nameof(LlamaDimensions.KeyValueHeads) => "num_key_value_heads",
        nameof(LlamaDimensions.VocabSize) => "vocab_size",
        nameof(LlamaDimensions.HeadDim) => "head_dim",
        _ => property,
    };

#if !LORAKIT_ANALYZER // analyzers must not do file I/O (RS1035): they read config.json as an AdditionalFile and call Parse
    /// <summary>Reads and parses a config.json file; every failure is a LORA2xxx error naming the file.</summary>
    public static LlamaDimensions Load(string path)
    {
        string text;
        try
        {
            text = LoraKit.IO.InputFile.ReadAllText(path, LoraKit.IO.InputLimits.JsonFileBytes, "model config");
        }
        catch (LoraKit.IO.InputFileException e)
        {
            throw new ModelDescriptionException(DiagnosticIds.UnreadableConfig, path, null,
                $"cannot be used ({e.Message.TrimEnd('.')})", "pass the model's Hugging Face config.json", e.Line);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new ModelDescriptionException(DiagnosticIds.UnreadableConfig, path, null,
                $"cannot be read ({e.Message.TrimEnd('.')})", "check the path and that the file is readable");
        }
        return Parse(text, path);
    }
#endif

    /// <summary>Parses config.json text; <paramref name="source"/> names the file in errors.</summary>
    public static LlamaDimensions Parse(string json, string source)
    {
        JsonValue root;
        try
        {
            root = JsonValue.Parse(json);
        }
        catch (JsonParseException e)
        {
            throw new ModelDescriptionException(DiagnosticIds.UnreadableConfig, source, null,
                $"is not valid JSON: {e.Message}", "fix the JSON syntax (a Hugging Face config.json is one JSON object)", e.Line);
        }
        if (root.Kind != JsonKind.Object)
            throw new ModelDescriptionException(DiagnosticIds.UnreadableConfig, source, null,
                $"holds a JSON {root.Kind.ToString().ToLowerInvariant()}, not an object", "a Hugging Face config.json is one JSON object of keys", root.Line);

        var modelType = ReadModelType(root, source);
        HfConfigKeys.CheckAll(root, modelType, source);
        var attentionBias = OptionalBool(root, source, "attention_bias", false);
        var gemma2 = modelType == "gemma2";
        var phi3 = modelType == "phi3";
        var dims = new LlamaDimensions
        {
            ModelType = modelType,
            HiddenSize = RequiredInt(root, source, "hidden_size"),
            IntermediateSize = RequiredInt(root, source, "intermediate_size"),
            Layers = RequiredInt(root, source, "num_hidden_layers"),
            AttentionHeads = RequiredInt(root, source, "num_attention_heads"),
            KeyValueHeads = OptionalInt(root, source, "num_key_value_heads", DefaultKeyValueHeads(modelType)),
            VocabSize = RequiredInt(root, source, "vocab_size"),
            HeadDim = OptionalInt(root, source, "head_dim", modelType switch { "qwen3" => 128, "gemma2" => 256, _ => 0 }),
            // Gemma2Config defaults tie_word_embeddings to true, the others to false.
            TieWordEmbeddings = OptionalBool(root, source, "tie_word_embeddings", gemma2),
            // Qwen2 always has q/k/v biases and no o_proj bias; Llama's attention_bias covers all four; Phi-3's
            // projections never have biases (transformers 4.47 builds them with bias=False).
            QkvBias = modelType == "qwen2" || (attentionBias && !phi3),
            OutputProjectionBias = modelType != "qwen2" && attentionBias && !phi3,
            MlpBias = OptionalBool(root, source, "mlp_bias", false),
            QkNorm = modelType == "qwen3",
            RopeTheta = OptionalDouble(root, source, "rope_theta", 10000.0),
            RmsNormEps = OptionalDouble(root, source, "rms_norm_eps", phi3 ? 1e-5 : 1e-6),
            MaxPositionEmbeddings = OptionalInt(root, source, "max_position_embeddings", DefaultMaxPositions(modelType)),
            // Gemma 2 reads hidden_activation (its hidden_act is unread); the others hidden_act.
            HiddenActivation = gemma2 ? OptionalActivation(root, source, "hidden_activation", ModelFamily.GeluTanh) : ModelFamily.Silu,
            QueryPreAttentionScalar = gemma2 ? OptionalDouble(root, source, "query_pre_attn_scalar", 256) : 0,
            // Gemma2Config: 50 and 30 when absent, none when null.
            AttentionLogitSoftcap = gemma2 ? Softcap(root, source, "attn_logit_softcapping", 50.0) : 0,
            FinalLogitSoftcap = gemma2 ? Softcap(root, source, "final_logit_softcapping", 30.0) : 0,
            PartialRotaryFactor = phi3 ? OptionalFraction(root, source, "partial_rotary_factor", 1.0) : 1.0,
        };
        dims = ReadRope(root, source, dims);
        dims = ReadSlidingWindow(root, source, dims);
        // transformers 4.47's Phi-3 takes head_dim = hidden_size / num_attention_heads and never reads head_dim.
        if (phi3 && dims.HeadDim > 0 && dims.HeadDim * dims.AttentionHeads != dims.HiddenSize)
            throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, "head_dim",
                $"is {dims.HeadDim}, but transformers 4.47's Phi-3 uses hidden_size / num_attention_heads = {dims.HiddenSize / dims.AttentionHeads} and ignores it",
                "remove head_dim (later transformers versions read it, so the versions disagree)", root["head_dim"]?.Line ?? 0);
        dims.Validate(source, KeyFor);
        return dims;
    }

#if !LORAKIT_ANALYZER
    /// <summary>Loads a config.json straight into a <see cref="ModelShape"/>.</summary>
    public static ModelShape LoadShape(string path, string? name = null) => ModelShape.FromLlama(name ?? ModelNameFor(path), Load(path), path);
#endif

    /// <summary>models/TinyLlama/config.json → "TinyLlama"; tinyllama.json → "tinyllama".</summary>
    public static string ModelNameFor(string configPath)
    {
        var full = Path.GetFullPath(configPath);
        if (!string.Equals(Path.GetFileName(full), "config.json", StringComparison.OrdinalIgnoreCase))
            return Path.GetFileNameWithoutExtension(full);
        var folder = Path.GetFileName(Path.GetDirectoryName(full));
        return string.IsNullOrEmpty(folder) ? "config" : folder!;
    }

    /// <summary>
    /// num_key_value_heads when config.json leaves it out, as the transformers config classes default it:
    /// Llama and Phi-3 use the attention heads (0 = derive), Gemma 2 4, Mistral and Qwen3 8, Qwen2 32.
    /// </summary>
    private static int DefaultKeyValueHeads(string modelType) => modelType switch
    {
        "gemma2" => 4,
        "mistral" => 8,
        "qwen3" => 8,
        "qwen2" => 32,
        _ => 0,
    };

    /// <summary>max_position_embeddings when absent: LlamaConfig 2048, MistralConfig 131072 (4096·32), Qwen2Config/Qwen3Config 32768, Gemma2Config 8192, Phi3Config 4096.</summary>
    private static int DefaultMaxPositions(string modelType) => modelType switch
    {
        "gemma2" => 8192,
        "phi3" => 4096,
        "mistral" => 4096 * 32,
        "qwen2" => 32768,
        "qwen3" => 32768,
        _ => 2048,
    };

    /// <summary>The model_type of a transformers causal-LM class name, or null.</summary>
    public static string? ArchitectureModelType(string architecture) =>
        ArchitectureToModelType.TryGetValue(architecture, out var t) ? t : null;

    /// <summary>The problem with an 'architectures' entry of a <paramref name="modelType"/> config, or null.</summary>
    internal static string? CheckArchitectures(string modelType, JsonValue architectures)
    {
        if (architectures.Kind != JsonKind.Array) return $"is a {architectures.Kind.ToString().ToLowerInvariant()}, not a list of class names";
        foreach (var a in architectures.Items)
        {
            if (a.Kind != JsonKind.String) return $"holds a {a.Kind.ToString().ToLowerInvariant()}, not a class name";
            var t = ArchitectureModelType(a.AsString());
            if (t is null) return $"names {a.AsString()}, a class LoraKit does not build (another head or another family)";
            if (t != modelType) return $"names {a.AsString()} while model_type is \"{modelType}\"";
        }
        return null;
    }

    private static string ReadModelType(JsonValue root, string source)
    {
        var supported = string.Join(", ", SupportedModelTypes);
        var type = root["model_type"];
        if (type is not null && type.Kind != JsonKind.Null)
        {
            if (type.Kind != JsonKind.String)
                throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, "model_type",
                    $"is a {type.Kind.ToString().ToLowerInvariant()}, not a string", $"use one of: {supported}", type.Line);
            var t = type.AsString();
            if (!SupportedModelTypes.Contains(t))
                throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, "model_type",
                    $"is \"{t}\", which LoraKit does not build", $"use a Llama-family model ({supported}) or describe it as LoraArchitecture.Custom", type.Line);
            return t;
        }
        var architectures = root["architectures"];
        if (architectures is { Kind: JsonKind.Array })
            foreach (var a in architectures.Items)
                if (a.Kind == JsonKind.String && ArchitectureToModelType.TryGetValue(a.AsString(), out var mapped))
                    return mapped;
        throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, "model_type",
            "is missing and no known entry of 'architectures' names the family", $"add \"model_type\": one of {supported}");
    }

    private static int RequiredInt(JsonValue root, string source, string key) =>
        Present(root, key) is { } v ? ToInt(v, source, key)
            : throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, key,
                "is missing", $"add \"{key}\" (a positive integer) as in the model's Hugging Face config.json");

    private static int OptionalInt(JsonValue root, string source, string key, int fallback) =>
        Present(root, key) is { } v ? ToInt(v, source, key) : fallback;

    private static int ToInt(JsonValue v, string source, string key)
    {
        if (v.Kind != JsonKind.Number) throw WrongKind(v, source, key, "a number", "write it as a JSON integer, without quotes");
        if (!v.TryGetInt64(out var n) || n > int.MaxValue || n < int.MinValue)
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, key,
                $"is {v.RawNumber}, not an integer", "give a whole number", v.Line);
        if (n <= 0)
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, key,
                $"is {n}", "give a positive integer", v.Line);
        return (int)n;
    }

    private static string OptionalActivation(JsonValue root, string source, string key, string fallback)
    {
        if (Present(root, key) is not { } v) return fallback;
        if (v.Kind != JsonKind.String) throw WrongKind(v, source, key, "a string", $"use one of: {string.Join(", ", ModelFamily.Activations)}");
        var name = v.AsString() == "swish" ? ModelFamily.Silu : v.AsString();
        return ModelFamily.Activations.Contains(name) ? name
            : throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, key,
                $"is \"{v.AsString()}\", an activation LoraKit does not implement", $"use one of: {string.Join(", ", ModelFamily.Activations)}", v.Line);
    }

    /// <summary>A soft-capping value: <paramref name="absent"/> when the key is missing, 0 (none) when it is null.</summary>
    private static double Softcap(JsonValue root, string source, string key, double absent) =>
        root[key] is null ? absent : OptionalDouble(root, source, key, 0);

    /// <summary>A number in (0, 1]: partial_rotary_factor.</summary>
    private static double OptionalFraction(JsonValue root, string source, string key, double fallback)
    {
        if (Present(root, key) is not { } v) return fallback;
        var d = PositiveNumber(v, source, key);
        return d <= 1 ? d : throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, key, $"is {v.RawNumber}", "give a fraction in (0, 1]", v.Line);
    }

    private static bool OptionalBool(JsonValue root, string source, string key, bool fallback)
    {
        if (Present(root, key) is not { } v) return fallback;
        if (v.Kind != JsonKind.Boolean) throw WrongKind(v, source, key, "true/false", "write true or false without quotes");
        return v.AsBoolean();
    }

    private static double OptionalDouble(JsonValue root, string source, string key, double fallback) =>
        Present(root, key) is { } v ? PositiveNumber(v, source, key) : fallback;

    private static double PositiveNumber(JsonValue v, string source, string key)
    {
        if (v.Kind != JsonKind.Number) throw WrongKind(v, source, key, "a number", "write it as a JSON number, without quotes");
        var d = v.AsDouble();
        if (!(d > 0) || double.IsInfinity(d))
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, key, $"is {v.RawNumber}", "give a positive finite number", v.Line);
        return d;
    }

    /// <summary>The value of <paramref name="key"/> in <paramref name="obj"/>, or null when it is absent or JSON null (both mean the default).</summary>
    private static JsonValue? Present(JsonValue obj, string key) => obj[key] is { Kind: not JsonKind.Null } v ? v : null;

    /// <summary>LORA2001 for a value of the wrong JSON kind: "is a string, not <paramref name="expected"/>".</summary>
    private static ModelDescriptionException WrongKind(JsonValue v, string source, string key, string expected, string fix) =>
        new(DiagnosticIds.InvalidDimension, source, key, $"is a {v.Kind.ToString().ToLowerInvariant()}, not {expected}", fix, v.Line);
}
