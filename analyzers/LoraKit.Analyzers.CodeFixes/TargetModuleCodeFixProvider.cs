using System.Collections.Immutable;
using System.Composition;
using System.Threading;
using System.Threading.Tasks;
using LoraKit.Rules;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LoraKit.Analyzers.CodeFixes;

/// <summary>LORA1004: replaces a target that matches nothing with the closest existing module name (<see cref="Models.TargetMatcher.SuggestClosest(Models.ModelShape, string)"/>).</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(TargetModuleCodeFixProvider)), Shared]
public sealed class TargetModuleCodeFixProvider : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(DiagnosticIds.TargetNotFound);

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null) return;
        foreach (var diagnostic in context.Diagnostics)
        {
            if (!diagnostic.Properties.TryGetValue(LoraDiagnosticProperties.SuggestedTarget, out var suggestion) || suggestion is null) continue;
            if (root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true) is not LiteralExpressionSyntax literal ||
                !literal.IsKind(SyntaxKind.StringLiteralExpression)) continue;
            var title = $"Use '{suggestion}'";
            context.RegisterCodeFix(
                CodeAction.Create(title, ct => SyntaxHelpers.ReplaceAsync(context.Document, literal,
                    SyntaxFactory.LiteralExpression(SyntaxKind.StringLiteralExpression, SyntaxFactory.Literal(suggestion)), ct), equivalenceKey: title),
                diagnostic);
        }
    }
}
