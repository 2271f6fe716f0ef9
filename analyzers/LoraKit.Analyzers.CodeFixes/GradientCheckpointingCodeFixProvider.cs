using System.Linq;
using Microsoft.CodeAnalysis.Simplification;

namespace LoraKit.Analyzers.CodeFixes;

/// <summary>
/// LORA1006: when the fit plan's cheapest change is gradient checkpointing, sets <c>GradientCheckpointing</c> on the
/// <c>[LoraAdapter]</c> to what it asks for (On, or Offload), adding the argument when it is not written.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(GradientCheckpointingCodeFixProvider)), Shared]
public sealed class GradientCheckpointingCodeFixProvider : LoraCodeFixProvider
{
    public const string Title = "Turn on gradient checkpointing";

    protected override string DiagnosticId => DiagnosticIds.GpuMemory;

    protected override CodeAction? CreateFix(Document document, SyntaxNode node, Diagnostic diagnostic)
    {
        if (!diagnostic.Properties.TryGetValue(LoraDiagnosticProperties.GradientCheckpointing, out var member) ||
            member is not (nameof(LoraGradientCheckpointing.On) or nameof(LoraGradientCheckpointing.Offload))) return null;
        if (node.FirstAncestorOrSelf<AttributeSyntax>() is not { } attribute) return null;
        var value = SyntaxFactory.ParseExpression($"global::LoraKit.{nameof(LoraGradientCheckpointing)}.{member}").WithAdditionalAnnotations(Simplifier.Annotation);
        var existing = attribute.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == nameof(LoraAdapterAttribute.GradientCheckpointing));
        if (existing is not null) return Replace(document, existing.Expression, value, Title);
        var argument = SyntaxFactory.AttributeArgument(SyntaxFactory.NameEquals(nameof(LoraAdapterAttribute.GradientCheckpointing)), null, value);
        var list = attribute.ArgumentList ?? SyntaxFactory.AttributeArgumentList();
        return Replace(document, attribute, attribute.WithArgumentList(list.AddArguments(argument)), Title);
    }
}
