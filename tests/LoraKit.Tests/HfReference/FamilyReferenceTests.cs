using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoraKit.Data;
using LoraKit.Inference;
using LoraKit.Lora;
using LoraKit.Modeling;
using LoraKit.Quantization;
using LoraKit.SafeTensors;
using LoraKit.Training;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LoraKit.Tests.HfReference;

/// <summary>
/// Gemma 2 and Phi-3 against transformers 4.47 + PEFT 0.12 (Fixtures/hf-reference, tiny-gemma2 / tiny-phi3): greedy
/// generation with and without the cache, merge against PEFT's merge_and_unload, padding whose window holds only padding,
/// and training (LoRA and QLoRA) into PEFT's adapter format with the fused modules named as PEFT targets them.
/// Logits and losses are held in <see cref="HfReferenceLogitsTests"/>, the adapter files in <see cref="HfReferenceAdapterTests"/>.
/// </summary>
public sealed class FamilyReferenceTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly ITestOutputHelper _output;

    public FamilyReferenceTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _temp.Dispose();

    public static TheoryData<string, string?> Models => new()
    {
        { "tiny-gemma2", null }, { "tiny-gemma2", "peft-gemma2-r4" }, { "tiny-phi3", null }, { "tiny-phi3", "peft-phi3-r4" },
    };

    public static TheoryData<string, string> Adapters => new() { { "peft-gemma2-r4", "tiny-gemma2" }, { "peft-phi3-r4", "tiny-phi3" } };

    [Theory]
    [MemberData(nameof(Models))]
    public void Greedy_tokens_equal_transformers_with_and_without_the_cache(string baseName, string? adapter)
    {
        var reference = HfReferenceFiles.Load(adapter ?? baseName).Json.GetProperty("generate");
        using var model = adapter is null
            ? LoraKitModel.Load(HfReferenceFiles.Folder(baseName))
            : LoraKitModel.Load(HfReferenceFiles.Folder(baseName), HfReferenceFiles.Folder(adapter));
        var maxNew = reference.GetProperty("max_new_tokens").GetInt32();
        var window = model.Model.Dimensions.SlidingWindow;
        Assert.Equal(2, reference.GetProperty("greedy").GetArrayLength());
        foreach (var example in reference.GetProperty("greedy").EnumerateArray())
        {
            var promptIds = example.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var expected = example.GetProperty("new_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.Equal(promptIds, model.EncodePrompt(example.GetProperty("prompt").GetString()!));
            // Gemma 2's prompts are longer than its window, so the cache must keep the window per layer while decoding.
            if (window > 0) Assert.True(promptIds.Length > window);
            foreach (var cache in new[] { true, false })
                Assert.Equal(expected, model.GenerateTokens(promptIds, new GenerationOptions { MaxNewTokens = maxNew, UseCache = cache }).NewIds);
        }
    }

    [Theory]
    [MemberData(nameof(Adapters))]
    public void Merged_weights_and_config_equal_pefts_merged_folder(string adapter, string baseName)
    {
        var merged = _temp.File("merged");
        // PEFT's script loaded the base by its folder name, which transformers records as _name_or_path.
        LoraAdapterFiles.MergeIntoCheckpoint(HfReferenceFiles.Folder(baseName), HfReferenceFiles.Folder(adapter), merged, baseNameOrPath: baseName);
        var peftFolder = HfReferenceFiles.Folder(adapter + "-merged");
        using (var ours = SafeTensorsFile.Open(Path.Combine(merged, "model.safetensors")))
        using (var peft = SafeTensorsFile.Open(Path.Combine(peftFolder, "model.safetensors")))
        {
            Assert.Equal(peft.Tensors.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal), ours.Tensors.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal));
            var worst = 0.0;
            foreach (var expected in peft.Tensors)
            {
                Assert.Equal(expected.Shape, ours.Info(expected.Name).Shape);
                Assert.Equal(expected.DType, ours.Info(expected.Name).DType);
                using var a = ours.Load(expected.Name);
                using var e = peft.Load(expected.Name);
                var diff = (a.to(ScalarType.Float64) - e.to(ScalarType.Float64)).abs().max().item<double>();
                worst = Math.Max(worst, diff);
                Assert.True(diff <= 1e-6, $"{expected.Name}: max |LoraKit − PEFT| = {diff:E3}");
            }
            _output.WriteLine($"{adapter}: max |merged weight − PEFT's| = {worst:E2}");
        }
        var ourConfig = JsonNode.Parse(File.ReadAllBytes(Path.Combine(merged, "config.json")))!.AsObject();
        var peftConfig = JsonNode.Parse(File.ReadAllBytes(Path.Combine(peftFolder, "config.json")))!.AsObject();
        Assert.Equal(peftConfig.Select(kv => kv.Key), ourConfig.Select(kv => kv.Key));
        foreach (var (key, value) in peftConfig)
            Assert.True(JsonNode.DeepEquals(value, ourConfig[key]), $"{key}: PEFT wrote {value?.ToJsonString()}, LoraKit {ourConfig[key]?.ToJsonString()}");

        // The merged checkpoint gives PEFT's merged loss.
        var reference = HfReferenceFiles.Load(adapter);
        using var model = HfCheckpoint.Load(merged);
        model.eval();
        using var noGrad = torch.no_grad();
        using var logits = model.forward(reference.Batch.Ids());
        using var loss = LlamaForCausalLM.CausalLmLoss(logits, reference.Batch.LabelTensor());
        Assert.Equal(reference.Json.GetProperty("merged").GetProperty("loss").GetDouble(), loss.item<float>(), 5);
    }

    [Fact]
    public void A_gemma2_padding_query_whose_window_holds_only_padding_stays_finite_as_in_transformers()
    {
        // transformers masks with the dtype's minimum, not −inf: a query whose every key is masked gets a uniform
        // softmax over all keys, never NaN. Here row 1 has 3 real tokens and 9 padding: from position 8 on, a padding
        // query's window of 6 holds only padding keys.
        using var model = HfCheckpoint.Load(HfReferenceFiles.Folder("tiny-gemma2"));
        model.eval();
        using var noGrad = torch.no_grad();
        var reference = HfReferenceFiles.Load("tiny-gemma2").Batch;
        using var ids = reference.Ids();
        using var mask = torch.ones(ids.shape, dtype: ScalarType.Int64);
        mask[1, TensorIndex.Slice(3)] = torch.tensor(0L);
        using var logits = model.forward(ids, mask);
        Assert.False(logits.isnan().any().item<bool>());
        // The real positions are those of the row alone.
        using var alone = model.forward(ids[TensorIndex.Slice(1, 2), TensorIndex.Slice(0, 3)]);
        var diff = (logits[1, TensorIndex.Slice(0, 3)] - alone[0]).abs().max().item<float>();
        Assert.True(diff < 1e-5, $"max |Δ| {diff}");
    }

    [Theory]
    [InlineData("tiny-phi3", 4)]
    [InlineData("tiny-gemma2", 7)]
    public void A_bitsandbytes_checkpoint_round_trips_with_every_decoder_linear_in_nf4(string baseName, int linearsPerLayer)
    {
        var quantized = _temp.File("nf4");
        Nf4Checkpoint.Quantize(HfReferenceFiles.Folder(baseName), quantized);
        using var model = Nf4Checkpoint.Load(quantized, dtype: ScalarType.Float32);
        Assert.Equal(linearsPerLayer * 3, model.modules().Count(m => m is Nf4Linear));
        model.eval();
        using var noGrad = torch.no_grad();
        var reference = HfReferenceFiles.Load(baseName).Batch;
        using var logits = model.forward(reference.Ids());
        using var loss = LlamaForCausalLM.CausalLmLoss(logits, reference.LabelTensor());
        // 4-bit weights move the loss a little, not the model: within 2 % of transformers' full-precision loss.
        _output.WriteLine($"{baseName} NF4: loss {loss.item<float>()} vs full precision {reference.Loss}");
        Assert.True(Math.Abs(loss.item<float>() - reference.Loss) < 0.02 * reference.Loss);
    }

    [Theory]
    [InlineData("tiny-phi3", "peft-phi3-r4", false)]
    [InlineData("tiny-gemma2", "peft-gemma2-r4", true)]
    public void Training_writes_pefts_adapter_format_and_lowers_the_loss(string baseName, string peftAdapter, bool quantize)
    {
        var folder = HfReferenceFiles.Folder(baseName);
        var peftConfig = JsonNode.Parse(File.ReadAllBytes(Path.Combine(HfReferenceFiles.Folder(peftAdapter), "adapter_config.json")))!.AsObject();
        var targets = peftConfig["target_modules"]!.AsArray().Select(n => (string)n!).ToArray();
        var tokenizer = HfTokenizer.FromFolder(folder);
        var split = JsonlDataset.Load(Path.Combine(HfReferenceFiles.Root, "data", "tiny.jsonl")).Split(0.1, seed: 3);
        var data = new TokenizedTrainingData(TokenizedDataset.Create(split.Train, tokenizer, 24, SequenceMode.Pack),
            TokenizedDataset.Create(split.Validation!, tokenizer, 24, SequenceMode.Pack), 8, 3);
        var output = _temp.File("run");
        var quantized = 0;
        var result = new LoraTrainer((device, dtype) =>
            {
                var m = HfCheckpoint.Load(folder, device, dtype);
                if (quantize) Nf4Model.QuantizeInPlace(m);
                quantized = m.modules().Count(x => x is Nf4Linear);
                return m;
            },
            new LoraConfig { Rank = 4, Alpha = 8, TargetModules = targets }, data,
            new TrainingOptions { OutputDir = output, MaxSteps = 16, LearningRate = 1e-2, EvalEvery = 8, CheckpointEvery = 0, Device = "cpu", Seed = 7, StopOnPlateau = false })
            .Run();
        _output.WriteLine($"{baseName}{(quantize ? " (NF4)" : "")}: validation loss {result.BaseValidationLoss} → {result.FinalValidationLoss}");
        Assert.True(result.FinalValidationLoss < result.BaseValidationLoss, $"base {result.BaseValidationLoss}, final {result.FinalValidationLoss}");
        // QLoRA quantizes every decoder linear: Gemma 2's seven per layer.
        Assert.Equal(quantize ? 7 * 3 : 0, quantized);

        // The adapter holds the tensors PEFT's adapter for the same targets holds, with its shapes and names (qkv_proj, gate_up_proj).
        using (var ours = SafeTensorsFile.Open(Path.Combine(output, "adapter_model.safetensors")))
        using (var peft = SafeTensorsFile.Open(Path.Combine(HfReferenceFiles.Folder(peftAdapter), "adapter_model.safetensors")))
        {
            Assert.Equal(peft.Tensors.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal), ours.Tensors.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal));
            foreach (var t in peft.Tensors) Assert.Equal(t.Shape, ours.Info(t.Name).Shape);
        }
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(output, "adapter_config.json")));
        Assert.Equal(targets.OrderBy(t => t, StringComparer.Ordinal), doc.RootElement.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()));
    }
}
