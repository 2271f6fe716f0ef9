namespace LoraKit.Analyzers.CodeFixes;

/// <summary>LORA1001: sets Alpha to the configured ratio × Rank, adding Alpha when it was left at its default.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(AlphaRatioCodeFixProvider)), Shared]
public sealed class AlphaRatioCodeFixProvider : LoraCodeFixProvider
{
    public const string Title = "Set Alpha to alpha/r ratio × Rank";

    protected override string DiagnosticId => DiagnosticIds.AlphaRatio;

    protected override CodeAction? CreateFix(Document document, SyntaxNode node, Diagnostic diagnostic)
    {
        if (!diagnostic.Properties.TryGetValue(LoraDiagnosticProperties.ExpectedAlpha, out var text) ||
            !double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var alpha)) return null;
        var missing = diagnostic.Properties.TryGetValue(LoraDiagnosticProperties.AlphaMissing, out var m) && m == "true";
        var target = node.FirstAncestorOrSelf<AttributeArgumentSyntax>() as SyntaxNode ?? node.FirstAncestorOrSelf<AssignmentExpressionSyntax>();
        return target is null ? null : CodeAction.Create(Title, ct => FixAsync(document, target, alpha, missing, ct), equivalenceKey: Title);
    }

    private static async Task<Document> FixAsync(Document document, SyntaxNode target, double alpha, bool missing, CancellationToken ct)
    {
        var root = await document.GetSyntaxRootAsync(ct).ConfigureAwait(false);
        if (root is null) return document;
        var value = SyntaxHelpers.NumberLiteral(alpha);
        SyntaxNode newRoot;
        switch (target)
        {
            case AttributeArgumentSyntax argument when !missing:
                newRoot = root.ReplaceNode(argument.Expression, value.WithTriviaFrom(argument.Expression));
                break;
            case AttributeArgumentSyntax rank when rank.Parent is AttributeArgumentListSyntax list:
                var alphaArg = SyntaxFactory.AttributeArgument(SyntaxFactory.NameEquals(nameof(LoraAdapterAttribute.Alpha)), null, value);
                newRoot = root.ReplaceNode(list, list.WithArguments(list.Arguments.Insert(list.Arguments.IndexOf(rank) + 1, alphaArg)));
                break;
            case AssignmentExpressionSyntax assignment when !missing:
                newRoot = root.ReplaceNode(assignment.Right, value.WithTriviaFrom(assignment.Right));
                break;
            case AssignmentExpressionSyntax rankAssignment when rankAssignment.Parent is InitializerExpressionSyntax initializer:
                var alphaAssignment = SyntaxFactory.AssignmentExpression(SyntaxKind.SimpleAssignmentExpression, SyntaxFactory.IdentifierName(nameof(LoraConfig.Alpha)), value);
                newRoot = root.ReplaceNode(initializer, initializer.WithExpressions(initializer.Expressions.Insert(initializer.Expressions.IndexOf(rankAssignment) + 1, alphaAssignment)));
                break;
            default:
                return document;
        }
        return document.WithSyntaxRoot(newRoot);
    }
}
