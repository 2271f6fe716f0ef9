using System;
using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using LoraKit.Models;
using LoraKit.Roslyn;
using LoraKit.Rules;
using LoraKit.Serving;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;

namespace LoraKit.Analyzers;

/// <summary>
/// The serving lint at compile time: for each <c>[LoraAdapter]</c>, LoraKit.Core's <see cref="ServeRules"/> on the adapter and
/// its model, for the servers the MSBuild property <c>LoraKitServeTargets</c> names (LORA40xx). Quiet, and free, when the
/// property is not set.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class ServeAnalyzer : DiagnosticAnalyzer
{
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ServeDescriptors.All;

    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(OnCompilationStart);
    }

    private static void OnCompilationStart(CompilationStartAnalysisContext context)
    {
        var global = context.Options.AnalyzerConfigOptionsProvider.GlobalOptions;
        if (!global.TryGetValue(LoraBuildProperties.ServeTargets, out var raw) || string.IsNullOrWhiteSpace(raw)) return;
        var types = LoraTypes.Resolve(context.Compilation);
        if (types is null) return;
        global.TryGetValue(LoraBuildProperties.ProjectDir, out var projectDir);
        var session = new Session(types, context.Options, string.IsNullOrWhiteSpace(projectDir) ? null : projectDir, raw);
        context.RegisterSymbolAction(session.AnalyzeNamedType, SymbolKind.NamedType);
    }

    private sealed class Session
    {
        private readonly LoraTypes _types;
        private readonly AnalyzerOptions _options;
        private readonly string? _projectDir;
        private readonly ServeTargets _targets;
        private readonly string? _error;
        private int _errorReported;
        private readonly ConcurrentDictionary<ISymbol, ModelResult> _models = new(SymbolEqualityComparer.Default);

        public Session(LoraTypes types, AnalyzerOptions options, string? projectDir, string raw)
        {
            _types = types;
            _options = options;
            _projectDir = projectDir;
            if (!ServeTargetNames.TryParse(raw, out _targets, out var error))
                _error = $"MSBuild property {LoraBuildProperties.MSBuildName(LoraBuildProperties.ServeTargets)} = {raw.Trim()}: {error}; " +
                    (_targets == ServeTargets.None ? "no serving rule is checked" : $"only {string.Join(";", ServeTargetNames.Each(_targets).Select(ServeTargetNames.Of))} is checked");
        }

        public void AnalyzeNamedType(SymbolAnalysisContext context)
        {
            var type = (INamedTypeSymbol)context.Symbol;
            foreach (var attribute in type.GetAttributes())
                if (SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, _types.AdapterAttribute))
                    AnalyzeAdapter(context, type, attribute);
        }

        private void AnalyzeAdapter(SymbolAnalysisContext context, INamedTypeSymbol adapter, AttributeData attribute)
        {
            var ct = context.CancellationToken;
            if (attribute.ApplicationSyntaxReference?.GetSyntax(ct) is not AttributeSyntax syntax) return;
            if (attribute.AttributeConstructor is null) return; // does not bind: the compiler reports it
            if (_error is not null && Interlocked.Exchange(ref _errorReported, 1) == 0)
                context.ReportDiagnostic(Diagnostic.Create(LoraDescriptors.InvalidConfiguration, Location.None, _error));
            if (_targets == ServeTargets.None) return;

            var values = LoraAttributeReader.ReadAdapter(attribute);
            if (values.HasErrors || values.Rank < 1) return; // the compiler or LORA1003 reports it
            var config = values.ToConfig();
            // The model's modules matter for bias vectors, a tied head and TGI's targets; without them those rules stay quiet.
            ModelShape? shape = null;
            if (values.TargetModules is not null && LoraAttributeReader.ModelType(attribute) is { } model &&
                _types.ModelAttribute is not null && model.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, _types.ModelAttribute)))
                shape = _models.GetOrAdd(model, m => ModelReader.Read((INamedTypeSymbol)m, _types, _options.AdditionalFiles, _projectDir, ct)).Shape;

            var facts = AdapterServeFacts.FromConfig(config, shape);
            foreach (var finding in ServeRules.Check(facts, _targets, adapter.Name))
            {
                var descriptor = ServeDescriptors.For(finding.Id);
                var severity = finding.Severity == RuleSeverity.Error ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning;
                context.ReportDiagnostic(Diagnostic.Create(descriptor, Locate(syntax, finding), severity, additionalLocations: null, properties: null, finding.Message));
            }
        }

        /// <summary>The argument the finding is about (the target's literal for a per-target finding), else the attribute.</summary>
        private static Location Locate(AttributeSyntax syntax, RuleFinding finding)
        {
            var argument = ModelReader.Argument(syntax, finding.Property);
            if (argument is null) return syntax.GetLocation();
            if (finding.Argument is not null)
            {
                foreach (var literal in argument.Expression.DescendantNodesAndSelf().OfType<LiteralExpressionSyntax>())
                    if (literal.Token.Value is string s && TargetMatcher.Matches(finding.Argument, s)) return literal.GetLocation();
            }
            return argument.GetLocation();
        }
    }
}
