using System;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using LoraKit.Data;
using LoraKit.Inference;
using Xunit;
using Xunit.Abstractions;

namespace LoraKit.Tests.Inference;

/// <summary>
/// Eval of RoPE-scaled models: the default cut is the longest sequence the configured model runs (so a line
/// transformers scores whole is scored whole), and a line's loss does not depend on the lines batched with it
/// (dynamic NTK and longrope take each row's own length). tiny-llama's weights with a 32-position config and each
/// scaling (the model is the same; only the positions it is said to run change).
/// </summary>
public sealed class RopeScaledEvalTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly ITestOutputHelper _output;

    public RopeScaledEvalTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _temp.Dispose();

    /// <summary>tiny-llama with max_position_embeddings <paramref name="maxPositions"/> and <paramref name="ropeScaling"/> (JSON or null).</summary>
    private string Model(int maxPositions, string? ropeScaling)
    {
        var folder = _temp.File(Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var source = HfReference.Folder("tiny-llama");
        foreach (var f in Directory.GetFiles(source)) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
        config["max_position_embeddings"] = maxPositions;
        config["rope_scaling"] = ropeScaling is null ? null : JsonNode.Parse(ropeScaling);
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        return folder;
    }

    private static string Factors(double value) => "[" + string.Join(", ", Enumerable.Repeat(value.ToString("R", System.Globalization.CultureInfo.InvariantCulture), 8)) + "]";

    [Theory]
    [InlineData("{\"rope_type\": \"linear\", \"factor\": 4.0}")]
    [InlineData("{\"rope_type\": \"dynamic\", \"factor\": 4.0}")]
    [InlineData("{\"rope_type\": \"yarn\", \"factor\": 4.0}")]
    [InlineData("{\"type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 32}")] // the Qwen2.5 model-card form
    public void Scaled_models_score_whole_lines_by_default(string ropeScaling)
    {
        var examples = JsonlDataset.Load(HfReference.Data("tiny.jsonl")).Examples;
        using var plain = LoraKitModel.Load(Model(32, null));
        var cut = plain.EncodeForEval(examples);
        Assert.Equal(32, cut.SequenceLength);
        var truncated = cut.Rows.Count(r => r.Truncated);
        Assert.True(truncated > 100, $"{truncated} lines longer than 32 tokens"); // the data has lines past the plain context

        using var scaled = LoraKitModel.Load(Model(32, ropeScaling));
        var whole = scaled.EncodeForEval(examples);
        Assert.Equal(128, whole.SequenceLength);
        Assert.DoesNotContain(whole.Rows, r => r.Truncated);
        Assert.Equal(0, scaled.Evaluate(whole, null).TruncatedExamples);
    }

    [Theory]
    [InlineData("{\"rope_type\": \"dynamic\", \"factor\": 4.0}", 32)]
    [InlineData("{\"rope_type\": \"longrope\", \"original_max_position_embeddings\": 32, \"short_factor\": SHORT, \"long_factor\": LONG}", 128)]
    public void A_lines_loss_does_not_depend_on_the_lines_batched_with_it(string ropeScaling, int maxPositions)
    {
        var json = ropeScaling.Replace("SHORT", Factors(1.0)).Replace("LONG", Factors(3.5));
        var examples = JsonlDataset.Load(HfReference.Data("tiny.jsonl")).Examples.Take(48).ToList();
        using var model = LoraKitModel.Load(Model(maxPositions, json));
        var encoded = model.EncodeForEval(examples);
        var batched = model.Evaluate(encoded, null);

        // Lines whose own length and their batch's padded length fall on different sides of the 32-position context
        // (dynamic NTK grows, longrope switches to its long factors): there a shared length would change the loss.
        var lengths = encoded.Rows.Select(r => r.Ids.Length).ToArray();
        var straddling = Enumerable.Range(0, lengths.Length)
            .Count(i => lengths[i] <= 32 && lengths.Skip(i / LoraKitModel.EvalBatchRows * LoraKitModel.EvalBatchRows).Take(LoraKitModel.EvalBatchRows).Max() > 32);
        Assert.True(straddling > 0, "no line is batched with a line past the original context");

        var worst = 0.0;
        for (var i = 0; i < examples.Count; i++)
        {
            var alone = model.Evaluate(new[] { examples[i] }, null, null);
            var diff = Math.Abs(alone.Examples[0].MeanLoss!.Value - batched.Examples[i].MeanLoss!.Value);
            worst = Math.Max(worst, diff);
        }
        _output.WriteLine($"{straddling} lines share a batch with a line past the context; max |batched − alone| per-line loss {worst:E2}");
        Assert.True(worst < 1e-5, $"max |batched − alone| = {worst}");
    }
}
