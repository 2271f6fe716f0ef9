using System.Globalization;
using System.Threading.Tasks;
using LoraKit.Memory;
using LoraKit.Models;
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
        Assert.Equal("SupportAdapter: estimated peak training memory 16.21 GiB exceeds the GPU's 8 GiB (base weights 12.55 GiB, LoRA state 0.06 GiB, activations 3.09 GiB); " +
            "reduce the batch size or sequence length, quantise the base, lower the rank or target fewer modules", Single(d, "LORA1006").GetMessage());
        await VerifyAsync(Sources.WithModels(Adapter.Replace("{|LORA1006:", "").Replace(")|}]", ")]")),
            new TestOptions().WithBuildProperty("LoraKitGpuMemoryGiB", GiB(estimate)));
        await VerifyAsync(Sources.WithModels(Adapter), new TestOptions().WithBuildProperty("LoraKitGpuMemoryGiB", GiB(estimate - 0.001)));
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
