namespace LoraKit.Rules;

/// <summary>
/// Every LoraKit diagnostic ID, one place for the analyzers, the CLI, the MSBuild task and the
/// runtime. IDs are never reused. Ranges: 1xxx adapter configuration, 2xxx model description,
/// 3xxx training run, 40xx serving (will a named server load the adapter as trained).
/// </summary>
public static class DiagnosticIds
{
    public const string AlphaRatio = "LORA1001";
    public const string ParameterBudget = "LORA1002";
    public const string RankRange = "LORA1003";
    public const string TargetNotFound = "LORA1004";
    public const string DropoutRange = "LORA1005";
    public const string GpuMemory = "LORA1006";
    public const string RankDiffersFromLock = "LORA1007";

    /// <summary>A LoraKit setting (.editorconfig key, MSBuild property, lora.lock.json) has a value LoraKit cannot use; the default applies.</summary>
    public const string InvalidConfiguration = "LORA1008";

    /// <summary>A dimension is missing, non-positive or not an integer.</summary>
    public const string InvalidDimension = "LORA2001";

    /// <summary>Head counts do not divide: hidden size by heads, heads by key/value heads.</summary>
    public const string HeadsDoNotDivide = "LORA2002";

    /// <summary>The model config file cannot be read or is not valid JSON.</summary>
    public const string UnreadableConfig = "LORA2003";

    /// <summary>The model config names an architecture LoraKit does not build.</summary>
    public const string UnsupportedArchitecture = "LORA2004";

    /// <summary>A custom model's linear layers are invalid (empty or duplicate name, sizes below 1).</summary>
    public const string InvalidCustomLayer = "LORA2005";

    /// <summary>The model a description gives cannot exist on this machine: its weights need more memory than the machine has.</summary>
    public const string ModelTooLarge = "LORA2006";

    /// <summary>A training run failed (bad input, I/O, an exception in the trainer).</summary>
    public const string TrainingFailed = "LORA3001";

    /// <summary>Validation loss stopped improving early in training: the rank is likely too low (the rank guide).</summary>
    public const string LossPlateau = "LORA3002";

    /// <summary>Training loss falls while validation loss rises: the rank is likely too high for the data (the rank guide).</summary>
    public const string Overfitting = "LORA3003";

    /// <summary>Out of memory, measured or predicted.</summary>
    public const string OutOfMemory = "LORA3004";

    /// <summary>CUDA was asked for or expected but is not available; the run uses the CPU.</summary>
    public const string CudaUnavailable = "LORA3005";

    /// <summary>The preflight check failed: adapter shapes, frozen base or trainable count (the rank guide's validation step).</summary>
    public const string PreflightFailed = "LORA3006";

    /// <summary>The loss became NaN or infinite.</summary>
    public const string NonFiniteLoss = "LORA3007";

    /// <summary>Resuming a checkpoint with a different rank is refused: adapter shapes are fixed at initialisation (the rank guide).</summary>
    public const string ResumeRankMismatch = "LORA3008";

    /// <summary>A native library of the build output needs a libstdc++ version the host lacks and that cannot safely be made weak.</summary>
    public const string NativeLibraryIncompatible = "LORA3100";

    // ---- serving (LoraKit.Serving.ServeRules holds each rule's facts and sources) ----

    /// <summary>vLLM: the rank is above --max-lora-rank's default (16) or above its largest value (512).</summary>
    public const string ServeVllmRank = "LORA4001";

    /// <summary>vLLM refuses DoRA adapters.</summary>
    public const string ServeVllmDora = "LORA4002";

    /// <summary>vLLM refuses modules saved whole (modules_to_save).</summary>
    public const string ServeVllmModulesToSave = "LORA4003";

    /// <summary>vLLM refuses a PEFT bias other than "none".</summary>
    public const string ServeVllmBias = "LORA4004";

    /// <summary>llama.cpp's convert_lora_to_gguf.py refuses DoRA's magnitude vectors.</summary>
    public const string ServeLlamaCppDora = "LORA4011";

    /// <summary>llama.cpp's convert_lora_to_gguf.py refuses modules saved whole.</summary>
    public const string ServeLlamaCppModulesToSave = "LORA4012";

    /// <summary>llama.cpp's convert_lora_to_gguf.py refuses trained bias vectors.</summary>
    public const string ServeLlamaCppBias = "LORA4013";

    /// <summary>llama.cpp scales by alpha/r, so an rsLoRA adapter (alpha/√r) converted as is runs too weak.</summary>
    public const string ServeLlamaCppRsLora = "LORA4014";

    /// <summary>llama.cpp applies one alpha to every module: alpha_pattern is lost.</summary>
    public const string ServeLlamaCppAlphaPattern = "LORA4015";

    /// <summary>llama.cpp's converter refuses LoRA on an output head tied to the embeddings.</summary>
    public const string ServeLlamaCppTiedHead = "LORA4016";

    /// <summary>TGI ignores DoRA's magnitude vectors.</summary>
    public const string ServeTgiDora = "LORA4021";

    /// <summary>TGI ignores modules saved whole.</summary>
    public const string ServeTgiModulesToSave = "LORA4022";

    /// <summary>TGI ignores trained bias vectors.</summary>
    public const string ServeTgiBias = "LORA4023";

    /// <summary>TGI scales every module by lora_alpha/r: rank_pattern and alpha_pattern are lost.</summary>
    public const string ServeTgiPatterns = "LORA4024";

    /// <summary>TGI ignores LoRA on modules other than the decoder's projections and lm_head.</summary>
    public const string ServeTgiTargets = "LORA4025";

    /// <summary>The repository-relative help page of a diagnostic.</summary>
    public static string HelpLink(string id) => $"https://github.com/lorakit/lorakit/blob/main/docs/rules/{id}.md";
}
