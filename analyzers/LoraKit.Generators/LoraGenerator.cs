using System;
using System.Linq;
using LoraKit.Roslyn;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LoraKit.Generators;

/// <summary>
/// Completes <c>[LoraAdapter]</c> classes into typed adapters (constants, Config, AttachTo/Load/Save/Merge,
/// per-layer modules, registry entry) and <c>[LoraModel]</c> classes with dimension constants and a factory.
/// Reports nothing: an invalid description produces no output and LoraKit.Analyzers reports it.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class LoraGenerator : IIncrementalGenerator
{
    /// <summary>The tracked steps, named so tests can check that an unrelated edit leaves each one cached.</summary>
    public static class Steps
    {
        public const string ModelDescriptions = nameof(ModelDescriptions);
        public const string AdapterDescriptions = nameof(AdapterDescriptions);
        public const string ConfigFiles = nameof(ConfigFiles);
        public const string ModelInputs = nameof(ModelInputs);
        public const string Capabilities = nameof(Capabilities);
        public const string ModelPlans = nameof(ModelPlans);
        public const string AdapterPlans = nameof(AdapterPlans);

        public static readonly string[] All = { ModelDescriptions, AdapterDescriptions, ConfigFiles, ModelInputs, Capabilities, ModelPlans, AdapterPlans };
    }

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var models = context.SyntaxProvider.ForAttributeWithMetadataName(LoraAttributeReader.ModelAttribute,
                static (node, _) => node is ClassDeclarationSyntax,
                static (ctx, _) => Parser.ParseModel(ctx))
            .WithTrackingName(Steps.ModelDescriptions);

        var adapters = context.SyntaxProvider.ForAttributeWithMetadataName(LoraAttributeReader.AdapterAttribute,
                static (node, _) => node is ClassDeclarationSyntax,
                static (ctx, _) => Parser.ParseAdapter(ctx))
            .WithTrackingName(Steps.AdapterDescriptions);

        // config.json files arrive as AdditionalFiles (generators must not read the file system).
        var configFiles = context.AdditionalTextsProvider
            .Where(static f => f.Path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            .Select(static (f, ct) => new ConfigText(f.Path, f.GetText(ct)?.ToString()))
            .WithTrackingName(Steps.ConfigFiles);

        // An invalid LoraKitQuantize counts as none here; the analyzers report it (LORA1008).
        var buildProperties = context.AnalyzerConfigOptionsProvider
            .Select(static (o, _) => (
                ProjectDir: o.GlobalOptions.TryGetValue(LoraBuildProperties.ProjectDir, out var dir) ? dir : null,
                Quantize: o.GlobalOptions.TryGetValue(LoraBuildProperties.Quantize, out var q) && LoraBuildProperties.TryReadQuantize(q, out var parsed) ? parsed : LoraQuantization.None));

        var inputs = configFiles.Collect().Combine(buildProperties)
            .Select(static (x, _) => new ModelInputs(new EquatableArray<ConfigText>(x.Left), x.Right.ProjectDir, x.Right.Quantize))
            .WithTrackingName(Steps.ModelInputs);

        var capabilities = context.CompilationProvider
            .Select(static (c, _) => new Capabilities(
                c.GetTypeByMetadataName("LoraKit.Lora.LoraInjector") is not null && c.GetTypeByMetadataName("TorchSharp.torch") is not null,
                c.GetTypeByMetadataName("System.Runtime.CompilerServices.ModuleInitializerAttribute") is not null))
            .WithTrackingName(Steps.Capabilities);

        var modelPlans = models.Combine(inputs)
            .Select(static (x, _) => x.Left is { Type.CanComplete: true } ? Planner.PlanModel(x.Left, x.Right) : null)
            .WithTrackingName(Steps.ModelPlans);

        var adapterPlans = adapters.Combine(inputs)
            .Select(static (x, _) => x.Left is null ? null : Planner.PlanAdapter(x.Left, x.Right))
            .WithTrackingName(Steps.AdapterPlans);

        context.RegisterSourceOutput(modelPlans.Collect().Combine(capabilities), static (spc, x) =>
        {
            // A class described twice (two partial declarations with the attribute) is a compile error: emit nothing for it.
            foreach (var group in x.Left.Where(p => p is not null).GroupBy(p => p!.Type.FullName, StringComparer.Ordinal))
                if (group.Count() == 1)
                    spc.AddSource(Emitter.HintName(group.First()!.Type), Emitter.EmitModel(group.First()!, x.Right));
        });

        context.RegisterSourceOutput(adapterPlans.Collect().Combine(capabilities), static (spc, x) =>
        {
            foreach (var group in x.Left.Where(p => p is not null).GroupBy(p => p!.Type.FullName, StringComparer.Ordinal))
                if (group.Count() == 1)
                    spc.AddSource(Emitter.HintName(group.First()!.Type), Emitter.EmitAdapter(group.First()!, x.Right));
        });
    }
}
