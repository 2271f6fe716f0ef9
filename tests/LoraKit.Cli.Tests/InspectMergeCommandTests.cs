using System;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using LoraKit.Lora;
using LoraKit.Models;
using LoraKit.Modeling;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Cli.Tests;

public class InspectMergeCommandTests
{
    private static readonly string Fixture = Path.Combine(AppContext.BaseDirectory, "Fixtures", "peft-gpt2-seqcls");

    private static readonly LlamaDimensions Tiny = new()
    {
        ModelType = "llama", HiddenSize = 32, IntermediateSize = 48, Layers = 2, AttentionHeads = 4, KeyValueHeads = 2, VocabSize = 50,
    };

    private static string Temp() => Path.Combine(Path.GetTempPath(), "lorakit-cli-tests", Guid.NewGuid().ToString("N"));

    [Fact]
    public void Inspect_reports_the_real_peft_gpt2_adapter()
    {
        var r = CliRunner.Run("inspect", Fixture);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("lora        r=8, alpha=8, scaling 1, dropout", r.Out);
        Assert.Contains("fan_in_fan_out true", r.Out);
        Assert.Contains("targets     c_attn", r.Out);
        Assert.Contains("modules     12 adapted, 294,912 LoRA parameters; modules_to_save 4,608 parameters", r.Out);
        Assert.Contains("transformer.h.11.attn.c_attn", r.Out);
        Assert.Contains("A [8, 768]  B [2304, 8]  24,576", r.Out);
        // The seed's gotcha: alpha = r gives half the scaling alpha = 2r would.
        Assert.Contains("warning LORA1001: peft-gpt2-seqcls: alpha/r = 8/8 = 1, expected 2", r.Out);
    }

    [Fact]
    public void Inspect_of_a_folder_without_an_adapter_exits_2()
    {
        var dir = Temp();
        Directory.CreateDirectory(dir);
        var r = CliRunner.Run("inspect", dir);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("adapter_config.json", r.Err);
    }

    [Fact]
    public void Merge_writes_a_checkpoint_whose_logits_equal_the_adapted_model()
    {
        var root = Temp();
        var baseFolder = Path.Combine(root, "base");
        var adapterFolder = Path.Combine(root, "adapter");
        var merged = Path.Combine(root, "merged");

        var model = LlamaForCausalLM.Create(Tiny, seed: 1);
        model.eval();
        HfCheckpoint.Save(model, baseFolder);
        File.WriteAllText(Path.Combine(baseFolder, "tokenizer.json"), "{}");
        LoraInjector.Inject(model, new LoraConfig { Rank = 4, Alpha = 8, TargetModules = new[] { "q_proj", "down_proj" } });
        using (var g = new Generator(3, CPU))
        using (no_grad())
            foreach (var (_, layer) in LoraInjector.LoraLayers(model))
                layer.B("default").copy_(torch.randn(layer.B("default").shape, generator: g) * 0.1);
        LoraAdapterFiles.Save(model, "default", adapterFolder);

        var r = CliRunner.Run("merge", "--base", baseFolder, "--adapter", adapterFolder, "--out", merged);
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("merged 4 modules (r=4, scaling 2)", r.Out);
        Assert.True(File.Exists(Path.Combine(merged, "tokenizer.json")));

        var reloaded = HfCheckpoint.Load(merged);
        reloaded.eval();
        using var ids = torch.tensor(new long[] { 1, 5, 9, 3, 7, 2 }, new long[] { 1, 6 });
        var expected = model.forward(ids).detach();
        var actual = reloaded.forward(ids).detach();
        Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-5), $"max diff {(actual - expected).abs().max().item<float>()}");

        // Never overwrites: a second merge into the same folder is refused.
        var again = CliRunner.Run("merge", "--base", baseFolder, "--adapter", adapterFolder, "--out", merged);
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("not empty", again.Err);
    }

    /// <summary>transformers' tiny-llama checkpoint and a PEFT adapter for it (see Fixtures/hf-reference/PROVENANCE.md).</summary>
    private static string HfReference(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "hf-reference", name);

    [Theory]
    [InlineData(null, "float32")]
    [InlineData("bf16", "bfloat16")]
    public void Merge_of_a_transformers_checkpoint_keeps_its_config_and_tokenizer(string? dtype, string torchDtype)
    {
        var baseFolder = HfReference("tiny-llama");
        var merged = Path.Combine(Temp(), "merged");
        var args = new[] { "merge", "--base", baseFolder, "--adapter", HfReference("peft-llama-r4"), "--out", merged };
        var r = CliRunner.Run(dtype is null ? args : args.Concat(new[] { "--dtype", dtype }).ToArray());
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("merged 6 modules (r=4, scaling 2)", r.Out);

        var baseConfig = JsonNode.Parse(File.ReadAllBytes(Path.Combine(baseFolder, "config.json")))!.AsObject();
        var config = JsonNode.Parse(File.ReadAllBytes(Path.Combine(merged, "config.json")))!.AsObject();
        // Every key of the base, in its order, with its value (bos/eos ids, rope_scaling, pretraining_tp, use_cache,
        // initializer_range …); torch_dtype follows --dtype; _name_or_path records the base as given.
        Assert.Equal(new[] { "_name_or_path" }.Concat(baseConfig.Select(kv => kv.Key)), config.Select(kv => kv.Key));
        Assert.Equal(baseFolder, (string?)config["_name_or_path"]);
        Assert.Equal(torchDtype, (string?)config["torch_dtype"]);
        foreach (var (key, value) in baseConfig.Where(kv => kv.Key != "torch_dtype"))
            Assert.True(JsonNode.DeepEquals(value, config[key]), $"{key}: base {value?.ToJsonString()}, merged {config[key]?.ToJsonString()}");
        Assert.Equal(297, (int)config["bos_token_id"]!);
        Assert.Equal(298, (int)config["eos_token_id"]!);

        foreach (var file in new[] { "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(baseFolder, file)), File.ReadAllBytes(Path.Combine(merged, file)));
        Assert.Equal(
            new[] { "config.json", "generation_config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json" },
            Directory.GetFiles(merged).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal));
    }
}
