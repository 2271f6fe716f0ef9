using System;
using System.Diagnostics;
using System.IO;
using System.Text;
using LoraKit.IO;
using LoraKit.Json;
using LoraKit.Models;
using LoraKit.Rules;
using Xunit;

namespace LoraKit.Core.Tests;

/// <summary>Core's side of issue 25: the strict JSON reader, the reader of strangers' files, and size sanity of model descriptions.</summary>
public class HardeningTests
{
    [Theory]
    [InlineData("""{"a": 1, "a": 2}""", "\"a\" appears twice")]
    [InlineData("""{"o": {"x": [ {"k": 1, "k": 1} ]}}""", "\"k\" appears twice")]
    [InlineData("""{"s": "\ud800"}""", "lone UTF-16 surrogate")]
    [InlineData("""{"s": "\udc00x"}""", "lone UTF-16 surrogate")]
    [InlineData("""{"s": "\ud800\u0041"}""", "not a low surrogate")]
    [InlineData("""{"\ud800": 1}""", "lone UTF-16 surrogate")]
    [InlineData("""{"s": "\u 12a"}""", "invalid \\u escape")]
    public void The_strict_reader_refuses_what_readers_disagree_on(string json, string problem)
    {
        var e = Assert.Throws<JsonParseException>(() => JsonValue.Parse(json));
        Assert.Contains(problem, e.Message);
        Assert.Equal(1, e.Line);
    }

    [Fact]
    public void Surrogate_pairs_escaped_or_raw_are_characters()
    {
        Assert.Equal("𝄞", JsonValue.Parse("\"\\ud834\\udd1e\"").AsString());
        Assert.Equal("𝄞", JsonValue.Parse("\"𝄞\"").AsString());
        var raw = "\"a" + '\ud800' + "b\"";
        Assert.Throws<JsonParseException>(() => JsonValue.Parse(raw));
    }

    [Fact]
    public void A_duplicate_key_in_config_json_is_LORA2003_with_its_line()
    {
        var e = Assert.Throws<ModelDescriptionException>(() => HfConfig.Parse(
            "{\n\"model_type\": \"llama\",\n\"hidden_size\": 64,\n\"hidden_size\": 128\n}", "m/config.json"));
        Assert.Equal(DiagnosticIds.UnreadableConfig, e.Id);
        Assert.Contains("\"hidden_size\" appears twice in one object (first on line 3)", e.Message);
        Assert.Equal(4, e.Line);
    }

    [Fact]
    public void Only_regular_files_are_read()
    {
        if (!File.Exists("/dev/zero")) return; // the device files of Linux and macOS
        var e = Assert.Throws<InputFileException>(() => InputFile.ReadAllBytes("/dev/zero", InputLimits.JsonFileBytes, "model config"));
        Assert.Contains("not a regular file", e.Message);
        var config = Assert.Throws<ModelDescriptionException>(() => HfConfig.Load("/dev/zero"));
        Assert.Equal(DiagnosticIds.UnreadableConfig, config.Id);
    }

    [Fact]
    public void A_fifo_is_refused_without_opening_it()
    {
        if (!OperatingSystem.IsLinux()) return;
        var fifo = Path.Combine(TestFiles.TempFolder(), "config.json");
        using (var mkfifo = Process.Start("mkfifo", fifo)) mkfifo.WaitForExit();
        // Opening a FIFO blocks until a writer comes; the type is checked first, so this returns at once.
        var e = Assert.Throws<InputFileException>(() => InputFile.ReadAllBytes(fifo, 1024, "model config"));
        Assert.Contains("not a regular file", e.Message);
    }

    [Fact]
    public void A_file_over_its_limit_is_refused_after_reading_no_more_than_the_limit()
    {
        var path = Path.Combine(TestFiles.TempFolder(), "big.json");
        File.WriteAllBytes(path, new byte[5000]);
        Assert.Equal(5000, InputFile.ReadAllBytes(path, 5000, "model config").Length);
        var e = Assert.Throws<InputFileException>(() => InputFile.ReadAllBytes(path, 4999, "model config"));
        Assert.Contains("larger than 4999 bytes", e.Message);
    }

    [Fact]
    public void Invalid_utf8_is_refused_with_its_line()
    {
        var path = Path.Combine(TestFiles.TempFolder(), "config.json");
        File.WriteAllBytes(path, [.. Encoding.UTF8.GetBytes("{\n\"a\": \""), 0xFF, .. Encoding.UTF8.GetBytes("\"\n}")]);
        var e = Assert.Throws<ModelDescriptionException>(() => HfConfig.Load(path));
        Assert.Equal(DiagnosticIds.UnreadableConfig, e.Id);
        Assert.Contains("not valid UTF-8 (line 2)", e.Message);
    }

    [Theory]
    [InlineData("hidden_size", 1073741824)]
    [InlineData("intermediate_size", 2147483647)]
    [InlineData("num_hidden_layers", 1000000)]
    [InlineData("vocab_size", 2147483647)]
    [InlineData("num_attention_heads", 131072)]
    public void Absurd_dimensions_are_LORA2001_naming_the_key(string key, int value)
    {
        var json = $$"""{"model_type": "llama", "hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 300, "{{key}}": {{value}}}""";
        // The key given last wins here only because the test writes it twice — drop the first copy.
        json = json.Replace($"\"{key}\": {(key == "hidden_size" ? 64 : key == "intermediate_size" ? 176 : key == "num_hidden_layers" ? 2 : key == "num_attention_heads" ? 4 : 300)}, ", "", StringComparison.Ordinal);
        var e = Assert.Throws<ModelDescriptionException>(() => HfConfig.Parse(json, "m/config.json"));
        Assert.Equal(DiagnosticIds.InvalidDimension, e.Id);
        Assert.Equal(key, e.Field);
    }

    [Fact]
    public void Attention_projections_wider_than_the_bound_are_refused_before_the_product_overflows()
    {
        var e = Assert.Throws<ModelDescriptionException>(() => HfConfig.Parse(
            """{"model_type": "llama", "hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2, "num_attention_heads": 65536, "num_key_value_heads": 1, "head_dim": 1048576, "vocab_size": 300}""", "m/config.json"));
        Assert.Equal(DiagnosticIds.InvalidDimension, e.Id);
        Assert.Equal("head_dim", e.Field);
    }

    [Fact]
    public void A_model_beyond_the_machines_memory_is_LORA2006_naming_the_key_furthest_from_a_7B_model()
    {
        var dims = new LlamaDimensions { HiddenSize = 4096, IntermediateSize = 11008, Layers = 16000, AttentionHeads = 32, VocabSize = 32000 };
        var shape = ModelShape.FromLlama("big", dims, "m/config.json");
        var e = Assert.Throws<ModelDescriptionException>(() => ModelSize.RequireFits(shape, 2, 64L << 30, "m/config.json", "64 GiB of RAM"));
        Assert.Equal(DiagnosticIds.ModelTooLarge, e.Id);
        Assert.Equal("num_hidden_layers", e.Field);
        Assert.Contains("64 GiB of RAM", e.Message);
        // Llama-2-7B (6.74 B parameters) in bf16 is 12.6 GiB: it fits 16 GiB and not 8.
        var seven = ModelShape.FromLlama("7b", new LlamaDimensions { HiddenSize = 4096, IntermediateSize = 11008, Layers = 32, AttentionHeads = 32, VocabSize = 32000 });
        ModelSize.RequireFits(seven, 2, 16L << 30, "x", "16 GiB");
        Assert.Throws<ModelDescriptionException>(() => ModelSize.RequireFits(seven, 2, 8L << 30, "x", "8 GiB"));
    }

    [Fact]
    public void A_custom_model_whose_layers_overflow_the_count_is_LORA2005()
    {
        var e = Assert.Throws<ModelDescriptionException>(() => ModelShape.Custom("c",
            new[] { new LinearLayer("blocks.{i}.fc", int.MaxValue, int.MaxValue, int.MaxValue) }, 0));
        Assert.Equal(DiagnosticIds.InvalidCustomLayer, e.Id);
    }
}
