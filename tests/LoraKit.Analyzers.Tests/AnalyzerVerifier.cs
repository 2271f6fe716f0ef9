extern alias analyzers;
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit;
using LoraAnalyzer = analyzers::LoraKit.Analyzers.LoraAnalyzer;

namespace LoraKit.Analyzers.Tests;

/// <summary>
/// Compiles test sources in memory against the runtime's assemblies and LoraKit.Core.dll, runs
/// <see cref="LoraAnalyzer"/>, and compares its diagnostics with the markup's, ID and span exactly.
/// </summary>
public static class AnalyzerVerifier
{
    private static readonly Lazy<ImmutableArray<MetadataReference>> Framework = new(LoadFramework);
    private static readonly MetadataReference Core = MetadataReference.CreateFromFile(typeof(LoraAdapterAttribute).Assembly.Location);

    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.CSharp12);

    /// <summary>
    /// The framework to compile against, with no download: the SDK's reference pack of the running runtime's version
    /// (dotnet/packs/Microsoft.NETCore.App.Ref/&lt;version&gt;/ref/net&lt;major.minor&gt;, what a build of a project uses), else,
    /// on a machine with the runtime but not that pack, the test process's own framework assemblies.
    /// </summary>
    private static ImmutableArray<MetadataReference> LoadFramework()
    {
        var runtimeDir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        if (ReferencePack(runtimeDir) is { } pack)
            return Directory.GetFiles(pack, "*.dll").OrderBy(p => p, StringComparer.Ordinal)
                .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToImmutableArray();
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        return tpa.Where(p => string.Equals(Path.GetDirectoryName(p), runtimeDir, StringComparison.Ordinal) && p.EndsWith(".dll", StringComparison.Ordinal))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToImmutableArray();
    }

    /// <summary>…/shared/Microsoft.NETCore.App/10.0.12 → …/packs/Microsoft.NETCore.App.Ref/10.0.12/ref/net10.0, when it exists.</summary>
    internal static string? ReferencePack(string runtimeDir)
    {
        var version = Path.GetFileName(runtimeDir);
        var dotnetRoot = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(runtimeDir)));
        if (dotnetRoot is null) return null;
        var pack = Path.Combine(dotnetRoot, "packs", "Microsoft.NETCore.App.Ref", version, "ref", "net" + Environment.Version.ToString(2));
        return Directory.Exists(pack) && Directory.GetFiles(pack, "System.Runtime.dll").Length == 1 ? pack : null;
    }

    public static ImmutableArray<MetadataReference> References(bool withLoraKit = true) =>
        withLoraKit ? Framework.Value.Add(Core) : Framework.Value;

    public static CSharpCompilation Compile(string source, bool withLoraKit = true, string path = "/src/App/Adapters.cs", TestOptions? options = null)
    {
        var tree = CSharpSyntaxTree.ParseText(source, ParseOptions, path);
        var compilationOptions = new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable);
        if (options is { Severity.Count: > 0 })
            compilationOptions = compilationOptions.WithSpecificDiagnosticOptions(options.Severity);
        return CSharpCompilation.Create("App", new[] { tree }, References(withLoraKit), compilationOptions);
    }

    /// <summary>Every LoraKit diagnostic the analyzer reports, after the compilation's severity options; fails on any analyzer exception.</summary>
    public static Task<ImmutableArray<Diagnostic>> GetDiagnosticsAsync(Compilation compilation, TestOptions? options = null, bool requireValidSource = true) =>
        GetDiagnosticsAsync(new LoraAnalyzer(), compilation, options, requireValidSource);

    /// <summary>Every diagnostic <paramref name="analyzer"/> reports, after the compilation's severity options; fails on any analyzer exception.</summary>
    public static async Task<ImmutableArray<Diagnostic>> GetDiagnosticsAsync(DiagnosticAnalyzer analyzer, Compilation compilation, TestOptions? options = null, bool requireValidSource = true)
    {
        if (requireValidSource)
        {
            var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToArray();
            Assert.True(errors.Length == 0, "The test source does not compile:\n" + string.Join("\n", errors.Select(e => e.ToString())));
        }
        var exceptions = new ConcurrentQueue<Exception>();
        var withAnalyzers = compilation.WithAnalyzers(
            ImmutableArray.Create(analyzer),
            new CompilationWithAnalyzersOptions((options ?? new TestOptions()).ToAnalyzerOptions(),
                onAnalyzerException: (e, _, _) => exceptions.Enqueue(e), concurrentAnalysis: true, logAnalyzerExecutionTime: false));
        var diagnostics = await withAnalyzers.GetAnalyzerDiagnosticsAsync(CancellationToken.None);
        Assert.True(exceptions.IsEmpty, "The analyzer threw:\n" + string.Join("\n", exceptions));
        Assert.DoesNotContain(diagnostics, d => d.Id == "AD0001");
        return diagnostics;
    }

    /// <summary>Asserts that the analyzer reports exactly the markup's diagnostics (ID and span); returns them for further checks.</summary>
    /// <param name="outsideSource">IDs expected without a source location (Location.None or an AdditionalFile), in any order.</param>
    public static Task<ImmutableArray<Diagnostic>> VerifyAsync(string markup, TestOptions? options = null, params string[] outsideSource) =>
        VerifyAsync(new LoraAnalyzer(), markup, options, outsideSource);

    /// <summary>As <see cref="VerifyAsync(string, TestOptions?, string[])"/>, for another analyzer of the assembly.</summary>
    public static async Task<ImmutableArray<Diagnostic>> VerifyAsync(DiagnosticAnalyzer analyzer, string markup, TestOptions? options = null, params string[] outsideSource)
    {
        var (source, expected) = Markup.Parse(markup);
        var diagnostics = await GetDiagnosticsAsync(analyzer, Compile(source, options: options), options);
        var actual = diagnostics.Select(d => d.Location.IsInSource ? $"{d.Id} {d.Location.SourceSpan} '{Covered(source, d)}'" : $"{d.Id} <outside source>").OrderBy(s => s, StringComparer.Ordinal).ToArray();
        var wanted = expected.Select(e => $"{e.Id} {e.Span} '{source.Substring(e.Span.Start, e.Span.Length)}'")
            .Concat(outsideSource.Select(id => $"{id} <outside source>"))
            .OrderBy(s => s, StringComparer.Ordinal).ToArray();
        if (!actual.SequenceEqual(wanted))
        {
            Assert.Fail("Expected:\n  " + string.Join("\n  ", wanted) + "\nActual:\n  " + string.Join("\n  ", actual) +
                "\nMessages:\n  " + string.Join("\n  ", diagnostics.Select(d => d.ToString())));
        }
        return diagnostics;
    }

    public static Diagnostic Single(ImmutableArray<Diagnostic> diagnostics, string id) => Assert.Single(diagnostics, d => d.Id == id);

    private static string Covered(string source, Diagnostic d) =>
        d.Location.IsInSource ? source.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length) : "<no location>";
}
