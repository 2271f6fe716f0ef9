using LoraKit.Rules;
using LoraKit.Training;
using Xunit;

namespace LoraKit.Core.Tests;

public class TrainingMonitorTests
{
    [Fact]
    public void Flat_validation_loss_at_20_percent_is_a_plateau()
    {
        var m = new TrainingMonitor();
        Assert.Equal(TrainingVerdict.Continue, m.Observe(new EvalPoint(0, 0.0, 3.0, 2.000)));
        Assert.Equal(TrainingVerdict.Continue, m.Observe(new EvalPoint(10, 0.1, 2.9, 1.995)));
        Assert.Equal(TrainingVerdict.Plateau, m.Observe(new EvalPoint(20, 0.2, 2.8, 1.990))); // 0.5 % < 1 %
    }

    [Fact]
    public void Meaningful_improvement_is_not_a_plateau_and_is_checked_once()
    {
        var m = new TrainingMonitor();
        m.Observe(new EvalPoint(0, 0.0, 3.0, 2.0));
        Assert.Equal(TrainingVerdict.Continue, m.Observe(new EvalPoint(20, 0.2, 2.5, 1.9))); // 5 %
        Assert.Equal(TrainingVerdict.Continue, m.Observe(new EvalPoint(40, 0.4, 2.4, 1.9)));
    }

    [Fact]
    public void A_run_too_short_to_judge_is_never_a_plateau()
    {
        // A 1-step run: the base evaluation and the one after its only step (100 % of training).
        var m = new TrainingMonitor();
        m.Observe(new EvalPoint(0, 0.0, double.PositiveInfinity, 2.0));
        Assert.Equal(TrainingVerdict.Continue, m.Observe(new EvalPoint(1, 1.0, 2.0, 2.0)));

        // 4 steps with an evaluation at each: still under PlateauMinSteps (5) when 20 % is reached, and at the end.
        var four = new TrainingMonitor();
        four.Observe(new EvalPoint(0, 0.0, double.PositiveInfinity, 2.0));
        for (var s = 1; s <= 4; s++) Assert.Equal(TrainingVerdict.Continue, four.Observe(new EvalPoint(s, s / 4.0, 2.0, 2.0)));

        // The check waits for the first evaluation with both 20 % and 5 steps done, then judges once.
        var ten = new TrainingMonitor();
        ten.Observe(new EvalPoint(0, 0.0, double.PositiveInfinity, 2.0));
        Assert.Equal(TrainingVerdict.Continue, ten.Observe(new EvalPoint(2, 0.2, 2.0, 2.0)));
        Assert.Equal(TrainingVerdict.Continue, ten.Observe(new EvalPoint(4, 0.4, 2.0, 2.0)));
        Assert.Equal(TrainingVerdict.Plateau, ten.Observe(new EvalPoint(6, 0.6, 2.0, 2.0)));
        Assert.Equal(TrainingVerdict.Continue, ten.Observe(new EvalPoint(8, 0.8, 2.0, 2.0)));
    }

    [Fact]
    public void Plateau_threshold_and_window_are_configurable()
    {
        var t = LoraThresholds.Default with { PlateauCheckFraction = 0.1, PlateauMinRelativeImprovement = 0.10 };
        var m = new TrainingMonitor(t);
        m.Observe(new EvalPoint(0, 0.0, 3.0, 2.0));
        Assert.Equal(TrainingVerdict.Plateau, m.Observe(new EvalPoint(10, 0.1, 2.5, 1.9))); // 5 % < 10 %
    }

    [Fact]
    public void Train_falling_while_validation_rises_is_overfitting()
    {
        var m = new TrainingMonitor();
        m.Observe(new EvalPoint(0, 0.0, 3.0, 2.0));
        m.Observe(new EvalPoint(10, 0.2, 2.0, 1.5));
        Assert.Equal(TrainingVerdict.Continue, m.Observe(new EvalPoint(20, 0.3, 1.5, 1.55)));
        Assert.Equal(TrainingVerdict.Overfitting, m.Observe(new EvalPoint(30, 0.4, 1.0, 1.60)));
    }

    [Fact]
    public void Noisy_validation_with_train_not_falling_is_not_overfitting()
    {
        var m = new TrainingMonitor();
        m.Observe(new EvalPoint(0, 0.0, 3.0, 2.0));
        m.Observe(new EvalPoint(10, 0.2, 2.0, 1.5));
        m.Observe(new EvalPoint(20, 0.3, 2.1, 1.55));
        Assert.Equal(TrainingVerdict.Continue, m.Observe(new EvalPoint(30, 0.4, 2.2, 1.60)));
    }

    [Fact]
    public void Advice_carries_the_seed_numbers()
    {
        var c = new LoraConfig { Rank = 8, Alpha = 16 };
        Assert.Contains("r=16, alpha=32", TrainingMonitor.PlateauAdvice(c, LoraThresholds.Default, 0.004));
        Assert.Contains("adapter shapes are fixed at initialisation", TrainingMonitor.PlateauAdvice(c, LoraThresholds.Default, 0.004));
        Assert.Contains("Lower the rank to 4–8 and raise dropout to 0.1–0.2, with weight decay > 0", TrainingMonitor.OverfitAdvice(c, LoraThresholds.Default));
        Assert.Contains("reduce the rank (e.g. 4)", TrainingMonitor.OutOfMemoryAdvice(c));
    }
}
