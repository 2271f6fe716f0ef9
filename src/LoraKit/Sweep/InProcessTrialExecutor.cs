using LoraKit.Modeling;
using LoraKit.Run;
using LoraKit.Training;
using static TorchSharp.torch;

namespace LoraKit.Sweep;

/// <summary>Runs trials one after another in this process, each from a fresh base model (never re-wrapping an adapted one).</summary>
public sealed class InProcessTrialExecutor : ITrialExecutor
{
    private readonly Func<Device, ScalarType, LlamaForCausalLM> _baseModel;
    private readonly ITrainingData _data;

    public InProcessTrialExecutor(Func<Device, ScalarType, LlamaForCausalLM> baseModel, ITrainingData data)
    {
        _baseModel = baseModel;
        _data = data;
    }

    public IReadOnlyList<TrialResult> Run(IReadOnlyList<TrialSpec> trials, Action<TrainingEvent> events, CancellationToken cancellationToken)
    {
        var results = new List<TrialResult>();
        foreach (var trial in trials)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var config = new LoraConfig { Rank = trial.Rank, Alpha = trial.Alpha, Dropout = trial.Dropout, TargetModules = trial.TargetModules };
            var options = trial.Options with { OutputDir = trial.OutputDir, AutoRank = false, Resume = false };
            var r = new LoraTrainer(_baseModel, config, _data, options, events, cancellationToken).Run();
            results.Add(new TrialResult(trial.Rank, trial.Alpha, r.FinalValidationLoss, r.BaseValidationLoss, r.Seconds, r.TokensPerSecond,
                r.TrainableParameters, r.PeakMemoryBytes, trial.OutputDir, r.StoppedBecause));
        }
        return results;
    }
}
