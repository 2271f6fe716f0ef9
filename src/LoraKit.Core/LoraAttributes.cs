namespace LoraKit;

/// <summary>
/// Describes a base model: a Llama-family decoder by its dimensions, a Hugging Face
/// <c>config.json</c> (<see cref="ConfigFile"/>), or a custom list of <see cref="LoraLinearAttribute"/> layers.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class LoraModelAttribute : Attribute
{
    public LoraModelAttribute() { }

    public LoraModelAttribute(LoraArchitecture architecture) => Architecture = architecture;

    public LoraArchitecture Architecture { get; }

    /// <summary>Path of a Hugging Face config.json, relative to the project; replaces the dimensions.</summary>
    public string? ConfigFile { get; set; }

    public int HiddenSize { get; set; }
    public int IntermediateSize { get; set; }
    public int Layers { get; set; }
    public int AttentionHeads { get; set; }

    /// <summary>Key/value heads for grouped-query attention; 0 means the same as <see cref="AttentionHeads"/>.</summary>
    public int KeyValueHeads { get; set; }

    public int VocabSize { get; set; }

    /// <summary>Per-head dimension; 0 means HiddenSize / AttentionHeads.</summary>
    public int HeadDim { get; set; }

    /// <summary>The output head shares the embedding matrix.</summary>
    public bool TieWordEmbeddings { get; set; }

    /// <summary>q/k/v/o carry biases (Llama <c>attention_bias</c>).</summary>
    public bool AttentionBias { get; set; }

    /// <summary>gate/up/down carry biases (Llama <c>mlp_bias</c>).</summary>
    public bool MlpBias { get; set; }

    /// <summary>Custom models: parameters outside the listed linear layers (embeddings, norms, convolutions).</summary>
    public long OtherParameters { get; set; }
}

/// <summary>One linear layer of a custom model (repeatable). A <c>{i}</c> in the name numbers repeated blocks.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class LoraLinearAttribute(string name, int inFeatures, int outFeatures) : Attribute
{
    public string Name { get; } = name;
    public int InFeatures { get; } = inFeatures;
    public int OutFeatures { get; } = outFeatures;

    /// <summary>How many blocks repeat this layer (default 1).</summary>
    public int Count { get; set; } = 1;

    /// <summary>The layer has a bias vector.</summary>
    public bool Bias { get; set; }

    /// <summary>The model's output layer: never adapted by <c>all-linear</c>, as in PEFT.</summary>
    public bool IsOutputHead { get; set; }
}

/// <summary>A LoRA adapter for a model class marked with <see cref="LoraModelAttribute"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class LoraAdapterAttribute : Attribute
{
    public LoraAdapterAttribute(Type model) => Model = model;

    public Type Model { get; }
    public int Rank { get; set; } = LoraConfig.DefaultRank;
    public double Alpha { get; set; } = LoraConfig.DefaultAlpha;
    public double Dropout { get; set; }
    public string[] TargetModules { get; set; } = System.Linq.Enumerable.ToArray(LoraConfig.DefaultTargetModules);
    public LoraBias Bias { get; set; }
    public bool UseRsLora { get; set; }
    public LoraInitWeights InitWeights { get; set; }

    /// <summary>Micro-batch size used by the memory estimate (LORA1006); 0 means the MSBuild default.</summary>
    public int BatchSize { get; set; }

    /// <summary>Sequence length used by the memory estimate (LORA1006); 0 means the MSBuild default.</summary>
    public int SequenceLength { get; set; }

    /// <summary>
    /// How the base is stored while this adapter trains (<see cref="LoraQuantization.Nf4"/>: QLoRA). Set here, it wins
    /// over the MSBuild property <c>LoraKitQuantize</c> and <c>lorakit train --quantize</c>; unset, they decide
    /// (default none). The memory estimate (LORA1006) and the generated adapter's <c>Quantize</c> constant use the same rule.
    /// </summary>
    public LoraQuantization Quantize { get; set; }

    /// <summary>
    /// Gradient checkpointing for the memory estimate (LORA1006), whose code fix sets it when the fit plan asks for it.
    /// Set here, it wins over the MSBuild property <c>LoraKitGradientCheckpointing</c> in the estimate; unset, the property decides
    /// (default none). Training takes <c>--gradient-checkpointing</c> / <c>LoraKitGradientCheckpointing</c>.
    /// </summary>
    public LoraGradientCheckpointing GradientCheckpointing { get; set; }
}
