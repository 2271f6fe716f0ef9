namespace LoraKit;

/// <summary>The family of a base model described with <see cref="LoraModelAttribute"/>.</summary>
public enum LoraArchitecture
{
    /// <summary>Llama-family decoder (Llama, Mistral, Qwen2/Qwen3 naming): q/k/v/o, gate/up/down.</summary>
    Llama = 0,

    /// <summary>A model given as a list of <see cref="LoraLinearAttribute"/> layers plus other parameters.</summary>
    Custom = 1,
}

/// <summary>Which biases train, with PEFT's meaning of <c>bias</c>.</summary>
public enum LoraBias
{
    /// <summary>No bias trains (PEFT <c>"none"</c>).</summary>
    None = 0,

    /// <summary>Every bias in the model trains (PEFT <c>"all"</c>).</summary>
    All = 1,

    /// <summary>Only the biases of adapted layers train (PEFT <c>"lora_only"</c>).</summary>
    LoraOnly = 2,
}

/// <summary>How A and B start, with PEFT's meaning of <c>init_lora_weights</c>.</summary>
public enum LoraInitWeights
{
    /// <summary>A Kaiming-uniform (a = √5), B zeros: the adapter starts as the identity (PEFT <c>true</c>).</summary>
    Default = 0,

    /// <summary>A gaussian with std 1/r, B zeros (PEFT <c>"gaussian"</c>).</summary>
    Gaussian = 1,

    /// <summary>A and B both random: not an identity at start, for tests only (PEFT <c>false</c>).</summary>
    Random = 2,
}
