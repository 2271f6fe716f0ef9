using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Threading;
using LoraKit.Memory;
using LoraKit.Models;
using LoraKit.Roslyn;
using LoraKit.Rules;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace LoraKit.Analyzers;

/// <summary>
/// The state of one compilation's analysis: LoraKit's types, the settings (.editorconfig per tree,
/// MSBuild properties), the models read so far and the lock file. Thread-safe: actions run concurrently.
/// </summary>
internal sealed class AnalysisSession
{
    private readonly LoraTypes _types;
    private readonly AnalyzerOptions _options;
    private readonly string? _projectDir;
    private readonly ConcurrentDictionary<ISymbol, ModelResult> _models = new(SymbolEqualityComparer.Default);
    private readonly ConcurrentDictionary<SyntaxTree, (LoraThresholds Thresholds, IReadOnlyList<string> Errors)> _thresholds = new();
    private readonly ConcurrentDictionary<string, byte> _reportedSettings = new(StringComparer.Ordinal);
    private readonly Lazy<(LoraLock? Lock, Diagnostic? Error)> _lock;
    private readonly ConcurrentDictionary<SyntaxTree, Location?> _firstConstruct = new();
    private int _globalErrorsReported;
    private readonly double _gpuMemoryGiB;
    private readonly int _batchSize;
    private readonly int _sequenceLength;
    private readonly LoraQuantization _quantize;
    private readonly LoraGradientCheckpointing _checkpointing;
    private readonly List<string> _buildPropertyErrors = new();

    public AnalysisSession(LoraTypes types, AnalyzerOptions options, CancellationToken ct)
    {
        _types = types;
        _options = options;
        var global = options.AnalyzerConfigOptionsProvider.GlobalOptions;
        _projectDir = Read(global, LoraBuildProperties.ProjectDir);
        _gpuMemoryGiB = ReadNumber(global, LoraBuildProperties.GpuMemoryGiB, 0, "a positive number of GiB, e.g. 24", v => v > 0);
        _batchSize = (int)ReadNumber(global, LoraBuildProperties.BatchSize, 1, "a whole number of at least 1, e.g. 4", v => v >= 1 && v <= int.MaxValue && Math.Floor(v) == v);
        _sequenceLength = (int)ReadNumber(global, LoraBuildProperties.SequenceLength, 512, "a whole number of at least 1, e.g. 2048", v => v >= 1 && v <= int.MaxValue && Math.Floor(v) == v);
        _quantize = ReadQuantize(global);
        _checkpointing = ReadCheckpointing(global);
        _lock = new Lazy<(LoraLock?, Diagnostic?)>(() => ReadLock(ct), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    // ---- [LoraModel] / [LoraAdapter] classes ----

    public void AnalyzeNamedType(SymbolAnalysisContext context)
    {
        var type = (INamedTypeSymbol)context.Symbol;
        foreach (var attribute in type.GetAttributes())
        {
            if (_types.ModelAttribute is not null && SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, _types.ModelAttribute))
            {
                var model = GetModel(type, context.CancellationToken);
                if (model.Error is not null) context.ReportDiagnostic(model.Error);
            }
            else if (SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, _types.AdapterAttribute))
            {
                AnalyzeAdapter(context, type, attribute);
            }
        }
    }

    private ModelResult GetModel(INamedTypeSymbol model, CancellationToken ct) =>
        _models.GetOrAdd(model, m => ModelReader.Read((INamedTypeSymbol)m, _types, _options.AdditionalFiles, _projectDir, ct));

    private void AnalyzeAdapter(SymbolAnalysisContext context, INamedTypeSymbol adapter, AttributeData attribute)
    {
        var ct = context.CancellationToken;
        if (attribute.ApplicationSyntaxReference?.GetSyntax(ct) is not AttributeSyntax syntax) return;
        if (attribute.AttributeConstructor is null) return; // does not bind: the compiler reports it
        var thresholds = GetThresholds(syntax.SyntaxTree, syntax.GetLocation(), context.ReportDiagnostic);
        ReportGlobalErrors(context.ReportDiagnostic);

        var values = LoraAttributeReader.ReadAdapter(attribute);
        var config = values.ToConfig();
        var targetsKnown = values.TargetModules is not null;

        var name = adapter.Name;
        var quantization = Quantization(context, values, syntax, name);
        var model = LoraAttributeReader.ModelType(attribute);
        ModelShape? shape = null;
        if (model is not null)
        {
            if (_types.ModelAttribute is null || !model.GetAttributes().Any(x => SymbolEqualityComparer.Default.Equals(x.AttributeClass, _types.ModelAttribute)))
            {
                var typeofArg = syntax.ArgumentList?.Arguments.FirstOrDefault(x => x.NameEquals is null && x.NameColon is null);
                context.ReportDiagnostic(Diagnostic.Create(LoraDescriptors.InvalidDimension, typeofArg?.GetLocation() ?? syntax.GetLocation(),
                    $"{name}: the model type {model.Name} has no [LoraModel] attribute; describe the base model with [LoraModel(LoraArchitecture.Llama, HiddenSize = …)] or [LoraModel(ConfigFile = \"config.json\")]"));
            }
            else shape = GetModel(model, ct).Shape;
        }

        IEnumerable<RuleFinding> findings;
        if (shape is not null && targetsKnown)
        {
            findings = LoraRuleChecker.Check(shape, config, thresholds, name);
            if (_gpuMemoryGiB > 0 && config.Rank >= 1)
            {
                var memory = new MemoryOptions
                {
                    BasePrecision = quantization == LoraQuantization.Nf4 ? WeightPrecision.NF4 : WeightPrecision.BFloat16,
                    BatchSize = values.BatchSize > 0 ? values.BatchSize : _batchSize,
                    SequenceLength = values.SequenceLength > 0 ? values.SequenceLength : _sequenceLength,
                    GradientCheckpointing = values.GradientCheckpointingOr(_checkpointing),
                };
                var finding = LoraRuleChecker.CheckMemory(shape, config, memory, _gpuMemoryGiB, name);
                if (finding is not null) findings = findings.Concat(new[] { finding });
            }
        }
        else findings = RulesWithoutModel(config, thresholds, name, alphaKnown: true, dropoutKnown: true);

        var lockFile = _lock.Value.Lock;
        var lockFinding = LoraRuleChecker.CheckLock(config.Rank, lockFile?.Find(name), name);
        if (lockFinding is not null) findings = findings.Concat(new[] { lockFinding });

        foreach (var finding in findings)
        {
            var (location, missing) = LocateInAttribute(syntax, finding);
            context.ReportDiagnostic(Create(finding, location, config, thresholds, shape, missing));
        }
    }

    /// <summary>
    /// The base's storage for LORA1006: the attribute's Quantize when written, else the MSBuild property LoraKitQuantize,
    /// else none. A value outside the enum is LORA1008 on the argument, and the MSBuild value applies.
    /// </summary>
    private LoraQuantization Quantization(SymbolAnalysisContext context, AdapterValues values, AttributeSyntax syntax, string name)
    {
        if (values.HasUndefinedQuantize)
        {
            context.ReportDiagnostic(Diagnostic.Create(LoraDescriptors.InvalidConfiguration,
                ModelReader.ArgumentLocation(syntax, nameof(LoraAdapterAttribute.Quantize)) ?? syntax.GetLocation(),
                $"{name}: {nameof(LoraAdapterAttribute.Quantize)} = {((int)values.Quantize!).ToString(CultureInfo.InvariantCulture)} is not a {nameof(LoraQuantization)} " +
                $"({nameof(LoraQuantization.None)}, {nameof(LoraQuantization.Nf4)}); the MSBuild value ({LoraQuantizationNames.Of(_quantize)}) applies"));
        }
        return values.QuantizeOr(_quantize);
    }

    private static (Location Location, bool AlphaMissing) LocateInAttribute(AttributeSyntax syntax, RuleFinding finding)
    {
        if (finding.Id == DiagnosticIds.GpuMemory) return (syntax.GetLocation(), false);
        var property = ModelReader.Argument(syntax, finding.Property);
        if (property is null && finding.Property == nameof(LoraAdapterAttribute.Alpha))
        {
            // Alpha left at its default: point at the Rank it disagrees with (the fix adds Alpha there).
            var rankArg = ModelReader.Argument(syntax, nameof(LoraAdapterAttribute.Rank));
            return (rankArg?.GetLocation() ?? syntax.GetLocation(), true);
        }
        if (property is null) return (syntax.GetLocation(), false);
        if (finding.Argument is not null)
        {
            foreach (var literal in property.Expression.DescendantNodesAndSelf().OfType<LiteralExpressionSyntax>())
                if (literal.Token.Value is string s && s == finding.Argument) return (literal.GetLocation(), false);
        }
        return (property.GetLocation(), false);
    }

    // ---- new LoraConfig { … } ----

    public void AnalyzeObjectInitializer(SyntaxNodeAnalysisContext context)
    {
        var initializer = (InitializerExpressionSyntax)context.Node;
        if (initializer.Parent is not BaseObjectCreationExpressionSyntax creationSyntax) return;
        // Only initializers that set a property can produce a finding (see below); skip the rest unbound.
        if (!initializer.Expressions.Any(e => e is AssignmentExpressionSyntax { Left: IdentifierNameSyntax })) return;
        if (context.SemanticModel.GetOperation(creationSyntax, context.CancellationToken) is not IObjectCreationOperation creation) return;
        AnalyzeObjectCreation(creation, context.ReportDiagnostic);
    }

    private void AnalyzeObjectCreation(IObjectCreationOperation creation, Action<Diagnostic> report)
    {
        if (!SymbolEqualityComparer.Default.Equals(creation.Type, _types.LoraConfig) || creation.Initializer is null) return;
        var config = new LoraConfig();
        bool rankKnown = true, alphaKnown = true, dropoutKnown = true;
        var locations = new Dictionary<string, SyntaxNode>(StringComparer.Ordinal);
        foreach (var init in creation.Initializer.Initializers)
        {
            if (init is not ISimpleAssignmentOperation { Target: IPropertyReferenceOperation property } assignment) continue;
            var value = assignment.Value.ConstantValue;
            var propertyName = property.Property.Name;
            locations[propertyName] = assignment.Syntax;
            switch (propertyName)
            {
                case nameof(LoraConfig.Rank):
                    if (value.HasValue && value.Value is int r) config.Rank = r; else rankKnown = false;
                    break;
                case nameof(LoraConfig.Alpha):
                    if (value.HasValue && value.Value is not null) config.Alpha = Convert.ToDouble(value.Value, CultureInfo.InvariantCulture); else alphaKnown = false;
                    break;
                case nameof(LoraConfig.Dropout):
                    if (value.HasValue && value.Value is not null) config.Dropout = Convert.ToDouble(value.Value, CultureInfo.InvariantCulture); else dropoutKnown = false;
                    break;
                case nameof(LoraConfig.UseRsLora):
                    if (value.HasValue && value.Value is bool rs) config.UseRsLora = rs; else alphaKnown = false;
                    break;
                case nameof(LoraConfig.InitWeights):
                    if (value.HasValue && value.Value is int i) config.InitWeights = (LoraInitWeights)i; else alphaKnown = false;
                    break;
            }
        }
        if (locations.Count == 0) return;
        var tree = creation.Syntax.SyntaxTree;
        var thresholds = GetThresholds(tree, creation.Syntax.GetLocation(), report);
        var name = NameOf(creation);
        var findings = rankKnown ? RulesWithoutModel(config, thresholds, name, alphaKnown, dropoutKnown) : dropoutKnown
            ? RulesWithoutModel(config, thresholds, name, false, true).Where(f => f.Id == DiagnosticIds.DropoutRange)
            : Enumerable.Empty<RuleFinding>();
        foreach (var finding in findings)
        {
            var missing = false;
            if (!locations.TryGetValue(finding.Property, out var node))
            {
                missing = finding.Property == nameof(LoraConfig.Alpha);
                locations.TryGetValue(nameof(LoraConfig.Rank), out node);
            }
            report(Create(finding, node?.GetLocation() ?? creation.Syntax.GetLocation(), config, thresholds, null, missing));
        }
    }

    /// <summary>The variable, field or property a LoraConfig is assigned to, for messages; else "LoraConfig".</summary>
    private static string NameOf(IOperation creation)
    {
        for (var op = creation.Parent; op is not null; op = op.Parent)
        {
            switch (op)
            {
                case IVariableDeclaratorOperation declarator: return declarator.Symbol.Name;
                case IFieldInitializerOperation field when field.InitializedFields.Length > 0: return field.InitializedFields[0].Name;
                case IPropertyInitializerOperation prop when prop.InitializedProperties.Length > 0: return prop.InitializedProperties[0].Name;
                case ISimpleAssignmentOperation { Target: IMemberReferenceOperation member }: return member.Member.Name;
                case IConversionOperation:
                case IVariableInitializerOperation:
                case IVariableDeclarationOperation:
                    continue;
                default: return "LoraConfig";
            }
        }
        return "LoraConfig";
    }

    private static IEnumerable<RuleFinding> RulesWithoutModel(LoraConfig config, LoraThresholds t, string name, bool alphaKnown, bool dropoutKnown)
    {
        var rank = LoraRuleChecker.CheckRank(config.Rank, t, name);
        if (rank is not null) yield return rank;
        if (alphaKnown && config.Rank >= 1)
        {
            var alpha = LoraRuleChecker.CheckAlphaRatio(config, t, name);
            if (alpha is not null) yield return alpha;
        }
        if (dropoutKnown)
        {
            var dropout = LoraRuleChecker.CheckDropout(config.Dropout, t, name);
            if (dropout is not null) yield return dropout;
        }
    }

    private static Diagnostic Create(RuleFinding finding, Location location, LoraConfig config, LoraThresholds t, ModelShape? shape, bool alphaMissing)
    {
        var descriptor = LoraDescriptors.For(finding.Id);
        var properties = ImmutableDictionary<string, string?>.Empty;
        if (finding.Id == DiagnosticIds.AlphaRatio)
        {
            properties = properties
                .Add(LoraDiagnosticProperties.ExpectedAlpha, t.ExpectedAlpha(config.Rank).ToString("R", CultureInfo.InvariantCulture))
                .Add(LoraDiagnosticProperties.AlphaMissing, alphaMissing ? "true" : "false");
        }
        else if (finding.Id == DiagnosticIds.RankRange && config.Rank >= t.MinRank && config.Rank <= t.MaxRank && !LoraRuleChecker.IsPowerOfTwo(config.Rank))
        {
            properties = properties.Add(LoraDiagnosticProperties.SuggestedRank, LoraRuleChecker.NearestPowerOfTwo(config.Rank).ToString(CultureInfo.InvariantCulture));
        }
        else if (finding.Id == DiagnosticIds.GpuMemory && LoraGradientCheckpointingNames.TryParse(finding.Argument, out var checkpointing) &&
                 checkpointing != LoraGradientCheckpointing.None)
        {
            properties = properties.Add(LoraDiagnosticProperties.GradientCheckpointing, checkpointing.ToString());
        }
        else if (finding.Id == DiagnosticIds.TargetNotFound && shape is not null && finding.Argument is not null &&
                 TargetMatcher.SuggestClosest(shape, finding.Argument) is { } closest)
        {
            properties = properties.Add(LoraDiagnosticProperties.SuggestedTarget, closest);
        }
        var severity = finding.Severity == RuleSeverity.Error ? DiagnosticSeverity.Error : descriptor.DefaultSeverity;
        return Diagnostic.Create(descriptor, location, severity, additionalLocations: null, properties, finding.Message);
    }

    // ---- settings ----

    private LoraThresholds GetThresholds(SyntaxTree tree, Location location, Action<Diagnostic> report)
    {
        var entry = _thresholds.GetOrAdd(tree, t =>
        {
            var options = _options.AnalyzerConfigOptionsProvider.GetOptions(t);
            var thresholds = LoraThresholds.FromOptions(key => options.TryGetValue(key, out var v) ? v : null, out var errors);
            return (thresholds, errors);
        });
        foreach (var error in entry.Errors)
            ReportSetting(tree, location, $".editorconfig: {error}; the default applies", report);
        return entry.Thresholds;
    }

    /// <summary>MSBuild property and lock-file problems concern the whole compilation: reported once, outside the source.</summary>
    private void ReportGlobalErrors(Action<Diagnostic> report)
    {
        if (Interlocked.Exchange(ref _globalErrorsReported, 1) != 0) return;
        foreach (var error in _buildPropertyErrors)
            report(Diagnostic.Create(LoraDescriptors.InvalidConfiguration, Location.None, error));
        if (_lock.Value.Error is { } lockError) report(lockError);
    }

    /// <summary>
    /// Reports an .editorconfig problem once per syntax tree, at the tree's first [LoraAdapter] or
    /// <c>new LoraConfig</c> in source order (so the location does not depend on which action runs first).
    /// </summary>
    private void ReportSetting(SyntaxTree tree, Location location, string message, Action<Diagnostic> report)
    {
        if (!_reportedSettings.TryAdd(tree.FilePath + "\n" + message, 0)) return;
        var first = _firstConstruct.GetOrAdd(tree, FirstConstruct) ?? location;
        report(Diagnostic.Create(LoraDescriptors.InvalidConfiguration, first, message));
    }

    /// <summary>[LoraAdapter] as written without the Attribute suffix.</summary>
    private static readonly string AdapterShortName = nameof(LoraAdapterAttribute).Substring(0, nameof(LoraAdapterAttribute).Length - "Attribute".Length);

    private static Location? FirstConstruct(SyntaxTree tree)
    {
        foreach (var node in tree.GetRoot().DescendantNodes())
        {
            var name = node switch
            {
                AttributeSyntax a => a.Name,
                ObjectCreationExpressionSyntax o => o.Type,
                _ => null,
            };
            var last = name switch
            {
                QualifiedNameSyntax q => q.Right.Identifier.ValueText,
                AliasQualifiedNameSyntax q => q.Name.Identifier.ValueText,
                SimpleNameSyntax n => n.Identifier.ValueText,
                _ => null,
            };
            if (last is not null && (last == AdapterShortName || last == nameof(LoraAdapterAttribute) || last == nameof(LoraConfig))) return node.GetLocation();
        }
        return null;
    }

    private (LoraLock?, Diagnostic?) ReadLock(CancellationToken ct)
    {
        var file = AdditionalFileLocator.ByFileName(_options.AdditionalFiles, _projectDir, LoraLock.FileName).FirstOrDefault();
        if (file is null) return (null, null);
        var display = AdditionalFileLocator.Display(file.Path, _projectDir);
        var text = file.GetText(ct);
        if (text is null)
            return (null, Diagnostic.Create(LoraDescriptors.InvalidConfiguration, Location.None, $"{display}: cannot be read; LORA1007 is not checked"));
        try
        {
            return (LoraLock.Parse(text.ToString(), display), null);
        }
        catch (LoraLockException e)
        {
            // Point into the lock file itself, so the build output and the IDE show lora.lock.json(line).
            var line = Math.Max(0, Math.Min(e.Line - 1, text.Lines.Count - 1));
            var span = text.Lines.Count == 0 ? default : text.Lines[line].Span;
            var location = Location.Create(file.Path, span, text.Lines.Count == 0 ? default : text.Lines.GetLinePositionSpan(span));
            return (null, Diagnostic.Create(LoraDescriptors.InvalidConfiguration, location, $"{e.Message}; LORA1007 is not checked"));
        }
    }

    private static string? Read(AnalyzerConfigOptions options, string key) =>
        options.TryGetValue(key, out var v) && !string.IsNullOrWhiteSpace(v) ? v.Trim() : null;

    private LoraGradientCheckpointing ReadCheckpointing(AnalyzerConfigOptions options)
    {
        var raw = Read(options, LoraBuildProperties.GradientCheckpointing);
        if (LoraGradientCheckpointingNames.TryParse(raw?.Trim().ToLowerInvariant(), out var mode)) return mode;
        _buildPropertyErrors.Add($"MSBuild property {LoraBuildProperties.MSBuildName(LoraBuildProperties.GradientCheckpointing)} = {raw}: not one of " +
            $"{LoraGradientCheckpointingNames.Allowed}; none applies");
        return LoraGradientCheckpointing.None;
    }

    private LoraQuantization ReadQuantize(AnalyzerConfigOptions options)
    {
        var raw = Read(options, LoraBuildProperties.Quantize);
        if (LoraBuildProperties.TryReadQuantize(raw, out var quantization)) return quantization;
        _buildPropertyErrors.Add($"MSBuild property {LoraBuildProperties.MSBuildName(LoraBuildProperties.Quantize)} = {raw}: not one of {LoraQuantizationNames.Allowed}; " +
            $"the default ({LoraQuantizationNames.None}) applies");
        return LoraQuantization.None;
    }

    private double ReadNumber(AnalyzerConfigOptions options, string key, double fallback, string expected, Func<double, bool> valid)
    {
        var raw = Read(options, key);
        if (raw is null) return fallback;
        if (double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && valid(v)) return v;
        var property = LoraBuildProperties.MSBuildName(key);
        _buildPropertyErrors.Add($"MSBuild property {property} = {raw}: not {expected}; the default applies");
        return fallback;
    }
}
