using System.Linq;
using Xunit;
using static LoraKit.Generators.Tests.GeneratorHarness;

namespace LoraKit.Generators.Tests;

/// <summary>What the generator leaves alone: it emits nothing and reports nothing (the analyzers report).</summary>
public class InvalidInputTests
{
    private const string Model = """
        using LoraKit;
        namespace App;
        [LoraModel(LoraArchitecture.Llama, HiddenSize = 64, IntermediateSize = 128, Layers = 2, AttentionHeads = 4, VocabSize = 100)]
        public partial class Tiny;
        """;

    private static string[] Hints(params string[] sources) =>
        GeneratorHarness.Run(sources).Sources.Select(s => s.HintName).ToArray();

    [Fact]
    public void A_valid_pair_generates_both_classes() =>
        Assert.Equal(new[] { "App.A.g.cs", "App.Tiny.g.cs" }, Hints(Model, "namespace App; [LoraKit.LoraAdapter(typeof(Tiny))] public partial class A;"));

    [Theory]
    [InlineData("[LoraKit.LoraAdapter(typeof(Tiny))] public class A { }")]                                     // not partial
    [InlineData("public partial class Outer { [LoraKit.LoraAdapter(typeof(Tiny))] public partial class A; }")] // nested
    [InlineData("[LoraKit.LoraAdapter(typeof(Tiny))] public partial class A<T>;")]                              // generic
    [InlineData("[LoraKit.LoraAdapter(typeof(Tiny))] public static partial class A;")]                           // static
    [InlineData("[LoraKit.LoraAdapter(typeof(Tiny))] public abstract partial class A;")]                         // abstract
    [InlineData("[LoraKit.LoraAdapter(typeof(Tiny), TargetModules = new[] { \"q_projj\" })] public partial class A;")] // LORA1004
    [InlineData("[LoraKit.LoraAdapter(typeof(Tiny), TargetModules = new[] { \"q_proj\", \"nope\" })] public partial class A;")] // one target misses
    [InlineData("[LoraKit.LoraAdapter(typeof(Tiny), Rank = 0)] public partial class A;")]                        // LORA1003
    [InlineData("[LoraKit.LoraAdapter(typeof(Tiny), Dropout = 1.5)] public partial class A;")]                   // dropout the runtime refuses
    [InlineData("[LoraKit.LoraAdapter(typeof(string))] public partial class A;")]                                 // not a model
    public void An_adapter_the_generator_cannot_complete_gets_no_output(string adapter)
    {
        var hints = Hints(Model, "namespace App; " + adapter);
        Assert.Equal(new[] { "App.Tiny.g.cs" }, hints);
    }

    [Theory]
    [InlineData("HiddenSize = 64, IntermediateSize = 128, Layers = 2, AttentionHeads = 5, VocabSize = 100")] // heads do not divide hidden
    [InlineData("HiddenSize = 64, IntermediateSize = 128, Layers = 0, AttentionHeads = 4, VocabSize = 100")] // no layers
    [InlineData("HiddenSize = 64, IntermediateSize = 128, Layers = 2, AttentionHeads = 4, KeyValueHeads = 3, VocabSize = 100")] // GQA groups uneven
    public void An_invalid_model_gets_no_output_and_neither_do_its_adapters(string dims)
    {
        var hints = Hints($$"""
            using LoraKit;
            namespace App;
            [LoraModel(LoraArchitecture.Llama, {{dims}})]
            public partial class Bad;
            [LoraAdapter(typeof(Bad))] public partial class A;
            """);
        Assert.Empty(hints);
    }

    [Fact]
    public void A_config_file_missing_from_AdditionalFiles_gets_no_output() =>
        Assert.Empty(Hints(Sources.ConfigFile));

    [Fact]
    public void A_model_described_twice_gets_no_output_but_is_not_a_generator_failure()
    {
        // CS0579 (duplicate attribute) is the compiler's to report; the generator must not throw on a duplicate hint name.
        var hints = Hints("""
            using LoraKit;
            namespace App;
            [LoraModel(LoraArchitecture.Llama, HiddenSize = 64, IntermediateSize = 128, Layers = 2, AttentionHeads = 4, VocabSize = 100)]
            public partial class Twice;
            [LoraModel(LoraArchitecture.Llama, HiddenSize = 64, IntermediateSize = 128, Layers = 2, AttentionHeads = 4, VocabSize = 100)]
            public partial class Twice;
            [LoraAdapter(typeof(Twice))] public partial class A;
            """);
        Assert.Empty(hints);
    }

    [Fact]
    public void A_non_partial_model_gets_no_partial_but_its_adapter_is_still_generated() =>
        Assert.Equal(new[] { "App.A.g.cs" }, Hints("""
            using LoraKit;
            namespace App;
            [LoraModel(LoraArchitecture.Llama, HiddenSize = 64, IntermediateSize = 128, Layers = 2, AttentionHeads = 4, VocabSize = 100)]
            public class Plain { }
            [LoraAdapter(typeof(Plain))] public partial class A;
            """));

    [Fact]
    public void Same_class_names_in_two_namespaces_get_distinct_hint_names() =>
        Assert.Equal(new[] { "App.Tiny.g.cs", "One.A.g.cs", "Two.A.g.cs" }, Hints(Model,
            "namespace One; [LoraKit.LoraAdapter(typeof(App.Tiny))] public partial class A;",
            "namespace Two; [LoraKit.LoraAdapter(typeof(App.Tiny))] public partial class A;"));

    [Fact]
    public void Colliding_module_names_get_distinct_properties()
    {
        var result = GeneratorHarness.Run("""
            using LoraKit;
            namespace App;
            [LoraModel(LoraArchitecture.Custom)]
            [LoraLinear("encoder.blocks.{i}.fc", 8, 8, Count = 2)]
            [LoraLinear("decoder.blocks.{i}.fc", 8, 8, Count = 2)]
            [LoraLinear("layers", 8, 8)]
            [LoraLinear("app", 8, 8)]
            public partial class Net;
            [LoraAdapter(typeof(Net), TargetModules = new[] { "fc", "layers", "app" })] public partial class App;
            """);
        var text = result.Snapshot();
        Assert.Contains("LoraLinear EncoderBlocksFc { get; }", text, System.StringComparison.Ordinal);
        Assert.Contains("LoraLinear DecoderBlocksFc { get; }", text, System.StringComparison.Ordinal);
        Assert.Contains("LoraLinear LayersModule { get; }", text, System.StringComparison.Ordinal);
        Assert.Contains("LoraLinear AppModule { get; }", text, System.StringComparison.Ordinal);
        AssertCompilesCleanly(result.Output);
    }

    [Fact]
    public void A_target_naming_one_block_is_nullable_and_lm_head_is_a_property_of_the_adapter()
    {
        var result = GeneratorHarness.Run(Model, """
            namespace App;
            [LoraKit.LoraAdapter(typeof(Tiny), TargetModules = new[] { "model.layers.0.self_attn.q_proj", "v_proj", "lm_head" })]
            public partial class A;
            """);
        var text = result.Snapshot();
        Assert.Contains("public global::LoraKit.Lora.LoraLinear? QProj { get; }", text, System.StringComparison.Ordinal);
        Assert.Contains("public global::LoraKit.Lora.LoraLinear VProj { get; }", text, System.StringComparison.Ordinal);
        Assert.Contains("public global::LoraKit.Lora.LoraLinear LmHead { get; }", text, System.StringComparison.Ordinal);
        Assert.Contains("public const int LayerCount = 2;", text, System.StringComparison.Ordinal);
        AssertCompilesCleanly(result.Output);
    }
}
