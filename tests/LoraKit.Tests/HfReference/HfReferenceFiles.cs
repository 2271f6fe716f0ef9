using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Tests.HfReference;

/// <summary>
/// The transformers/PEFT reference outputs in <c>Fixtures/hf-reference</c> (see its PROVENANCE.md): model and
/// adapter folders, and per model or adapter a <c>reference/&lt;name&gt;.json</c> with a fixed batch and
/// transformers' logits and loss on it.
/// </summary>
internal static class HfReferenceFiles
{
    public static string Root => Path.Combine(AppContext.BaseDirectory, "Fixtures", "hf-reference");

    public static string Folder(string name) => Path.Combine(Root, name);

    public static ReferenceRun Load(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Root, "reference", name + ".json")));
        var root = doc.RootElement;
        long? count = root.TryGetProperty("parameter_count", out var pc) ? pc.GetInt64() : null;
        return new ReferenceRun(name, Batch(root.GetProperty("batch")), Batch(root.GetProperty("padded")), count, root.Clone());
    }

    private static ReferenceBatch Batch(JsonElement b)
    {
        var ids = Matrix(b.GetProperty("input_ids"));
        var labels = Matrix(b.GetProperty("labels"));
        var mask = b.GetProperty("attention_mask").ValueKind == JsonValueKind.Null ? null : Matrix(b.GetProperty("attention_mask"));
        var logits = b.GetProperty("logits");
        var batch = logits.GetArrayLength();
        var seq = logits[0].GetArrayLength();
        var vocab = logits[0][0].GetArrayLength();
        var values = logits.EnumerateArray().SelectMany(row => row.EnumerateArray().SelectMany(pos => pos.EnumerateArray().Select(v => v.GetDouble()))).ToArray();
        return new ReferenceBatch(ids, labels, mask, values, new long[] { batch, seq, vocab }, b.GetProperty("loss").GetDouble());
    }

    private static long[,] Matrix(JsonElement e)
    {
        var rows = e.GetArrayLength();
        var cols = e[0].GetArrayLength();
        var m = new long[rows, cols];
        for (var i = 0; i < rows; i++)
            for (var j = 0; j < cols; j++)
                m[i, j] = e[i][j].GetInt64();
        return m;
    }
}

/// <summary>One reference file: the plain batch, the right-padded batch, the parameter count (models only) and the raw JSON.</summary>
internal sealed record ReferenceRun(string Name, ReferenceBatch Batch, ReferenceBatch Padded, long? ParameterCount, JsonElement Json);

/// <summary>input_ids, labels (−100 on padding), attention_mask (null when none), transformers' logits and mean loss.</summary>
internal sealed record ReferenceBatch(long[,] InputIds, long[,] Labels, long[,]? AttentionMask, double[] Logits, long[] LogitsShape, double Loss)
{
    public Tensor Ids() => ToTensor(InputIds);

    public Tensor LabelTensor() => ToTensor(Labels);

    public Tensor? Mask() => AttentionMask is null ? null : ToTensor(AttentionMask);

    public Tensor ExpectedLogits() => torch.tensor(Logits, dtype: ScalarType.Float64).reshape(LogitsShape);

    private static Tensor ToTensor(long[,] m) =>
        torch.tensor(m.Cast<long>().ToArray(), new long[] { m.GetLength(0), m.GetLength(1) }, dtype: ScalarType.Int64);
}
