using LoraKit.Rules;

namespace LoraKit.Models;

/// <summary>
/// What LoRA needs to know of a base model: its linear layers (with Hugging Face module paths) and
/// the parameters that are not in them. Built from Llama dimensions, a config.json, or a custom list.
/// </summary>
public sealed class ModelShape
{
    private ModelShape(string name, LoraArchitecture architecture, IReadOnlyList<LinearLayer> linears, long otherParameters, LlamaDimensions? llama)
    {
        Name = name;
        Architecture = architecture;
        Linears = linears;
        OtherParameters = otherParameters;
        Llama = llama;
    }

    public string Name { get; }
    public LoraArchitecture Architecture { get; }
    public IReadOnlyList<LinearLayer> Linears { get; }

    /// <summary>Parameters outside the linear layers: embeddings, norms, anything else.</summary>
    public long OtherParameters { get; }

    /// <summary>The dimensions when this is a Llama-family model, else null.</summary>
    public LlamaDimensions? Llama { get; }

    /// <summary>Every parameter of the base model, each shared tensor counted once.</summary>
    public long TotalParameters => OtherParameters + Linears.Sum(l => l.TotalParameters);

    /// <summary>The distinct leaf names of the linear layers, in model order (q_proj, k_proj, …).</summary>
    public IReadOnlyList<string> LinearLeafNames => Linears.Select(l => l.LeafName).Distinct(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// A Llama-family decoder with Hugging Face module names: q/k/v/o and gate/up/down, or Phi-3's fused qkv_proj and
    /// gate_up_proj (rows q, k, v and gate, up), whose LoRA adapts the fused module as PEFT does.
    /// </summary>
    public static ModelShape FromLlama(string name, LlamaDimensions d, string? source = null)
    {
        d.Validate(source ?? name, f => f);
        var family = d.Family;
        var h = d.HiddenSize;
        var n = d.Layers;
        var linears = new List<LinearLayer>();
        if (family.FusedProjections)
        {
            linears.Add(new("model.layers.{i}.self_attn.qkv_proj", h, d.QueryDim + 2 * d.KeyValueDim, n, d.QkvBias));
            linears.Add(new("model.layers.{i}.self_attn.o_proj", d.QueryDim, h, n, d.OutputProjectionBias));
            linears.Add(new("model.layers.{i}.mlp.gate_up_proj", h, 2 * d.IntermediateSize, n, d.MlpBias));
            linears.Add(new("model.layers.{i}.mlp.down_proj", d.IntermediateSize, h, n, d.MlpBias));
        }
        else
        {
            linears.Add(new("model.layers.{i}.self_attn.q_proj", h, d.QueryDim, n, d.QkvBias));
            linears.Add(new("model.layers.{i}.self_attn.k_proj", h, d.KeyValueDim, n, d.QkvBias));
            linears.Add(new("model.layers.{i}.self_attn.v_proj", h, d.KeyValueDim, n, d.QkvBias));
            linears.Add(new("model.layers.{i}.self_attn.o_proj", d.QueryDim, h, n, d.OutputProjectionBias));
            linears.Add(new("model.layers.{i}.mlp.gate_proj", h, d.IntermediateSize, n, d.MlpBias));
            linears.Add(new("model.layers.{i}.mlp.up_proj", h, d.IntermediateSize, n, d.MlpBias));
            linears.Add(new("model.layers.{i}.mlp.down_proj", d.IntermediateSize, h, n, d.MlpBias));
        }
        linears.Add(new LinearLayer("lm_head", h, d.VocabSize) { IsOutputHead = true, SharesWeight = d.TieWordEmbeddings });
        long embedding = (long)d.VocabSize * h;
        // input + post-attention per layer (Gemma 2 adds pre/post-feedforward), q/k norms (Qwen3), the final norm.
        long norms = (family.NormsPerLayer * (long)h + (d.QkNorm ? 2L * d.EffectiveHeadDim : 0)) * n + h;
        return new ModelShape(name, family.LoraArchitecture, linears, embedding + norms, d);
    }

    /// <summary>A custom model: its linear layers plus <paramref name="otherParameters"/>.</summary>
    public static ModelShape Custom(string name, IEnumerable<LinearLayer> linears, long otherParameters, string? source = null)
    {
        var list = linears.ToList();
        var where = source ?? name;
        if (otherParameters < 0)
            throw new ModelDescriptionException(DiagnosticIds.InvalidDimension, where, "OtherParameters",
                $"is {otherParameters}", "give the count of parameters outside the listed linear layers (0 or more)");
        if (list.Count == 0)
            throw new ModelDescriptionException(DiagnosticIds.InvalidCustomLayer, where, "LoraLinear",
                "the custom model lists no linear layer", "add [LoraLinear(name, in, out)] for each layer LoRA may adapt");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var l in list)
        {
            if (string.IsNullOrWhiteSpace(l.PathTemplate))
                throw new ModelDescriptionException(DiagnosticIds.InvalidCustomLayer, where, "LoraLinear.Name",
                    "a layer has an empty name", "name it with its module path, e.g. \"encoder.fc1\"");
            if (l.InFeatures <= 0 || l.OutFeatures <= 0)
                throw new ModelDescriptionException(DiagnosticIds.InvalidCustomLayer, where, $"LoraLinear(\"{l.PathTemplate}\")",
                    $"has sizes {l.InFeatures}→{l.OutFeatures}", "give positive in and out features");
            if (l.Count <= 0)
                throw new ModelDescriptionException(DiagnosticIds.InvalidCustomLayer, where, $"LoraLinear(\"{l.PathTemplate}\").Count",
                    $"is {l.Count}", "give how many blocks repeat the layer (1 or more)");
            if (l.Count > 1 && l.PathTemplate.IndexOf("{i}", StringComparison.Ordinal) < 0)
                throw new ModelDescriptionException(DiagnosticIds.InvalidCustomLayer, where, $"LoraLinear(\"{l.PathTemplate}\").Count",
                    $"repeats the layer {l.Count} times under one name", "put {i} in the name where the block index goes, e.g. \"blocks.{i}.fc1\"");
            if (!seen.Add(l.PathTemplate))
                throw new ModelDescriptionException(DiagnosticIds.InvalidCustomLayer, where, $"LoraLinear(\"{l.PathTemplate}\")",
                    "is listed twice", "list each layer once (use Count and {i} for repeated blocks)");
        }
        // Each layer is at most 2^31·2^31·2^31 parameters; summed in double so the check itself cannot overflow.
        if (otherParameters + list.Sum(l => (double)l.InFeatures * l.OutFeatures * l.Count) > ModelSize.MaxParameters)
            throw new ModelDescriptionException(DiagnosticIds.InvalidCustomLayer, where, "LoraLinear",
                $"the layers add up to more than {ModelSize.MaxParameters.ToString("N0", CultureInfo.InvariantCulture)} parameters, far beyond any real model",
                "check the in/out features and Count of each [LoraLinear]");
        return new ModelShape(name, LoraArchitecture.Custom, list, otherParameters, null);
    }
}
