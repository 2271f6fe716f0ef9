using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using LoraKit.Modeling;
using LoraKit.SafeTensors;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Modeling;

/// <summary>
/// Every RoPE type and an explicit head_dim against checkpoints and logits written by transformers 5.17
/// (Fixtures/hf-rope-transformers5, see its PROVENANCE.md), in both config.json forms transformers reads:
/// transformers 5's <c>rope_parameters</c> and the hub's <c>rope_theta</c> + <c>rope_scaling</c>. Logits within 1e-4
/// (max abs) and loss within 1e-5, on a 12-token batch and on a 24-token batch (past the original context of the
/// dynamic, yarn and longrope variants).
/// </summary>
public class TransformersRopeScalingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(params string[] parts) =>
        Path.Combine(new[] { AppContext.BaseDirectory, "Fixtures", "hf-rope-transformers5" }.Concat(parts).ToArray());

    [Theory]
    [InlineData("llama-linear", false)]
    [InlineData("llama-linear", true)]
    [InlineData("llama-dynamic", false)]
    [InlineData("llama-dynamic", true)]
    [InlineData("llama-llama3", false)]
    [InlineData("llama-llama3", true)]
    [InlineData("llama-yarn", false)]
    [InlineData("llama-yarn", true)]
    [InlineData("llama-yarn-mscale", false)]
    [InlineData("llama-yarn-mscale", true)]
    [InlineData("llama-longrope", false)]
    [InlineData("llama-longrope", true)]
    [InlineData("llama-legacy-type-linear", false)]
    [InlineData("llama-legacy-type-linear", true)]
    [InlineData("llama-headdim32", false)]
    public void Logits_and_loss_match_transformers(string variant, bool legacyConfig)
    {
        // A model folder as a user has it: the variant's config.json (either form) beside the weights.
        var folder = Path.Combine(Path.GetTempPath(), "lorakit-rope-tests", $"{variant}-{(legacyConfig ? "legacy" : "v5")}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            File.Copy(legacyConfig ? Fixture(variant, "legacy", "config.json") : Fixture(variant, "config.json"), Path.Combine(folder, "config.json"));
            var weights = File.Exists(Fixture(variant, "model.safetensors")) ? Fixture(variant, "model.safetensors") : Fixture("llama-weights", "model.safetensors");
            File.Copy(weights, Path.Combine(folder, "model.safetensors"));

            using var reference = JsonDocument.Parse(File.ReadAllText(Fixture(variant, "reference.json")));
            using var tensors = SafeTensorsFile.Open(Fixture(variant, "reference.safetensors"));
            using var model = HfCheckpoint.Load(folder);
            using var noGrad = torch.no_grad();
            foreach (var (seq, logitsName, lossName) in new[] { (12, "logits_12", "loss_12"), (24, "logits_24_fresh", "loss_24_fresh") })
            {
                using var scope = torch.NewDisposeScope();
                var ids = tensors.Load($"input_ids_{seq}");
                var expected = tensors.Load(logitsName);
                var logits = model.forward(ids);
                var diff = TinyLlamas.MaxAbsDiff(expected, logits);
                var loss = model.Loss(ids, ids).item<float>();
                var expectedLoss = reference.RootElement.GetProperty(lossName).GetDouble();
                output.WriteLine($"{variant} ({(legacyConfig ? "rope_scaling" : "rope_parameters")}), {seq} tokens: max |logit diff| {diff:E2}, loss {loss:R} vs {expectedLoss:R}");
                Assert.True(diff < 1e-4, $"{variant}, {seq} tokens: max |logit − transformers| = {diff}");
                Assert.True(Math.Abs(loss - expectedLoss) < 1e-5, $"{variant}, {seq} tokens: loss {loss} vs transformers {expectedLoss}");
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
