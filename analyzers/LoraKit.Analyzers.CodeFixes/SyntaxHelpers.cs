using System;
using System.Globalization;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

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
}
