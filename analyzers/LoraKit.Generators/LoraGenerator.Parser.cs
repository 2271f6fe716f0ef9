using System.Linq;
using LoraKit.Roslyn;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LoraKit.Generators;

/// <summary>The first transform: attribute data and symbols in, plain equatable descriptions out (read by the shared <see cref="LoraAttributeReader"/>).</summary>
internal static class Parser
{
    public static ModelDescription? ParseModel(GeneratorAttributeSyntaxContext context)
    {
        if (context.TargetSymbol is not INamedTypeSymbol type) return null;
        return ReadModel(type, IsPartial(context.TargetNode));
    }

    public static AdapterDescription? ParseAdapter(GeneratorAttributeSyntaxContext context)
    {
        if (context.TargetSymbol is not INamedTypeSymbol type || context.Attributes.Length != 1) return null;
        var attribute = context.Attributes[0];
        var values = LoraAttributeReader.ReadAdapter(attribute);
        var modelType = LoraAttributeReader.ModelType(attribute);
        var model = modelType is null ? null : ReadModel(modelType, isPartial: false);
        // An abstract adapter could not be instantiated by AttachTo/Load: leave it alone.
        var errors = values.HasErrors || type.IsAbstract || modelType is null || values.TargetModules is null;
        return new AdapterDescription(NameOf(type, IsPartial(context.TargetNode)), model, values, errors);
    }

    /// <summary>Reads a model class's [LoraModel] and [LoraLinear]s; null when it has no [LoraModel].</summary>
    private static ModelDescription? ReadModel(INamedTypeSymbol type, bool isPartial)
    {
        var attributes = type.GetAttributes();
        var models = attributes.Where(a => LoraAttributeReader.Is(a, LoraAttributeReader.ModelAttribute)).ToList();
        if (models.Count == 0) return null;
        // Described twice (CS0579 on partial declarations) is a compile error: the values say so and nothing is emitted.
        var values = LoraAttributeReader.ReadModel(models[0], attributes.Where(a => LoraAttributeReader.Is(a, LoraAttributeReader.LinearAttribute)),
            describedTwice: models.Count > 1);
        return new ModelDescription(NameOf(type, isPartial), values);
    }

    private static TypeName NameOf(INamedTypeSymbol type, bool isPartial)
    {
        var ns = type.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : null;
        var canComplete = isPartial && type.ContainingType is null && type.TypeParameters.Length == 0 && !type.IsStatic && type.TypeKind == TypeKind.Class;
        return new TypeName(ns, type.Name, ns is null ? type.Name : ns + "." + type.Name, canComplete);
    }

    private static bool IsPartial(SyntaxNode node) =>
        node is ClassDeclarationSyntax c && c.Modifiers.Any(m => m.IsKind(SyntaxKind.PartialKeyword));
}
