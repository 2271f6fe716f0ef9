namespace LoraKit;

/// <summary>The family of a base model described with <see cref="LoraModelAttribute"/>.</summary>
public enum LoraArchitecture
{
    /// <summary>Llama-family decoder (Llama, Mistral, Qwen2/Qwen3 naming): q/k/v/o, gate/up/down.</summary>
    Llama = 0,

    /// <summary>A model given as a list of <see cref="LoraLinearAttribute"/> layers plus other parameters.</summary>
    Custom = 1,

    /// <summary>Gemma 2 (Gemma2ForCausalLM): Llama's projections, four norms per layer, tied head by default.</summary>
    Gemma2 = 2,

    /// <summary>Phi-3 / Phi-3.5 (Phi3ForCausalLM): fused qkv_proj and gate_up_proj, o_proj, down_proj.</summary>
    Phi3 = 3,
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

/// <summary>
/// How the frozen base is stored while an adapter trains. <see cref="Nf4"/> is QLoRA: the base's decoder linears
/// in bitsandbytes' 4-bit NF4 (embeddings, norms and the head stay 16-bit), LoRA in fp32.
/// </summary>
public enum LoraQuantization
{
    /// <summary>The base as stored (16 or 32 bits); the memory estimate assumes bf16.</summary>
    None = 0,

    /// <summary>4-bit NF4, blocksize 64 (bitsandbytes' <c>bnb_4bit_quant_type='nf4'</c>).</summary>
    Nf4 = 1,
}

/// <summary>
/// The one text form of <see cref="LoraQuantization"/>: what <c>lorakit train --quantize</c>, the MSBuild property
/// <c>LoraKitQuantize</c> and the analyzers accept.
/// </summary>
public static class LoraQuantizationNames
{
    public const string None = "none";
    public const string Nf4 = "nf4";

    /// <summary>The accepted values, for messages: "none, nf4".</summary>
    public const string Allowed = None + ", " + Nf4;

    public static string Of(LoraQuantization quantization) => quantization switch
    {
        LoraQuantization.None => None,
        LoraQuantization.Nf4 => Nf4,
        _ => throw new System.ArgumentOutOfRangeException(nameof(quantization), quantization, "not a LoraQuantization"),
    };

    /// <summary>Exactly "none" or "nf4" (ordinal: the command line and MSBuild take the same spelling).</summary>
    public static bool TryParse(string? text, out LoraQuantization quantization)
    {
        switch (text)
        {
            case None: quantization = LoraQuantization.None; return true;
            case Nf4: quantization = LoraQuantization.Nf4; return true;
            default: quantization = LoraQuantization.None; return false;
        }
    }
}

/// <summary>
/// Gradient checkpointing of the decoder layers: each layer keeps only its input in forward and is recomputed in
/// backward (dropout's random draws replayed), so activations cost one layer's worth plus one hidden state per layer.
/// </summary>
public enum LoraGradientCheckpointing
{
    /// <summary>Every layer keeps what its backward needs (fastest, most memory).</summary>
    None = 0,

    /// <summary>Each layer keeps only its input and is recomputed in backward (~one more forward per step).</summary>
    On = 1,

    /// <summary>
    /// As <see cref="On"/>, with the kept layer inputs in pinned host memory on CUDA, brought back for the recompute;
    /// on the CPU it is the same as <see cref="On"/> (host memory is the device's memory).
    /// </summary>
    Offload = 2,
}

/// <summary>
/// The one text form of <see cref="LoraGradientCheckpointing"/>: <c>lorakit train|sweep|budget --gradient-checkpointing [offload]</c>
/// (the option alone means on) and the MSBuild property <c>LoraKitGradientCheckpointing</c> (true, false or offload).
/// </summary>
public static class LoraGradientCheckpointingNames
{
    public const string None = "none";
    public const string On = "on";
    public const string Offload = "offload";

    /// <summary>The accepted values, for messages.</summary>
    public const string Allowed = None + ", " + On + ", " + Offload + " (or true/false)";

    public static string Of(LoraGradientCheckpointing mode) => mode switch
    {
        LoraGradientCheckpointing.None => None,
        LoraGradientCheckpointing.On => On,
        LoraGradientCheckpointing.Offload => Offload,
        _ => throw new System.ArgumentOutOfRangeException(nameof(mode), mode, "not a LoraGradientCheckpointing"),
    };

    /// <summary>none/false/empty, on/true, offload (ordinal, lower case: the command line and MSBuild take the same spelling).</summary>
    public static bool TryParse(string? text, out LoraGradientCheckpointing mode)
    {
        switch (text)
        {
            case null: case "": case None: case "false": mode = LoraGradientCheckpointing.None; return true;
            case On: case "true": mode = LoraGradientCheckpointing.On; return true;
            case Offload: mode = LoraGradientCheckpointing.Offload; return true;
            default: mode = LoraGradientCheckpointing.None; return false;
        }
    }
}

/// <summary>How `lorakit train --packing` puts examples into rows.</summary>
public static class LoraPackingNames
{
    /// <summary>Examples concatenated and cut into rows; examples in one row see each other (Hugging Face's packing without resets).</summary>
    public const string Concat = "concat";

    /// <summary>Whole examples per row, position ids restarting and attention blocked at each example (no cross-talk, no padding between).</summary>
    public const string Documents = "documents";

    public const string Allowed = Concat + ", " + Documents;
}
