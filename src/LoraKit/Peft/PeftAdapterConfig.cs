using System.Collections.ObjectModel;
using System.Text.Encodings.Web;
using System.Text.Json;
using LoraKit.IO;
using LoraKit.Models;

namespace LoraKit.Peft;

/// <summary>
/// A PEFT LoRA <c>adapter_config.json</c>. The LoRA keys PEFT defines are typed properties; every other
/// key is kept as raw JSON in <see cref="ExtraKeys"/>, so <see cref="Load"/> then <see cref="Save"/>
/// keeps keys LoraKit does not know. <see cref="Save"/> writes like PEFT (<c>json.dumps(sort_keys=True,
/// indent=2)</c>): keys sorted, two-space indent, no trailing newline; for a file PEFT wrote, an unchanged
/// round-trip reproduces it byte for byte.
/// </summary>
public sealed class PeftAdapterConfig
{
    public const string FileName = "adapter_config.json";
    public const string LoraPeftType = "LORA";

    /// <summary>PEFT's default <c>lora_alpha</c> when the key is absent.</summary>
    public const double DefaultLoraAlpha = 8;

    private static readonly IReadOnlyDictionary<string, int> EmptyRanks = new ReadOnlyDictionary<string, int>(new Dictionary<string, int>());
    private static readonly IReadOnlyDictionary<string, double> EmptyAlphas = new ReadOnlyDictionary<string, double>(new Dictionary<string, double>());

    private bool _layersToTransformWasScalar;

    /// <summary><c>peft_type</c>: always "LORA" (other PEFT methods are rejected on load).</summary>
    public string PeftType => LoraPeftType;

    /// <summary><c>r</c>: the rank, at least 1.</summary>
    public int R { get; set; } = 8;

    /// <summary><c>lora_alpha</c> (PEFT default 8).</summary>
    public double LoraAlpha { get; set; } = DefaultLoraAlpha;

    /// <summary><c>lora_dropout</c>, in [0, 1).</summary>
    public double LoraDropout { get; set; }

    /// <summary><c>target_modules</c>: a list or a single (regex / "all-linear") string; null lets PEFT pick by model type.</summary>
    public PeftTargetModules? TargetModules { get; set; }

    /// <summary><c>bias</c>: "none", "all" or "lora_only".</summary>
    public LoraBias Bias { get; set; }

    /// <summary><c>use_rslora</c>: scale by α/√r instead of α/r.</summary>
    public bool UseRsLora { get; set; }

    /// <summary><c>use_dora</c>.</summary>
    public bool UseDora { get; set; }

    /// <summary>
    /// <c>init_lora_weights</c> as given: "true" / "false" for the JSON booleans, else the string
    /// ("gaussian", "pissa", "olora", "loftq", ...). Saved back as a boolean for "true"/"false".
    /// </summary>
    public string InitLoraWeights { get; set; } = "true";

    /// <summary><c>fan_in_fan_out</c>: the base layer stores its weight as [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; set; }

    /// <summary><c>modules_to_save</c>: modules trained and saved in full (e.g. a classifier head), or null.</summary>
    public IReadOnlyList<string>? ModulesToSave { get; set; }

    /// <summary><c>task_type</c> ("CAUSAL_LM", "SEQ_CLS", ...), or null.</summary>
    public string? TaskType { get; set; }

    /// <summary><c>base_model_name_or_path</c>, or null.</summary>
    public string? BaseModelNameOrPath { get; set; }

    /// <summary><c>inference_mode</c>.</summary>
    public bool InferenceMode { get; set; }

    /// <summary><c>layers_to_transform</c>: layer indices to adapt (a single integer in the file reads as one index), or null for all.</summary>
    public IReadOnlyList<int>? LayersToTransform { get; set; }

    /// <summary><c>rank_pattern</c>: per-module rank overrides (key: a module name pattern).</summary>
    public IReadOnlyDictionary<string, int> RankPattern { get; set; } = EmptyRanks;

    /// <summary><c>alpha_pattern</c>: per-module alpha overrides.</summary>
    public IReadOnlyDictionary<string, double> AlphaPattern { get; set; } = EmptyAlphas;

    /// <summary>Every other key of the file, as raw JSON, written back unchanged by <see cref="Save"/>.</summary>
    public IDictionary<string, JsonElement> ExtraKeys { get; } = new SortedDictionary<string, JsonElement>(StringComparer.Ordinal);

    /// <summary>The multiplier of B·A: α/r, or α/√r with rsLoRA.</summary>
    public double Scaling => LoraConfig.ComputeScaling(R, LoraAlpha, UseRsLora);

    private static readonly string[] KnownKeys =
    {
        "alpha_pattern", "base_model_name_or_path", "bias", "fan_in_fan_out", "inference_mode", "init_lora_weights",
        "layers_to_transform", "lora_alpha", "lora_dropout", "modules_to_save", "peft_type", "r", "rank_pattern",
        "target_modules", "task_type", "use_dora", "use_rslora",
    };

    // The boolean keys, read and written alike.
    private static readonly (string Key, Func<PeftAdapterConfig, bool> Get, Action<PeftAdapterConfig, bool> Set)[] Flags =
    {
        ("fan_in_fan_out", c => c.FanInFanOut, (c, v) => c.FanInFanOut = v),
        ("inference_mode", c => c.InferenceMode, (c, v) => c.InferenceMode = v),
        ("use_dora", c => c.UseDora, (c, v) => c.UseDora = v),
        ("use_rslora", c => c.UseRsLora, (c, v) => c.UseRsLora = v),
    };

    /// <summary>Reads and validates an <c>adapter_config.json</c>.</summary>
    /// <exception cref="PeftFormatException">The file is missing, not JSON, not a LoRA config, or a key is invalid.</exception>
    public static PeftAdapterConfig Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var file = Path.GetFullPath(path);
        if (!File.Exists(file))
            throw new PeftFormatException(file, null, "the file does not exist", "pass the adapter_config.json of a PEFT adapter folder");
        byte[] bytes;
        try
        {
            bytes = InputFile.ReadAllBytes(file, InputLimits.JsonFileBytes, "adapter config");
        }
        catch (InputFileException e)
        {
            throw new PeftFormatException(file, null, e.Message, "pass the adapter_config.json of a PEFT adapter folder");
        }
        return Parse(bytes, file);
    }

    /// <summary>Parses the text of an <c>adapter_config.json</c>; <paramref name="source"/> names it in errors.</summary>
    public static PeftAdapterConfig Parse(ReadOnlySpan<byte> utf8Json, string source)
    {
        const string jsonFix = "write adapter_config.json as one JSON object, as PEFT's save_pretrained does";
        JsonDuplicateKeys.Duplicate? duplicate;
        try
        {
            duplicate = JsonDuplicateKeys.Find(utf8Json);
        }
        catch (JsonException ex)
        {
            throw new PeftFormatException(source, null, $"is not valid JSON ({ex.Message})", jsonFix, ex);
        }
        if (duplicate is { } dup)
            throw new PeftFormatException(source, dup.Path.Count > 0 ? string.Join(".", dup.Path) : dup.Key,
                $"appears more than once (duplicate key '{dup.Key}')", "keep one of them");

        using var doc = JsonDocument.Parse(utf8Json.ToArray());
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw new PeftFormatException(source, null, $"holds {JsonKinds.Describe(root.ValueKind)}, not a JSON object", jsonFix);

        if (!root.TryGetProperty("peft_type", out var peftType))
            throw new PeftFormatException(source, "peft_type", "is missing", "add \"peft_type\": \"LORA\"");
        if (peftType.ValueKind != JsonValueKind.String || peftType.GetString() != LoraPeftType)
            throw new PeftFormatException(source, "peft_type", $"is {peftType.GetRawText()}, not \"LORA\"",
                "LoraKit reads LoRA adapters only; other PEFT methods (IA3, AdaLoRA, prefix tuning, ...) are not supported");

        var config = new PeftAdapterConfig();
        if (!root.TryGetProperty("r", out var r))
            throw new PeftFormatException(source, "r", "is missing", "add the LoRA rank, e.g. \"r\": 8");
        config.R = PositiveInt(r, source, "r");

        foreach (var p in root.EnumerateObject())
        {
            var v = p.Value;
            if (Array.FindIndex(Flags, f => f.Key == p.Name) is var flag and >= 0)
            {
                Flags[flag].Set(config, Bool(v, source, p.Name));
                continue;
            }
            switch (p.Name)
            {
                case "peft_type":
                case "r":
                    break;
                case "lora_alpha":
                    config.LoraAlpha = Number(v, source, p.Name, "a number, e.g. \"lora_alpha\": 16");
                    break;
                case "lora_dropout":
                    var dropout = Number(v, source, p.Name, "a probability, e.g. \"lora_dropout\": 0.05");
                    if (dropout < 0 || dropout >= 1)
                        throw new PeftFormatException(source, p.Name, $"is {v.GetRawText()}, outside [0, 1)", "use a dropout probability such as 0.0 or 0.05");
                    config.LoraDropout = dropout;
                    break;
                case "target_modules":
                    config.TargetModules = v.ValueKind switch
                    {
                        JsonValueKind.Null => null,
                        JsonValueKind.String => PeftTargetModules.FromPattern(v.GetString()!),
                        JsonValueKind.Array => PeftTargetModules.FromNames(StringList(v, source, p.Name)),
                        _ => throw new PeftFormatException(source, p.Name, $"is {JsonKinds.Describe(v.ValueKind)}",
                            "give a list of module names, e.g. [\"q_proj\", \"v_proj\"], or a regex string"),
                    };
                    break;
                case "bias":
                    config.Bias = v.ValueKind == JsonValueKind.String ? v.GetString() switch
                    {
                        "none" => LoraBias.None,
                        "all" => LoraBias.All,
                        "lora_only" => LoraBias.LoraOnly,
                        _ => throw BadBias(source, v),
                    } : throw BadBias(source, v);
                    break;
                case "init_lora_weights":
                    config.InitLoraWeights = v.ValueKind switch
                    {
                        JsonValueKind.True => "true",
                        JsonValueKind.False => "false",
                        JsonValueKind.String => v.GetString()!,
                        _ => throw new PeftFormatException(source, p.Name, $"is {JsonKinds.Describe(v.ValueKind)}",
                            "use true, false or an initialisation name such as \"gaussian\""),
                    };
                    break;
                case "modules_to_save":
                    config.ModulesToSave = v.ValueKind == JsonValueKind.Null ? null : StringList(v, source, p.Name);
                    break;
                case "task_type":
                    config.TaskType = NullableString(v, source, p.Name);
                    break;
                case "base_model_name_or_path":
                    config.BaseModelNameOrPath = NullableString(v, source, p.Name);
                    break;
                case "layers_to_transform":
                    if (v.ValueKind == JsonValueKind.Null)
                    {
                        config.LayersToTransform = null;
                    }
                    else if (v.ValueKind == JsonValueKind.Number)
                    {
                        config.LayersToTransform = new[] { NonNegativeInt(v, source, p.Name) };
                        config._layersToTransformWasScalar = true;
                    }
                    else if (v.ValueKind == JsonValueKind.Array)
                    {
                        config.LayersToTransform = v.EnumerateArray().Select(e => NonNegativeInt(e, source, p.Name)).ToArray();
                    }
                    else
                    {
                        throw new PeftFormatException(source, p.Name, $"is {JsonKinds.Describe(v.ValueKind)}", "give a layer index or a list of them, or null");
                    }
                    break;
                case "rank_pattern":
                    config.RankPattern = v.ValueKind == JsonValueKind.Null ? EmptyRanks
                        : new ReadOnlyDictionary<string, int>(Map(v, source, p.Name).ToDictionary(e => e.Name, e => PositiveInt(e.Value, source, $"{p.Name}.{e.Name}"), StringComparer.Ordinal));
                    break;
                case "alpha_pattern":
                    config.AlphaPattern = v.ValueKind == JsonValueKind.Null ? EmptyAlphas
                        : new ReadOnlyDictionary<string, double>(Map(v, source, p.Name).ToDictionary(e => e.Name, e => Number(e.Value, source, $"{p.Name}.{e.Name}", "a number"), StringComparer.Ordinal));
                    break;
                default:
                    config.ExtraKeys[p.Name] = v.Clone();
                    break;
            }
        }
        return config;
    }

    /// <summary>Writes the config like PEFT (keys sorted, indent 2), atomically.</summary>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var bytes = ToJsonBytes();
        AtomicFile.WriteAllBytes(path, bytes);
    }

    /// <summary>The bytes <see cref="Save"/> writes.</summary>
    public byte[] ToJsonBytes()
    {
        if (R < 1) throw new InvalidOperationException($"PEFT config: r must be at least 1, not {R}.");
        var writers = new SortedDictionary<string, Action<Utf8JsonWriter>>(StringComparer.Ordinal);
        foreach (var (key, value) in ExtraKeys)
        {
            if (Array.IndexOf(KnownKeys, key) >= 0)
                throw new InvalidOperationException($"PEFT config: '{key}' is a typed property; set it there, not in ExtraKeys.");
            writers[key] = w => value.WriteTo(w);
        }
        writers["alpha_pattern"] = w =>
        {
            w.WriteStartObject();
            foreach (var (k, a) in AlphaPattern.OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                w.WritePropertyName(k);
                WriteAlpha(w, a);
            }
            w.WriteEndObject();
        };
        writers["base_model_name_or_path"] = w => WriteNullableString(w, BaseModelNameOrPath);
        writers["bias"] = w => w.WriteStringValue(Bias switch
        {
            LoraBias.None => "none",
            LoraBias.All => "all",
            LoraBias.LoraOnly => "lora_only",
            _ => throw new InvalidOperationException($"Unknown bias mode {Bias}."),
        });
        writers["init_lora_weights"] = w =>
        {
            if (InitLoraWeights == "true") w.WriteBooleanValue(true);
            else if (InitLoraWeights == "false") w.WriteBooleanValue(false);
            else w.WriteStringValue(InitLoraWeights);
        };
        writers["layers_to_transform"] = w =>
        {
            if (LayersToTransform is null) w.WriteNullValue();
            else if (LayersToTransform.Count == 1 && _layersToTransformWasScalar) w.WriteNumberValue(LayersToTransform[0]);
            else
            {
                w.WriteStartArray();
                foreach (var l in LayersToTransform) w.WriteNumberValue(l);
                w.WriteEndArray();
            }
        };
        writers["lora_alpha"] = w => WriteAlpha(w, LoraAlpha);
        writers["lora_dropout"] = w => w.WriteRawValue(PythonFloat(LoraDropout));
        writers["modules_to_save"] = w => WriteNullableList(w, ModulesToSave);
        writers["peft_type"] = w => w.WriteStringValue(PeftType);
        writers["r"] = w => w.WriteNumberValue(R);
        writers["rank_pattern"] = w =>
        {
            w.WriteStartObject();
            foreach (var (k, rank) in RankPattern.OrderBy(e => e.Key, StringComparer.Ordinal)) w.WriteNumber(k, rank);
            w.WriteEndObject();
        };
        writers["target_modules"] = w =>
        {
            if (TargetModules is null) w.WriteNullValue();
            else if (TargetModules.Pattern is { } pattern) w.WriteStringValue(pattern);
            else WriteNullableList(w, TargetModules.Names);
        };
        writers["task_type"] = w => WriteNullableString(w, TaskType);
        foreach (var (key, get, _) in Flags) writers[key] = w => w.WriteBooleanValue(get(this));

        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions
        {
            Indented = true,
            IndentSize = 2,
            NewLine = "\n",
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }))
        {
            writer.WriteStartObject();
            foreach (var (key, write) in writers)
            {
                writer.WritePropertyName(key);
                write(writer);
            }
            writer.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>
    /// The LoraKit view of this adapter. Throws <see cref="NotSupportedException"/> where PEFT's value has
    /// no LoraConfig equivalent: a regex <c>target_modules</c>, null <c>target_modules</c> (PEFT's per-model
    /// defaults), an <c>init_lora_weights</c> other than true, false and "gaussian", and settings that change
    /// what the adapter computes and LoraKit does not apply (per-module <c>rank_pattern</c>/<c>alpha_pattern</c>,
    /// <c>layers_to_transform</c>, <c>layer_replication</c>, DoRA) — refused rather than silently ignored.
    /// </summary>
    public LoraConfig ToLoraConfig()
    {
        string? unsupported = null;
        if (RankPattern.Count > 0) unsupported = "rank_pattern (per-module ranks)";
        else if (AlphaPattern.Count > 0) unsupported = "alpha_pattern (per-module alphas)";
        else if (LayersToTransform is not null) unsupported = "layers_to_transform";
        else if (UseDora) unsupported = "use_dora (DoRA)";
        else if (ExtraKeys.TryGetValue("layer_replication", out var replication) && replication.ValueKind != JsonValueKind.Null) unsupported = "layer_replication";
        if (unsupported is not null)
            throw new NotSupportedException($"PEFT config: {unsupported} is set; LoraKit applies one rank and alpha to every targeted module of every layer and would compute something else. Use an adapter without it.");

        IReadOnlyList<string> targets;
        if (TargetModules is null)
            throw new NotSupportedException("PEFT config: target_modules is null (PEFT picks defaults by model type); LoraConfig needs the module names. Set target_modules explicitly.");
        if (TargetModules.IsAllLinear) targets = new[] { LoraConfig.AllLinear };
        else if (TargetModules.IsPattern)
            throw new NotSupportedException($"PEFT config: target_modules is the regex \"{TargetModules.Pattern}\"; LoraConfig takes module names (exact or dotted suffix) or \"all-linear\". List the names instead.");
        else targets = TargetModules.Names.ToArray();

        var init = InitLoraWeights switch
        {
            "true" => LoraInitWeights.Default,
            "gaussian" => LoraInitWeights.Gaussian,
            "false" => LoraInitWeights.Random,
            _ => throw new NotSupportedException($"PEFT config: init_lora_weights \"{InitLoraWeights}\" has no LoraKit equivalent (true, false, \"gaussian\")."),
        };
        return new LoraConfig
        {
            Rank = R,
            Alpha = LoraAlpha,
            Dropout = LoraDropout,
            TargetModules = targets,
            Bias = Bias,
            UseRsLora = UseRsLora,
            InitWeights = init,
        };
    }

    /// <summary>
    /// The keys PEFT 0.12's LoraConfig writes besides the typed ones, with the values of its defaults (as in an
    /// adapter_config.json PEFT 0.12 saved); <see cref="FromLoraConfig"/> writes them so LoraKit's adapter
    /// configs have PEFT's keys and value types.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> PeftDefaultExtraKeys = new ReadOnlyDictionary<string, string>(new Dictionary<string, string>
    {
        ["auto_mapping"] = "null",
        ["layer_replication"] = "null",
        ["layers_pattern"] = "null",
        ["loftq_config"] = "{}",
        ["megatron_config"] = "null",
        ["megatron_core"] = "\"megatron.core\"",
        ["revision"] = "null",
    });

    /// <summary>
    /// A PEFT config carrying a LoraConfig's values (other keys at PEFT's defaults). <c>target_modules</c> is
    /// the list PEFT saves (<see cref="TargetMatcher.SavedTargetNames"/>): <c>all-linear</c> needs
    /// <paramref name="adaptedModulePaths"/>, the modules it adapted, to be expanded into their names.
    /// </summary>
    public static PeftAdapterConfig FromLoraConfig(LoraConfig lora, string? baseModelNameOrPath = null, string? taskType = null,
        IEnumerable<string>? adaptedModulePaths = null)
    {
        ArgumentNullException.ThrowIfNull(lora);
        if (lora.Rank < 1) throw new ArgumentException($"LoRA rank must be at least 1, not {lora.Rank}.", nameof(lora));
        if (adaptedModulePaths is null && lora.TargetModules.Contains(LoraConfig.AllLinear))
            throw new ArgumentException("PEFT saves all-linear as the names of the modules it adapted; pass them as adaptedModulePaths.", nameof(adaptedModulePaths));
        var targets = PeftTargetModules.FromNames(TargetMatcher.SavedTargetNames(lora.TargetModules, adaptedModulePaths ?? Array.Empty<string>()));
        var config = new PeftAdapterConfig
        {
            R = lora.Rank,
            LoraAlpha = lora.Alpha,
            LoraDropout = lora.Dropout,
            TargetModules = targets,
            Bias = lora.Bias,
            UseRsLora = lora.UseRsLora,
            InitLoraWeights = lora.InitWeights switch
            {
                LoraInitWeights.Default => "true",
                LoraInitWeights.Gaussian => "gaussian",
                LoraInitWeights.Random => "false",
                _ => throw new ArgumentException($"Unknown init mode {lora.InitWeights}.", nameof(lora)),
            },
            BaseModelNameOrPath = baseModelNameOrPath,
            TaskType = taskType,
        };
        foreach (var (key, json) in PeftDefaultExtraKeys)
        {
            using var doc = JsonDocument.Parse(json);
            config.ExtraKeys[key] = doc.RootElement.Clone();
        }
        return config;
    }

    // ---- reading helpers ----

    private static PeftFormatException BadBias(string source, JsonElement v) =>
        new(source, "bias", $"is {v.GetRawText()}", "use \"none\", \"all\" or \"lora_only\"");

    private static int PositiveInt(JsonElement v, string source, string key)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var n) || n < 1)
            throw new PeftFormatException(source, key, $"is {v.GetRawText()}, not a positive integer", "give the LoRA rank as a whole number, e.g. 8");
        return n;
    }

    private static int NonNegativeInt(JsonElement v, string source, string key)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var n) || n < 0)
            throw new PeftFormatException(source, key, $"holds {v.GetRawText()}, not a non-negative integer", "give layer indices as whole numbers");
        return n;
    }

    private static double Number(JsonElement v, string source, string key, string expected)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var d) || !double.IsFinite(d))
            throw new PeftFormatException(source, key, $"is {v.GetRawText()}, not a number", $"give {expected}");
        return d;
    }

    private static bool Bool(JsonElement v, string source, string key) => v.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw new PeftFormatException(source, key, $"is {v.GetRawText()}, not true or false", "use a JSON boolean"),
    };

    private static string? NullableString(JsonElement v, string source, string key) => v.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.String => v.GetString(),
        _ => throw new PeftFormatException(source, key, $"is {v.GetRawText()}, not a string", "use a JSON string or null"),
    };

    private static string[] StringList(JsonElement v, string source, string key)
    {
        if (v.ValueKind != JsonValueKind.Array)
            throw new PeftFormatException(source, key, $"is {JsonKinds.Describe(v.ValueKind)}, not a list of strings", "give a JSON list of module names");
        return v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()!
            : throw new PeftFormatException(source, key, $"holds {e.GetRawText()}, not a string", "give a JSON list of module names")).ToArray();
    }

    private static IEnumerable<JsonProperty> Map(JsonElement v, string source, string key)
    {
        if (v.ValueKind != JsonValueKind.Object)
            throw new PeftFormatException(source, key, $"is {JsonKinds.Describe(v.ValueKind)}, not an object", "give a JSON object mapping module patterns to values, or {}");
        return v.EnumerateObject();
    }

    // ---- writing helpers ----

    private static void WriteNullableString(Utf8JsonWriter w, string? s)
    {
        if (s is null) w.WriteNullValue();
        else w.WriteStringValue(s);
    }

    private static void WriteNullableList(Utf8JsonWriter w, IReadOnlyList<string>? list)
    {
        if (list is null)
        {
            w.WriteNullValue();
            return;
        }
        w.WriteStartArray();
        foreach (var s in list) w.WriteStringValue(s);
        w.WriteEndArray();
    }

    /// <summary>Alpha is an int in PEFT: whole values are written as integers, others as floats.</summary>
    private static void WriteAlpha(Utf8JsonWriter w, double alpha)
    {
        if (Math.Floor(alpha) == alpha && Math.Abs(alpha) < 1e15) w.WriteNumberValue((long)alpha);
        else w.WriteRawValue(PythonFloat(alpha));
    }

    /// <summary>A double as Python's json writes a float: shortest round-trip digits, "0.0" for whole values, "1e-05" exponents.</summary>
    internal static string PythonFloat(double value)
    {
        if (!double.IsFinite(value)) throw new InvalidOperationException($"PEFT config: {value} is not a finite number.");
        if (Math.Floor(value) == value && Math.Abs(value) < 1e16)
        {
            var whole = value.ToString("F0", CultureInfo.InvariantCulture);
            if (value == 0 && double.IsNegative(value)) whole = "-0";
            return whole + ".0";
        }
        var text = value.ToString("R", CultureInfo.InvariantCulture).Replace('E', 'e');
        return text;
    }
}
