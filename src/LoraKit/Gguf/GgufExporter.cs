using LoraKit.Builtin;
using LoraKit.Lora;
using LoraKit.Modeling;
using LoraKit.Models;
using LoraKit.Peft;
using LoraKit.Quantization;
using static TorchSharp.torch;

namespace LoraKit.Gguf;

/// <summary>Options of a GGUF export.</summary>
public sealed record GgufExportOptions
{
    /// <summary>The matrices' type (vectors are always float32).</summary>
    public GgufOutputType Type { get; init; } = GgufOutputType.F32;

    /// <summary>
    /// The context length written (<c>{arch}.context_length</c>); default max_position_embeddings. A sliding-window
    /// model (Mistral v0.1) is exported only with a context within its window, where llama.cpp's full attention
    /// computes the same thing.
    /// </summary>
    public int? ContextLength { get; init; }

    /// <summary>general.name; default the base folder's name.</summary>
    public string? Name { get; init; }
}

/// <summary>What an export wrote.</summary>
public sealed record GgufExportResult(string Path, string Kind, string Architecture, int Tensors, long Bytes, IReadOnlyList<string> Notes);

/// <summary>
/// Writes LoraKit models and adapters as llama.cpp's GGUF: the base model, a PEFT LoRA adapter as llama.cpp's LoRA GGUF
/// (llama.cpp applies it itself: <c>--lora</c>, LLamaSharp's LoadLoraFromFile, Ollama's ADAPTER), or base and adapter
/// merged. Names, keys and layouts follow llama.cpp's convert_hf_to_gguf.py / convert_lora_to_gguf.py and its loader
/// (src/llama-model.cpp, llama-adapter.cpp, llama-vocab.cpp); the tests load every kind of file in the real llama.cpp
/// (through LLamaSharp) and compare its logits with transformers'. Anything llama.cpp would load wrongly or compute
/// differently is refused with a <see cref="GgufExportException"/> before the output is touched.
/// <code>
/// GgufExporter.ExportBase("models/SmolLM2-135M", "smollm2.gguf", new GgufExportOptions { Type = GgufOutputType.Q8_0 });
/// GgufExporter.ExportAdapter("models/SmolLM2-135M", "lora-output/SupportAdapter", "support-lora.gguf");
/// </code>
/// </summary>
public static class GgufExporter
{
    /// <summary>gguf-py's LlamaFileType values (general.file_type).</summary>
    private static uint FileType(GgufOutputType t) => t switch
    {
        GgufOutputType.F32 => 0,
        GgufOutputType.F16 => 1,
        GgufOutputType.Q8_0 => 7,
        GgufOutputType.BF16 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>The base model (<c>builtin</c> or a Hugging Face folder) as a GGUF model file.</summary>
    public static GgufExportResult ExportBase(string baseModel, string outFile, GgufExportOptions? options = null) =>
        ExportModel(baseModel, null, outFile, options ?? new GgufExportOptions());

    /// <summary>The base with the PEFT adapter in <paramref name="adapterFolder"/> merged in (W + scaling·B·A), as one GGUF model file.</summary>
    public static GgufExportResult ExportMerged(string baseModel, string adapterFolder, string outFile, GgufExportOptions? options = null) =>
        ExportModel(baseModel, adapterFolder ?? throw new ArgumentNullException(nameof(adapterFolder)), outFile, options ?? new GgufExportOptions());

    private static GgufExportResult ExportModel(string baseModel, string? adapterFolder, string outFile, GgufExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(outFile);
        var source = BaseModelSource.Open(baseModel);
        var configPath = Path.Combine(source.Folder, HfCheckpoint.ConfigFileName);
        var dims = HfConfig.Load(configPath);
        var arch = CheckModel(dims, configPath, options);
        if (adapterFolder is not null) CheckAdapter(adapterFolder, dims, arch, forMerge: true).Dispose(); // refusals first; the merge reads it again
        var vocabulary = GgufVocabulary.Keys(source.Folder, dims.VocabSize);
        var notes = new List<string>();

        var quantized = Nf4Checkpoint.IsQuantized(source.Folder);
        using var model = quantized ? Nf4Checkpoint.Load(source.Folder, dtype: ScalarType.Float32) : HfCheckpoint.Load(source.Folder);
        if (quantized)
        {
            Nf4Model.Dequantize(model, ScalarType.Float32);
            notes.Add("the base is 4-bit (NF4): written from its dequantized weights");
        }
        if (adapterFolder is not null)
        {
            LoraAdapterFiles.Load(model, adapterFolder);
            LoraInjector.Merge(model);
        }
        var state = model.HfStateDict();
        var tensors = new List<GgufTensorEntry>();
        var fellBack = new List<string>();
        foreach (var (hfName, tensor) in state)
        {
            var name = arch.GgufName(hfName)
                ?? throw new GgufExportException(configPath, hfName, "is a weight with no llama.cpp tensor name in LoraKit's table", "report the model family");
            var shape = tensor.shape;
            var module = ModuleOf(hfName);
            var heads = arch.PermuteQueryKey && module is not null ? GgufArchitecture.PermutationHeads(module, dims) : null;
            var plusOne = arch.NormPlusOne && GgufArchitecture.IsNormWeight(hfName);
            var rows = (int)shape[0];
            var columns = shape.Length == 2 ? (int)shape[1] : 1;
            float[] Values()
            {
                var values = LoraKit.IO.TensorData.Floats(tensor);
                if (plusOne)
                    for (var i = 0; i < values.Length; i++) values[i] += 1f; // float32(1 + w), as Gemma's norm computes it
                return heads is int h ? GgufArchitecture.PermuteRows(values, rows, columns, h) : values;
            }
            var type = TensorType(options.Type, shape.Length, columns);
            if (shape.Length == 2 && options.Type == GgufOutputType.Q8_0 && type != GgmlType.Q8_0) fellBack.Add(name);
            var dimensions = shape.Length == 2 ? new long[] { columns, rows } : new long[] { rows };
            tensors.Add(GgufWriter.FromFloats(name, dimensions, type, Values));
        }
        if (fellBack.Count > 0)
            notes.Add($"{fellBack.Count} matrices have rows that are not whole Q8_0 blocks of 32 and are written as F16 (as llama.cpp's converter does): {string.Join(", ", fellBack.Take(4))}{(fellBack.Count > 4 ? ", …" : "")}");
        if (dims.RopeScaling is { Type: RopeType.Llama3 })
        {
            // Llama 3.x RoPE travels as per-frequency divisors: llama.cpp's rope divides each default frequency by
            // rope_freqs[i]. They are computed as transformers computes the scaled frequencies (RopeMath, from
            // rope_scaling's original_max_position_embeddings), not as convert_hf_to_gguf.py does from the top-level key.
            var plain = RopeMath.Default(RopeMath.RotaryDim(dims), dims.RopeTheta);
            var scaled = RopeMath.InverseFrequencies(dims, 1);
            var factors = plain.Select((f, i) => f / scaled[i]).ToArray();
            tensors.Insert(1, GgufWriter.FromFloats("rope_freqs.weight", new long[] { factors.Length }, GgmlType.F32, () => factors));
        }
        if (dims.RopeScaling is { Type: RopeType.LongRope } longRope)
        {
            // Phi-3 LongRoPE (convert_hf_to_gguf.py's Phi3MiniModel.generate_extra_tensors): llama.cpp divides each
            // frequency by rope_factors_short below rope.scaling.original_context_length and by rope_factors_long above it.
            var shortFactors = longRope.ShortFactor!.Select(f => (float)f).ToArray();
            var longFactors = longRope.LongFactor!.Select(f => (float)f).ToArray();
            tensors.Insert(1, GgufWriter.FromFloats("rope_factors_long.weight", new long[] { longFactors.Length }, GgmlType.F32, () => longFactors));
            tensors.Insert(2, GgufWriter.FromFloats("rope_factors_short.weight", new long[] { shortFactors.Length }, GgmlType.F32, () => shortFactors));
        }

        var metadata = new List<KeyValuePair<string, GgufValue>>
        {
            new("general.architecture", GgufValue.Of(arch.Name)),
            new("general.type", GgufValue.Of("model")),
            new("general.name", GgufValue.Of(ModelName(options.Name, source.Name switch { BuiltinModel.Spec => "lorakit-builtin", var n => Path.GetFileName(Path.GetFullPath(n).TrimEnd('/')) }, vocabulary, notes))),
            new("general.file_type", GgufValue.Of(FileType(options.Type))),
        };
        if (options.Type == GgufOutputType.Q8_0) metadata.Add(new("general.quantization_version", GgufValue.Of(2u)));
        metadata.AddRange(ModelKeys(arch, dims, options));
        metadata.AddRange(vocabulary);
        GgufWriter.Write(outFile, metadata, tensors);
        return new GgufExportResult(Path.GetFullPath(outFile), adapterFolder is null ? "model" : "merged model", arch.Name, tensors.Count, new FileInfo(outFile).Length, notes);
    }

    /// <summary>
    /// The tokens llama-vocab.cpp looks up by text (<c>token_to_id.at</c>, "set attributes by model/tokenizer/architecture
    /// name") when general.name contains "phi-3" or "phi3": a vocabulary without one of them fails to load (<c>_Map_base::at</c>).
    /// </summary>
    private static readonly string[] Phi3NameTokens = { "</s>", "<unk>", "<s>", "<|endoftext|>" };

    /// <summary>
    /// general.name: the one given, else the model folder's name; a folder name that would make llama.cpp look up Phi-3's
    /// tokens in a vocabulary that lacks them is written with "phi_3" instead (and said in the notes), a given one refused.
    /// </summary>
    private static string ModelName(string? given, string folderName, List<KeyValuePair<string, GgufValue>> vocabulary, List<string> notes)
    {
        var name = given ?? folderName;
        var lower = name.ToLowerInvariant();
        if (!lower.Contains("phi3", StringComparison.Ordinal) && !lower.Contains("phi-3", StringComparison.Ordinal)) return name;
        var tokens = vocabulary.Where(k => k.Key == "tokenizer.ggml.tokens").Select(k => (string[])k.Value.Value).Single();
        var missing = Phi3NameTokens.Where(t => Array.IndexOf(tokens, t) < 0).ToArray();
        if (missing.Length == 0) return name;
        var problem = $"contains \"phi3\" or \"phi-3\", for which llama.cpp's vocabulary loader looks up {string.Join(", ", missing)}, which this tokenizer lacks (llama.cpp would not load the file)";
        if (given is not null)
            throw new GgufExportException("GgufExportOptions.Name", "general.name", $"\"{name}\" {problem}", "give a name without phi3 / phi-3");
        var renamed = System.Text.RegularExpressions.Regex.Replace(name, "phi-?3", "phi_3", System.Text.RegularExpressions.RegexOptions.IgnoreCase | System.Text.RegularExpressions.RegexOptions.CultureInvariant);
        notes.Add($"general.name is \"{renamed}\": the folder's name {problem}");
        return renamed;
    }

    /// <summary>
    /// The PEFT adapter in <paramref name="adapterFolder"/> as llama.cpp's LoRA GGUF for <paramref name="baseModel"/>:
    /// <c>blk.N.&lt;tensor&gt;.weight.lora_a</c> (A, [r, in]) and <c>.lora_b</c> (B, [out, r], q/k rows permuted as the
    /// base's), general.type adapter, adapter.type lora and adapter.lora.alpha (float32; α·√r for rsLoRA, since
    /// llama.cpp scales by alpha / r).
    /// </summary>
    public static GgufExportResult ExportAdapter(string baseModel, string adapterFolder, string outFile, GgufExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(adapterFolder);
        ArgumentNullException.ThrowIfNull(outFile);
        options ??= new GgufExportOptions();
        var source = BaseModelSource.Open(baseModel);
        var configPath = Path.Combine(source.Folder, HfCheckpoint.ConfigFileName);
        var dims = HfConfig.Load(configPath);
        var arch = CheckModel(dims, configPath, options);
        using var adapter = CheckAdapter(adapterFolder, dims, arch, forMerge: false);
        var config = adapter.Config;
        var tensors = new List<GgufTensorEntry>();
        foreach (var m in adapter.Modules)
        {
            var (layer, module) = LayerModule(arch, m.Path, adapter.Folder);
            var baseName = $"blk.{layer.ToString(CultureInfo.InvariantCulture)}.{arch.TensorNames[module]}.weight";
            var heads = arch.PermuteQueryKey ? GgufArchitecture.PermutationHeads(module, dims) : null;
            var (r, inFeatures, outFeatures) = (m.Rank, (int)m.InFeatures, (int)m.OutFeatures);
            float[] Load(string name)
            {
                using var t = adapter.Load(name);
                return LoraKit.IO.TensorData.Floats(t);
            }
            var aName = m.LoraA.Name;
            var bName = m.LoraB.Name;
            tensors.Add(GgufWriter.FromFloats(baseName + ".lora_a", new long[] { inFeatures, r }, TensorType(options.Type, 2, inFeatures), () => Load(aName)));
            tensors.Add(GgufWriter.FromFloats(baseName + ".lora_b", new long[] { r, outFeatures }, TensorType(options.Type, 2, r),
                () => heads is int h ? GgufArchitecture.PermuteRows(Load(bName), outFeatures, r, h) : Load(bName)));
        }
        // llama.cpp: scale = adapter_scale · alpha / rank (rank = lora_a's ne[1]); PEFT: alpha / r, or alpha / √r with rsLoRA.
        var alpha = config.UseRsLora ? config.LoraAlpha * Math.Sqrt(config.R) : config.LoraAlpha;
        var metadata = new List<KeyValuePair<string, GgufValue>>
        {
            new("general.architecture", GgufValue.Of(arch.Name)),
            new("general.type", GgufValue.Of("adapter")),
            new("general.name", GgufValue.Of(options.Name ?? Path.GetFileName(Path.GetFullPath(adapterFolder).TrimEnd('/')))),
            new("general.file_type", GgufValue.Of(FileType(options.Type))),
            new("adapter.type", GgufValue.Of("lora")),
            new("adapter.lora.alpha", GgufValue.Of((float)alpha)),
        };
        if (options.Type == GgufOutputType.Q8_0) metadata.Add(new("general.quantization_version", GgufValue.Of(2u)));
        GgufWriter.Write(outFile, metadata, tensors);
        var notes = new List<string>();
        if (config.UseRsLora) notes.Add($"rsLoRA: adapter.lora.alpha is α·√r = {alpha.ToString("G9", CultureInfo.InvariantCulture)} so that llama.cpp's alpha / r is PEFT's α / √r");
        return new GgufExportResult(Path.GetFullPath(outFile), "LoRA adapter", arch.Name, tensors.Count, new FileInfo(outFile).Length, notes);
    }

    /// <summary>The type of a tensor: vectors float32; matrices the asked type, Q8_0 falling back to F16 for rows that are not whole blocks.</summary>
    private static GgmlType TensorType(GgufOutputType type, int rank, int rowLength) => rank < 2 ? GgmlType.F32 : type switch
    {
        GgufOutputType.F32 => GgmlType.F32,
        GgufOutputType.F16 => GgmlType.F16,
        GgufOutputType.BF16 => GgmlType.BF16,
        GgufOutputType.Q8_0 => rowLength % GgmlConvert.Q8Block == 0 ? GgmlType.Q8_0 : GgmlType.F16,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>The module of a layer tensor (<c>model.layers.3.self_attn.q_proj.weight</c> → <c>self_attn.q_proj</c>), else null.</summary>
    private static string? ModuleOf(string hfName)
    {
        const string prefix = "model.layers.";
        if (!hfName.StartsWith(prefix, StringComparison.Ordinal)) return null;
        var rest = hfName[prefix.Length..];
        var start = rest.IndexOf('.') + 1;
        var end = rest.LastIndexOf('.');
        return end > start ? rest[start..end] : null;
    }

    private static (int Layer, string Module) LayerModule(GgufArchitecture arch, string path, string folder)
    {
        const string prefix = "model.layers.";
        if (path.StartsWith(prefix, StringComparison.Ordinal))
        {
            var rest = path[prefix.Length..];
            var dot = rest.IndexOf('.');
            if (dot > 0 && int.TryParse(rest[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out var layer)
                && arch.TensorNames.ContainsKey(rest[(dot + 1)..]))
                return (layer, rest[(dot + 1)..]);
        }
        throw new GgufExportException(Path.Combine(folder, PeftAdapter.WeightsFileName), path,
            "adapts a module llama.cpp's LoRA loader is not given by LoraKit (only the attention and MLP projections of the decoder layers are exported)",
            $"train the adapter on the attention and MLP projections ({string.Join(", ", arch.TensorNames.Keys.Where(k => k.Contains("_proj", StringComparison.Ordinal)).Select(k => k[(k.IndexOf('.') + 1)..]))}), or export with --merge");
    }

    /// <summary>The architecture row for <paramref name="dims"/>, or a named refusal of what llama.cpp would compute differently.</summary>
    public static GgufArchitecture CheckModel(LlamaDimensions dims, string configPath, GgufExportOptions options)
    {
        var arch = GgufArchitecture.For(dims.ModelType)
            ?? throw new GgufExportException(configPath, "model_type", $"is \"{dims.ModelType}\", which LoraKit's GGUF exporter has no llama.cpp architecture for",
                $"export one of: {string.Join(", ", GgufArchitecture.All.Select(a => a.ModelType))}");
        var context = options.ContextLength ?? dims.MaxPositionEmbeddings;
        if (context <= 0) throw new GgufExportException(configPath, "context length", $"is {context}", "give a positive context length");
        if (dims.RopeScaling is { } rope)
        {
            if (!arch.RopeScalings.Contains(rope.Type))
                throw new GgufExportException(configPath, "rope_scaling", $"is \"{RopeScaling.NameOf(rope.Type)}\" on a {dims.ModelType} model; llama.cpp computes it differently from transformers or not at all for this architecture",
                    $"export a {dims.ModelType} model with {string.Join(" or ", arch.RopeScalings.Select(RopeScaling.NameOf))} RoPE");
            // llama.cpp takes rope_factors_long for the whole run once its context exceeds the original one
            // (llama_model::get_rope_factors compares n_ctx_seq with n_ctx_orig_yarn), and pads every context to a multiple
            // of 256 (llama-context.cpp: cparams.n_ctx = GGML_PAD(cparams.n_ctx, 256)); transformers takes the long
            // factors only for a sequence longer than the original context.
            if (rope.Type == RopeType.LongRope && LlamaCppContext(context) > RopeMath.OriginalContext(dims))
            {
                var original = RopeMath.OriginalContext(dims);
                throw new GgufExportException(configPath, "rope_scaling",
                    $"is longrope with original_max_position_embeddings {original} while the context written would be {context}; llama.cpp run with that context (which it pads to {LlamaCppContext(context)}) applies the long factors to every sequence, transformers only to sequences longer than {original}",
                    original >= LlamaCppContextPadding
                        ? $"pass --context-length {original / LlamaCppContextPadding * LlamaCppContextPadding} (or less), and run llama.cpp with a context no larger"
                        : $"none: an original context below {LlamaCppContextPadding} tokens is always exceeded by llama.cpp's padded context");
            }
            if (rope.Type == RopeType.LongRope && (rope.ShortFactor!.Count != RopeMath.RotaryDim(dims) / 2 || rope.LongFactor!.Count != RopeMath.RotaryDim(dims) / 2))
                throw new GgufExportException(configPath, "rope_scaling", $"has {rope.ShortFactor!.Count} short and {rope.LongFactor!.Count} long factors, not the {RopeMath.RotaryDim(dims) / 2} llama.cpp's rope_factors tensors hold", "give one factor per rotated pair");
        }
        for (var layer = 0; layer < dims.Layers; layer++)
        {
            // Windows compute the same over the context when they are equal or both cover it (0 = full attention).
            var theirs = dims.AttentionWindow(layer);
            var ours = arch.LlamaCppWindow(layer, dims);
            if (theirs == ours || ((theirs == 0 || theirs >= context) && (ours == 0 || ours >= context))) continue;
            if (ours == 0)
                throw new GgufExportException(configPath, "sliding_window",
                    $"is {dims.SlidingWindow} while the context written would be {context}; llama.cpp's {arch.Name} architecture attends to every earlier token and would differ beyond the window",
                    $"pass --context-length {dims.SlidingWindow} (or less): within the window full attention computes the same");
            throw new GgufExportException(configPath, "sliding_window",
                $"gives layer {layer} a window of {(theirs == 0 ? "none" : theirs.ToString(CultureInfo.InvariantCulture))} in transformers, where llama.cpp's {arch.Name} would use {ours}",
                $"export a {dims.ModelType} model with the standard layout");
        }
        if (arch.Name == "qwen2" && (!dims.QkvBias || dims.OutputProjectionBias))
            throw new GgufExportException(configPath, "attention_bias", "does not match Qwen2's q/k/v biases without an o_proj bias, which llama.cpp's qwen2 loader expects", "export an unmodified Qwen2 config");
        if (arch.Name == "qwen2" && dims.MlpBias)
            throw new GgufExportException(configPath, "mlp_bias", "is true; llama.cpp's qwen2 architecture has no MLP biases", "export an unmodified Qwen2 config");
        if (arch.Name is "gemma2" or "phi3" && (dims.QkvBias || dims.OutputProjectionBias || dims.MlpBias))
            throw new GgufExportException(configPath, dims.MlpBias ? "mlp_bias" : "attention_bias", $"is true; llama.cpp's {arch.Name} architecture has no projection biases", $"export an unmodified {dims.ModelType} config");
        if (arch.Name == "gemma2") CheckGemma2(dims, configPath);
        return arch;
    }

    /// <summary>llama.cpp rounds every context up to a multiple of this (llama-context.cpp, GGML_PAD(cparams.n_ctx, 256)).</summary>
    public const int LlamaCppContextPadding = 256;

    /// <summary>The context llama.cpp runs when asked for <paramref name="context"/>.</summary>
    public static int LlamaCppContext(int context) => (int)Math.Min(int.MaxValue, ((long)context + LlamaCppContextPadding - 1) / LlamaCppContextPadding * LlamaCppContextPadding);

    /// <summary>
    /// What llama.cpp's gemma2 (src/models/gemma2*.cpp, llama_model_gemma2::load_arch_hparams) fixes that a Gemma 2
    /// config.json could set otherwise.
    /// </summary>
    private static void CheckGemma2(LlamaDimensions dims, string configPath)
    {
        // f_attention_scale = 1/√(n_embd / n_head) for a 46-layer model (the 27B), else 1/√head_dim; transformers
        // scales by query_pre_attn_scalar^−½.
        var scalar = dims.Layers == 46 ? dims.HiddenSize / dims.AttentionHeads : dims.EffectiveHeadDim;
        if (dims.QueryPreAttentionScalar != scalar)
            throw new GgufExportException(configPath, "query_pre_attn_scalar",
                $"is {dims.QueryPreAttentionScalar.ToString(CultureInfo.InvariantCulture)}, but llama.cpp's gemma2 scales the attention by 1/√{scalar} ({(dims.Layers == 46 ? "hidden_size / num_attention_heads for a 46-layer model" : "head_dim")}) and reads no key for it",
                $"export a Gemma 2 whose query_pre_attn_scalar is {scalar}");
        // The graph divides by both caps unconditionally (attn_soft_cap = true; the final tanh): there is no "none".
        if (dims.AttentionLogitSoftcap <= 0)
            throw new GgufExportException(configPath, "attn_logit_softcapping", "is null; llama.cpp's gemma2 always soft-caps the attention scores", "export a Gemma 2 with its soft-capping (50)");
        if (dims.FinalLogitSoftcap <= 0)
            throw new GgufExportException(configPath, "final_logit_softcapping", "is null; llama.cpp's gemma2 always soft-caps the logits", "export a Gemma 2 with its soft-capping (30)");
        // LLM_FFN_GELU is ggml_gelu, GELU's tanh approximation.
        if (dims.HiddenActivation != ModelFamily.GeluTanh)
            throw new GgufExportException(configPath, "hidden_activation", $"is \"{dims.HiddenActivation}\"; llama.cpp's gemma2 computes GELU with the tanh approximation", $"export a Gemma 2 with hidden_activation {ModelFamily.GeluTanh}");
        // The loader takes the output matrix from token_embd.weight and never reads output.weight.
        if (!dims.TieWordEmbeddings)
            throw new GgufExportException(configPath, "tie_word_embeddings", "is false; llama.cpp's gemma2 always computes the logits with the embedding matrix", "export a Gemma 2 with tied embeddings");
        if (dims.SlidingWindow <= 0)
            throw new GgufExportException(configPath, "sliding_window", $"is {dims.SlidingWindow}; llama.cpp's gemma2 windows its even layers", "give the model's window (Gemma 2: 4096)");
    }

    /// <summary>The adapter, refused by name where llama.cpp would apply something other than what PEFT and LoraKit compute.</summary>
    private static PeftAdapter CheckAdapter(string folder, LlamaDimensions dims, GgufArchitecture arch, bool forMerge)
    {
        var adapter = PeftAdapter.Load(folder);
        try
        {
            var configPath = Path.Combine(folder, PeftAdapterConfig.FileName);
            var config = adapter.Config;
            try
            {
                config.ToLoraConfig();
            }
            catch (NotSupportedException e)
            {
                throw new GgufExportException(configPath, null, e.Message.TrimEnd('.'), "export an adapter LoraKit computes");
            }
            if (forMerge) return adapter;
            var shape = ModelShape.FromLlama(dims.ModelType, dims, configPath);
            if (config.FanInFanOut)
                throw new GgufExportException(configPath, "fan_in_fan_out", "is true (GPT-2 Conv1D layout), not the [out, in] layout llama.cpp's LoRA expects", "export with --merge");
            if (config.Bias != LoraBias.None)
                throw new GgufExportException(configPath, "bias", $"is \"{config.Bias}\": the adapter trains biases, which llama.cpp's LoRA GGUF cannot carry", "export with --merge, which writes the trained biases into the model");
            if (adapter.ModulesToSave.Count > 0)
                throw new GgufExportException(configPath, "modules_to_save", $"replaces whole base tensors ({adapter.ModulesToSave[0].Name}, …), which llama.cpp's LoRA GGUF cannot carry", "export with --merge");
            foreach (var m in adapter.Modules)
            {
                if (m.IsEmbedding)
                    throw new GgufExportException(Path.Combine(folder, PeftAdapter.WeightsFileName), m.Path, "is an embedding LoRA, which LoraKit does not export for llama.cpp", "export with --merge");
                var (_, module) = LayerModule(arch, m.Path, folder);
                var linear = shape.Linears.FirstOrDefault(l => l.PathTemplate == "model.layers.{i}." + module);
                var (outF, inF) = linear is null ? (0, 0) : (linear.OutFeatures, linear.InFeatures);
                if (m.InFeatures != inF || m.OutFeatures != outF || m.LoraB.Shape[1] != m.Rank)
                    throw new GgufExportException(Path.Combine(folder, PeftAdapter.WeightsFileName), m.Path,
                        $"is A [{string.Join(", ", m.LoraA.Shape)}], B [{string.Join(", ", m.LoraB.Shape)}], not the base's [{outF} × {inF}] module", "give the base the adapter was trained on");
                if (m.Rank != config.R)
                    throw new GgufExportException(Path.Combine(folder, PeftAdapter.WeightsFileName), m.Path, $"has rank {m.Rank}, not the config's r = {config.R}", "save the adapter again");
            }
            return adapter;
        }
        catch
        {
            adapter.Dispose();
            throw;
        }
    }

    /// <summary>The architecture keys llama.cpp's loader reads for a Llama-shaped decoder (gguf-py Keys.LLM / Keys.Attention / Keys.Rope).</summary>
    private static IEnumerable<KeyValuePair<string, GgufValue>> ModelKeys(GgufArchitecture arch, LlamaDimensions d, GgufExportOptions options)
    {
        var a = arch.Name;
        yield return new($"{a}.vocab_size", GgufValue.Of((uint)d.VocabSize));
        yield return new($"{a}.context_length", GgufValue.Of((uint)(options.ContextLength ?? d.MaxPositionEmbeddings)));
        yield return new($"{a}.embedding_length", GgufValue.Of((uint)d.HiddenSize));
        yield return new($"{a}.block_count", GgufValue.Of((uint)d.Layers));
        yield return new($"{a}.feed_forward_length", GgufValue.Of((uint)d.IntermediateSize));
        yield return new($"{a}.attention.head_count", GgufValue.Of((uint)d.AttentionHeads));
        yield return new($"{a}.attention.head_count_kv", GgufValue.Of((uint)d.EffectiveKeyValueHeads));
        yield return new($"{a}.attention.key_length", GgufValue.Of((uint)d.EffectiveHeadDim));
        yield return new($"{a}.attention.value_length", GgufValue.Of((uint)d.EffectiveHeadDim));
        yield return new($"{a}.rope.dimension_count", GgufValue.Of((uint)RopeMath.RotaryDim(d)));
        // Always written: without it llama.cpp silently uses 10000.
        yield return new($"{a}.rope.freq_base", GgufValue.Of((float)d.RopeTheta));
        yield return new($"{a}.attention.layer_norm_rms_epsilon", GgufValue.Of((float)d.RmsNormEps));
        if (d.RopeScaling is { Type: RopeType.Linear } linear)
        {
            yield return new($"{a}.rope.scaling.type", GgufValue.Of("linear"));
            yield return new($"{a}.rope.scaling.factor", GgufValue.Of((float)linear.Factor));
        }
        if (a == "gemma2")
        {
            // Its sliding (even) layers read rope.freq_base_swa where it is given; transformers uses one theta.
            yield return new($"{a}.rope.freq_base_swa", GgufValue.Of((float)d.RopeTheta));
            yield return new($"{a}.attn_logit_softcapping", GgufValue.Of((float)d.AttentionLogitSoftcap));
            yield return new($"{a}.final_logit_softcapping", GgufValue.Of((float)d.FinalLogitSoftcap));
            yield return new($"{a}.attention.sliding_window", GgufValue.Of((uint)d.SlidingWindow));
        }
        if (a == "phi3")
        {
            // As Phi3MiniModel writes them: the window (0 = none; llama.cpp's phi3 attends fully either way, see CheckModel).
            yield return new($"{a}.rope.scaling.original_context_length", GgufValue.Of((uint)RopeMath.OriginalContext(d)));
            yield return new($"{a}.attention.sliding_window", GgufValue.Of((uint)d.SlidingWindow));
            // cos and sin are multiplied by it (llama_context: yarn_attn_factor *= rope_attn_factor), as transformers' attention_scaling.
            if (d.RopeScaling is { Type: RopeType.LongRope })
                yield return new($"{a}.rope.scaling.attn_factor", GgufValue.Of((float)RopeMath.AttentionFactor(d)));
        }
    }
}
