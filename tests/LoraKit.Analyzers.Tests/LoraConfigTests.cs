using System.Threading.Tasks;
using Xunit;
using static LoraKit.Analyzers.Tests.AnalyzerVerifier;

namespace LoraKit.Analyzers.Tests;

/// <summary>new LoraConfig { … } with constant values: rank, alpha and dropout rules (no model, so no budget or targets).</summary>
public class LoraConfigTests
{
    [Fact]
    public async Task Constant_initializers_are_checked_at_the_assignment()
    {
        var d = await VerifyAsync("""
            using LoraKit;
            class Setup
            {
                LoraConfig Make()
                {
                    var seed = new LoraConfig { Rank = 8, {|LORA1001:Alpha = 8|}, TargetModules = new[] { "q_prj" } };
                    var odd = new LoraConfig { {|LORA1003:Rank = 12|}, Alpha = 24, {|LORA1005:Dropout = 0.7|} };
                    return new LoraConfig { Rank = 8, Alpha = 16, Dropout = 0.05 };
                }
            }
            """);
        Assert.Equal("seed: alpha/r = 8/8 = 1, expected 2; the update is scaled by 1 instead of 2 (set Alpha = 16)", Single(d, "LORA1001").GetMessage());
    }

    [Fact]
    public async Task Missing_alpha_is_reported_on_the_rank_and_names_fields()
    {
        var d = await VerifyAsync("""
            using LoraKit;
            class Setup
            {
                static readonly LoraConfig Wide = new LoraConfig { {|LORA1001:Rank = 32|} };
                LoraConfig Narrow { get; } = new() { Rank = 8 };
            }
            """);
        Assert.StartsWith("Wide: alpha/r = 16/32", Single(d, "LORA1001").GetMessage());
    }

    [Fact]
    public async Task Target_typed_new_aliases_and_nested_initializers_are_checked()
    {
        var d = await VerifyAsync("""
            using LoraKit;
            using Cfg = LoraKit.LoraConfig;
            class Holder { public LoraConfig Config { get; set; } = new(); }
            class Setup
            {
                LoraConfig Implicit { get; } = new() { {|LORA1001:Rank = 32|} };
                Cfg Aliased() => new Cfg { Rank = 8, {|LORA1005:Dropout = 0.9|} };
                Holder Nested() => new Holder { Config = new LoraConfig { {|LORA1003:Rank = 12|}, Alpha = 24 } };
                Holder Other() => new Holder { Config = new() { Rank = 8, Alpha = 16 } };
            }
            """);
        Assert.StartsWith("Implicit: alpha/r = 16/32", Single(d, "LORA1001").GetMessage());
    }

    [Fact]
    public async Task Values_that_are_not_constant_are_not_checked()
    {
        await VerifyAsync("""
            using LoraKit;
            class Setup
            {
                LoraConfig Make(int r, double a) => new LoraConfig { Rank = r, Alpha = 8, Dropout = a };
                LoraConfig Alpha(double a) => new LoraConfig { Rank = 12 - 4, Alpha = a };
                LoraConfig Empty() => new LoraConfig();
            }
            """);
    }

    [Fact]
    public async Task Editorconfig_applies_to_LoraConfig_too()
    {
        await VerifyAsync("""
            using LoraKit;
            class Setup
            {
                LoraConfig Make() => new LoraConfig { Rank = 8, Alpha = 8 };
                LoraConfig Big() => new LoraConfig { {|LORA1003:Rank = 128|}, Alpha = 128 };
            }
            """, new TestOptions().WithEditorConfig("lorakit.alpha_ratio", "1").WithEditorConfig("lorakit.max_rank", "64"));
    }
}
