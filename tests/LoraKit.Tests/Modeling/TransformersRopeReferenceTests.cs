using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using LoraKit.Modeling;
using LoraKit.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Modeling;

/// <summary>
/// Outside reference: checkpoints and logits written by transformers 5.17.0 / torch 2.11 (Fixtures/hf-rope,
/// see its PROVENANCE.md) for RoPE scaling types and sliding windows, and the inverse frequencies of transformers'
/// own rotary embedding modules.
/// </summary>
public class TransformersRopeReferenceTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(params string[] parts) => Path.Combine(new[] { AppContext.BaseDirectory, "Fixtures", "hf-rope" }.Concat(parts).ToArray());

    [Theory]
    [InlineData("mistral-window4")]   // sliding_window 4 on every layer, 24 tokens
    [InlineData("qwen2-window5")]     // use_sliding_window, layer_types [full, sliding], window 5
    [InlineData("llama-yarn")]        // yarn factor 4 (transformers 5 rope_parameters)
    [InlineData("llama-llama3")]      // llama3 bands: kept, smoothed and divided frequencies
    [InlineData("llama-dynamic")]     // dynamic NTK: 24 tokens > max_position_embeddings 16
    public void Logits_match_transformers(string name)
    {
        using var _ = torch.NewDisposeScope();
        using var reference = JsonDocument.Parse(File.ReadAllText(Fixture(name, "reference.json")));
        var root = reference.RootElement;
        var ids = root.GetProperty("input_ids").EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetInt64()).ToArray()).ToArray();
        var shape = root.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
        var expected = torch.tensor(root.GetProperty("logits").EnumerateArray().Select(x => x.GetSingle()).ToArray()).view(shape);

        using var model = HfCheckpoint.Load(Fixture(name));
        using var noGrad = torch.no_grad();
        var logits = model.forward(torch.tensor(ids.SelectMany(r => r).ToArray()).view(ids.Length, ids[0].Length));
        var diff = TinyLlamas.MaxAbsDiff(expected, logits);
        output.WriteLine($"{name}: max |logit − transformers| = {diff:E2}");
        Assert.True(diff < 1e-5, $"{name}: max |logit − transformers| = {diff}");
    }

    [Fact]
    public void The_qwen25_model_card_yarn_form_gives_transformers_logits()
    {
        // llama-yarn is max_position_embeddings 16 with yarn factor 4 over an original context of 16, written by
        // transformers 5 as rope_parameters. The same numbers as a model card writes them (rope_theta at the top,
        // rope_scaling {factor, original_max_position_embeddings, type: yarn}, as Qwen2.5 does with 32768) must give
        // the same logits: the current transformers uses factor as given.
        using var temp = new TempFolder();
        var folder = temp.File("legacy-yarn");
        Directory.CreateDirectory(folder);
        File.Copy(Fixture("llama-yarn", "model.safetensors"), Path.Combine(folder, "model.safetensors"));
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Fixture("llama-yarn", "config.json")))!.AsObject();
        var parameters = config["rope_parameters"]!.AsObject();
        config.Remove("rope_parameters");
        config["rope_theta"] = parameters["rope_theta"]!.DeepClone();
        config["rope_scaling"] = new System.Text.Json.Nodes.JsonObject
        {
            ["factor"] = parameters["factor"]!.DeepClone(),
            ["original_max_position_embeddings"] = parameters["original_max_position_embeddings"]!.DeepClone(),
            ["type"] = "yarn",
        };
        Assert.Equal(config["max_position_embeddings"]!.GetValue<int>(), config["rope_scaling"]!["original_max_position_embeddings"]!.GetValue<int>());
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());

        using var _ = torch.NewDisposeScope();
        using var reference = JsonDocument.Parse(File.ReadAllText(Fixture("llama-yarn", "reference.json")));
        var root = reference.RootElement;
        var ids = root.GetProperty("input_ids").EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetInt64()).ToArray()).ToArray();
        var expected = torch.tensor(root.GetProperty("logits").EnumerateArray().Select(x => x.GetSingle()).ToArray())
            .view(root.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray());
        using var model = HfCheckpoint.Load(folder);
        Assert.Equal(64, RopeMath.LongestSequence(model.Dimensions));
        using var noGrad = torch.no_grad();
        var logits = model.forward(torch.tensor(ids.SelectMany(r => r).ToArray()).view(ids.Length, ids[0].Length));
        var diff = TinyLlamas.MaxAbsDiff(expected, logits);
        output.WriteLine($"legacy yarn form: max |logit − transformers| = {diff:E2}");
        Assert.True(diff < 1e-5, $"max |logit − transformers| = {diff}");
    }

    [Theory]
    [InlineData("llama3")]
    [InlineData("yarn")]
    [InlineData("dynamic")]
    public void Inverse_frequencies_and_attention_scaling_match_transformers_rotary_embedding(string kind)
    {
        using var reference = JsonDocument.Parse(File.ReadAllText(Fixture("freqs.json")));
        var r = reference.RootElement.GetProperty(kind);
        // The configs make_reference.py gave LlamaRotaryEmbedding (hidden 4096, 32 heads → head_dim 128).
        var d = new LlamaDimensions { HiddenSize = 4096, IntermediateSize = 64, Layers = 1, AttentionHeads = 32, KeyValueHeads = 8, VocabSize = 16 };
        (d, var sequence) = kind switch
        {
            "llama3" => (d with { RopeTheta = 500000, MaxPositionEmbeddings = 131072, RopeScaling = new RopeScaling { Type = RopeType.Llama3, Factor = 8, LowFrequencyFactor = 1, HighFrequencyFactor = 4, OriginalMaxPositionEmbeddings = 8192 } }, 16L),
            "yarn" => (d with { RopeTheta = 1_000_000, MaxPositionEmbeddings = 131072, RopeScaling = new RopeScaling { Type = RopeType.Yarn, Factor = 4, OriginalMaxPositionEmbeddings = 32768 } }, 16L),
            _ => (d with { RopeTheta = 10000, MaxPositionEmbeddings = 2048, RopeScaling = new RopeScaling { Type = RopeType.Dynamic, Factor = 2 } }, 4096L),
        };
        var expected = r.GetProperty("inv_freq").EnumerateArray().Select(x => (float)x.GetDouble()).ToArray();
        var actual = RopeMath.InverseFrequencies(d, sequence);
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            var ulps = Math.Abs(BitConverter.SingleToInt32Bits(actual[i]) - BitConverter.SingleToInt32Bits(expected[i]));
            Assert.True(ulps <= 1, $"{kind} inv_freq[{i}] = {actual[i]:R}, transformers {expected[i]:R} ({ulps} ulp)");
        }
        Assert.Equal(r.GetProperty("attention_scaling").GetDouble(), RopeMath.AttentionFactor(d), 12);

        // cos at the last position, first 64 features, as the runtime computes it.
        using var _ = torch.NewDisposeScope();
        var (cos, _) = LlamaRotary.CosSin(torch.arange(sequence).view(1, sequence), actual, ScalarType.Float32, RopeMath.AttentionFactor(d));
        var cosLast = TinyLlamas.Floats(cos[0, sequence - 1].narrow(0, 0, 64));
        var expectedCos = r.GetProperty("cos_last").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        for (var i = 0; i < 64; i++) Assert.True(Math.Abs(cosLast[i] - expectedCos[i]) < 2e-6, $"{kind} cos[{sequence - 1}, {i}] = {cosLast[i]}, transformers {expectedCos[i]}");
    }
}
