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
        var result = Run(source);
        Assert.Equal(2, result.Sources.Count);
        Snapshot.Verify(name, result.Snapshot());
        AssertCompilesCleanly(result.Output);
    }

    [Fact]
    public void ConfigFile_model_reads_its_dimensions_from_the_additional_file()
    {
        var result = Run(new[] { Sources.ConfigFile }, new[] { new InMemoryText(Sources.SmolConfigPath, Sources.SmolConfig) });
        Assert.Equal(2, result.Sources.Count);
        Snapshot.Verify("ConfigFileModel", result.Snapshot());
        AssertCompilesCleanly(result.Output);
    }

    [Fact]
    public void Without_the_TorchSharp_runtime_the_adapter_gets_constants_config_and_registration_only()
    {
        var result = Run(new[] { Sources.Llama }, runtime: false);
        Snapshot.Verify("CoreOnly", result.Snapshot());
        AssertCompilesCleanly(result.Output);
        Assert.DoesNotContain("AttachTo", result.Snapshot(), System.StringComparison.Ordinal);
    }
}
