using System.Collections.Generic;
using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace LoraKit.Analyzers.Tests;

/// <summary>What a test's compilation sees besides its source: .editorconfig keys, MSBuild properties, AdditionalFiles.</summary>
public sealed class TestOptions
{
    public const string ProjectDir = "/src/App/";

    public Dictionary<string, string> EditorConfig { get; } = new();

    /// <summary>MSBuild properties by name (without build_property.).</summary>
    public Dictionary<string, string> Build { get; } = new() { ["ProjectDir"] = ProjectDir };

    /// <summary>AdditionalFiles: full path → text.</summary>
    public Dictionary<string, string> AdditionalFiles { get; } = new();

    /// <summary>Compiler-level severity overrides, as dotnet_diagnostic.ID.severity gives them.</summary>
    public Dictionary<string, ReportDiagnostic> Severity { get; } = new();

    public TestOptions WithEditorConfig(string key, string value) { EditorConfig[key] = value; return this; }

    public TestOptions WithBuildProperty(string name, string value) { Build[name] = value; return this; }

    public TestOptions WithFile(string path, string text) { AdditionalFiles[path] = text; return this; }

    public AnalyzerOptions ToAnalyzerOptions()
    {
        var global = Build.ToDictionary(kv => "build_property." + kv.Key, kv => kv.Value);
        var provider = new OptionsProvider(new DictionaryOptions(EditorConfig), new DictionaryOptions(global));
        var files = AdditionalFiles.Select(kv => (AdditionalText)new InMemoryAdditionalText(kv.Key, kv.Value)).ToImmutableArray();
        return new AnalyzerOptions(files, provider);
    }

    private sealed class DictionaryOptions : AnalyzerConfigOptions
    {
        private readonly Dictionary<string, string> _values;

        public DictionaryOptions(Dictionary<string, string> values) => _values = values;

        public override bool TryGetValue(string key, [NotNullWhen(true)] out string? value) => _values.TryGetValue(key, out value);
    }

    private sealed class OptionsProvider : AnalyzerConfigOptionsProvider
    {
        private readonly AnalyzerConfigOptions _perTree;

        public OptionsProvider(AnalyzerConfigOptions perTree, AnalyzerConfigOptions global)
        {
            _perTree = perTree;
            GlobalOptions = global;
        }

        public override AnalyzerConfigOptions GlobalOptions { get; }

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => _perTree;

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => _perTree;
    }
}

/// <summary>An AdditionalFile held in memory; null text stands for a file that cannot be read.</summary>
public sealed class InMemoryAdditionalText : AdditionalText
{
    private readonly SourceText? _text;

    public InMemoryAdditionalText(string path, string? text)
    {
        Path = path;
        _text = text is null ? null : SourceText.From(text);
    }

    public override string Path { get; }

    public override SourceText? GetText(CancellationToken cancellationToken = default) => _text;
}
