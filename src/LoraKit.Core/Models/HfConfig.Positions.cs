using LoraKit.Json;
using LoraKit.Rules;

namespace LoraKit.Models;

/// <summary>rope_scaling / rope_parameters and the sliding-window keys of config.json.</summary>
public static partial class HfConfig
{
    /// <summary>The rope_type names LoraKit implements, for messages.</summary>
    public static readonly IReadOnlyList<string> SupportedRopeTypes =
        ((RopeType[])Enum.GetValues(typeof(RopeType))).Select(RopeScaling.NameOf).ToArray();

    /// <summary>
    /// Keys each rope_type reads in transformers' modeling_rope_utils (<c>_compute_*_parameters</c>), beyond
    /// rope_type/type. A key outside its type's list is refused: transformers only warns about it, and
    /// LoraKit will not guess what its writer meant.
    /// </summary>
    private static readonly Dictionary<RopeType, string[]> RopeKeys = new()
    {
        [RopeType.Default] = Array.Empty<string>(),
        [RopeType.Linear] = new[] { "factor" },
        [RopeType.Dynamic] = new[] { "factor", "original_max_position_embeddings" },
        [RopeType.Llama3] = new[] { "factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings" },
        [RopeType.Yarn] = new[] { "factor", "attention_factor", "beta_fast", "beta_slow", "mscale", "mscale_all_dim", "original_max_position_embeddings", "truncate" },
        [RopeType.LongRope] = new[] { "short_factor", "long_factor", "factor", "attention_factor", "original_max_position_embeddings" },
    };

    private static LlamaDimensions ReadRope(JsonValue root, string source, LlamaDimensions dims)
    {
        var scaling = root["rope_scaling"];
        var parameters = root["rope_parameters"];
        var hasScaling = scaling is not null && scaling.Kind != JsonKind.Null;
        var hasParameters = parameters is not null && parameters.Kind != JsonKind.Null;
        if (hasScaling && hasParameters)
            throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, "rope_parameters",
                "and rope_scaling are both given", "keep one: rope_parameters (transformers 5) or rope_theta + rope_scaling", parameters!.Line);
        var topOriginal = Present(root, "original_max_position_embeddings");
        int? topLevelOriginal = topOriginal is null ? null : ToInt(topOriginal, source, "original_max_position_embeddings");
        if (!hasScaling && !hasParameters)
            return dims;

        var key = hasScaling ? "rope_scaling" : "rope_parameters";
        var obj = hasScaling ? scaling! : parameters!;
        // transformers 4.47's Gemma 2 builds plain RoPE and never reads rope_scaling (later versions do): refused, not guessed.
        if (dims.ModelType == "gemma2")
            throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, key,
                "is set, but transformers 4.47's Gemma 2 ignores RoPE scaling while later versions apply it", $"remove {key} (Gemma 2 uses plain RoPE)", obj.Line);
        if (obj.Kind != JsonKind.Object)
            throw WrongKind(obj, source, key, "an object", "write it as an object such as {\"rope_type\": \"linear\", \"factor\": 2.0}, or null");

        if (hasParameters)
        {
            if (Present(obj, "rope_theta") is { } theta)
            {
                var t = PositiveNumber(theta, source, "rope_parameters.rope_theta");
                if (root["rope_theta"] is { Kind: JsonKind.Number } top && top.AsDouble() != t)
                    throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, "rope_parameters.rope_theta",
                        $"is {theta.RawNumber} while the top-level rope_theta is {top.RawNumber}", "give rope_theta once", theta.Line);
                dims = dims with { RopeTheta = t };
            }
            if (obj["partial_rotary_factor"] is { Kind: not JsonKind.Null } partial && !(partial.Kind == JsonKind.Number && partial.AsDouble() == dims.PartialRotaryFactor))
                throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, "rope_parameters.partial_rotary_factor",
                    $"is not {dims.PartialRotaryFactor}; partial rotary embeddings are implemented for phi3 only, through its top-level partial_rotary_factor", $"\"partial_rotary_factor\": {dims.PartialRotaryFactor}", partial.Line);
        }

        var type = ReadRopeType(obj, source, key, dims.ModelType);
        if (dims.ModelType == "phi3" && type != RopeType.LongRope)
            throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, key,
                $"asks for rope_type \"{RopeScaling.NameOf(type)}\"; transformers 4.47's Phi-3 accepts only longrope (su and yarn are its legacy names)",
                "use {\"type\": \"longrope\", \"short_factor\": […], \"long_factor\": […]} as the model's published config.json does", obj.Line);
        var allowed = new HashSet<string>(RopeKeys[type]) { "rope_type", "type" };
        if (hasParameters) { allowed.Add("rope_theta"); allowed.Add("partial_rotary_factor"); }
        foreach (var m in obj.Members)
            if (!allowed.Contains(m.Key) && m.Value.Kind != JsonKind.Null)
                throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, $"{key}.{m.Key}",
                    $"is not read by rope_type \"{RopeScaling.NameOf(type)}\" and LoraKit does not implement it",
                    $"remove it; \"{RopeScaling.NameOf(type)}\" reads: {(RopeKeys[type].Length == 0 ? "nothing else" : string.Join(", ", RopeKeys[type]))}", m.Value.Line);

        string K(string name) => $"{key}.{name}";
        double? Num(string name) => Present(obj, name) is { } v ? PositiveNumber(v, source, K(name)) : null;
        double RequiredNum(string name) => Num(name) ?? throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, K(name),
            $"is missing; rope_type \"{RopeScaling.NameOf(type)}\" needs it", $"add \"{name}\" to {key} (a positive number, as in the model's published config.json)", obj.Line);
        int? OriginalIn() => Present(obj, "original_max_position_embeddings") is { } v ? ToInt(v, source, K("original_max_position_embeddings")) : null;

        // The top-level original_max_position_embeddings is longrope's (Phi-3); transformers 5 moves it into the rope
        // parameters, where yarn and llama3 would read it, so elsewhere it is accepted only when it changes nothing.
        if (topLevelOriginal is { } top0 && type != RopeType.LongRope && type != RopeType.Default && OriginalIn() != top0)
            throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, "original_max_position_embeddings",
                $"is {top0} at the top level, which transformers versions apply differently to rope_type \"{RopeScaling.NameOf(type)}\"",
                $"move it into {key} (or remove it)", topOriginal!.Line);

        RopeScaling rope;
        switch (type)
        {
            case RopeType.Default:
                return dims;
            case RopeType.Linear:
                rope = new RopeScaling { Type = type, Factor = RequiredNum("factor") };
                break;
            case RopeType.Dynamic:
                if (OriginalIn() is { } dynamicOriginal && dynamicOriginal != dims.MaxPositionEmbeddings)
                    throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, K("original_max_position_embeddings"),
                        $"is {dynamicOriginal}, but transformers' dynamic NTK measures against max_position_embeddings ({dims.MaxPositionEmbeddings}) and ignores it",
                        "remove it, or set max_position_embeddings to the pre-training context", obj["original_max_position_embeddings"]!.Line);
                rope = new RopeScaling { Type = type, Factor = RequiredNum("factor") };
                break;
            case RopeType.Llama3:
                {
                    var low = RequiredNum("low_freq_factor");
                    var high = RequiredNum("high_freq_factor");
                    if (!(high > low))
                        throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, K("high_freq_factor"),
                            $"is {high}, not above low_freq_factor {low}", "llama3 RoPE needs high_freq_factor > low_freq_factor (Llama 3.1: 4 and 1)", obj["high_freq_factor"]!.Line);
                    rope = new RopeScaling
                    {
                        Type = type, Factor = RequiredNum("factor"), LowFrequencyFactor = low, HighFrequencyFactor = high,
                        OriginalMaxPositionEmbeddings = OriginalIn() ?? (int)RequiredNum("original_max_position_embeddings"),
                    };
                    break;
                }
            case RopeType.Yarn:
                {
                    var factor = RequiredNum("factor");
                    var original = OriginalIn();
                    // transformers ≥ 4.56 (and 4.47, which read no original context) use factor as given; the versions
                    // between replaced it by max_position_embeddings / original_max_position_embeddings when rope_scaling
                    // named the original context. LoraKit follows the current release (checked against 5.17 logits): the
                    // Qwen2.5 model-card form (max 32768, factor 4, original 32768) is factor 4 over a 32768 context.
                    var truncate = obj["truncate"];
                    if (truncate is not null && truncate.Kind is not (JsonKind.Null or JsonKind.Boolean))
                        throw WrongKind(truncate, source, K("truncate"), "true/false", "write true or false without quotes");
                    rope = new RopeScaling
                    {
                        Type = type, Factor = factor, AttentionFactor = Num("attention_factor"),
                        BetaFast = Num("beta_fast") ?? 32, BetaSlow = Num("beta_slow") ?? 1,
                        Mscale = Num("mscale") ?? 0, MscaleAllDim = Num("mscale_all_dim") ?? 0,
                        Truncate = truncate is not { Kind: JsonKind.Boolean } || truncate.AsBoolean(),
                        OriginalMaxPositionEmbeddings = original ?? 0,
                    };
                    break;
                }
            case RopeType.LongRope:
                {
                    var half = dims.RotaryDim / 2;
                    var inside = OriginalIn();
                    if (topLevelOriginal is { } t && inside is { } i && t != i)
                        throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, K("original_max_position_embeddings"),
                            $"is {i} while the top-level key says {t}", "give original_max_position_embeddings once", obj["original_max_position_embeddings"]!.Line);
                    // Phi3Config defaults original_max_position_embeddings to 4096.
                    var original = topLevelOriginal ?? inside ?? (dims.ModelType == "phi3" ? 4096 : null);
                    var given = Num("factor");
                    double factor;
                    if (original is { } o)
                    {
                        // transformers derives longrope's factor from the context ratio when the original context is known.
                        factor = (double)dims.MaxPositionEmbeddings / o;
                        if (given is { } g && Math.Abs(g - factor) > 1e-9 * factor)
                            throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, K("factor"),
                                $"is {g} but transformers uses max_position_embeddings / original_max_position_embeddings = {factor}",
                                "remove factor or make it equal to that ratio", obj["factor"]!.Line);
                    }
                    else
                        factor = RequiredNum("factor");
                    rope = new RopeScaling
                    {
                        Type = type, Factor = factor, AttentionFactor = Num("attention_factor"),
                        OriginalMaxPositionEmbeddings = original ?? 0,
                        ShortFactor = FactorList(obj, source, K("short_factor"), "short_factor", half),
                        LongFactor = FactorList(obj, source, K("long_factor"), "long_factor", half),
                    };
                    break;
                }
            default:
                throw new InvalidOperationException(type.ToString());
        }
        return dims with { RopeScaling = rope };
    }

    private static RopeType ReadRopeType(JsonValue obj, string source, string key, string modelType)
    {
        var supported = string.Join(", ", SupportedRopeTypes);
        string? Read(string name)
        {
            if (Present(obj, name) is not { } v) return null;
            return v.Kind == JsonKind.String ? v.AsString() : throw WrongKind(v, source, $"{key}.{name}", "a string", $"use one of: {supported}");
        }
        var ropeType = Read("rope_type");
        var legacy = Read("type");
        if (ropeType is not null && legacy is not null && ropeType != legacy)
            throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, $"{key}.type",
                $"is \"{legacy}\" while rope_type is \"{ropeType}\"", "keep rope_type (type is its legacy name)", obj["type"]!.Line);
        var name = ropeType ?? legacy ?? "default";
        // Phi3Config._rope_scaling_adjustment (transformers 4.47): the legacy types "su" and "yarn" mean longrope.
        if (modelType == "phi3" && legacy is "su" or "yarn" && ropeType is null) name = RopeScaling.NameOf(RopeType.LongRope);
        foreach (RopeType t in Enum.GetValues(typeof(RopeType)))
            if (RopeScaling.NameOf(t) == name) return t;
        var at = obj[ropeType is not null ? "rope_type" : "type"]!;
        throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, $"{key}.{(ropeType is not null ? "rope_type" : "type")}",
            $"is \"{name}\", a RoPE scaling LoraKit does not implement", $"supported: {supported}", at.Line);
    }

    private static IReadOnlyList<double> FactorList(JsonValue obj, string source, string key, string name, int length)
    {
        var v = Present(obj, name) ?? throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, key,
            "is missing; rope_type \"longrope\" needs it", $"add \"{name}\": a list of {length} numbers (head_dim / 2)", obj.Line);
        if (v.Kind != JsonKind.Array || v.Items.Count != length || v.Items.Any(x => x.Kind != JsonKind.Number))
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, key,
                v.Kind != JsonKind.Array ? $"is a {v.Kind.ToString().ToLowerInvariant()}, not a list" : $"holds {v.Items.Count} entries (or a non-number)",
                $"give {length} numbers (head_dim / 2)", v.Line);
        return v.Items.Select(x => PositiveNumber(x, source, key)).ToArray();
    }

    /// <summary>Qwen2Config/Qwen3Config defaults when the keys are absent: sliding_window 4096, max_window_layers 28.</summary>
    private const int QwenDefaultWindow = 4096, QwenDefaultMaxWindowLayers = 28;

    /// <summary>MistralConfig's sliding_window when the key is absent.</summary>
    private const int MistralDefaultWindow = 4096;

    /// <summary>Gemma2Config's sliding_window when the key is absent.</summary>
    private const int Gemma2DefaultWindow = 4096;

    /// <summary>
    /// The sliding window as transformers applies it. Mistral: <c>sliding_window</c> on every layer (null = off;
    /// MistralAttention passes config.sliding_window to the attention). Qwen2/Qwen3 (configuration_qwen2.py /
    /// configuration_qwen3.py, transformers ≥ 4.53): <c>sliding_window = sliding_window if use_sliding_window else
    /// None</c>, and unless config.json lists <c>layer_types</c>, layer i is "sliding_attention" when the window is
    /// set and i ≥ max_window_layers, else "full_attention"; the attention of a sliding layer gets the window, and
    /// the sliding mask lets query t see keys t−W+1 … t (masking_utils: kv_idx &gt; q_idx − W).
    /// </summary>
    private static LlamaDimensions ReadSlidingWindow(JsonValue root, string source, LlamaDimensions dims)
    {
        var windowValue = root["sliding_window"];
        int? window = windowValue is null ? -1 : windowValue.Kind == JsonKind.Null ? null : ToInt(windowValue, source, "sliding_window");
        var use = OptionalBool(root, source, "use_sliding_window", false);
        var layerTypes = ReadLayerTypes(root, source, dims.Layers);
        switch (dims.ModelType)
        {
            case "gemma2":
                {
                    // Gemma2DecoderLayer (4.47): is_sliding = not bool(layer_idx % 2), the window config.sliding_window.
                    if (window is null)
                        throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, "sliding_window",
                            "is null, but transformers 4.47's Gemma 2 needs a window for its even layers", "give the model's window (Gemma 2: 4096)", windowValue!.Line);
                    var w = window == -1 ? Gemma2DefaultWindow : window.Value;
                    if (layerTypes is not null && layerTypes.Select((sliding, i) => sliding != (i % 2 == 0)).Any(x => x))
                        throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, "layer_types",
                            "differs from Gemma 2's layout (even layers sliding, odd layers full), the only one transformers 4.47 builds",
                            "remove layer_types or list sliding_attention, full_attention, … alternating from layer 0", root["layer_types"]!.Line);
                    if (use)
                        throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, "use_sliding_window",
                            "is a Qwen key; Gemma 2 windows its even layers whatever it says", "remove it", root["use_sliding_window"]!.Line);
                    return dims with { SlidingWindow = w, FirstSlidingLayer = 0, AlternatingWindow = true };
                }
            case "phi3":
            case "mistral":
                {
                    // Phi3Config's sliding_window defaults to None; its 4.47 mask (Mistral's) windows every layer.
                    var w = window == -1 ? (dims.ModelType == "phi3" ? 0 : MistralDefaultWindow) : window ?? 0;
                    if (layerTypes is not null && layerTypes.Any(s => s != (w > 0)))
                        throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, "layer_types",
                            $"differs from sliding_window ({(w > 0 ? w.ToString() : "null")}), which transformers' {dims.ModelType} applies to every layer",
                            "remove layer_types or make it agree with sliding_window", root["layer_types"]!.Line);
                    return dims with { SlidingWindow = w, FirstSlidingLayer = 0 };
                }
            case "qwen2":
            case "qwen3":
                {
                    var w = !use ? 0 : window == -1 ? QwenDefaultWindow : window ?? 0;
                    if (w == 0) return dims with { SlidingWindow = 0, FirstSlidingLayer = 0 };
                    int first;
                    if (layerTypes is not null)
                    {
                        first = Array.IndexOf(layerTypes, true);
                        if (first < 0) return dims with { SlidingWindow = 0, FirstSlidingLayer = 0 };
                        if (layerTypes.Skip(first).Any(s => !s))
                            throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, "layer_types",
                                "mixes full and sliding layers in another pattern than full layers first, then sliding ones",
                                "LoraKit implements the max_window_layers pattern (full_attention…, then sliding_attention…)", root["layer_types"]!.Line);
                    }
                    else
                        first = OptionalNonNegativeInt(root, source, "max_window_layers", QwenDefaultMaxWindowLayers);
                    return first >= dims.Layers ? dims with { SlidingWindow = 0, FirstSlidingLayer = 0 } : dims with { SlidingWindow = w, FirstSlidingLayer = first };
                }
            default:
                if (use || (layerTypes is not null && layerTypes.Any(s => s)))
                    throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, use ? "use_sliding_window" : "layer_types",
                        $"asks for sliding-window attention, which transformers' {dims.ModelType} does not have",
                        "remove it, or use model_type mistral/qwen2 for a windowed model", (use ? root["use_sliding_window"] : root["layer_types"])!.Line);
                return dims;
        }
    }

    /// <summary>layer_types as "is sliding" per layer, or null when absent.</summary>
    private static bool[]? ReadLayerTypes(JsonValue root, string source, int layers)
    {
        if (Present(root, "layer_types") is not { } v) return null;
        if (v.Kind != JsonKind.Array || v.Items.Count != layers)
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, source, "layer_types",
                v.Kind != JsonKind.Array ? $"is a {v.Kind.ToString().ToLowerInvariant()}, not a list" : $"lists {v.Items.Count} layers, not num_hidden_layers = {layers}",
                "give one of \"full_attention\" / \"sliding_attention\" per layer", v.Line);
        return v.Items.Select(x => x.Kind == JsonKind.String && x.AsString() is "full_attention" or "sliding_attention"
            ? x.AsString() == "sliding_attention"
            : throw new ModelDescriptionException(DiagnosticIds.UnsupportedArchitecture, source, "layer_types",
                $"holds {(x.Kind == JsonKind.String ? $"\"{x.AsString()}\"" : x.Kind.ToString().ToLowerInvariant())}, a layer type LoraKit does not implement",
                "use \"full_attention\" or \"sliding_attention\"", x.Line)).ToArray();
    }

    private static int OptionalNonNegativeInt(JsonValue root, string source, string key, int fallback)
    {
        if (Present(root, key) is not { } v) return fallback;
        if (v.Kind == JsonKind.Number && v.TryGetInt64(out var n) && n == 0) return 0;
        return ToInt(v, source, key);
    }
}
