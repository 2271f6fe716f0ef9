using System.Globalization;
using System.Threading.Tasks;
using LoraKit.Memory;
using LoraKit.Models;
using LoraKit.Rules;
using Xunit;
using static LoraKit.Analyzers.Tests.AnalyzerVerifier;

namespace LoraKit.Analyzers.Tests;

/// <summary>LORA1006 (MSBuild GPU memory), LORA1007 (lora.lock.json) and LORA1008 (invalid settings).</summary>
public class SettingsRuleTests
{
    private const string Adapter = """
        [{|LORA1006:LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16)|}]
        public partial class SupportAdapter;
        """;

    /// <summary>LoraKit.Core's estimate for the seed adapter at a batch size and sequence length, in GiB.</summary>
    private static double EstimateGiB(int batch, int sequence)
    {
        var shape = ModelPresets.GetShape("llama2-7b");
        return MemoryEstimator.Estimate(shape, new LoraConfig { Rank = 8, Alpha = 16 }, new MemoryOptions { BatchSize = batch, SequenceLength = sequence }).TotalGiB;
    }

    private static string GiB(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    [Fact]
    public async Task Gpu_memory_fires_above_the_MSBuild_limit_and_not_at_it()
    {
        var estimate = EstimateGiB(1, 512);
        var d = await VerifyAsync(Sources.WithModels(Adapter), new TestOptions().WithBuildProperty("LoraKitGpuMemoryGiB", "8"));
        // The message is Core's (estimate and fit plan); a 7B bf16 base does not fit 8 GiB whatever the switches, so NF4 and the rest come in.
        var shape = ModelPresets.GetShape("llama2-7b");
        var expected = LoraRuleChecker.CheckMemory(shape, new LoraConfig { Rank = 8, Alpha = 16 }, new MemoryOptions { BatchSize = 1, SequenceLength = 512 }, 8, "SupportAdapter")!;
        Assert.Equal(expected.Message, Single(d, "LORA1006").GetMessage());
        Assert.StartsWith($"SupportAdapter: estimated peak training memory {Format.GiB(MemoryEstimator.Estimate(shape, new LoraConfig { Rank = 8, Alpha = 16 }, new MemoryOptions()).Total)} exceeds the GPU's 8 GiB (base weights 12.55 GiB, ",
            expected.Message);
        Assert.Contains("the cheapest change that fits: --gradient-checkpointing offload + --quantize nf4", expected.Message);
        Assert.False(Single(d, "LORA1006").Properties.ContainsKey("GradientCheckpointing"), "a plan beyond checkpointing alone offers no checkpointing fix");
        await VerifyAsync(Sources.WithModels(Adapter.Replace("{|LORA1006:", "").Replace(")|}]", ")]")),
            new TestOptions().WithBuildProperty("LoraKitGpuMemoryGiB", GiB(estimate)));
        await VerifyAsync(Sources.WithModels(Adapter), new TestOptions().WithBuildProperty("LoraKitGpuMemoryGiB", GiB(estimate - 0.001)));
    }

    [Fact]
    public async Task Gradient_checkpointing_comes_from_the_attribute_then_MSBuild_and_lowers_the_estimate()
    {
        // 7B bf16 at 2 × 2048: ~40 GiB without checkpointing; with it, a 32 GiB card fits.
        var shape = ModelPresets.GetShape("llama2-7b");
        var o = new MemoryOptions { BatchSize = 2, SequenceLength = 2048 };
        var config = new LoraConfig { Rank = 8, Alpha = 16 };
        Assert.True(MemoryEstimator.Estimate(shape, config, o).TotalGiB > 32);
        Assert.True(MemoryEstimator.Estimate(shape, config, o with { GradientCheckpointing = LoraGradientCheckpointing.On }).TotalGiB <= 32);
        var build = new TestOptions().WithBuildProperty("LoraKitGpuMemoryGiB", "32").WithBuildProperty("LoraKitBatchSize", "2").WithBuildProperty("LoraKitSequenceLength", "2048");
        var d = await VerifyAsync(Sources.WithModels("""
            [{|LORA1006:LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16)|}]
            public partial class Plain;
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, GradientCheckpointing = LoraGradientCheckpointing.On)]
            public partial class Checkpointed;
            """), build);
        Assert.Contains("the cheapest change that fits: --gradient-checkpointing (≈ ", Single(d, "LORA1006").GetMessage());
        Assert.Equal("On", Single(d, "LORA1006").Properties["GradientCheckpointing"]);
        await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16)]
            public partial class Plain;
            [{|LORA1006:LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, GradientCheckpointing = LoraGradientCheckpointing.None)|}]
            public partial class Off;
            """), build.WithBuildProperty("LoraKitGradientCheckpointing", "true"));
    }

    [Fact]
    public async Task Gpu_memory_is_not_checked_without_the_property()
    {
        await VerifyAsync(Sources.WithModels(Adapter.Replace("{|LORA1006:", "").Replace(")|}]", ")]")), new TestOptions().WithBuildProperty("LoraKitGpuMemoryGiB", ""));
    }

    [Fact]
    public async Task Batch_size_and_sequence_length_come_from_the_attribute_then_MSBuild()
    {
        var limit = GiB(EstimateGiB(1, 512));
        await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, BatchSize = 1, SequenceLength = 512)]
            public partial class Fits;
            [{|LORA1006:LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, BatchSize = 2)|}]
            public partial class Batch2;
            [{|LORA1006:LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, SequenceLength = 1024)|}]
            public partial class Seq1024;
            """), new TestOptions().WithBuildProperty("LoraKitGpuMemoryGiB", limit));
        await VerifyAsync(Sources.WithModels(Adapter), new TestOptions().WithBuildProperty("LoraKitGpuMemoryGiB", limit).WithBuildProperty("LoraKitBatchSize", "2"));
        await VerifyAsync(Sources.WithModels(Adapter), new TestOptions().WithBuildProperty("LoraKitGpuMemoryGiB", limit).WithBuildProperty("LoraKitSequenceLength", "513"));
    }

    // ---- LORA1006 with a 4-bit base (QLoRA) ----

    // Llama-2-7B, r = 8 on q_proj + v_proj, batch 1, 512 tokens, bf16 activations, fused attention, no dropout, worked
    // by hand from the published formulas (MemoryEstimate.Formula; bitsandbytes' NF4 storage: half a byte per weight plus
    // a float32 absmax per block of 64):
    //   parameters 6,738,415,616 (Llama-2-7B's config.json); decoder linears 32 × (4·4096² + 3·4096·11008) = 6,476,005,376,
    //   the rest (embeddings, head, norms) 262,410,240.
    //   bf16 base  = 6,738,415,616 × 2                                                   = 13,476,831,232 B
    //   NF4 base   = 6,476,005,376 / 2 + ⌈6,476,005,376 / 64⌉ × 4 + 262,410,240 × 2      =  4,167,573,504 B
    //   LoRA state = 4,194,304 trainable × 16 B                                           =     67,108,864 B
    //   activations = 512 · 32 · (6·4096 + 3·4096 + 4·11008) × 2 B + 512 · 64 modules · (4·8 + 4·4096) B
    //              = 2,650,800,128 + 537,919,488                                          =  3,188,719,616 B
    //   logits = 512 · 32000 · 4 B · 2 = 131,072,000 B; overhead 512 MiB = 536,870,912 B
    //   total bf16 = 17,400,602,624 B = 16.21 GiB; total NF4 = 8,091,344,896 B = 7.54 GiB.
    // A 12 GiB GPU lies between them.
    private const string Fits12GiB = "12";

    [Fact]
    public async Task Gpu_memory_with_a_4bit_base_uses_the_NF4_estimate()
    {
        var d = await VerifyAsync(Sources.WithModels("""
            [{|LORA1006:LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16)|}]
            public partial class Bf16Base;
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, Quantize = LoraQuantization.Nf4)]
            public partial class QLoraBase;
            """), new TestOptions().WithBuildProperty("LoraKitGpuMemoryGiB", Fits12GiB));
        var shape = ModelPresets.GetShape("llama2-7b");
        var config = new LoraConfig { Rank = 8, Alpha = 16 };
        Assert.Equal(LoraRuleChecker.CheckMemory(shape, config, new MemoryOptions(), double.Parse(Fits12GiB, CultureInfo.InvariantCulture), "Bf16Base")!.Message,
            Single(d, "LORA1006").GetMessage());
        Assert.StartsWith("Bf16Base: estimated peak training memory", Single(d, "LORA1006").GetMessage());

        // Over a 7 GiB GPU the NF4 run does not fit either: the message gives the 4-bit base and never proposes quantising it.
        d = await VerifyAsync(Sources.WithModels("""
            [{|LORA1006:LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, Quantize = LoraQuantization.Nf4)|}]
            public partial class QLoraBase;
            """), new TestOptions().WithBuildProperty("LoraKitGpuMemoryGiB", "7"));
        var message = Single(d, "LORA1006").GetMessage();
        Assert.Equal(LoraRuleChecker.CheckMemory(shape, config, new MemoryOptions { BasePrecision = WeightPrecision.NF4 }, 7, "QLoraBase")!.Message, message);
        Assert.Contains("(base weights 3.88 GiB in NF4,", message);
        Assert.Contains("the cheapest change that fits: --gradient-checkpointing (≈ ", message);
        Assert.DoesNotContain("nf4", message);
    }

    [Fact]
    public async Task Quantize_comes_from_the_attribute_then_the_MSBuild_property()
    {
        var options = new TestOptions().WithBuildProperty("LoraKitGpuMemoryGiB", Fits12GiB).WithBuildProperty("LoraKitQuantize", "nf4");
        await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16)]
            public partial class FromMSBuild;
            [{|LORA1006:LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, Quantize = LoraQuantization.None)|}]
            public partial class AttributeWins;
            """), options);
        await VerifyAsync(Sources.WithModels(Adapter), new TestOptions().WithBuildProperty("LoraKitGpuMemoryGiB", Fits12GiB).WithBuildProperty("LoraKitQuantize", "none"));
    }

    [Fact]
    public async Task Invalid_quantize_values_are_LORA1008()
    {
        // MSBuild: reported once for the compilation, and the default (none) applies, so the bf16 estimate fires.
        var d = await VerifyAsync(Sources.WithModels(Adapter),
            new TestOptions().WithBuildProperty("LoraKitGpuMemoryGiB", Fits12GiB).WithBuildProperty("LoraKitQuantize", "int4"), "LORA1008");
        Assert.Equal("MSBuild property LoraKitQuantize = int4: not one of none, nf4; the default (none) applies", Single(d, "LORA1008").GetMessage());

        // The attribute: a cast outside the enum is reported on the argument (with or without a GPU limit), and the MSBuild value applies.
        d = await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, {|LORA1008:Quantize = (LoraQuantization)7|})]
            public partial class Odd;
            """), new TestOptions().WithBuildProperty("LoraKitQuantize", "nf4").WithBuildProperty("LoraKitGpuMemoryGiB", Fits12GiB));
        Assert.Equal("Odd: Quantize = 7 is not a LoraQuantization (None, Nf4); the MSBuild value (nf4) applies", Single(d, "LORA1008").GetMessage());
    }

    [Fact]
    public async Task Invalid_MSBuild_values_are_LORA1008_and_fall_back_to_defaults()
    {
        // A project-wide setting: reported once, without a source location ("CSC : warning LORA1008" in the build).
        var d = await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16)]
            public partial class SupportAdapter;
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16)]
            public partial class Second;
            """), new TestOptions().WithBuildProperty("LoraKitGpuMemoryGiB", "lots").WithBuildProperty("LoraKitBatchSize", "0"), "LORA1008", "LORA1008");
        Assert.Contains(d, x => x.GetMessage() == "MSBuild property LoraKitBatchSize = 0: not a whole number of at least 1, e.g. 4; the default applies");
        Assert.Contains(d, x => x.GetMessage() == "MSBuild property LoraKitGpuMemoryGiB = lots: not a positive number of GiB, e.g. 24; the default applies");
    }

    [Fact]
    public async Task Invalid_editorconfig_values_are_LORA1008_once_per_file()
    {
        var options = new TestOptions().WithEditorConfig("lorakit.max_rank", "big").WithEditorConfig("lorakit.alpha_ratio", "two");
        var d = await VerifyAsync(Sources.WithModels("""
            [{|LORA1008,LORA1008:LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16)|}]
            public partial class SupportAdapter;
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, {|LORA1001:Alpha = 8|})]
            public partial class StillDefaultRatio;
            """), options);
        Assert.Contains(d, x => x.GetMessage() == ".editorconfig: lorakit.max_rank = big: not a whole number of at least 1; write e.g. 256; the default applies");
    }

    // ---- LORA1007 ----

    private const string Lock = """{ "version": 1, "adapters": { "SupportAdapter": { "rank": 16, "alpha": 32 } } }""";

    [Fact]
    public async Task Rank_differing_from_the_lock_is_reported_on_the_rank()
    {
        var options = new TestOptions().WithFile(TestOptions.ProjectDir + "lora.lock.json", Lock);
        var d = await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), {|LORA1007:Rank = 8|}, Alpha = 16)]
            public partial class SupportAdapter;
            [LoraAdapter(typeof(Llama2_7B), Rank = 4, Alpha = 8, TargetModules = new[] { "q_proj", "k_proj", "v_proj", "o_proj" })]
            public partial class NotLocked;
            """), options);
        Assert.Equal("SupportAdapter: rank 8 differs from rank 16 (alpha 32) chosen by the last sweep in lora.lock.json; use Rank = 16, or run the sweep again to lock a new rank",
            Single(d, "LORA1007").GetMessage());
        await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Alpha = 32)]
            public partial class SupportAdapter;
            """), options);
    }

    [Fact]
    public async Task Invalid_lock_file_is_LORA1008()
    {
        var options = new TestOptions().WithFile(TestOptions.ProjectDir + "lora.lock.json", """{ "adapters": { "SupportAdapter": { "rank": "eight" } } }""");
        var d = await VerifyAsync(Sources.WithModels("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16)]
            public partial class SupportAdapter;
            """), options, "LORA1008");
        var invalid = Single(d, "LORA1008");
        Assert.Equal("lora.lock.json(1): adapter \"SupportAdapter\" has rank \"eight\"; give a whole number of at least 1; LORA1007 is not checked", invalid.GetMessage());
        Assert.Equal(TestOptions.ProjectDir + "lora.lock.json", invalid.Location.GetLineSpan().Path);
    }
}
