using LoraKit.Models;

namespace LoraKit.Serving;

/// <summary>
/// What the serving rules (LORA40xx) look at in an adapter, whether it comes from <c>[LoraAdapter]</c> + the model
/// (<see cref="FromConfig"/>, at compile time) or from a saved PEFT folder (the runtime reads adapter_config.json and
/// the safetensors header into the same facts). Lists hold module paths without PEFT's <c>base_model.model.</c> prefix.
/// </summary>
public sealed record AdapterServeFacts
{
    /// <summary>The largest rank of any adapted module (<c>r</c>, and <c>rank_pattern</c>'s values in a saved adapter).</summary>
    public int Rank { get; init; }

    public double Alpha { get; init; }
    public bool UseRsLora { get; init; }

    /// <summary>DoRA: <c>use_dora</c>, or <c>lora_magnitude_vector</c> tensors in the weights.</summary>
    public bool UseDora { get; init; }

    public LoraBias Bias { get; init; }

    /// <summary>The bias vectors PEFT saves with the adapter (<c>bias</c> "all": every bias of the model; "lora_only": those
    /// of adapted layers); null when unknown (no model to look at).</summary>
    public IReadOnlyList<string>? BiasTensors { get; init; }

    /// <summary>Modules saved whole beside the LoRA pairs: <c>modules_to_save</c>, and whole tensors in the weights
    /// (a classifier head PEFT adds for SEQ_CLS, resized embeddings).</summary>
    public IReadOnlyList<string> ModulesToSave { get; init; } = Array.Empty<string>();

    /// <summary><c>rank_pattern</c> gives some modules another rank.</summary>
    public bool HasRankPattern { get; init; }

    /// <summary><c>alpha_pattern</c> gives some modules another alpha.</summary>
    public bool HasAlphaPattern { get; init; }

    /// <summary>Every module with a LoRA pair (linear, or an embedding's <c>lora_embedding_A/B</c>).</summary>
    public IReadOnlyList<string> AdaptedModules { get; init; } = Array.Empty<string>();

    /// <summary>The path of an adapted output head whose weight is the embedding matrix (tied), when the model is known.</summary>
    public string? TiedOutputHead { get; init; }

    /// <summary>
    /// The facts of an adapter LoraKit trains from <paramref name="config"/> on <paramref name="model"/> (null: unknown, and
    /// the rules that need the model's modules stay quiet). LoraKit adapts linear layers only, with one rank and alpha,
    /// without DoRA or modules to save.
    /// </summary>
    public static AdapterServeFacts FromConfig(LoraConfig config, ModelShape? model)
    {
        if (model is null)
            return new AdapterServeFacts { Rank = config.Rank, Alpha = config.Alpha, UseRsLora = config.UseRsLora, Bias = config.Bias };
        var match = TargetMatcher.Match(model, config.TargetModules);
        var biases = config.Bias switch
        {
            // PEFT's get_peft_model_state_dict: "all" saves every bias of the model, "lora_only" those of LoRA layers.
            LoraBias.All => model.Linears.Where(l => l.HasBias).SelectMany(l => l.InstancePaths()).Select(p => p + ".bias").ToArray(),
            LoraBias.LoraOnly => match.Modules.Where(m => m.HasBias).Select(m => m.Path + ".bias").ToArray(),
            _ => Array.Empty<string>(),
        };
        return new AdapterServeFacts
        {
            Rank = config.Rank,
            Alpha = config.Alpha,
            UseRsLora = config.UseRsLora,
            Bias = config.Bias,
            BiasTensors = biases,
            AdaptedModules = match.Modules.Select(m => m.Path).ToArray(),
            TiedOutputHead = match.Modules.FirstOrDefault(m => m.Layer.IsOutputHead && m.Layer.SharesWeight)?.Path,
        };
    }
}
