using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LoraKit.Generators;

/// <summary>The first transform: attribute data and symbols in, plain equatable descriptions out.</summary>
internal static class Parser
{
    public const string ModelAttribute = "LoraKit.LoraModelAttribute";
    public const string AdapterAttribute = "LoraKit.LoraAdapterAttribute";
    public const string LinearAttribute = "LoraKit.LoraLinearAttribute";

    public static ModelDescription? ParseModel(GeneratorAttributeSyntaxContext context)
    {
        if (context.TargetSymbol is not INamedTypeSymbol type) return null;
        return ReadModel(type, IsPartial(context.TargetNode));
    }

    public static AdapterDescription? ParseAdapter(GeneratorAttributeSyntaxContext context)
    {
        if (context.TargetSymbol is not INamedTypeSymbol type || context.Attributes.Length != 1) return null;
        var attribute = context.Attributes[0];
        // An abstract adapter could not be instantiated by AttachTo/Load: leave it alone.
        var errors = HasErrors(attribute) || type.IsAbstract;
        ModelDescription? model = null;
        if (attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is INamedTypeSymbol modelType && modelType.TypeKind != TypeKind.Error)
            model = ReadModel(modelType, isPartial: false);
        else
            errors = true;
        var named = Named(attribute);
        var targets = LoraConfig.DefaultTargetModules.ToArray();
        if (named.TryGetValue("TargetModules", out var t))
        {
            if (t.IsNull || t.Kind != TypedConstantKind.Array || t.Values.Any(v => v.Value is not string))
                errors = true;
            else
                targets = t.Values.Select(v => (string)v.Value!).ToArray();
        }
        return new AdapterDescription(
            NameOf(type, IsPartial(context.TargetNode)),
            model,
            Int(named, "Rank", LoraConfig.DefaultRank),
            Double(named, "Alpha", LoraConfig.DefaultAlpha),
            Double(named, "Dropout", 0),
            new EquatableArray<string>(targets),
            Int(named, "Bias", 0),
            Bool(named, "UseRsLora"),
            Int(named, "InitWeights", 0),
            named.TryGetValue("Quantize", out var q) && q.Value is int quantize ? quantize : null,
            errors);
    }

    /// <summary>Reads a model class's [LoraModel] and [LoraLinear]s; null when it has no [LoraModel].</summary>
    private static ModelDescription? ReadModel(INamedTypeSymbol type, bool isPartial)
    {
        var attributes = type.GetAttributes();
        var models = attributes.Where(a => a.AttributeClass?.ToDisplayString() == ModelAttribute).ToList();
        if (models.Count == 0) return null;
        var attribute = models[0];
        // Described twice (CS0579 on partial declarations) is a compile error: mark it and emit nothing.
        var errors = models.Count > 1 || HasErrors(attribute);
        var architecture = attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is int a ? a : 0;
        var named = Named(attribute);
        var linears = new List<LinearDescription>();
        foreach (var linear in attributes.Where(x => x.AttributeClass?.ToDisplayString() == LinearAttribute))
        {
            if (linear.ConstructorArguments.Length != 3 || HasErrors(linear)
                || linear.ConstructorArguments[0].Value is not string name
                || linear.ConstructorArguments[1].Value is not int inFeatures
                || linear.ConstructorArguments[2].Value is not int outFeatures)
            {
                errors = true;
                continue;
            }
            var ln = Named(linear);
            linears.Add(new LinearDescription(name, inFeatures, outFeatures, Int(ln, "Count", 1), Bool(ln, "Bias"), Bool(ln, "IsOutputHead")));
        }
        return new ModelDescription(
            NameOf(type, isPartial),
            architecture,
            named.TryGetValue("ConfigFile", out var cf) ? cf.Value as string : null,
            Int(named, "HiddenSize", 0),
            Int(named, "IntermediateSize", 0),
            Int(named, "Layers", 0),
            Int(named, "AttentionHeads", 0),
            Int(named, "KeyValueHeads", 0),
            Int(named, "VocabSize", 0),
            Int(named, "HeadDim", 0),
            Bool(named, "TieWordEmbeddings"),
            Bool(named, "AttentionBias"),
            Bool(named, "MlpBias"),
            named.TryGetValue("OtherParameters", out var o) && o.Value is not null ? Convert.ToInt64(o.Value, CultureInfo.InvariantCulture) : 0L,
            new EquatableArray<LinearDescription>(linears),
            errors);
    }

    private static TypeName NameOf(INamedTypeSymbol type, bool isPartial)
    {
        var ns = type.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : null;
        var canComplete = isPartial && type.ContainingType is null && type.TypeParameters.Length == 0 && !type.IsStatic && type.TypeKind == TypeKind.Class;
        return new TypeName(ns, type.Name, ns is null ? type.Name : ns + "." + type.Name, canComplete);
    }

    private static bool IsPartial(SyntaxNode node) =>
        node is ClassDeclarationSyntax c && c.Modifiers.Any(m => m.IsKind(SyntaxKind.PartialKeyword));

    private static bool HasErrors(AttributeData attribute) =>
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
