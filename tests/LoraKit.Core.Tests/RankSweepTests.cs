using System;
using LoraKit.Rules;
using LoraKit.Sweep;
using Xunit;

namespace LoraKit.Core.Tests;

public class RankSweepTests
{
    [Fact]
    public void Chooses_the_cheapest_rank_within_95_percent_and_70_percent_time()
    {
        var runs = new[]
        {
            new SweepRun(4, Metric: 0.80, TrainingSeconds: 30),
            new SweepRun(8, Metric: 0.90, TrainingSeconds: 50),
            new SweepRun(16, Metric: 0.92, TrainingSeconds: 100),
        };
        var d = RankSweep.Select(runs, MetricDirection.HigherIsBetter);
        // 0.80/0.92 = 87 % fails the quality bar; 0.90/0.92 = 97.8 % in 50 % of the time passes.
        Assert.Equal(8, d.Chosen.Rank);
        Assert.True(d.MeetsBothRules);
        Assert.Contains("rank 8 is the cheapest", d.Reason);
    }

    [Fact]
    public void For_a_loss_lower_is_better()
    {
        var runs = new[]
        {
            new SweepRun(4, Metric: 2.00, TrainingSeconds: 30),
            new SweepRun(8, Metric: 1.60, TrainingSeconds: 50),
            new SweepRun(16, Metric: 1.55, TrainingSeconds: 100),
        };
        var d = RankSweep.Select(runs, MetricDirection.LowerIsBetter);
        // best/metric: 1.55/2.00 = 77.5 %, 1.55/1.60 = 96.9 %.
        Assert.Equal(8, d.Chosen.Rank);
        Assert.Equal(1.55 / 1.60, d.Runs[1].Quality, 12);
        // Read as "higher is better", the same numbers would pick rank 4 (it would look best).
        Assert.Equal(4, RankSweep.Select(runs, MetricDirection.HigherIsBetter).Chosen.Rank);
    }

    [Fact]
    public void Time_bar_is_strict_and_falls_back_to_the_quality_bar()
    {
        var runs = new[]
        {
            new SweepRun(4, Metric: 0.80, TrainingSeconds: 70),
            new SweepRun(8, Metric: 0.95, TrainingSeconds: 90),
            new SweepRun(16, Metric: 0.96, TrainingSeconds: 100),
        };
        var d = RankSweep.Select(runs, MetricDirection.HigherIsBetter);
        // rank 4 is at exactly 70 % (not < 70 %) and fails quality anyway; rank 8 passes quality at 90 % time.
        Assert.False(d.MeetsBothRules);
        Assert.Equal(8, d.Chosen.Rank);
        Assert.Contains("no run reached", d.Reason);
    }

    [Fact]
    public void Thresholds_are_configurable()
    {
        var runs = new[]
        {
            new SweepRun(4, Metric: 0.80, TrainingSeconds: 30),
            new SweepRun(8, Metric: 0.90, TrainingSeconds: 50),
            new SweepRun(16, Metric: 0.92, TrainingSeconds: 100),
        };
        var loose = LoraThresholds.Default with { SweepQualityFraction = 0.85 };
        Assert.Equal(4, RankSweep.Select(runs, MetricDirection.HigherIsBetter, loose).Chosen.Rank);
        // With a 40 % time bar no run passes both (rank 8 takes 50 %): fall back to the quality bar alone.
        var strictTime = RankSweep.Select(runs, MetricDirection.HigherIsBetter, LoraThresholds.Default with { SweepTimeFraction = 0.4 });
        Assert.False(strictTime.MeetsBothRules);
        Assert.Equal(8, strictTime.Chosen.Rank);
    }

    [Fact]
    public void Cost_is_trainable_parameters_when_given()
    {
        // Equal metrics: the run with fewer trainable parameters wins even at a higher rank number.
        var runs = new[]
        {
            new SweepRun(4, 1.0, 10, TrainableParameters: 5000),
            new SweepRun(8, 1.0, 10.5, TrainableParameters: 4000),
            new SweepRun(16, 1.0, 40, TrainableParameters: 9000),
        };
        Assert.Equal(8, RankSweep.Select(runs, MetricDirection.LowerIsBetter).Chosen.Rank);
    }

    [Fact]
    public void Knee_of_the_seed_example_is_rank_16()
    {
        // The rank guide: r=8 92 %, r=16 94 %, r=32 94.1 % — "use r=16 in production".
        var runs = new[]
        {
            new SweepRun(8, 0.92, 100),
            new SweepRun(16, 0.94, 200),
            new SweepRun(32, 0.941, 400),
        };
        Assert.Equal(16, RankSweep.Select(runs, MetricDirection.HigherIsBetter).KneeRank);
    }

    [Fact]
    public void Knee_is_the_largest_rank_when_every_doubling_pays()
    {
        var runs = new[] { new SweepRun(4, 3.0, 1), new SweepRun(8, 2.5, 2), new SweepRun(16, 2.0, 4) };
        Assert.Equal(16, RankSweep.Select(runs, MetricDirection.LowerIsBetter).KneeRank);
        Assert.Null(RankSweep.Select(new[] { new SweepRun(8, 1.0, 1) }, MetricDirection.LowerIsBetter).KneeRank);
    }

    [Fact]
    public void Bad_runs_are_refused()
    {
        Assert.Throws<ArgumentException>(() => RankSweep.Select(Array.Empty<SweepRun>(), MetricDirection.LowerIsBetter));
        Assert.Throws<ArgumentException>(() => RankSweep.Select(new[] { new SweepRun(4, double.NaN, 1) }, MetricDirection.LowerIsBetter));
        Assert.Throws<ArgumentException>(() => RankSweep.Select(new[] { new SweepRun(4, 1, 0) }, MetricDirection.LowerIsBetter));
        Assert.Throws<ArgumentException>(() => RankSweep.Select(new[] { new SweepRun(4, 1, 1), new SweepRun(4, 2, 1) }, MetricDirection.LowerIsBetter));
    }
}
