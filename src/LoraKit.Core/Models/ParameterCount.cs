namespace LoraKit.Models;

/// <summary>The exact parameter arithmetic of a LoRA adapter on a base model.</summary>
public sealed record ParameterCount(long BaseParameters, long LoraParameters, long TrainableBiasParameters, int AdaptedModules)
{
    /// <summary>Everything that trains: Σ r·(in+out) over adapted modules, plus biases the bias mode unfreezes.</summary>
    public long TrainableParameters => LoraParameters + TrainableBiasParameters;

    /// <summary>Trainable parameters as a percentage of the base model's parameters.</summary>
    public double BudgetPercent => BaseParameters == 0 ? 0 : 100.0 * TrainableParameters / BaseParameters;

    public static ParameterCount Compute(ModelShape model, LoraConfig config) =>
        Compute(model, config, TargetMatcher.Match(model, config.TargetModules));

    public static ParameterCount Compute(ModelShape model, LoraConfig config, TargetMatch match)
    {
        long r = config.Rank;
        var lora = match.Modules.Sum(m => r * (m.InFeatures + (long)m.OutFeatures));
        long bias = config.Bias switch
        {
            LoraBias.All => model.Linears.Where(l => l.HasBias).Sum(l => (long)l.OutFeatures * l.Count),
            LoraBias.LoraOnly => match.Modules.Where(m => m.HasBias).Sum(m => (long)m.OutFeatures),
            _ => 0,
        };
        return new ParameterCount(model.TotalParameters, lora, bias, match.Modules.Count);
    }
}
