using System;
using System.Linq;
using LoraKit.Inference;
using Xunit;

namespace LoraKit.Tests.Inference;

/// <summary>
/// Evaluation against transformers' token-weighted mean loss over every line of the fixture data: text lines
/// (BOS + text + EOS, every token scored) and prompt/completion lines (completion + EOS scored).
/// </summary>
public sealed class ReferenceEvalTests
{
    public const double Tolerance = 1e-5;

    public static Xunit.TheoryData<string, string?> Models() => HfReference.ModelData();

    [Theory]
    [MemberData(nameof(Models))]
    public void Mean_and_per_example_losses_equal_transformers(string baseName, string? adapter)
    {
        using var model = adapter is null
            ? LoraKitModel.Load(HfReference.Folder(baseName))
            : LoraKitModel.Load(HfReference.Folder(baseName), HfReference.Folder(adapter));
        var reference = HfReference.Reference("eval", baseName, adapter);
        foreach (var (key, file) in new[] { ("text", "tiny.jsonl"), ("prompt_completion", "tiny-pc.jsonl") })
        {
            var expected = reference.GetProperty(key);
            var result = model.Evaluate(HfReference.Data(file));
            Assert.Equal(adapter, result.Adapter);
            Assert.Equal(expected.GetProperty("tokens").GetInt64(), result.Tokens);
            Assert.Equal(0, result.TruncatedExamples);
            Assert.InRange(Math.Abs(result.MeanLoss - expected.GetProperty("mean_loss").GetDouble()), 0, Tolerance);
            var examples = expected.GetProperty("examples").EnumerateArray().ToList();
            Assert.Equal(examples.Count, result.Examples.Count);
            for (var i = 0; i < examples.Count; i++)
            {
                Assert.Equal(examples[i].GetProperty("tokens").GetInt32(), result.Examples[i].Tokens);
                Assert.InRange(Math.Abs(result.Examples[i].MeanLoss!.Value - examples[i].GetProperty("mean_loss").GetDouble()), 0, Tolerance);
            }
        }
    }

    [Fact]
    public void Base_and_adapter_side_by_side_in_one_load_equal_their_separate_references()
    {
        using var model = LoraKitModel.Load(HfReference.Folder("tiny-llama"), HfReference.Folder("peft-llama-r4"));
        var data = LoraKit.Data.JsonlDataset.Load(HfReference.Data("tiny.jsonl")).Examples;
        var encoded = model.EncodeForEval(data);
        foreach (var adapter in new[] { null, "peft-llama-r4", null })
        {
            var expected = HfReference.Reference("eval", "tiny-llama", adapter).GetProperty("text").GetProperty("mean_loss").GetDouble();
            Assert.InRange(Math.Abs(model.Evaluate(encoded, adapter).MeanLoss - expected), 0, Tolerance);
        }
    }

    [Fact]
    public void Truncation_cuts_long_lines_to_the_sequence_length_and_counts_them()
    {
        using var model = LoraKitModel.Load(HfReference.Folder("tiny-llama"));
        var data = LoraKit.Data.JsonlDataset.Load(HfReference.Data("tiny.jsonl")).Examples;
        var full = model.Evaluate(data, null, null);
        var cut = model.Evaluate(data, 16, null);
        var longer = full.Examples.Count(e => e.Tokens > 15);
        Assert.True(longer > 0);
        Assert.Equal(longer, cut.TruncatedExamples);
        // A truncated line scores its first 15 targets (16 tokens, BOS first); the others are unchanged.
        Assert.Equal(full.Examples.Sum(e => Math.Min(e.Tokens, 15)), cut.Tokens);
        for (var i = 0; i < full.Examples.Count; i++)
            if (!cut.Examples[i].Truncated)
                Assert.InRange(Math.Abs(full.Examples[i].MeanLoss!.Value - cut.Examples[i].MeanLoss!.Value), 0, 1e-5);
    }
}
