extern alias analyzers;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
using Xunit;

namespace LoraKit.Analyzers.Tests;

/// <summary>Applies a code fix as an IDE does: in an AdhocWorkspace, through the code action's operations.</summary>
public static class CodeFixVerifier
{
    /// <summary>Fixes the first diagnostic of <paramref name="id"/> and compares the document with <paramref name="after"/>.</summary>
    public static async Task VerifyFixAsync(CodeFixProvider provider, string id, string before, string after, int index = 0)
    {
        var (document, diagnostics) = await PrepareAsync(before, id);
        Assert.True(diagnostics.Length > index, $"expected a {id} to fix; got {diagnostics.Length}");
        var actions = new List<CodeAction>();
        var context = new CodeFixContext(document, diagnostics[index], (a, _) => actions.Add(a), CancellationToken.None);
        await provider.RegisterCodeFixesAsync(context);
        var action = Assert.Single(actions);
        Assert.Equal(action.Title, action.EquivalenceKey);
        Assert.Equal(after, await ApplyAsync(document, action));
    }

    /// <summary>Asserts that the provider offers no fix for the diagnostic.</summary>
    public static async Task VerifyNoFixAsync(CodeFixProvider provider, string id, string before)
    {
        var (document, diagnostics) = await PrepareAsync(before, id);
        var actions = new List<CodeAction>();
        foreach (var d in diagnostics)
            await provider.RegisterCodeFixesAsync(new CodeFixContext(document, d, (a, _) => actions.Add(a), CancellationToken.None));
        Assert.NotEmpty(diagnostics);
        Assert.Empty(actions);
    }

    /// <summary>Fix All in the document, through the provider's FixAllProvider.</summary>
    public static async Task VerifyFixAllAsync(CodeFixProvider provider, string id, string equivalenceKey, string before, string after)
    {
        var (document, diagnostics) = await PrepareAsync(before, id);
        Assert.True(diagnostics.Length > 1, "Fix All needs several diagnostics");
        var fixAll = provider.GetFixAllProvider()!;
        var context = new FixAllContext(document, provider, FixAllScope.Document, equivalenceKey, new[] { id }, new Provider(diagnostics), CancellationToken.None);
        var action = await fixAll.GetFixAsync(context);
        Assert.NotNull(action);
        Assert.Equal(after, await ApplyAsync(document, action!));
    }

    private static async Task<(Document, ImmutableArray<Diagnostic>)> PrepareAsync(string source, string id)
    {
        var workspace = new AdhocWorkspace();
        var project = workspace.AddProject(ProjectInfo.Create(ProjectId.CreateNewId(), VersionStamp.Create(), "App", "App", LanguageNames.CSharp,
            compilationOptions: new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary),
            parseOptions: AnalyzerVerifier.ParseOptions,
            metadataReferences: AnalyzerVerifier.References()));
        var document = workspace.AddDocument(project.Id, "Adapters.cs", SourceText.From(source));
        var compilation = (await document.Project.GetCompilationAsync())!;
        var diagnostics = (await AnalyzerVerifier.GetDiagnosticsAsync(compilation))
            .Where(d => d.Id == id).OrderBy(d => d.Location.SourceSpan.Start).ToImmutableArray();
        return (document, diagnostics);
    }

    private static async Task<string> ApplyAsync(Document document, CodeAction action)
    {
        var operations = await action.GetOperationsAsync(CancellationToken.None);
        var apply = Assert.Single(operations.OfType<ApplyChangesOperation>());
        var changed = apply.ChangedSolution.GetDocument(document.Id)!;
        return (await changed.GetTextAsync()).ToString();
    }

    private sealed class Provider : FixAllContext.DiagnosticProvider
    {
        private readonly ImmutableArray<Diagnostic> _diagnostics;

        public Provider(ImmutableArray<Diagnostic> diagnostics) => _diagnostics = diagnostics;

        public override Task<IEnumerable<Diagnostic>> GetDocumentDiagnosticsAsync(Document document, CancellationToken cancellationToken) =>
            Task.FromResult<IEnumerable<Diagnostic>>(_diagnostics);

        public override Task<IEnumerable<Diagnostic>> GetProjectDiagnosticsAsync(Project project, CancellationToken cancellationToken) =>
            Task.FromResult<IEnumerable<Diagnostic>>(Enumerable.Empty<Diagnostic>());

        public override Task<IEnumerable<Diagnostic>> GetAllDiagnosticsAsync(Project project, CancellationToken cancellationToken) =>
            Task.FromResult<IEnumerable<Diagnostic>>(_diagnostics);
    }
}
