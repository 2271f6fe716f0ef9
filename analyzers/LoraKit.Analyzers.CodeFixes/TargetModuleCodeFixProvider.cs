namespace LoraKit.Analyzers.CodeFixes;

/// <summary>LORA1004: replaces a target that matches nothing with the closest existing module name (<see cref="Models.TargetMatcher.SuggestClosest(Models.ModelShape, string)"/>).</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(TargetModuleCodeFixProvider)), Shared]
public sealed class TargetModuleCodeFixProvider : LoraCodeFixProvider
{
    protected override string DiagnosticId => DiagnosticIds.TargetNotFound;

    protected override CodeAction? CreateFix(Document document, SyntaxNode node, Diagnostic diagnostic)
    {
        if (!diagnostic.Properties.TryGetValue(LoraDiagnosticProperties.SuggestedTarget, out var suggestion) || suggestion is null) return null;
        if (node is not LiteralExpressionSyntax literal || !literal.IsKind(SyntaxKind.StringLiteralExpression)) return null;
        return Replace(document, literal, SyntaxFactory.LiteralExpression(SyntaxKind.StringLiteralExpression, SyntaxFactory.Literal(suggestion)), $"Use '{suggestion}'");
    }
}
