using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using LoraKit.Roslyn;
using LoraKit.Rules;
using LoraKit.Serving;
using Microsoft.CodeAnalysis;

namespace LoraKit.Analyzers;

/// <summary>
/// The descriptors of the serving lint LORA40xx, one per rule of LoraKit.Core's <see cref="ServeRules"/> (titles and
/// sources come from there). Messages are Core's findings, passed as the single argument.
/// </summary>
public static class ServeDescriptors
{
    public const string ServingCategory = "LoraKit.Serving";

    // Default severities: Error where the server refuses the adapter, Warning where it loads it but computes something else
    // or needs a non-default setting (LORA4001 is an error above vLLM's largest --max-lora-rank: Core's finding says which).
    public static readonly DiagnosticDescriptor VllmRank = Create(DiagnosticIds.ServeVllmRank, DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor VllmDora = Create(DiagnosticIds.ServeVllmDora, DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor VllmModulesToSave = Create(DiagnosticIds.ServeVllmModulesToSave, DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor VllmBias = Create(DiagnosticIds.ServeVllmBias, DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor LlamaCppDora = Create(DiagnosticIds.ServeLlamaCppDora, DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor LlamaCppModulesToSave = Create(DiagnosticIds.ServeLlamaCppModulesToSave, DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor LlamaCppBias = Create(DiagnosticIds.ServeLlamaCppBias, DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor LlamaCppRsLora = Create(DiagnosticIds.ServeLlamaCppRsLora, DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor LlamaCppAlphaPattern = Create(DiagnosticIds.ServeLlamaCppAlphaPattern, DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor LlamaCppTiedHead = Create(DiagnosticIds.ServeLlamaCppTiedHead, DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor TgiDora = Create(DiagnosticIds.ServeTgiDora, DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor TgiModulesToSave = Create(DiagnosticIds.ServeTgiModulesToSave, DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor TgiBias = Create(DiagnosticIds.ServeTgiBias, DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor TgiPatterns = Create(DiagnosticIds.ServeTgiPatterns, DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor TgiTargets = Create(DiagnosticIds.ServeTgiTargets, DiagnosticSeverity.Warning);

    /// <summary>Every LORA40xx descriptor, and LORA1008 for a <c>LoraKitServeTargets</c> LoraKit cannot read.</summary>
    public static ImmutableArray<DiagnosticDescriptor> All { get; } = ImmutableArray.Create(
        VllmRank, VllmDora, VllmModulesToSave, VllmBias, LlamaCppDora,
        LlamaCppModulesToSave, LlamaCppBias, LlamaCppRsLora, LlamaCppAlphaPattern, LlamaCppTiedHead,
        TgiDora, TgiModulesToSave, TgiBias, TgiPatterns, TgiTargets,
        LoraDescriptors.InvalidConfiguration);

    private static readonly Dictionary<string, DiagnosticDescriptor> ById = All.Where(d => d.Id != DiagnosticIds.InvalidConfiguration).ToDictionary(d => d.Id);

    public static DiagnosticDescriptor For(string id) => ById[id];

    private static DiagnosticDescriptor Create(string id, DiagnosticSeverity severity)
    {
        var rule = ServeRules.ById(id);
        return new(id, rule.Title, "{0}", ServingCategory, severity, isEnabledByDefault: true,
            description: $"Switched on by the MSBuild property {LoraBuildProperties.MSBuildName(LoraBuildProperties.ServeTargets)} ({ServeTargetNames.Allowed}). Read from " +
                string.Join("; ", rule.Sources.Select(s => $"{s.Repository} {s.Path} at {s.Commit}")) + ".",
            helpLinkUri: DiagnosticIds.HelpLink(id));
    }
}
