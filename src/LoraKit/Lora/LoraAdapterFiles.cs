using LoraKit.Modeling;
using LoraKit.Peft;
using LoraKit.Rules;
using static TorchSharp.torch;

namespace LoraKit.Lora;

/// <summary>
/// Saves and loads one adapter of a TorchSharp model in Hugging Face PEFT's folder format
/// (adapter_config.json + adapter_model.safetensors with <c>base_model.model.&lt;path&gt;.lora_A.weight</c>
/// [r, in] and <c>lora_B.weight</c> [out, r]), so Python users can load what .NET trains and back.
/// </summary>
public static class LoraAdapterFiles
{
    public const string TaskType = "CAUSAL_LM";

    /// <summary>
    /// Writes the adapter's tensors (and the biases its bias mode trains) and config, each file atomically, as
    /// PEFT's save_pretrained does: <c>target_modules</c> the sorted names that matched (all-linear expanded),
    /// <c>inference_mode</c> true, <c>task_type</c> CAUSAL_LM, and <paramref name="baseModelNameOrPath"/> — the
    /// base as the user named it, a path or hub id — as <c>base_model_name_or_path</c>.
    /// </summary>
    public static void Save(nn.Module model, string adapterName, string folder, string? baseModelNameOrPath = null)
    {
        var layers = LoraInjector.LoraLayers(model).Where(l => l.Layer.Adapters.Contains(adapterName)).ToList();
        if (layers.Count == 0) throw new ArgumentException($"The model has no LoRA adapter named '{adapterName}'.", nameof(adapterName));
        var config = layers[0].Layer.ConfigOf(adapterName);
        var tensors = new List<KeyValuePair<string, Tensor>>();
        foreach (var (path, layer) in layers)
        {
            tensors.Add(new(PeftAdapter.BaseModelPrefix + path + ".lora_A.weight", layer.A(adapterName).detach().cpu()));
            tensors.Add(new(PeftAdapter.BaseModelPrefix + path + ".lora_B.weight", layer.B(adapterName).detach().cpu()));
        }
        if (config.Bias != LoraBias.None)
        {
            // PEFT saves the trained biases under their base-model names.
            foreach (var (name, p) in model.named_parameters())
                if (p.requires_grad && name.EndsWith(".bias", StringComparison.Ordinal))
                    tensors.Add(new(PeftAdapter.BaseModelPrefix + name.Replace(".base_layer.", ".", StringComparison.Ordinal), p.detach().cpu()));
        }
        var peft = PeftAdapterConfig.FromLoraConfig(config, baseModelNameOrPath, TaskType, layers.Select(l => l.Path));
        peft.FanInFanOut = layers[0].Layer.FanInFanOut;
        peft.InferenceMode = true; // PEFT's save_pretrained always writes true
        PeftAdapter.Save(folder, peft, tensors);
    }

    /// <summary>
    /// Injects the adapter saved in <paramref name="folder"/> into <paramref name="model"/> and copies its
    /// weights. Every module of the file must be a module the config's targets adapt in this model and
    /// every shape must agree; otherwise nothing is half-loaded and the error names the tensors.
    /// </summary>
    public static LoraInjection Load(nn.Module model, string folder, string adapterName = "default")
    {
        using var adapter = PeftAdapter.Load(folder);
        var config = adapter.Config.ToLoraConfig();
        var injection = LoraInjector.Inject(model, config, adapterName, fanInFanOut: adapter.Config.FanInFanOut);
        CopyWeights(model, adapter, adapterName, injection.AdaptedPaths,
            problems => new LoraException(DiagnosticIds.PreflightFailed, $"adapter {folder} does not fit this model: {problems}"));
        return injection;
    }

    /// <summary>
    /// Copies the weights saved in <paramref name="folder"/> into the adapter <paramref name="adapterName"/> the
    /// model already has (a training checkpoint into the run that resumes it), with the same checks as
    /// <see cref="Load"/>; <paramref name="misfit"/> makes the error from the list of problems.
    /// </summary>
    public static void LoadWeights(nn.Module model, string folder, string adapterName, Func<string, Exception> misfit)
    {
        using var adapter = PeftAdapter.Load(folder);
        var adapted = LoraInjector.LoraLayers(model).Where(l => l.Layer.Adapters.Contains(adapterName)).Select(l => l.Path).ToList();
        CopyWeights(model, adapter, adapterName, adapted, misfit);
    }

    /// <summary>Checks every module and shape of the file against the model's adapter, then copies A, B and the saved biases.</summary>
    private static void CopyWeights(nn.Module model, PeftAdapter adapter, string adapterName, IReadOnlyList<string> adaptedPaths, Func<string, Exception> misfit)
    {
        var layers = LoraInjector.LoraLayers(model).ToDictionary(l => l.Path, l => l.Layer);
        var problems = new List<string>();
        var inFile = adapter.Modules.Select(m => m.Path).ToHashSet(StringComparer.Ordinal);
        foreach (var path in adaptedPaths.Where(p => !inFile.Contains(p)))
            problems.Add($"{path}: the config's targets adapt it but the file has no lora_A/lora_B for it");
        foreach (var m in adapter.Modules)
        {
            if (!layers.TryGetValue(m.Path, out var layer) || !layer.Adapters.Contains(adapterName))
            {
                problems.Add($"{m.Path}: the file adapts it but the model has no such targeted module");
                continue;
            }
            if (!m.LoraA.Shape.SequenceEqual(layer.A(adapterName).shape))
                problems.Add($"{m.LoraA.Name} is [{string.Join(", ", m.LoraA.Shape)}], the model expects [{string.Join(", ", layer.A(adapterName).shape)}]");
            if (!m.LoraB.Shape.SequenceEqual(layer.B(adapterName).shape))
                problems.Add($"{m.LoraB.Name} is [{string.Join(", ", m.LoraB.Shape)}], the model expects [{string.Join(", ", layer.B(adapterName).shape)}]");
        }
        var parameters = model.named_parameters().ToDictionary(p => p.name.Replace(".base_layer.", ".", StringComparison.Ordinal), p => p.parameter, StringComparer.Ordinal);
        foreach (var extra in adapter.ModulesToSave)
        {
            var name = BaseModelName(extra.Name);
            if (!parameters.TryGetValue(name, out var p)) problems.Add($"{extra.Name}: the model has no parameter {name}");
            else if (!p.shape.SequenceEqual(extra.Shape)) problems.Add($"{extra.Name} is [{string.Join(", ", extra.Shape)}], the model's {name} is [{string.Join(", ", p.shape)}]");
        }
        if (problems.Count > 0) throw misfit(string.Join("; ", problems));

        using (no_grad())
        {
            foreach (var m in adapter.Modules)
            {
                var layer = layers[m.Path];
                using var a = adapter.Load(m.LoraA.Name);
                using var b = adapter.Load(m.LoraB.Name);
                layer.A(adapterName).copy_(a);
                layer.B(adapterName).copy_(b);
            }
            foreach (var extra in adapter.ModulesToSave)
            {
                using var t = adapter.Load(extra.Name);
                parameters[BaseModelName(extra.Name)].copy_(t);
            }
        }
    }

    /// <summary>A saved tensor's name without PEFT's <c>base_model.model.</c> prefix.</summary>
    private static string BaseModelName(string savedName) =>
        savedName.StartsWith(PeftAdapter.BaseModelPrefix, StringComparison.Ordinal) ? savedName.Substring(PeftAdapter.BaseModelPrefix.Length) : savedName;

    /// <summary>
    /// Loads the base checkpoint in <paramref name="baseFolder"/>, adds the adapter in <paramref name="adapterFolder"/>,
    /// merges it (W + scaling·B·A) and writes a Hugging Face checkpoint into <paramref name="outFolder"/>, which
    /// must be new or empty (checked before any work): the base's config.json with every key kept and its
    /// tokenizer and generation files (see <see cref="HfCheckpoint.SaveDerived"/>).
    /// </summary>
    /// <param name="dtype">The merged weights' dtype; default float32, the dtype the base is loaded and merged in.</param>
    /// <param name="baseNameOrPath">The base as the user named it (a path or hub id), recorded as <c>_name_or_path</c>; default <paramref name="baseFolder"/>.</param>
    public static LoraInjection MergeIntoCheckpoint(string baseFolder, string adapterFolder, string outFolder, ScalarType? dtype = null, string? baseNameOrPath = null)
    {
        HfCheckpoint.EnsureNewOrEmpty(outFolder);
        // A bitsandbytes 4-bit base is merged into its dequantized weights (fp32 or the dtype asked for) and written
        // as a plain 16/32-bit checkpoint, never re-quantized: its config.json loses quantization_config.
        var quantized = Quantization.Nf4Checkpoint.IsQuantized(baseFolder);
        using var model = quantized ? Quantization.Nf4Checkpoint.Load(baseFolder, dtype: dtype ?? ScalarType.Float32) : HfCheckpoint.Load(baseFolder);
        if (quantized) Quantization.Nf4Model.Dequantize(model, dtype ?? ScalarType.Float32);
        var injection = Load(model, adapterFolder);
        LoraInjector.Merge(model);
        HfCheckpoint.SaveDerived(model, baseFolder, outFolder, dtype, baseNameOrPath ?? baseFolder,
            removeKeys: quantized ? new[] { Quantization.Nf4Checkpoint.QuantizationConfigKey } : null);
        return injection;
    }
}
