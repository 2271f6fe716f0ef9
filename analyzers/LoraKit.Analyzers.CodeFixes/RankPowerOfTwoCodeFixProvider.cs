namespace LoraKit.Analyzers.CodeFixes;

/// <summary>LORA1003: rounds a rank that is not a power of two to the nearest one (ties up, as <see cref="LoraRuleChecker.NearestPowerOfTwo"/>).</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(RankPowerOfTwoCodeFixProvider)), Shared]
public sealed class RankPowerOfTwoCodeFixProvider : LoraCodeFixProvider
{
    public const string Title = "Round the rank to the nearest power of two";

    protected override string DiagnosticId => DiagnosticIds.RankRange;

    protected override CodeAction? CreateFix(Document document, SyntaxNode node, Diagnostic diagnostic)
    {
        if (!diagnostic.Properties.TryGetValue(LoraDiagnosticProperties.SuggestedRank, out var text) ||
            !int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var rank)) return null;
        var expression = (node.FirstAncestorOrSelf<AttributeArgumentSyntax>()?.Expression) ?? node.FirstAncestorOrSelf<AssignmentExpressionSyntax>()?.Right;
        if (expression is null) return null;
        return Replace(document, expression, SyntaxFactory.LiteralExpression(SyntaxKind.NumericLiteralExpression, SyntaxFactory.Literal(rank)), Title);
    }
}
