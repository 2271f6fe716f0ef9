using System.Linq;
using Xunit;
using static LoraKit.Generators.Tests.GeneratorHarness;

namespace LoraKit.Generators.Tests;

/// <summary>The generated code for each kind of description, checked against committed snapshots, and that it compiles cleanly.</summary>
public class SnapshotTests
{
    [Theory]
    [InlineData("LlamaAdapter", Sources.Llama)]
    [InlineData("GqaAdapter", Sources.Gqa)]
    [InlineData("AllLinearAdapter", Sources.AllLinear)]
    [InlineData("CustomAdapter", Sources.Custom)]
    [InlineData("NoNamespace", Sources.NoNamespace)]
    public void Generated_code_matches_the_snapshot_and_compiles_without_warnings(string name, string source)
    {
        var result = GeneratorHarness.Run(source);
        Assert.Equal(2, result.Sources.Count);
        Snapshot.Verify(name, result.Snapshot());
        AssertCompilesCleanly(result.Output);
    }

    [Fact]
    public void ConfigFile_model_reads_its_dimensions_from_the_additional_file()
    {
        var result = GeneratorHarness.Run(new[] { Sources.ConfigFile }, new[] { new InMemoryText(Sources.SmolConfigPath, Sources.SmolConfig) });
        Assert.Equal(2, result.Sources.Count);
        Snapshot.Verify("ConfigFileModel", result.Snapshot());
        AssertCompilesCleanly(result.Output);
    }

    [Theory]
    [InlineData("\"rope_scaling\": { \"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192 }")]
    [InlineData("\"rope_scaling\": { \"rope_type\": \"longrope\", \"factor\": 2.0, \"attention_factor\": 1.1, \"short_factor\": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], \"long_factor\": [1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 2.5] }")]
    [InlineData("\"rope_scaling\": { \"type\": \"yarn\", \"factor\": 4.0, \"beta_fast\": 16.0, \"truncate\": false }")]
    public void ConfigFile_rope_scaling_reaches_the_generated_Dimensions(string extra)
    {
        var config = Sources.SmolConfig.Replace("\"vocab_size\"", extra + ", \"vocab_size\"");
        var result = GeneratorHarness.Run(new[] { Sources.ConfigFile }, new[] { new InMemoryText(Sources.SmolConfigPath, config) });
        AssertCompilesCleanly(result.Output);
        using var image = new System.IO.MemoryStream();
        Assert.True(result.Output.Emit(image).Success);
        var type = System.Reflection.Assembly.Load(image.ToArray()).GetTypes().Single(t => t.Name == "Smol");
        var generated = (LoraKit.Models.LlamaDimensions)type.GetProperty("Dimensions")!.GetValue(null)!;
        var parsed = LoraKit.Models.HfConfig.Parse(config, Sources.SmolConfigPath);
        Assert.NotNull(parsed.RopeScaling);
        Assert.Equal(parsed, generated);
    }

    [Fact]
    public void Without_the_TorchSharp_runtime_the_adapter_gets_constants_config_and_registration_only()
    {
        var result = GeneratorHarness.Run(new[] { Sources.Llama }, runtime: false);
        Snapshot.Verify("CoreOnly", result.Snapshot());
        AssertCompilesCleanly(result.Output);
        Assert.DoesNotContain("AttachTo", result.Snapshot(), System.StringComparison.Ordinal);
    }
}
