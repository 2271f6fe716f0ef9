using System;
using LoraKit.Builtin;
using LoraKit.Training;
using Xunit;

namespace LoraKit.Tests.Builtin;

public class BuiltinModelTests
{
    /// <summary>
    /// The builtin base pretrains on the LoRA trainer's schedule (TrainingOptions.LearningRateAt), set to 10 % linear
    /// warmup then cosine to 0 over 200 steps. Expected values from the formula: lr·(s+1)/W during warmup (W = 20),
    /// then lr·½·(1 + cos(π·(s − W)/(T − W))).
    /// </summary>
    [Theory]
    [InlineData(0, 3e-3 / 20)]
    [InlineData(9, 3e-3 * 10 / 20)]
    [InlineData(19, 3e-3)]
    [InlineData(20, 3e-3)]
    [InlineData(110, 1.5e-3)]
    [InlineData(199, 3e-3 * 0.5 * (1 - 0.99984769515639127))] // cos(π·179/180) = −0.99984769515639127
    public void Pretraining_follows_the_trainers_warmup_and_cosine_schedule(int step, double expected)
    {
        Assert.Equal(LearningRateSchedule.Cosine, BuiltinModel.PretrainSchedule.Schedule);
        var lr = BuiltinModel.PretrainSchedule.LearningRateAt(step, BuiltinModel.PretrainSteps);
        Assert.Equal(expected, lr, 1e-12);
    }
}
