using LoraKit.Models;
using Xunit;

namespace LoraKit.Core.Tests;

/// <summary>Public parameter counts of real models: LoraKit's arithmetic must reproduce them exactly.</summary>
public class KnownAnswerTests
{
    [Theory]
    [InlineData("llama2-7b", 6_738_415_616L)]
    [InlineData("tinyllama", 1_100_048_384L)]
    [InlineData("smollm2-135m", 134_515_008L)]
    [InlineData("qwen2.5-0.5b", 494_032_768L)]
    public void Base_parameter_count_matches_the_published_figure(string preset, long expected)
    {
        Assert.Equal(expected, ModelPresets.GetShape(preset).TotalParameters);
        Assert.Equal(expected, HfConfig.LoadShape(TestFiles.Config(preset)).TotalParameters);
    }

    [Theory]
    [InlineData("llama2-7b", 4, 2_097_152L)]
    [InlineData("llama2-7b", 8, 4_194_304L)]
    [InlineData("llama2-7b", 16, 8_388_608L)]
    [InlineData("tinyllama", 8, 1_126_400L)]
    [InlineData("smollm2-135m", 8, 460_800L)]
    [InlineData("qwen2.5-0.5b", 8, 540_672L)]
    public void Trainable_parameters_on_q_and_v(string preset, int rank, long expected)
    {
        var config = new LoraConfig { Rank = rank, Alpha = 2 * rank, TargetModules = new[] { "q_proj", "v_proj" } };
        var count = ParameterCount.Compute(ModelPresets.GetShape(preset), config);
        Assert.Equal(expected, count.TrainableParameters);
        Assert.Equal(expected, count.LoraParameters);
    }

    [Fact]
    public void Llama2_7b_all_linear_rank_8()
    {
        var config = new LoraConfig { Rank = 8, TargetModules = new[] { LoraConfig.AllLinear } };
        var count = ParameterCount.Compute(ModelPresets.GetShape("llama2-7b"), config);
        Assert.Equal(19_988_480L, count.TrainableParameters);
        Assert.Equal(32 * 7, count.AdaptedModules); // every projection of every layer, not lm_head
    }

    [Fact]
    public void Seed_budget_percentages_for_llama2_7b()
    {
        // The rank guide prints 0.064 / 0.128 / 0.256 % against a 4-bit-packed total; against the true
        // 6,738,415,616 parameters the same adapters are 0.031 / 0.062 / 0.124 %.
        var model = ModelPresets.GetShape("llama2-7b");
        Assert.Equal(0.0311, ParameterCount.Compute(model, new LoraConfig { Rank = 4 }).BudgetPercent, 4);
        Assert.Equal(0.0622, ParameterCount.Compute(model, new LoraConfig { Rank = 8 }).BudgetPercent, 4);
        Assert.Equal(0.1245, ParameterCount.Compute(model, new LoraConfig { Rank = 16 }).BudgetPercent, 4);
    }

    [Fact]
    public void Config_json_gives_exactly_the_preset_dimensions()
    {
        foreach (var name in new[] { "llama2-7b", "tinyllama", "smollm2-135m", "qwen2.5-0.5b" })
        {
            Assert.True(ModelPresets.TryGet(name, out var preset));
            Assert.Equal(preset, HfConfig.Load(TestFiles.Config(name)));
        }
    }
}

public class BuiltinModelTests
{
    [Fact]
    public void Default_adapter_on_the_builtin_model_passes_every_rule()
    {
        var model = ModelPresets.GetShape(ModelPresets.Builtin);
        Assert.Equal(3_034_880L, model.TotalParameters);
        var config = new LoraConfig { Rank = 8, Alpha = 16, Dropout = 0.05 };
        Assert.Equal(28_672L, ParameterCount.Compute(model, config).TrainableParameters);
        Assert.Empty(LoraKit.Rules.LoraRuleChecker.Check(model, config, LoraKit.Rules.LoraThresholds.Default, "builtin"));
    }
}
