using System.Text.RegularExpressions;
using LoraKit.IO;
using LoraKit.SafeTensors;
using TorchSharp;

namespace LoraKit.Peft;

/// <summary>
/// One adapted module of a PEFT adapter: its path in the base model and its A and B matrices.
/// </summary>
/// <param name="Path">The module path without PEFT's <c>base_model.model.</c> prefix, e.g. <c>transformer.h.0.attn.c_attn</c>.</param>
/// <param name="LoraA">A, shape [r, in] (<c>lora_embedding_A</c> of an embedding: [r, num_embeddings]).</param>
/// <param name="LoraB">B, shape [out, r] (<c>lora_embedding_B</c>: [embedding_dim, r]).</param>
/// <param name="AdapterName">The adapter name segment when the tensors carry one (<c>lora_A.default.weight</c>); null as PEFT saves them (<c>lora_A.weight</c>).</param>
/// <param name="IsEmbedding">The module is an embedding (<c>lora_embedding_A/B</c> tensors).</param>
public sealed record PeftLoraModule(string Path, SafeTensorInfo LoraA, SafeTensorInfo LoraB, string? AdapterName, bool IsEmbedding)
{
    public int Rank => (int)LoraA.Shape[0];
    public long InFeatures => LoraA.Shape[1];
    public long OutFeatures => LoraB.Shape[0];
    public long ParameterCount => LoraA.ElementCount + LoraB.ElementCount;
}

/// <summary>
/// A Hugging Face PEFT LoRA adapter folder: <c>adapter_config.json</c> and <c>adapter_model.safetensors</c>.
/// Tensor names are kept exactly as stored (<c>base_model.model.transformer.h.0.attn.c_attn.lora_A.weight</c>);
/// <see cref="Modules"/> pairs the lora_A / lora_B tensors per module, and every other tensor (modules to
/// save such as <c>base_model.model.score.weight</c>, trained biases) is in <see cref="ModulesToSave"/>.
/// </summary>
public sealed class PeftAdapter : IDisposable
{
    public const string WeightsFileName = "adapter_model.safetensors";
    public const string PickleWeightsFileName = "adapter_model.bin";

    /// <summary>The prefix PEFT's LoraModel puts before every module path.</summary>
    public const string BaseModelPrefix = "base_model.model.";

    private static readonly Regex LinearName = new(@"^(?<path>.+)\.lora_(?<ab>[AB])(?:\.(?<adapter>[^.]+))?\.weight$", RegexOptions.CultureInvariant);
    private static readonly Regex EmbeddingName = new(@"^(?<path>.+)\.lora_embedding_(?<ab>[AB])(?:\.(?<adapter>[^.]+))?$", RegexOptions.CultureInvariant);

    private PeftAdapter(string folder, PeftAdapterConfig config, SafeTensorsFile weights, List<PeftLoraModule> modules, List<SafeTensorInfo> toSave)
    {
        Folder = folder;
        Config = config;
        Weights = weights;
        Modules = modules.AsReadOnly();
        ModulesToSave = toSave.AsReadOnly();
        LoraParameterCount = modules.Sum(m => m.ParameterCount);
        ModulesToSaveParameterCount = toSave.Sum(t => t.ElementCount);
    }

    public string Folder { get; }
    public PeftAdapterConfig Config { get; }

    /// <summary>The open <c>adapter_model.safetensors</c>.</summary>
    public SafeTensorsFile Weights { get; }

    /// <summary>Every tensor, names exactly as stored, in header order.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors => Weights.Tensors;

    /// <summary>The adapted modules, in the order their first tensor appears.</summary>
    public IReadOnlyList<PeftLoraModule> Modules { get; }

    /// <summary>The tensors that are not LoRA A/B: modules saved in full (PEFT stores them without the <c>modules_to_save.default</c> segment) and trained biases.</summary>
    public IReadOnlyList<SafeTensorInfo> ModulesToSave { get; }

    public long LoraParameterCount { get; }
    public long ModulesToSaveParameterCount { get; }

    /// <summary>Loads a tensor by its stored name.</summary>
    public torch.Tensor Load(string name, torch.Device? device = null) => Weights.Load(name, device);

    /// <summary>Strips PEFT's <c>base_model.model.</c> prefix (names without it are returned unchanged).</summary>
    public static string ModulePath(string storedName) =>
        storedName.StartsWith(BaseModelPrefix, StringComparison.Ordinal) ? storedName[BaseModelPrefix.Length..] : storedName;

    /// <summary>Opens an adapter folder and checks its tensors against its config.</summary>
    /// <exception cref="PeftFormatException">A file is missing or invalid, or the tensors do not form LoRA pairs of the config's rank.</exception>
    /// <exception cref="SafeTensorsFormatException">The weights file is malformed.</exception>
    public static PeftAdapter Load(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        var full = Path.GetFullPath(folder);
        if (!Directory.Exists(full))
            throw new PeftFormatException(full, null, "the adapter folder does not exist", "pass the folder PEFT's save_pretrained wrote");
        var configPath = Path.Combine(full, PeftAdapterConfig.FileName);
        if (!File.Exists(configPath))
            throw new PeftFormatException(configPath, null, "the file is missing", "a PEFT adapter folder holds adapter_config.json next to adapter_model.safetensors");
        var config = PeftAdapterConfig.Load(configPath);

        var weightsPath = Path.Combine(full, WeightsFileName);
        if (!File.Exists(weightsPath))
        {
            var pickle = Path.Combine(full, PickleWeightsFileName);
            if (File.Exists(pickle))
                throw new PeftFormatException(pickle, null,
                    "is a PyTorch pickle; LoraKit reads only safetensors (pickles can run code and are not loaded)",
                    "re-save the adapter with PEFT's save_pretrained(folder, safe_serialization=True) to get adapter_model.safetensors");
            throw new PeftFormatException(weightsPath, null, "the file is missing", "a PEFT adapter folder holds adapter_model.safetensors next to adapter_config.json");
        }

        var weights = SafeTensorsFile.Open(weightsPath);
        try
        {
            var (modules, toSave) = Classify(weights, config);
            return new PeftAdapter(full, config, weights, modules, toSave);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    private static (List<PeftLoraModule>, List<SafeTensorInfo>) Classify(SafeTensorsFile weights, PeftAdapterConfig config)
    {
        var pairs = new Dictionary<string, (SafeTensorInfo? A, SafeTensorInfo? B, string? Adapter, bool Embedding)>(StringComparer.Ordinal);
        var order = new List<string>();
        var toSave = new List<SafeTensorInfo>();
        foreach (var t in weights.Tensors)
        {
            var m = LinearName.Match(t.Name);
            var embedding = false;
            if (!m.Success)
            {
                m = EmbeddingName.Match(t.Name);
                embedding = m.Success;
            }
            if (!m.Success)
            {
                toSave.Add(t);
                continue;
            }
            var path = ModulePath(m.Groups["path"].Value);
            var adapter = m.Groups["adapter"].Success ? m.Groups["adapter"].Value : null;
            if (!pairs.TryGetValue(path, out var pair))
            {
                order.Add(path);
                pair = (null, null, adapter, embedding);
            }
            if (pair.Adapter != adapter || pair.Embedding != embedding)
                throw new PeftFormatException(weights.Path, t.Name, $"does not match the naming of the other LoRA tensors of module '{path}'",
                    "save the adapter with one adapter name and PEFT's naming");
            if (m.Groups["ab"].Value == "A") pair.A = t;
            else pair.B = t;
            pairs[path] = pair;
        }

        var modules = new List<PeftLoraModule>(order.Count);
        foreach (var path in order)
        {
            var (a, b, adapter, embedding) = pairs[path];
            if (a is null || b is null)
            {
                var present = (a ?? b)!;
                throw new PeftFormatException(weights.Path, present.Name, $"has no {(a is null ? "lora_A" : "lora_B")} partner for module '{path}'",
                    "an adapter needs both A and B of every adapted module");
            }
            if (a.Shape.Length != 2)
                throw new PeftFormatException(weights.Path, a.Name, $"has shape [{string.Join(", ", a.Shape)}], not [r, in]", "LoRA A must be a matrix");
            if (b.Shape.Length != 2)
                throw new PeftFormatException(weights.Path, b.Name, $"has shape [{string.Join(", ", b.Shape)}], not [out, r]", "LoRA B must be a matrix");
            if (a.Shape[0] != b.Shape[1])
                throw new PeftFormatException(weights.Path, b.Name,
                    $"has shape [{string.Join(", ", b.Shape)}] whose rank {b.Shape[1]} differs from lora_A's {a.Shape[0]} ([{string.Join(", ", a.Shape)}])",
                    "A is [r, in] and B is [out, r] with the same r");
            if (config.RankPattern.Count == 0 && a.Shape[0] != config.R)
                throw new PeftFormatException(weights.Path, a.Name,
                    $"has rank {a.Shape[0]} but adapter_config.json says r = {config.R}", "use the adapter_config.json saved with these weights");
            modules.Add(new PeftLoraModule(path, a, b, adapter, embedding));
        }
        return (modules, toSave);
    }

    /// <summary>
    /// Writes an adapter folder as PEFT does: <c>adapter_model.safetensors</c> (metadata
    /// <c>{"format": "pt"}</c>, Python's tensor order) then <c>adapter_config.json</c>, each atomically.
    /// Tensor names are written as given: use PEFT's names (<c>base_model.model.…lora_A.weight</c>).
    /// </summary>
    public static void Save(string folder, PeftAdapterConfig config, IEnumerable<KeyValuePair<string, torch.Tensor>> tensors)
    {
        ArgumentNullException.ThrowIfNull(folder);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tensors);
        var configBytes = config.ToJsonBytes(); // validate before writing anything
        var full = Path.GetFullPath(folder);
        Directory.CreateDirectory(full);
        SafeTensorsWriter.Write(Path.Combine(full, WeightsFileName), tensors,
            new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFile.WriteAllBytes(Path.Combine(full, PeftAdapterConfig.FileName), configBytes);
    }

    public void Dispose() => Weights.Dispose();
}
