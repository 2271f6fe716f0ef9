using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LoraKit.Models;
using Microsoft.CodeAnalysis;

namespace LoraKit.Roslyn;

// The one reader of LoraKit's attributes for the analyzers and the generator (this folder is compiled into both).
// Property names come from the attribute classes themselves (nameof: LoraKit.Core's sources are compiled into both
// assemblies), and the values land in plain equatable records, so the generator can cache them and the analyzers
// compute with exactly what the generator emits.

/// <summary>One <c>[LoraLinear]</c> as written.</summary>
internal sealed record LinearValues(string Name, int InFeatures, int OutFeatures, int Count, bool Bias, bool IsOutputHead)
{
    public LinearLayer ToLayer() => new(Name, InFeatures, OutFeatures, Count, Bias) { IsOutputHead = IsOutputHead };
}

/// <summary>
/// A <c>[LoraModel]</c> attribute's values with the class's <c>[LoraLinear]</c>s, as written (not yet checked by Core).
/// <see cref="HasErrors"/>: an attribute or argument does not bind (the compiler reports it) or [LoraModel] is there twice.
/// </summary>
internal sealed record ModelValues(
    LoraArchitecture Architecture,
    string? ConfigFile,
    int HiddenSize,
    int IntermediateSize,
    int Layers,
    int AttentionHeads,
    int KeyValueHeads,
    int VocabSize,
    int HeadDim,
    bool TieWordEmbeddings,
    bool AttentionBias,
    bool MlpBias,
    long OtherParameters,
    EquatableArray<LinearValues> Linears,
    bool HasErrors)
{
    public bool HasConfigFile => !string.IsNullOrEmpty(ConfigFile);

    public LlamaDimensions ToLlamaDimensions() => new()
    {
        ModelType = ModelFamily.ModelTypeOf(Architecture) ?? "llama",
        HiddenSize = HiddenSize,
        IntermediateSize = IntermediateSize,
        Layers = Layers,
        AttentionHeads = AttentionHeads,
        KeyValueHeads = KeyValueHeads,
        VocabSize = VocabSize,
        HeadDim = HeadDim,
        TieWordEmbeddings = TieWordEmbeddings,
        QkvBias = AttentionBias,
        OutputProjectionBias = AttentionBias,
        MlpBias = MlpBias,
    };

    /// <summary>Core's shape of a model described by dimensions or [LoraLinear]s (not ConfigFile); throws Core's <see cref="ModelDescriptionException"/>.</summary>
    public ModelShape ToShape(string name) => Architecture == LoraArchitecture.Custom
        ? ModelShape.Custom(name, Linears.Select(l => l.ToLayer()), OtherParameters)
        : ModelShape.FromLlama(name, ToLlamaDimensions());

    /// <summary>Core's shape of a ConfigFile model from the file's text; throws Core's <see cref="ModelDescriptionException"/>.</summary>
    public static ModelShape FromConfigText(string name, string configFile, string text) =>
        ModelShape.FromLlama(name, HfConfig.Parse(text, configFile), configFile);
}

/// <summary>
/// A <c>[LoraAdapter]</c> attribute's values as written. <see cref="TargetModules"/> is the default when not written and
/// null when written but not a constant array of strings. <see cref="Quantize"/> is null when not written.
/// </summary>
internal sealed record AdapterValues(
    int Rank,
    double Alpha,
    double Dropout,
    EquatableArray<string>? TargetModules,
    LoraBias Bias,
    bool UseRsLora,
    LoraInitWeights InitWeights,
    int BatchSize,
    int SequenceLength,
    LoraQuantization? Quantize,
    bool HasErrors,
    LoraGradientCheckpointing? GradientCheckpointing = null)
{
    /// <summary>The adapter as LoraKit.Core takes it (the default targets when <see cref="TargetModules"/> is unknown).</summary>
    public LoraConfig ToConfig() => new()
    {
        Rank = Rank,
        Alpha = Alpha,
        Dropout = Dropout,
        TargetModules = TargetModules is { } targets ? targets.ToArray() : LoraConfig.DefaultTargetModules,
        Bias = Bias,
        UseRsLora = UseRsLora,
        InitWeights = InitWeights,
    };

    /// <summary>A <see cref="Quantize"/> written outside the enum, e.g. <c>(LoraQuantization)7</c>.</summary>
    public bool HasUndefinedQuantize => Quantize is { } q && !Enum.IsDefined(typeof(LoraQuantization), q);

    /// <summary>The base's storage: the attribute's Quantize when written (and defined), else the build's (LoraKitQuantize).</summary>
    public LoraQuantization QuantizeOr(LoraQuantization fromBuild) => Quantize is { } q && !HasUndefinedQuantize ? q : fromBuild;

    /// <summary>Checkpointing for the estimate: the attribute's when written (and defined), else the build's (LoraKitGradientCheckpointing).</summary>
    public LoraGradientCheckpointing GradientCheckpointingOr(LoraGradientCheckpointing fromBuild) =>
        GradientCheckpointing is { } g && Enum.IsDefined(typeof(LoraGradientCheckpointing), g) ? g : fromBuild;
}

internal static class LoraAttributeReader
{
    public const string Namespace = "LoraKit";
    public const string ModelAttribute = Namespace + "." + nameof(LoraModelAttribute);
    public const string AdapterAttribute = Namespace + "." + nameof(LoraAdapterAttribute);
    public const string LinearAttribute = Namespace + "." + nameof(LoraLinearAttribute);
    public const string LoraConfigType = Namespace + "." + nameof(LoraConfig);

    /// <summary>Whether <paramref name="attribute"/> is the LoraKit attribute of that metadata name (for code that holds no resolved symbols).</summary>
    public static bool Is(AttributeData attribute, string metadataName) => attribute.AttributeClass?.ToDisplayString() == metadataName;

    /// <summary>Reads [LoraModel] and the class's [LoraLinear]s. <paramref name="describedTwice"/>: more than one [LoraModel] (CS0579).</summary>
    public static ModelValues ReadModel(AttributeData model, IEnumerable<AttributeData> linears, bool describedTwice = false)
    {
        var errors = describedTwice || HasErrors(model);
        var named = Named(model);
        var architecture = model.ConstructorArguments.Length == 1 && model.ConstructorArguments[0].Value is int a ? (LoraArchitecture)a : LoraArchitecture.Llama;
        var layers = new List<LinearValues>();
        foreach (var linear in linears)
        {
            // The constructor is (name, inFeatures, outFeatures); anything else does not compile.
            if (linear.ConstructorArguments.Length != 3) { errors = true; continue; }
            var args = linear.ConstructorArguments;
            if (HasErrors(linear) || args[0].Value is not string || args[1].Value is not int || args[2].Value is not int) errors = true;
            var ln = Named(linear);
            layers.Add(new LinearValues(args[0].Value as string ?? "", args[1].Value as int? ?? 0, args[2].Value as int? ?? 0,
                Int(ln, nameof(LoraLinearAttribute.Count), 1), Bool(ln, nameof(LoraLinearAttribute.Bias)), Bool(ln, nameof(LoraLinearAttribute.IsOutputHead))));
        }
        return new ModelValues(
            architecture,
            named.TryGetValue(nameof(LoraModelAttribute.ConfigFile), out var cf) ? cf.Value as string : null,
            Int(named, nameof(LoraModelAttribute.HiddenSize), 0),
            Int(named, nameof(LoraModelAttribute.IntermediateSize), 0),
            Int(named, nameof(LoraModelAttribute.Layers), 0),
            Int(named, nameof(LoraModelAttribute.AttentionHeads), 0),
            Int(named, nameof(LoraModelAttribute.KeyValueHeads), 0),
            Int(named, nameof(LoraModelAttribute.VocabSize), 0),
            Int(named, nameof(LoraModelAttribute.HeadDim), 0),
            Bool(named, nameof(LoraModelAttribute.TieWordEmbeddings)),
            Bool(named, nameof(LoraModelAttribute.AttentionBias)),
            Bool(named, nameof(LoraModelAttribute.MlpBias)),
            named.TryGetValue(nameof(LoraModelAttribute.OtherParameters), out var o) && o.Value is not null ? Convert.ToInt64(o.Value, CultureInfo.InvariantCulture) : 0L,
            new EquatableArray<LinearValues>(layers),
            errors);
    }

    public static AdapterValues ReadAdapter(AttributeData adapter)
    {
        var named = Named(adapter);
        EquatableArray<string>? targets = new EquatableArray<string>(LoraConfig.DefaultTargetModules);
        if (named.TryGetValue(nameof(LoraAdapterAttribute.TargetModules), out var t))
            targets = t.IsNull || t.Kind != TypedConstantKind.Array || t.Values.Any(v => v.Value is not string)
                ? null
                : new EquatableArray<string>(t.Values.Select(v => (string)v.Value!));
        return new AdapterValues(
            Int(named, nameof(LoraAdapterAttribute.Rank), LoraConfig.DefaultRank),
            Double(named, nameof(LoraAdapterAttribute.Alpha), LoraConfig.DefaultAlpha),
            Double(named, nameof(LoraAdapterAttribute.Dropout), 0),
            targets,
            (LoraBias)Int(named, nameof(LoraAdapterAttribute.Bias), 0),
            Bool(named, nameof(LoraAdapterAttribute.UseRsLora)),
            (LoraInitWeights)Int(named, nameof(LoraAdapterAttribute.InitWeights), 0),
            Int(named, nameof(LoraAdapterAttribute.BatchSize), 0),
            Int(named, nameof(LoraAdapterAttribute.SequenceLength), 0),
            named.TryGetValue(nameof(LoraAdapterAttribute.Quantize), out var q) && q.Value is int quantize ? (LoraQuantization)quantize : null,
            HasErrors(adapter),
            named.TryGetValue(nameof(LoraAdapterAttribute.GradientCheckpointing), out var g) && g.Value is int checkpointing ? (LoraGradientCheckpointing)checkpointing : null);
    }

    /// <summary>The <c>typeof(Model)</c> of a [LoraAdapter], or null when it is missing or does not bind.</summary>
    public static INamedTypeSymbol? ModelType(AttributeData adapter) =>
        adapter.ConstructorArguments.Length == 1 && adapter.ConstructorArguments[0].Value is INamedTypeSymbol { TypeKind: not TypeKind.Error } model ? model : null;

    /// <summary>The attribute or one of its arguments does not bind: the compiler reports it.</summary>
    public static bool HasErrors(AttributeData attribute) =>
        attribute.AttributeClass is null or { TypeKind: TypeKind.Error } ||
        attribute.ConstructorArguments.Any(a => a.Kind == TypedConstantKind.Error) ||
        attribute.NamedArguments.Any(a => a.Value.Kind == TypedConstantKind.Error);

    private static Dictionary<string, TypedConstant> Named(AttributeData attribute)
    {
        var d = new Dictionary<string, TypedConstant>(StringComparer.Ordinal);
        foreach (var kv in attribute.NamedArguments) d[kv.Key] = kv.Value;
        return d;
    }

    private static int Int(Dictionary<string, TypedConstant> args, string name, int fallback) =>
        args.TryGetValue(name, out var v) && v.Value is not null ? Convert.ToInt32(v.Value, CultureInfo.InvariantCulture) : fallback;

    private static double Double(Dictionary<string, TypedConstant> args, string name, double fallback) =>
        args.TryGetValue(name, out var v) && v.Value is not null ? Convert.ToDouble(v.Value, CultureInfo.InvariantCulture) : fallback;

    private static bool Bool(Dictionary<string, TypedConstant> args, string name) => args.TryGetValue(name, out var v) && v.Value is true;
}

/// <summary>The MSBuild properties the analyzers and the generator read (CompilerVisibleProperty in LoraKit.Analyzers.props).</summary>
internal static class LoraBuildProperties
{
    private const string Prefix = "build_property.";
    public const string ProjectDir = Prefix + "ProjectDir";
    public const string GpuMemoryGiB = Prefix + "LoraKitGpuMemoryGiB";
    public const string BatchSize = Prefix + "LoraKitBatchSize";
    public const string SequenceLength = Prefix + "LoraKitSequenceLength";
    public const string Quantize = Prefix + "LoraKitQuantize";
    public const string ServeTargets = Prefix + "LoraKitServeTargets";
    public const string GradientCheckpointing = Prefix + "LoraKitGradientCheckpointing";

    /// <summary>The property's MSBuild name, for messages: LoraKitQuantize.</summary>
    public static string MSBuildName(string key) => key.Substring(Prefix.Length);

    /// <summary>LoraKitQuantize: none when unset; false (and none) when it is not one of <see cref="LoraQuantizationNames.Allowed"/>.</summary>
    public static bool TryReadQuantize(string? raw, out LoraQuantization quantization)
    {
        quantization = LoraQuantization.None;
        return string.IsNullOrWhiteSpace(raw) || LoraQuantizationNames.TryParse(raw!.Trim(), out quantization);
    }
}
