using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using Xunit;

namespace LoraKit.Generators.Tests;

/// <summary>
/// The generated adapter's <c>Quantize</c>: [LoraAdapter(Quantize = …)], else the MSBuild property LoraKitQuantize, else None
/// (the rule of the analyzers' LORA1006 estimate); only a value written on the attribute reaches the registry, where it wins
/// over the run's --quantize.
/// </summary>
public class QuantizeTests
{
    private static string Source(string ns, string quantize) => $$"""
        using LoraKit;

        namespace {{ns}};

        [LoraModel(LoraArchitecture.Llama, HiddenSize = 64, IntermediateSize = 128, Layers = 2, AttentionHeads = 4, VocabSize = 256)]
        public partial class Tiny;

        [LoraAdapter(typeof(Tiny), Rank = 4, Alpha = 8{{quantize}})]
        public partial class QAdapter;
        """;

    private static (LoraQuantization Constant, LoraAdapterDescriptor Registered) Generate(string ns, string quantize, string? msbuild)
    {
        var properties = msbuild is null ? null : new Dictionary<string, string> { ["LoraKitQuantize"] = msbuild };
        var result = GeneratorHarness.Run(new[] { Source(ns, quantize) }, runtime: false, buildProperties: properties);
        GeneratorHarness.AssertCompilesCleanly(result.Output);
        using var image = new MemoryStream();
        Assert.True(result.Output.Emit(image).Success);
        var adapter = Assembly.Load(image.ToArray()).GetTypes().Single(t => t.Name == "QAdapter");
        var constant = (LoraQuantization)adapter.GetField("Quantize")!.GetRawConstantValue()!;
        adapter.GetMethod("Register")!.Invoke(null, null);
        return (constant, LoraAdapterRegistry.Find(ns + ".QAdapter")!);
    }

    [Fact]
    public void The_attribute_sets_the_constant_and_the_registered_adapter()
    {
        var result = GeneratorHarness.Run(new[] { Source("Q1", ", Quantize = LoraQuantization.Nf4") }, runtime: false);
        Assert.Contains("public const global::LoraKit.LoraQuantization Quantize = global::LoraKit.LoraQuantization.Nf4;", result.Snapshot(), System.StringComparison.Ordinal);

        var (constant, registered) = Generate("Q1", ", Quantize = LoraQuantization.Nf4", msbuild: "none");
        Assert.Equal(LoraQuantization.Nf4, constant); // the attribute wins over LoraKitQuantize
        Assert.Equal(LoraQuantization.Nf4, registered.Quantize);
    }

    [Fact]
    public void Without_the_attribute_the_MSBuild_property_sets_the_constant_and_the_run_decides()
    {
        var (constant, registered) = Generate("Q2", "", msbuild: "nf4");
        Assert.Equal(LoraQuantization.Nf4, constant);
        Assert.Null(registered.Quantize);

        Assert.Equal(LoraQuantization.None, Generate("Q3", "", msbuild: null).Constant);
        // Not a value LoraKit knows: the analyzers report LORA1008; the generated code takes the default.
        Assert.Equal(LoraQuantization.None, Generate("Q4", "", msbuild: "int4").Constant);
        Assert.Equal(LoraQuantization.None, Generate("Q5", ", Quantize = LoraQuantization.None", msbuild: "nf4").Constant);
    }

    [Fact]
    public void A_value_outside_the_enum_generates_nothing()
    {
        var result = GeneratorHarness.Run(new[] { Source("Q6", ", Quantize = (LoraQuantization)7") }, runtime: false);
        Assert.DoesNotContain(result.Sources, s => s.HintName == "Q6.QAdapter.g.cs");
    }
}
