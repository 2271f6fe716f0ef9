using System;
using System.IO;
using System.Text.Json;

namespace LoraKit.Tests.Inference;

/// <summary>
/// The hf-reference checkpoints and transformers 5.17 / PEFT 0.21 outputs copied under Fixtures/hf-reference
/// (see its PROVENANCE.md files): which base each fixture model is and where its reference files are.
/// </summary>
internal static class HfReference
{
    public static string Root => Path.Combine(AppContext.BaseDirectory, "Fixtures", "hf-reference");

    public static string Folder(string name) => Path.Combine(Root, name);

    public static string Data(string file) => Path.Combine(Root, "data", file);

    /// <summary>The fixture models: the three bases and the two PEFT adapters (with the base they adapt).</summary>
    public static readonly TheoryDataRow[] Models =
    [
        new("tiny-llama", null), new("tiny-qwen2", null), new("tiny-mistral", null),
        new("tiny-llama", "peft-llama-r4"), new("tiny-qwen2", "peft-qwen2-r4"),
    ];

    public static Xunit.TheoryData<string, string?> ModelData()
    {
        var data = new Xunit.TheoryData<string, string?>();
        foreach (var m in Models) data.Add(m.Base, m.Adapter);
        return data;
    }

    public static JsonElement Reference(string kind, string baseName, string? adapter)
    {
        var path = Path.Combine(Root, "transformers5", kind, (adapter ?? baseName) + ".json");
        return JsonDocument.Parse(File.ReadAllBytes(path)).RootElement;
    }

    public sealed record TheoryDataRow(string Base, string? Adapter);
}
