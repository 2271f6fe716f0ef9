using System.Text.Json;

namespace LoraKit.Gguf.Tests;

/// <summary>The transformers / PEFT reference outputs copied into tests/LoraKit.Tests/Fixtures/hf-reference (see its PROVENANCE.md).</summary>
public static class Fixtures
{
    public static string Root => Path.Combine(AppContext.BaseDirectory, "Fixtures", "hf-reference");

    /// <summary>tests/LoraKit.Tests/Fixtures/hf-rope: transformers 5's RoPE-scaling and window models (see its PROVENANCE.md).</summary>
    public static string RopeRoot => Path.Combine(AppContext.BaseDirectory, "Fixtures", "hf-rope");

    /// <summary>hf-rope/NAME/reference.json: 24 ids and transformers' logits per position.</summary>
    public static (int[] Ids, float[][] Logits) Rope(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(RopeRoot, name, "reference.json")));
        var ids = doc.RootElement.GetProperty("input_ids")[0].EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var vocab = doc.RootElement.GetProperty("shape")[2].GetInt32();
        var flat = doc.RootElement.GetProperty("logits").EnumerateArray().Select(x => x.GetSingle()).ToArray();
        return (ids, Enumerable.Range(0, ids.Length).Select(p => flat.AsSpan(p * vocab, vocab).ToArray()).ToArray());
    }

    public static string Folder(string name) => Path.Combine(Root, name);

    /// <summary>reference/NAME.json: the 2 × 12 batch's ids and transformers' logits [2][12][vocab].</summary>
    public static (int[][] Ids, float[][][] Logits) Batch(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Root, "reference", name + ".json")));
        var batch = doc.RootElement.GetProperty("batch");
        var ids = batch.GetProperty("input_ids").EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetInt32()).ToArray()).ToArray();
        var logits = batch.GetProperty("logits").EnumerateArray()
            .Select(r => r.EnumerateArray().Select(p => p.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray()).ToArray();
        return (ids, logits);
    }

    /// <summary>
    /// Prompts, their tokenizer.json ids and transformers' greedy continuations: transformers5/generate/NAME.json, or
    /// for the Gemma 2 / Phi-3 fixtures reference/NAME.json's <c>generate</c> (transformers 4.47, eos from the model's
    /// generation_config.json).
    /// </summary>
    public static IReadOnlyList<(string Prompt, int[] PromptIds, int[] NewIds)> Greedy(string name, out int eos)
    {
        var t5 = Path.Combine(Root, "transformers5", "generate", name + ".json");
        JsonElement greedy;
        if (File.Exists(t5))
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(t5));
            eos = doc.RootElement.GetProperty("eos_token_id").GetInt32();
            greedy = doc.RootElement.GetProperty("greedy").Clone();
        }
        else
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Root, "reference", name + ".json")));
            var model = doc.RootElement.TryGetProperty("base", out var b) ? b.GetString()! : name;
            using var generation = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Folder(model), "generation_config.json")));
            eos = generation.RootElement.GetProperty("eos_token_id").GetInt32();
            greedy = doc.RootElement.GetProperty("generate").GetProperty("greedy").Clone();
        }
        return greedy.EnumerateArray()
            .Select(g => (g.GetProperty("prompt").GetString()!,
                g.GetProperty("prompt_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
                g.GetProperty("new_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray()))
            .ToList();
    }

    public static float MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        var m = 0f;
        for (var i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }
}

/// <summary>A temporary folder removed at dispose.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "lorakit-gguf-" + Guid.NewGuid().ToString("N")[..8]);

    public TempFolder() => Directory.CreateDirectory(Path);

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
