namespace LoraKit.Training;

/// <summary>The outcome of a run.</summary>
public sealed record TrainingResult(
    LoraConfig Config,
    double BaseValidationLoss,
    double FinalValidationLoss,
    long Steps,
    double Seconds,
    double TokensPerSecond,
    long PeakMemoryBytes,
    long TrainableParameters,
    string Device,
    string? StoppedBecause,
    int RankEscalations,
    string OutputDir)
{
    /// <summary>How much lower the adapter's validation loss is than the base model's (0.3 = 30 %).</summary>
    public double Reduction => BaseValidationLoss > 0 ? 1 - FinalValidationLoss / BaseValidationLoss : 0;
}
