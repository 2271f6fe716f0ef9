using System;
using System.IO;
using System.Linq;
using LoraKit.Lora;
using LoraKit.Models;
using LoraKit.Modeling;
using LoraKit.Quantization;
using LoraKit.SafeTensors;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Cli.Tests;

public class QuantizeCommandTests
{
    // in 96 with blocks of 64: blocks straddle rows; an odd-sized down_proj tests the padding nibble too.
    private static readonly LlamaDimensions Tiny = new()
    {
        ModelType = "llama", HiddenSize = 32, IntermediateSize = 48, Layers = 2, AttentionHeads = 4, KeyValueHeads = 2, VocabSize = 40,
    };

    private static string Temp() => Path.Combine(Path.GetTempPath(), "lorakit-cli-tests", Guid.NewGuid().ToString("N"));

    private static string SaveBase(string root, long seed = 1)
    {
        var folder = Path.Combine(root, "base");
        using var model = LlamaForCausalLM.Create(Tiny, seed: seed);
        HfCheckpoint.Save(model, folder);
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), "{}");
        return folder;
    }

    [Fact]
    public void Quantize_writes_the_bitsandbytes_checkpoint_of_the_runtime_api()
    {
        var root = Temp();
        var baseFolder = SaveBase(root);
        var output = Path.Combine(root, "q");
        var r = CliRunner.Run("quantize", "--base", baseFolder, "--out", output);
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("quantized 14 linear layers to NF4 (blocksize 64, double quantization on)", r.Out);
        Assert.True(File.Exists(Path.Combine(output, "tokenizer.json")));
        Assert.True(Nf4Checkpoint.IsQuantized(output));

        // The same bytes as the library's writer (held against bitsandbytes' rules in LoraKit.Tests).
        var reference = Path.Combine(root, "reference");
        Nf4Checkpoint.Quantize(baseFolder, reference);
        Assert.Equal(File.ReadAllBytes(Path.Combine(reference, "model.safetensors")), File.ReadAllBytes(Path.Combine(output, "model.safetensors")));
        Assert.Equal(File.ReadAllText(Path.Combine(reference, "config.json")), File.ReadAllText(Path.Combine(output, "config.json")));

        var again = CliRunner.Run("quantize", "--base", baseFolder, "--out", output);
        Assert.Equal(ExitCodes.BadInput, again.ExitCode);
        Assert.Contains("not empty", again.Err);
    }

    [Theory]
    [InlineData("--blocksize", "48", "power of two")]
    [InlineData("--dtype", "int8", "fp32, bf16, fp16")]
    [InlineData("--compute-dtype", "fp16", "bf16, fp32")]
    public void Bad_options_are_refused(string option, string value, string message)
    {
        var root = Temp();
        var r = CliRunner.Run("quantize", "--base", SaveBase(root), "--out", Path.Combine(root, "q"), option, value);
        Assert.Equal(ExitCodes.BadInput, r.ExitCode);
        Assert.Contains(message, r.Err);
    }

    [Fact]
    public void Merge_onto_a_4bit_base_uses_its_dequantized_weights()
    {
        var root = Temp();
        var baseFolder = SaveBase(root);
        var quantized = Path.Combine(root, "q");
        Assert.Equal(0, CliRunner.Run("quantize", "--base", baseFolder, "--out", quantized, "--no-double-quant").ExitCode);

        using var model = Nf4Checkpoint.Load(quantized, dtype: ScalarType.Float32, computeDtype: ScalarType.Float32);
        model.eval();
        LoraInjector.Inject(model, new LoraConfig { Rank = 4, Alpha = 8, TargetModules = new[] { "q_proj", "down_proj" }, InitWeights = LoraInitWeights.Random });
        var adapter = Path.Combine(root, "adapter");
        LoraAdapterFiles.Save(model, "default", adapter);

        var merged = Path.Combine(root, "merged");
        var r = CliRunner.Run("merge", "--base", quantized, "--adapter", adapter, "--out", merged);
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("4-bit (NF4): merged into its dequantized float32 weights", r.Out);
        using var reloaded = HfCheckpoint.Load(merged);
        reloaded.eval();
        using var ids = torch.tensor(new long[] { 1, 5, 9, 3, 7, 2 }, new long[] { 1, 6 });
        using var expected = model.forward(ids).detach();
        using var actual = reloaded.forward(ids).detach();
        Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-5), $"max diff {(actual - expected).abs().max().item<float>()}");
        Assert.DoesNotContain("quantization_config", File.ReadAllText(Path.Combine(merged, "config.json")));
    }
}
