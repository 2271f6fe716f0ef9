extern alias generators;
using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using Xunit;
using LoraGenerator = generators::LoraKit.Generators.LoraGenerator;

namespace LoraKit.Generators.Tests;

/// <summary>
/// Compiles sources in memory against the test process's framework, LoraKit.Core, the LoraKit runtime
/// and TorchSharp, and runs <see cref="LoraGenerator"/> over them.
/// </summary>
public static class GeneratorHarness
{
    public const string ProjectDir = "/src/App/";

    private static readonly Lazy<ImmutableArray<MetadataReference>> Framework = new(LoadFramework);

    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.CSharp12);

    public static string[] StepNames => LoraGenerator.Steps.All;

    private static ImmutableArray<MetadataReference> LoadFramework()
    {
        var runtimeDir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        return tpa.Where(p => string.Equals(Path.GetDirectoryName(p), runtimeDir, StringComparison.Ordinal) && p.EndsWith(".dll", StringComparison.Ordinal))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToImmutableArray();
    }

    /// <summary>Framework + LoraKit.Core, and with <paramref name="runtime"/> LoraKit.dll and TorchSharp.dll.</summary>
    public static ImmutableArray<MetadataReference> References(bool runtime = true)
    {
        var refs = Framework.Value.Add(MetadataReference.CreateFromFile(typeof(LoraAdapterAttribute).Assembly.Location));
        return runtime
            ? refs.Add(MetadataReference.CreateFromFile(typeof(LoraKit.Lora.LoraLinear).Assembly.Location))
                  .Add(MetadataReference.CreateFromFile(typeof(TorchSharp.torch).Assembly.Location))
            : refs;
    }

    public static CSharpCompilation Compile(IEnumerable<string> sources, bool runtime = true, string assemblyName = "App") =>
        CSharpCompilation.Create(assemblyName,
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, $"{ProjectDir}Source{i}.cs", Encoding.UTF8)),
            References(runtime),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable,
                generalDiagnosticOption: ReportDiagnostic.Error));

    /// <param name="buildProperties">MSBuild properties by name (without build_property.), besides ProjectDir.</param>
    public static GeneratorDriver CreateDriver(IEnumerable<AdditionalText>? additionalFiles = null, IReadOnlyDictionary<string, string>? buildProperties = null)
    {
        var global = new Dictionary<string, string> { ["build_property.ProjectDir"] = ProjectDir };
        foreach (var kv in buildProperties ?? new Dictionary<string, string>()) global["build_property." + kv.Key] = kv.Value;
        return CSharpGeneratorDriver.Create(
            new[] { new LoraGenerator().AsSourceGenerator() },
            additionalFiles ?? Array.Empty<AdditionalText>(),
            ParseOptions,
            new TestOptionsProvider(global),
            new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));
    }

    public sealed record Result(Compilation Output, GeneratorRunResult Run, GeneratorDriver Driver)
    {
        public IReadOnlyList<GeneratedSourceResult> Sources => Run.GeneratedSources.OrderBy(s => s.HintName, StringComparer.Ordinal).ToList();

        /// <summary>Every generated file, ordered by hint name, each under a header naming it.</summary>
        public string Snapshot() => string.Concat(Sources.Select(s => $"//// {s.HintName}\n{s.SourceText}"));
    }

    /// <summary>Runs the generator; fails on a generator exception or any generator diagnostic.</summary>
    public static Result Run(IEnumerable<string> sources, IEnumerable<AdditionalText>? additionalFiles = null, bool runtime = true,
        IReadOnlyDictionary<string, string>? buildProperties = null)
    {
        var compilation = Compile(sources, runtime);
        var driver = CreateDriver(additionalFiles, buildProperties).RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics, CancellationToken.None);
        var run = driver.GetRunResult().Results.Single();
        Assert.Null(run.Exception);
        Assert.Empty(diagnostics);
        return new Result(output, run, driver);
    }

    public static Result Run(params string[] sources) => Run((IEnumerable<string>)sources);

    /// <summary>Asserts the compilation (sources + generated code) has no diagnostic of Info severity or above.</summary>
    public static void AssertCompilesCleanly(Compilation compilation)
    {
        var problems = compilation.GetDiagnostics().Where(d => d.Severity > DiagnosticSeverity.Hidden).ToList();
        Assert.True(problems.Count == 0, "The generated code does not compile cleanly:\n" + string.Join("\n", problems.Select(p => p.ToString())));
    }

    public sealed class InMemoryText : AdditionalText
    {
        private readonly string _text;

        public InMemoryText(string path, string text)
        {
            Path = path;
            _text = text;
        }

        public override string Path { get; }

        public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(_text, Encoding.UTF8);
    }

    private sealed class TestOptionsProvider : AnalyzerConfigOptionsProvider
    {
        private readonly Options _global;

        public TestOptionsProvider(Dictionary<string, string> values) => _global = new Options(values);

        public override AnalyzerConfigOptions GlobalOptions => _global;

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => Options.Empty;

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => Options.Empty;

        private sealed class Options : AnalyzerConfigOptions
        {
            public static readonly Options Empty = new(new Dictionary<string, string>());

            private readonly Dictionary<string, string> _values;

            public Options(Dictionary<string, string> values) => _values = values;

            public override bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value) =>
                _values.TryGetValue(key, out value);
        }
    }
}
