using System.Collections.Generic;
using System.Linq;
using LoraKit.Models;
using LoraKit.Rules;
using Xunit;

namespace LoraKit.Core.Tests;

public class RuleCheckerTests
{
    private static readonly ModelShape Llama7B = ModelShape.FromLlama("Llama2_7B", ModelPresets.TryGet("llama2-7b", out var d) ? d : null!);

    private static IReadOnlyList<RuleFinding> Check(LoraConfig c, LoraThresholds? t = null) =>
        LoraRuleChecker.Check(Llama7B, c, t ?? LoraThresholds.Default, "SupportAdapter");

    [Fact]
    public void The_seed_default_passes_every_rule()
    {
        Assert.Empty(Check(new LoraConfig { Rank = 8, Alpha = 16, Dropout = 0.05 }));
    }

    [Fact]
    public void Alpha_ratio_message_gives_ratio_expected_ratio_and_scaling()
    {
        var f = Assert.Single(Check(new LoraConfig { Rank = 8, Alpha = 8 }));
        Assert.Equal("LORA1001", f.Id);
        Assert.Equal("Alpha", f.Property);
        Assert.Equal("SupportAdapter: alpha/r = 8/8 = 1, expected 2; the update is scaled by 1 instead of 2 (set Alpha = 16)", f.Message);
    }

    [Fact]
    public void Alpha_ratio_accepts_any_configured_ratio()
    {
        var t = LoraThresholds.Default with { AlphaRatios = new[] { 1.0, 2.0 } };
        Assert.Empty(Check(new LoraConfig { Rank = 8, Alpha = 8 }, t));
        Assert.Empty(Check(new LoraConfig { Rank = 8, Alpha = 16 }, t));
        Assert.Equal("LORA1001", Assert.Single(Check(new LoraConfig { Rank = 8, Alpha = 32 }, t)).Id);
    }

    [Fact]
    public void Alpha_ratio_does_not_apply_when_init_is_overridden()
    {
        // The rank guide: "the alpha=2*r heuristic assumes you're using the default LoRA initialization".
        Assert.Empty(Check(new LoraConfig { Rank = 8, Alpha = 8, InitWeights = LoraInitWeights.Gaussian }));
    }

    [Fact]
    public void Budget_message_matches_the_design()
    {
        var f = Assert.Single(Check(new LoraConfig { Rank = 4, Alpha = 8 }));
        Assert.Equal("LORA1002", f.Id);
        Assert.Equal("SupportAdapter trains 2,097,152 parameters = 0.031 % of Llama2_7B's 6,738,415,616; the budget is 0.05 %–1 % (raise the rank or add target modules)", f.Message);
    }

    [Fact]
    public void Budget_bounds_are_inclusive_and_configurable()
    {
        // r=8 on q,v is 0.0622 %: inside the default budget, outside one that starts at 0.07 %.
        Assert.Empty(Check(new LoraConfig { Rank = 8, Alpha = 16 }, LoraThresholds.Default with { BudgetMinPercent = 0.0622 }));
        Assert.Single(Check(new LoraConfig { Rank = 8, Alpha = 16 }, LoraThresholds.Default with { BudgetMinPercent = 0.07 }));
        var over = Assert.Single(Check(new LoraConfig { Rank = 256, Alpha = 512, TargetModules = new[] { LoraConfig.AllLinear } }));
        Assert.Equal("LORA1002", over.Id);
        Assert.Contains("lower the rank", over.Message);
    }

    [Theory]
    [InlineData(12, "rank 12 is not a power of two; use 8 or 16 (nearest: 16)")]
    [InlineData(9, "rank 9 is not a power of two; use 8 or 16 (nearest: 8)")]
    [InlineData(512, "rank 512 is above the maximum 256")]
    [InlineData(0, "rank 0 is below 1")]
    public void Rank_rule(int rank, string fragment)
    {
        var f = Check(new LoraConfig { Rank = rank, Alpha = 2 * rank }).First(x => x.Id == "LORA1003");
        Assert.Contains(fragment, f.Message);
        Assert.Equal(rank < 1 ? RuleSeverity.Error : RuleSeverity.Warning, f.Severity);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(256)]
    public void Rank_boundaries_pass(int rank) =>
        Assert.Null(LoraRuleChecker.CheckRank(rank, LoraThresholds.Default, "a"));

    [Fact]
    public void Max_rank_is_configurable()
    {
        Assert.NotNull(LoraRuleChecker.CheckRank(128, LoraThresholds.Default with { MaxRank = 64 }, "a"));
        Assert.Null(LoraRuleChecker.CheckRank(64, LoraThresholds.Default with { MaxRank = 64 }, "a"));
    }

    [Fact]
    public void Unmatched_target_names_it_lists_existing_modules_and_suggests()
    {
        var f = Assert.Single(Check(new LoraConfig { Rank = 8, Alpha = 16, TargetModules = new[] { "q_proj", "k_proj", "v_porj" } }));
        Assert.Equal("LORA1004", f.Id);
        Assert.Equal(RuleSeverity.Error, f.Severity);
        Assert.Equal("v_porj", f.Argument);
        Assert.Equal("target module 'v_porj' matches nothing in Llama2_7B; its linear modules are q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head; did you mean 'v_proj'?", f.Message);
    }

    [Theory]
    [InlineData(-0.1, true)]
    [InlineData(0.0, false)]
    [InlineData(0.499, false)]
    [InlineData(0.5, true)]
    public void Dropout_rule_boundaries(double dropout, bool fires)
    {
        var f = LoraRuleChecker.CheckDropout(dropout, LoraThresholds.Default, "a");
        Assert.Equal(fires, f is not null);
        if (f is not null) Assert.Contains("typical LoRA dropout is 0.05–0.2", f.Message);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 4)]
    [InlineData(5, 4)]
    [InlineData(6, 8)]
    [InlineData(12, 16)]
    [InlineData(100, 128)]
    [InlineData(200, 256)]
    public void Nearest_power_of_two(int n, int expected) => Assert.Equal(expected, LoraRuleChecker.NearestPowerOfTwo(n));
}
