using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using LoraKit.Roslyn;
using LoraKit.Rules;
using Microsoft.CodeAnalysis;

namespace LoraKit.Analyzers;

/// <summary>
/// The one catalog of LoraKit's compile-time diagnostics. IDs come from <see cref="DiagnosticIds"/>; every
/// message is computed by LoraKit.Core (<see cref="LoraRuleChecker"/>, <see cref="Models.ModelDescriptionException"/>)
/// and passed as the single argument, so the analyzer, the CLI and the runtime word a problem the same way.
/// </summary>
public static class LoraDescriptors
{
    public const string AdapterCategory = "LoraKit.Adapter";
    public const string ModelCategory = "LoraKit.Model";
    public const string ConfigurationCategory = "LoraKit.Configuration";

    // The numbers in titles and descriptions are LoraKit.Core's defaults (their one home, with their sources); the
    // .editorconfig keys that change them are Core's constants too.
    private static readonly LoraThresholds T = LoraThresholds.Default;

    public static readonly DiagnosticDescriptor AlphaRatio = Create(DiagnosticIds.AlphaRatio,
        "LoRA alpha/r ratio differs from the configured ratio", AdapterCategory, DiagnosticSeverity.Warning,
        $"alpha/r sets the scaling of the update; alpha = {Format.Number(T.AlphaRatios[0])}·r keeps the effective learning rate stable across ranks ({LoraThresholds.AlphaRatioKey}).");

    public static readonly DiagnosticDescriptor ParameterBudget = Create(DiagnosticIds.ParameterBudget,
        "LoRA trainable parameters outside the budget", AdapterCategory, DiagnosticSeverity.Warning,
        $"Trainable LoRA parameters should be {Format.Number(T.BudgetMinPercent)} %–{Format.Number(T.BudgetMaxPercent)} % of the base model's ({LoraThresholds.BudgetMinKey}, {LoraThresholds.BudgetMaxKey}).");

    public static readonly DiagnosticDescriptor RankRange = Create(DiagnosticIds.RankRange,
        "LoRA rank out of range or not a power of two", AdapterCategory, DiagnosticSeverity.Warning,
        $"LoRA ranks range from {T.MinRank.ToString(CultureInfo.InvariantCulture)} to {T.MaxRank.ToString(CultureInfo.InvariantCulture)} ({LoraThresholds.MaxRankKey}) and are usually powers of two.");

    public static readonly DiagnosticDescriptor TargetNotFound = Create(DiagnosticIds.TargetNotFound,
        "LoRA target module matches nothing in the model", AdapterCategory, DiagnosticSeverity.Error,
        "Every target must name an existing linear module (exact name or dotted suffix) or be \"all-linear\"; PEFT only notices when all targets miss.");

    public static readonly DiagnosticDescriptor DropoutRange = Create(DiagnosticIds.DropoutRange,
        $"LoRA dropout outside [0, {Format.Number(T.DropoutMaxExclusive)})", AdapterCategory, DiagnosticSeverity.Warning,
        $"LoRA dropout is a regularizer; typical values are {Format.Number(T.DropoutAdviceMin)}–{Format.Number(T.DropoutAdviceMax)}.");

    public static readonly DiagnosticDescriptor GpuMemory = Create(DiagnosticIds.GpuMemory,
        "Estimated training memory exceeds the GPU's memory", AdapterCategory, DiagnosticSeverity.Warning,
        "The estimate of peak training memory (LoraKit.Core's MemoryEstimator; a bf16 base, or NF4 when the adapter's Quantize or " +
        $"{LoraBuildProperties.MSBuildName(LoraBuildProperties.Quantize)} says so) is above the MSBuild property {LoraBuildProperties.MSBuildName(LoraBuildProperties.GpuMemoryGiB)}.");

    public static readonly DiagnosticDescriptor RankDiffersFromLock = Create(DiagnosticIds.RankDiffersFromLock,
        "LoRA rank differs from the rank locked by the last sweep", AdapterCategory, DiagnosticSeverity.Warning,
        "lora.lock.json records the rank the last rank sweep chose; training with another rank loses that provenance.");

    public static readonly DiagnosticDescriptor InvalidConfiguration = Create(DiagnosticIds.InvalidConfiguration,
        "Invalid LoraKit configuration value", ConfigurationCategory, DiagnosticSeverity.Warning,
        "A LoraKit .editorconfig key, MSBuild property or lora.lock.json holds a value LoraKit cannot use; the default applies.");

    public static readonly DiagnosticDescriptor InvalidDimension = Create(DiagnosticIds.InvalidDimension,
        "Invalid model dimension", ModelCategory, DiagnosticSeverity.Error,
        "A model dimension is missing, not positive or not an integer.");

    public static readonly DiagnosticDescriptor HeadsDoNotDivide = Create(DiagnosticIds.HeadsDoNotDivide,
        "Model head counts do not divide", ModelCategory, DiagnosticSeverity.Error,
        "The attention heads must divide the hidden size (unless HeadDim is given) and the key/value heads must divide the attention heads.");

    public static readonly DiagnosticDescriptor UnreadableConfig = Create(DiagnosticIds.UnreadableConfig,
        "Model config file cannot be read", ModelCategory, DiagnosticSeverity.Error,
        "The ConfigFile must be an AdditionalFile holding a Hugging Face config.json object.");

    public static readonly DiagnosticDescriptor UnsupportedArchitecture = Create(DiagnosticIds.UnsupportedArchitecture,
        "Unsupported model architecture or config key", ModelCategory, DiagnosticSeverity.Error,
        "LoraKit builds Llama-family decoders (llama, mistral, qwen2, qwen3) or custom models described with [LoraLinear]; a config.json key that changes the math and is not implemented (an unknown rope_type, quantization_config, attention soft-capping, …) is refused, never ignored.");

    public static readonly DiagnosticDescriptor InvalidCustomLayer = Create(DiagnosticIds.InvalidCustomLayer,
        "Invalid custom model layer", ModelCategory, DiagnosticSeverity.Error,
        "A custom model needs at least one [LoraLinear] with a unique name and positive sizes.");

    public static ImmutableArray<DiagnosticDescriptor> All { get; } = ImmutableArray.Create(
        AlphaRatio, ParameterBudget, RankRange, TargetNotFound, DropoutRange, GpuMemory, RankDiffersFromLock, InvalidConfiguration,
        InvalidDimension, HeadsDoNotDivide, UnreadableConfig, UnsupportedArchitecture, InvalidCustomLayer);

    private static readonly Dictionary<string, DiagnosticDescriptor> ById = CreateIndex();

    /// <summary>The descriptor of a LoraKit ID (as LoraKit.Core's findings and exceptions carry them).</summary>
    public static DiagnosticDescriptor For(string id) => ById[id];

    private static Dictionary<string, DiagnosticDescriptor> CreateIndex()
    {
        var index = new Dictionary<string, DiagnosticDescriptor>();
        foreach (var d in All) index[d.Id] = d;
        return index;
    }

    private static DiagnosticDescriptor Create(string id, string title, string category, DiagnosticSeverity severity, string description) =>
        new(id, title, "{0}", category, severity, isEnabledByDefault: true, description: description,
            helpLinkUri: DiagnosticIds.HelpLink(id));
}
