using System.Collections.Generic;
using LoraKit.Rules;
using Xunit;

namespace LoraKit.Core.Tests;

public class ThresholdTests
{
    private static LoraThresholds Read(Dictionary<string, string> options, out IReadOnlyList<string> errors) =>
        LoraThresholds.FromOptions(k => options.TryGetValue(k, out var v) ? v : null, out errors);

    [Fact]
    public void Defaults_are_the_seed_values()
    {
        var t = LoraThresholds.Default;
        Assert.Equal(new[] { 2.0 }, t.AlphaRatios);
        Assert.Equal((0.05, 1.0), (t.BudgetMinPercent, t.BudgetMaxPercent));
        Assert.Equal((0.1, 1.0), (t.RuleOfThumbMinPercent, t.RuleOfThumbMaxPercent));
        Assert.Equal((1, 256), (t.MinRank, t.MaxRank));
        Assert.Equal(new[] { 4, 8, 16 }, t.SweepRanks);
        Assert.Equal((0.95, 0.70, 0.1), (t.SweepQualityFraction, t.SweepTimeFraction, t.SweepDataFraction));
        Assert.Equal(2, t.RankEscalationFactor);
        Assert.Equal((0.1, 0.2), (t.OverfitDropoutMin, t.OverfitDropoutMax));
    }

    [Fact]
    public void Editorconfig_keys_override_defaults()
    {
        var t = Read(new()
        {
            ["lorakit.alpha_ratio"] = "1, 2",
            ["lorakit.budget_min_percent"] = "0.01",
            ["lorakit.budget_max_percent"] = "2%",
            ["lorakit.max_rank"] = "64",
        }, out var errors);
        Assert.Empty(errors);
        Assert.Equal(new[] { 1.0, 2.0 }, t.AlphaRatios);
        Assert.Equal((0.01, 2.0), (t.BudgetMinPercent, t.BudgetMaxPercent));
        Assert.Equal(64, t.MaxRank);
    }

    [Fact]
    public void Bad_values_are_reported_with_key_and_fix_and_keep_the_default()
    {
        var t = Read(new()
        {
            ["lorakit.alpha_ratio"] = "two",
            ["lorakit.budget_min_percent"] = "-1",
            ["lorakit.max_rank"] = "0",
        }, out var errors);
        Assert.Equal(3, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("lorakit.alpha_ratio = two") && e.Contains("e.g. 2"));
        Assert.Contains(errors, e => e.StartsWith("lorakit.budget_min_percent = -1"));
        Assert.Contains(errors, e => e.StartsWith("lorakit.max_rank = 0"));
        Assert.Equal(LoraThresholds.Default.AlphaRatios, t.AlphaRatios);
        Assert.Equal(256, t.MaxRank);
    }

    [Fact]
    public void Minimum_above_maximum_is_refused()
    {
        var t = Read(new() { ["lorakit.budget_min_percent"] = "2", ["lorakit.budget_max_percent"] = "1" }, out var errors);
        Assert.Single(errors);
        Assert.Equal(0.05, t.BudgetMinPercent);
    }
}
