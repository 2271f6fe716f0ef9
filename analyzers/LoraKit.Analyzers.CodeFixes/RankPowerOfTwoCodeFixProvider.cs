using System.Collections.Immutable;
using System.Composition;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using LoraKit.Rules;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LoraKit.Analyzers.CodeFixes;

/// <summary>LORA1003: rounds a rank that is not a power of two to the nearest one (ties up, as <see cref="LoraRuleChecker.NearestPowerOfTwo"/>).</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(RankPowerOfTwoCodeFixProvider)), Shared]
public sealed class RankPowerOfTwoCodeFixProvider : CodeFixProvider
{
    public const string Title = "Round the rank to the nearest power of two";

    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(DiagnosticIds.RankRange);

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null) return;
        foreach (var diagnostic in context.Diagnostics)
        {
            if (!diagnostic.Properties.TryGetValue(LoraDiagnosticProperties.SuggestedRank, out var text) ||
                !int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var rank)) continue;
            var node = root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true);
            var expression = (node.FirstAncestorOrSelf<AttributeArgumentSyntax>()?.Expression) ?? node.FirstAncestorOrSelf<AssignmentExpressionSyntax>()?.Right;
            if (expression is null) continue;
            context.RegisterCodeFix(
                CodeAction.Create(Title, ct => SyntaxHelpers.ReplaceAsync(context.Document, expression,
                    SyntaxFactory.LiteralExpression(SyntaxKind.NumericLiteralExpression, SyntaxFactory.Literal(rank)), ct), equivalenceKey: Title),
                diagnostic);
        }
    }
}
