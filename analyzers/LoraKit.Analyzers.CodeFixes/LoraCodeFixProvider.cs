using System.Collections.Immutable;

namespace LoraKit.Analyzers.CodeFixes;

/// <summary>
/// What every LoraKit code fix shares: one diagnostic ID, Fix All by batch, and for each diagnostic the
/// node it points at turned into at most one action (<see cref="CreateFix"/>).
/// </summary>
public abstract class LoraCodeFixProvider : CodeFixProvider
{
    protected abstract string DiagnosticId { get; }

    public sealed override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(DiagnosticId);

    public sealed override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public sealed override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null) return;
        foreach (var diagnostic in context.Diagnostics)
        {
            var node = root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true);
            if (CreateFix(context.Document, node, diagnostic) is { } action) context.RegisterCodeFix(action, diagnostic);
        }
    }

    /// <summary>The fix for <paramref name="diagnostic"/>, found at <paramref name="node"/>; null when there is none.</summary>
    protected abstract CodeAction? CreateFix(Document document, SyntaxNode node, Diagnostic diagnostic);

    /// <summary>An action that replaces one node; its title is its equivalence key (what Fix All groups by).</summary>
    protected static CodeAction Replace(Document document, SyntaxNode old, SyntaxNode replacement, string title) =>
        CodeAction.Create(title, ct => SyntaxHelpers.ReplaceAsync(document, old, replacement, ct), equivalenceKey: title);
}
