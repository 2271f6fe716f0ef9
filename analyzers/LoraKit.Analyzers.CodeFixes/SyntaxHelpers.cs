using System;

namespace LoraKit.Analyzers.CodeFixes;

internal static class SyntaxHelpers
{
    /// <summary>16 → <c>16</c>, 0.5 → <c>0.5</c>: an int literal when whole (it converts to double), else a double literal.</summary>
    public static LiteralExpressionSyntax NumberLiteral(double value)
    {
        if (Math.Floor(value) == value && Math.Abs(value) <= int.MaxValue)
            return SyntaxFactory.LiteralExpression(SyntaxKind.NumericLiteralExpression, SyntaxFactory.Literal((int)value));
        var text = value.ToString("R", CultureInfo.InvariantCulture);
        return SyntaxFactory.LiteralExpression(SyntaxKind.NumericLiteralExpression, SyntaxFactory.Literal(text, value));
    }

    /// <summary>The document with <paramref name="old"/> replaced by <paramref name="replacement"/> (keeping the old node's trivia).</summary>
    public static async Task<Document> ReplaceAsync(Document document, SyntaxNode old, SyntaxNode replacement, CancellationToken ct)
    {
        var root = await document.GetSyntaxRootAsync(ct).ConfigureAwait(false);
        return root is null ? document : document.WithSyntaxRoot(root.ReplaceNode(old, replacement.WithTriviaFrom(old)));
    }
}
