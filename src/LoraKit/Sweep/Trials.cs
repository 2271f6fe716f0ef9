using LoraKit.Run;
using LoraKit.Training;

namespace LoraKit.Sweep;

/// <summary>
/// One trial of a rank sweep: everything needed to run it anywhere (this process, a child process,
/// a cluster job), with plain values only so it serialises to a command line or a job file.
/// </summary>
public sealed record TrialSpec(int Index, int Rank, double Alpha, string OutputDir, IReadOnlyList<string> TargetModules, double Dropout, TrainingOptions Options);

/// <summary>What a trial measured.</summary>
public sealed record TrialResult(
    int Rank,
    double Alpha,
    double ValidationLoss,
    double BaseValidationLoss,
    double Seconds,
    double TokensPerSecond,
    long TrainableParameters,
    long PeakMemoryBytes,
    string OutputDir,
    string? StoppedBecause);

/// <summary>
/// Runs sweep trials. Local executors run them here or as child processes (several at once, one per
/// GPU); a cluster executor can submit the same specs as a job array without the sweep changing.
/// </summary>
public interface ITrialExecutor
{
    IReadOnlyList<TrialResult> Run(IReadOnlyList<TrialSpec> trials, Action<TrainingEvent> events, CancellationToken cancellationToken);
}
