using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoraKit.IO;
using LoraKit.Models;
using LoraKit.Rules;
using LoraKit.SafeTensors;
using static TorchSharp.torch;

namespace LoraKit.Modeling;

/// <summary>
/// A Hugging Face model folder: <c>config.json</c> plus <c>model.safetensors</c> or a sharded
/// <c>model.safetensors.index.json</c>. Loads onto CPU or CUDA in F32/F16/BF16 and saves in the same layout.
/// </summary>
public static class HfCheckpoint
{
    public const string ConfigFileName = "config.json";

    /// <summary>Tokenizer, chat-template and generation files copied unchanged when a checkpoint is derived from another.</summary>
    public static readonly IReadOnlyList<string> CompanionFiles = new[]
    {
        "generation_config.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
        "vocab.json", "merges.txt", "chat_template.jinja", "chat_template.json",
    };

    /// <summary>
    /// The config.json keys naming the weights' dtype: <c>torch_dtype</c>, and <c>dtype</c>, which transformers
    /// 4.56 and later write instead.
    /// </summary>
    public static readonly IReadOnlyList<string> DtypeKeys = new[] { "torch_dtype", "dtype" };

    /// <summary>The config.json key where transformers' save_pretrained records the name or path the model was loaded from.</summary>
    public const string NameOrPathKey = "_name_or_path";

    // str(torch dtype) without "torch.", as transformers writes torch_dtype and bitsandbytes its quant state's dtype.
    private static readonly (ScalarType Dtype, string Name)[] TorchDtypeNames =
    {
        (ScalarType.Float32, "float32"), (ScalarType.BFloat16, "bfloat16"), (ScalarType.Float16, "float16"), (ScalarType.Float64, "float64"),
    };

    /// <summary>transformers' name of a weight dtype in config.json (<c>torch_dtype</c>): float32, bfloat16, float16, float64.</summary>
    public static string TorchDtypeName(ScalarType dtype) =>
        Array.Find(TorchDtypeNames, d => d.Dtype == dtype).Name ?? throw new ArgumentException($"{dtype} is not a model dtype", nameof(dtype));

    /// <summary>The dtype a <see cref="TorchDtypeName"/> names; false for any other text.</summary>
    public static bool TryParseTorchDtypeName(string? name, out ScalarType dtype)
    {
        var i = Array.FindIndex(TorchDtypeNames, d => d.Name == name);
        dtype = i >= 0 ? TorchDtypeNames[i].Dtype : ScalarType.Float32;
        return i >= 0;
    }

    /// <summary>Builds the model from config.json and copies every weight in; missing or unknown weights are reported by name.</summary>
    public static LlamaForCausalLM Load(string folder, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        var configPath = Path.Combine(folder, ConfigFileName);
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"{folder} has no {ConfigFileName}; a Hugging Face model folder holds config.json and model.safetensors.", configPath);
        var dims = HfConfig.Load(configPath);
        LlamaForCausalLM.RequireFitsMachine(dims, device, dtype, configPath);
        using var checkpoint = SafeTensorsCheckpoint.Open(folder);
        var weights = checkpoint.IndexPath ?? string.Join(", ", checkpoint.Files.Select(f => f.Path));
        // The shapes in the safetensors headers against config.json before the model is allocated.
        var mismatched = ExpectedShapes(dims)
            .Where(e => checkpoint.Contains(e.Name) && !checkpoint.Info(e.Name).Shape.SequenceEqual(e.Shape))
            .Select(e => new ShapeMismatch(e.Name, e.Shape, checkpoint.Info(e.Name).Shape))
            .ToList();
        if (mismatched.Count > 0)
            throw new HfStateDictException($"config.json ({configPath})", Array.Empty<string>(), Array.Empty<string>(), mismatched).WithWeights(weights);
        var model = new LlamaForCausalLM(dims, device, dtype);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var name in checkpoint.Names) tensors[name] = checkpoint.Load(name);
            model.LoadHfStateDict(tensors);
        }
        catch (HfStateDictException e)
        {
            model.Dispose();
            throw new HfStateDictException($"config.json ({configPath})", e.Missing, e.Unexpected, e.ShapeMismatches).WithWeights(weights);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
        return model;
    }

    /// <summary>The [out, in] weight of each linear layer and the [vocab, hidden] embedding config.json describes.</summary>
    private static IEnumerable<(string Name, long[] Shape)> ExpectedShapes(LlamaDimensions dims)
    {
        yield return ("model.embed_tokens.weight", new long[] { dims.VocabSize, dims.HiddenSize });
        foreach (var linear in ModelShape.FromLlama(dims.ModelType, dims).Linears.Where(l => !l.SharesWeight))
            foreach (var path in linear.InstancePaths())
                yield return (path + ".weight", new long[] { linear.OutFeatures, linear.InFeatures });
    }

    /// <summary>
    /// Writes config.json and model.safetensors (each atomically) into <paramref name="folder"/>, in
    /// <paramref name="dtype"/> when given. A tied model omits lm_head.weight, as Hugging Face does.
    /// </summary>
    public static void Save(LlamaForCausalLM model, string folder, ScalarType? dtype = null)
    {
        var outType = dtype ?? model.model.embed_tokens.weight!.dtype;
        WriteWeights(model, folder, outType);
        AtomicFile.WriteAllBytes(Path.Combine(folder, ConfigFileName), Encoding.UTF8.GetBytes(LlamaForCausalLM.ToHfConfigJson(model.Dimensions, outType)));
    }

    /// <summary>model.safetensors (atomically, metadata <c>{"format": "pt"}</c> as transformers writes) with every weight in <paramref name="dtype"/>.</summary>
    private static void WriteWeights(LlamaForCausalLM model, string folder, ScalarType dtype)
    {
        if (Quantization.Nf4Model.IsQuantized(model))
            throw new InvalidOperationException("the model has 4-bit (NF4) layers, which a 16/32-bit checkpoint cannot hold; dequantize them first " +
                                                "(Nf4Model.Dequantize), or write a bitsandbytes 4-bit checkpoint with lorakit quantize");
        Directory.CreateDirectory(folder);
        var tensors = model.HfStateDict().Select(kv => new KeyValuePair<string, Tensor>(kv.Key, kv.Value.to(dtype, CPU).contiguous())).ToList();
        try
        {
            SafeTensorsWriter.Write(Path.Combine(folder, SafeTensorsCheckpoint.SingleFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        }
        finally
        {
            foreach (var t in tensors) t.Value.Dispose();
        }
    }

    /// <summary>
    /// Writes a checkpoint derived from the one in <paramref name="baseFolder"/> (e.g. merged with an adapter)
    /// into <paramref name="folder"/>, which must be new or empty: model.safetensors in <paramref name="dtype"/>
    /// (default: the model's), the base's config.json with every key and its order kept (see
    /// <see cref="DerivedConfigJson"/>), and the base's <see cref="CompanionFiles"/> copied. Everything is written
    /// into a temporary sibling folder first and moved into place at the end, so a failure leaves no partial folder.
    /// </summary>
    /// <param name="baseNameOrPath">Recorded as <c>_name_or_path</c>, as transformers does for the name or path a model was
    /// loaded from; default <paramref name="baseFolder"/> as given.</param>
    /// <param name="removeKeys">config.json keys that no longer describe the derived weights (a dequantized base's
    /// <c>quantization_config</c>); every other key is kept.</param>
    public static void SaveDerived(LlamaForCausalLM model, string baseFolder, string folder, ScalarType? dtype = null, string? baseNameOrPath = null,
        IReadOnlyCollection<string>? removeKeys = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(baseFolder);
        EnsureNewOrEmpty(folder);
        var baseConfigPath = Path.Combine(baseFolder, ConfigFileName);
        var outType = dtype ?? model.model.embed_tokens.weight!.dtype;
        var config = DerivedConfigJson(InputFile.ReadAllBytes(baseConfigPath, InputLimits.JsonFileBytes, "model config"), baseConfigPath, outType, baseNameOrPath ?? baseFolder, removeKeys);

        var full = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        var parent = Path.GetDirectoryName(full) ?? throw new IOException($"{folder} has no parent folder; give a folder for the merged checkpoint.");
        Directory.CreateDirectory(parent);
        var temp = Path.Combine(parent, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            WriteWeights(model, temp, outType);
            AtomicFile.WriteAllBytes(Path.Combine(temp, ConfigFileName), config);
            foreach (var file in CompanionFiles)
            {
                var source = Path.Combine(baseFolder, file);
                if (!File.Exists(source)) continue;
                AtomicFile.Write(Path.Combine(temp, file), s =>
                {
                    using var input = File.OpenRead(source);
                    input.CopyTo(s);
                });
            }
            if (!Directory.Exists(full))
            {
                Directory.Move(temp, full);
                return;
            }
            EnsureNewOrEmpty(full);
            foreach (var file in Directory.GetFiles(temp)) File.Move(file, Path.Combine(full, Path.GetFileName(file)));
            Directory.Delete(temp);
        }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
    }

    /// <summary>Throws an <see cref="IOException"/> naming <paramref name="folder"/> when it exists and holds anything: derived checkpoints never overwrite.</summary>
    public static void EnsureNewOrEmpty(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any())
            throw new IOException($"{folder} is not empty; writing a checkpoint never overwrites existing files. Choose a new folder.");
        if (File.Exists(folder))
            throw new IOException($"{folder} is a file; give a new or empty folder for the checkpoint.");
    }

    /// <summary>
    /// The config.json of a checkpoint derived from a base: the base's JSON with every key, value and order kept,
    /// except the dtype key (<see cref="DtypeKeys"/>), set to <paramref name="dtype"/>'s name when it differs (added
    /// as <c>torch_dtype</c> when the base has none and the weights are not float32, transformers' default), and
    /// <c>_name_or_path</c>, set to <paramref name="baseNameOrPath"/> (first when new), as transformers' save_pretrained
    /// writes it for a model loaded from that name or path. Indented by two spaces with a final newline, as transformers writes it.
    /// </summary>
    public static byte[] DerivedConfigJson(ReadOnlySpan<byte> baseConfigJson, string source, ScalarType dtype, string? baseNameOrPath,
        IReadOnlyCollection<string>? removeKeys = null)
    {
        const string fix = "give the base's config.json as transformers' save_pretrained writes it: one JSON object, each key once";
        JsonObject config;
        try
        {
            if (JsonDuplicateKeys.Find(baseConfigJson) is { } duplicate)
                throw new ModelDescriptionException(DiagnosticIds.UnreadableConfig, source, duplicate.Key, "appears more than once", fix);
            config = JsonNode.Parse(baseConfigJson) as JsonObject
                ?? throw new ModelDescriptionException(DiagnosticIds.UnreadableConfig, source, null, "is not a JSON object", fix);
        }
        catch (JsonException e)
        {
            throw new ModelDescriptionException(DiagnosticIds.UnreadableConfig, source, null, $"is not valid JSON ({e.Message})", fix);
        }

        foreach (var key in removeKeys ?? Array.Empty<string>()) config.Remove(key);
        var dtypeName = TorchDtypeName(dtype);
        var present = DtypeKeys.Where(config.ContainsKey).ToList();
        foreach (var key in present)
            if (config[key] is not JsonValue v || !v.TryGetValue<string>(out var name) || name != dtypeName)
                config[key] = dtypeName;
        if (present.Count == 0 && dtype != ScalarType.Float32) config[DtypeKeys[0]] = dtypeName;

        if (baseNameOrPath is not null)
        {
            if (config.ContainsKey(NameOrPathKey)) config[NameOrPathKey] = baseNameOrPath;
            else config.Insert(0, NameOrPathKey, baseNameOrPath);
        }

        var text = config.ToJsonString(new JsonSerializerOptions { WriteIndented = true, IndentSize = 2, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        return Encoding.UTF8.GetBytes(text.ReplaceLineEndings("\n") + "\n");
    }
}
